"""The example scripts in examples/: each runs with --tiny, exits 0 and prints the right numbers.

Every expected number here is derived independently of rnnlab: the worked forward pass with a
few lines of NumPy, parameter counts from plain torch modules' numel(), the chapter's counts
from its text. Never from the book's printed values.

How they run: one subprocess executes every script in turn (`runpy`, as `__main__`, with
`--tiny --out DIR`), so torch is imported once instead of eleven times; each script's stdout,
stderr and exit status are captured separately. The slow-marked test at the bottom runs each
script in its own interpreter exactly as a user would.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED_DATA = ROOT.parent / "shared" / "data"

SCRIPTS = (
    "s1_1_sequence_data", "s1_2_hidden_state", "s1_3_forward_pass", "s1_4_bptt_and_gradients",
    "s1_5_pytorch_rnn", "s1_6_char_lm", "ex1_parameter_count", "ex2_memory", "ex3_pos_tagging",
    "ex4_init_scale", "ex5_bidirectional",
)
# ex1 is run through the environment variable instead of --tiny, to test that path too.
ENV_TINY = {"ex1_parameter_count"}

# Runs each job {"name", "path", "argv", "env"} in this interpreter and writes a JSON report.
DRIVER = r"""
import contextlib, io, json, os, runpy, sys, traceback
jobs, report = json.loads(sys.argv[1]), sys.argv[2]
results = {}
for job in jobs:
    saved_env = dict(os.environ)
    os.environ.update(job["env"])
    sys.argv = [job["path"]] + job["argv"]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(job["path"], run_name="__main__")
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    os.environ.clear()
    os.environ.update(saved_env)
    results[job["name"]] = {"rc": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
with open(report, "w", encoding="utf-8") as handle:
    json.dump(results, handle)
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Tiny tensors gain nothing from threads, and on a busy machine threads waiting for each
    # other make them many times slower.
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg",
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    env.pop("RNNLAB_EXAMPLES_TINY", None)
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("examples")
    jobs = []
    for name in SCRIPTS:
        out = base / name
        argv = ["--out", str(out)] + ([] if name in ENV_TINY else ["--tiny"])
        env = {"RNNLAB_EXAMPLES_TINY": "1"} if name in ENV_TINY else {}
        jobs.append({"name": name, "path": str(EXAMPLES / f"{name}.py"), "argv": argv,
                     "env": env})
    report = base / "report.json"
    subprocess.run([sys.executable, "-c", DRIVER, json.dumps(jobs), str(report)],
                   cwd=ROOT, env=_child_env(), timeout=900, check=True)
    results = json.loads(report.read_text(encoding="utf-8"))
    for name in SCRIPTS:
        results[name]["out"] = base / name
    return results


def _run(runs: dict, name: str) -> tuple[str, Path]:
    result = runs[name]
    assert result["rc"] == 0, (f"{name} exited {result['rc']}\n--- stdout\n{result['stdout']}"
                               f"\n--- stderr\n{result['stderr']}")
    return result["stdout"], result["out"]


def _line(output: str, pattern: str) -> str:
    lines = [line for line in output.splitlines() if re.search(pattern, line)]
    assert lines, f"no line matches {pattern!r} in:\n{output}"
    return lines[0]


def _number_after(output: str, label: str) -> float:
    match = re.search(re.escape(label) + r"\s*([-+0-9.e]+)", output)
    assert match, f"{label!r} not found in:\n{output}"
    return float(match.group(1))


def _int_after(output: str, label: str) -> int:
    match = re.search(re.escape(label) + r"\s*([\d,]+)", output)
    assert match, f"{label!r} not found in:\n{output}"
    return int(match.group(1).replace(",", ""))


def _png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and path.stat().st_size > 1000


def _numel(*modules) -> int:
    return sum(p.numel() for module in modules for p in module.parameters())


CHAPTER_TEXT = """To be or not to be, that is the question.
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles"""


# ------------------------------------------------------------------------------------------------


def test_every_script_is_tested():
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(SCRIPTS)


def test_s1_1_padding_never_changes_a_result(runs):
    output, _ = _run(runs, "s1_1_sequence_data")
    assert "same words: True" in output
    assert _number_after(output, "bag of words (mean embedding): ‖difference‖ =") == 0.0
    assert _number_after(output, "RNN final state h_T:           ‖difference‖ =") > 1e-3
    rows = re.findall(r"^\s+(rnn_tanh|lstm|gru)\s+([12])\s+(\S+)\s+(\S+)\s+(\S+)$", output,
                      re.MULTILINE)
    assert len(rows) == 6                                  # 3 cells × 1 or 2 directions
    for cell, _, alone, padded, naive in rows:
        assert float(alone) < 1e-12, cell                  # float64: exact up to rounding
        assert float(padded) == 0.0, cell
        assert float(naive) > 1e-3, cell                   # reading padding does change it
    assert "lengths [1, 3, 5], padded ids (B, T) = (3, 5)" in output


def test_s1_2_parameter_sharing(runs):
    output, _ = _run(runs, "s1_2_hidden_state")
    inputs, hidden, outputs = 3, 5, 2
    total = hidden * inputs + hidden * hidden + 2 * hidden + outputs * hidden + outputs
    assert f"total: {total} parameters" in output
    assert f"counts {total - hidden}" in output
    assert _number_after(output, "vs RecurrentNetwork.forward: max |difference| =") < 1e-12
    assert output.count(f"same {total} parameters") == 2   # T = 4 and T = 400


def test_s1_3_worked_example_matches_numpy(runs):
    output, _ = _run(runs, "s1_3_forward_pass")
    w_xh = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    w_hh = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]])
    w_hy = np.array([0.2, 0.4, 0.6])
    h = np.zeros(3)
    for t, x in enumerate(([1.0, 0.5], [0.8, 0.3], [0.6, 0.9]), start=1):
        h = np.tanh(w_xh @ np.array(x) + w_hh @ h)
        y = w_hy @ h
        h_text = "[" + ", ".join(f"{v:.8f}" for v in h) + "]"
        assert f"h_{t} = {h_text}" in output
        assert f"y_{t} = [{y:.8f}]" in output
        verdict = _line(output, rf"^\s+y_{t} = ").split()[-1]
        assert verdict == "DIFFERS"                        # the book's y_t are all wrong
    assert _line(output, r"^\s+h_1 = ").split()[-1] == "matches"
    assert _line(output, r"^\s+h_2 = ").split()[-1] == "DIFFERS"
    assert _number_after(output, "agrees with the step trace: max |difference| =") < 1e-12


def test_s1_4_bptt_scalar_model_and_clipping(runs):
    output, out = _run(runs, "s1_4_bptt_and_gradients")
    for cell in ("rnn", "lstm", "gru"):
        assert re.search(rf"^\s+{cell}\s*: PASSED", output, re.MULTILINE), cell
    assert "(k = T: exact BPTT)" in _line(output, r"0\.000e\+00")
    jacobian, transposed, chapter = (float(v) for v in re.findall(
        r"vs finite differences: max \|difference\| = (\S+)", output))
    assert jacobian < 1e-6 and transposed < 1e-6   # tanh' at a_t, in either layout
    assert chapter > 1e-2                          # the chapter's tanh' at a_(t-1)
    for w in (0.5, 1.0, 2.0, 4.0):
        factor = 0.4 * w
        expected = math.exp(49 * math.log(factor))           # (0.4 w)^49, computed here
        regime = "vanishes" if factor < 1 else "explodes"
        row = _line(output, rf"^\s+{w:g}\s+\d\.\d{{6}}e")
        value = float(row.split()[1])
        assert value == pytest.approx(expected, rel=1e-6), w
        assert f"({regime})" in row, w
    assert "boundary: 0.4·w = 1 at w = 2.5" in output
    assert _number_after(output, "clip by norm, max_norm 1.0: norm before") > 100
    assert "after 1.0000, direction kept (cosine 1.000000)" in output
    assert "largest |entry| 1.0" in output
    _png(out / "scalar_flow.png")


def test_s1_5_counts_match_torch_modules(runs):
    from torch import nn

    output, _ = _run(runs, "s1_5_pytorch_rnn")
    two_layer = _numel(nn.RNN(10, 20, num_layers=2))
    assert f"parameters: {two_layer:,} (module), {two_layer:,} (rnnlab formula" in output
    sentiment = _numel(nn.Embedding(5000, 100), nn.RNN(100, 128), nn.Linear(128, 2))
    rnn_part = _numel(nn.RNN(100, 128))
    assert (f"total: rnnlab formula {sentiment:,}; model rnnlab builds {sentiment:,}; "
            f"plain torch modules {sentiment:,}") in output
    assert f"RNN part: {rnn_part:,} = 100·128" in output
    assert f"RNNClassifier (pooling 'last'): {sentiment:,} parameters" in output
    bidirectional = _numel(nn.RNN(10, 20, num_layers=2, bidirectional=True))
    assert re.search(rf"rnn_tanh\s+2\s+True\s+\(3, 5, 40\)\s+\(4, 3, 20\)\s+{bidirectional:,}",
                     output)
    assert _number_after(output, "the chapter's code): max |difference| =") > 1e-2
    assert float(_line(output, "RNNCell with nn.RNN's weights").split()[-1]) < 1e-5
    steps = re.findall(r"step × T vs forward: max \|difference\| = (\S+)", output)
    assert len(steps) == 3 and all(float(v) < 1e-5 for v in steps)


def test_s1_6_char_lm_counts_crash_and_sampling(runs):
    from torch import nn

    output, out = _run(runs, "s1_6_char_lm")
    vocab = sorted(set(CHAPTER_TEXT))
    windows = len(CHAPTER_TEXT) - 25
    params = _numel(nn.Embedding(len(vocab), 32), nn.RNN(32, 64), nn.Linear(64, len(vocab)))
    assert f"text length: {len(CHAPTER_TEXT)} characters" in output
    assert f"distinct characters (vocabulary): {len(vocab)}:" in output
    assert f"= {windows}" in _line(output, "training windows of 25 characters")
    assert f"parameters: {params:,}" in output
    last = windows % 32
    assert f"RnnlabError: state has shape (1, 32, 64), expected (1, {last}, 64)" in output
    # rnnlab's batching: 10% held out, 2 contiguous streams, windows of 25, a short last one.
    train_chars = len(CHAPTER_TEXT) - int(0.1 * len(CHAPTER_TEXT))
    stream = (train_chars - 1) // 2
    assert f"window {math.ceil(stream / 25) - 1}: x (2, {stream % 25})" in output
    ids = [vocab.index(c) for c in CHAPTER_TEXT[:50]]
    assert f"first 50 characters encoded: {ids}" in output
    assert "stopped by max_steps after 30 steps" in output
    entropies = [float(v) for v in re.findall(r"next-char entropy\s+(\S+) bits", output)]
    assert len(entropies) == 5 and entropies[0] == 0.0
    assert entropies == sorted(entropies)                  # hotter = flatter
    _png(out / "charlm" / "loss.png")


def test_ex1_formula_vs_pytorch(runs):
    from torch import nn

    output, _ = _run(runs, "ex1_parameter_count")
    textbook = 50 * 128 + 128 * 128 + 128 * 10 + 128 + 10
    pytorch = _numel(nn.RNN(50, 128), nn.Linear(128, 10))
    assert re.search(rf"textbook formula \(one hidden bias\):\s+{textbook:,}$", output,
                     re.MULTILINE)
    assert re.search(rf"rnnlab calculator .*:\s+{pytorch:,}$", output, re.MULTILINE)
    assert re.search(rf"numel\(\):\s+{pytorch:,}$", output, re.MULTILINE)
    assert f"difference: {pytorch - textbook} = the second bias vector" in output
    lstm = _numel(nn.LSTM(50, 128))
    assert re.search(rf"lstm\s+1\s+False\s+{lstm:,}\s+{lstm:,}$", output, re.MULTILINE)
    assert "MISMATCH" not in output
    assert "lstm           3  True" not in output          # RNNLAB_EXAMPLES_TINY=1: short table


def test_ex2_memory_estimate_and_measurement(runs):
    output, _ = _run(runs, "ex2_memory")
    hidden_states = 32 * 100 * 256
    assert f"{hidden_states:,} elements; float32: {4 * hidden_states:,} bytes" in output
    assert f"hidden states h_1..h_T: {4 * hidden_states:,} bytes" in output
    estimated = _int_after(output, "all activations, estimated:")
    measured = _int_after(output, "all activations, measured:")
    assert estimated == measured
    # Besides the hidden states the forward pass keeps at least the 128-feature input copy
    # (T·B·128·4 bytes) and the outputs the caller holds (T·B·256·4).
    assert estimated >= 4 * hidden_states + 4 * 32 * 100 * 128 + 4 * hidden_states
    pairs = re.findall(r"activations estimated ([\d,]+) bytes .*measured ([\d,]+) bytes", output)
    assert pairs and all(a == b for a, b in pairs)
    pairs = re.findall(r"activations measured: ([\d,]+) bytes .*estimated ([\d,]+) bytes", output)
    assert pairs and all(a == b for a, b in pairs)


def test_ex3_pos_tagging(runs):
    output, out = _run(runs, "ex3_pos_tagging")
    train = SHARED_DATA / "ud_english_ewt" / "en_ewt-ud-train.conllu"
    if not train.is_file():
        assert output.startswith("skipped:")
        pytest.skip(f"{train} not found: the example skipped itself, as it should")
    # UPOS tags of the first 120 sentences, read straight from the file.
    tags, sentences = set(), 0
    with train.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                sentences += 1
                if sentences == 120:
                    break
            elif not line.startswith("#"):
                columns = line.split("\t")
                if columns[0].isdigit():
                    tags.add(columns[3])
    assert f"UPOS tags in the training subset: {len(tags)}: {' '.join(sorted(tags))}" in output
    accuracy = float(re.search(r"tagger:\s+accuracy ([\d.]+)%", output).group(1))
    assert 0 < accuracy <= 100
    assert "most-frequent-tag baseline: accuracy" in output
    assert re.search(rf"tag logits \(8, \d+, {len(tags)}\)", output)
    _png(out / "tagger" / "loss.png")


def test_ex4_init_scale(runs):
    output, out = _run(runs, "ex4_init_scale")
    row = _line(output, r"rnn_tanh per-step factor by scale")
    factors = [float(v) for v in re.findall(r"S=[\d.]+: ([\d.e+-]+)", row)]
    assert len(factors) == 5
    assert factors == sorted(factors)          # a larger recurrent scale decays more slowly
    assert factors[0] < 0.05 < 0.5 < factors[-1]
    _png(out / "init_scale.png")


def test_ex5_bidirectional(runs):
    import torch
    from torch import nn

    output, _ = _run(runs, "ex5_bidirectional")
    x = torch.randn(3, 5, 10)
    bi = nn.RNN(10, 20, batch_first=True, bidirectional=True)
    uni = nn.RNN(10, 20, batch_first=True)
    (bi_out, bi_h), (uni_out, uni_h) = bi(x), uni(x)
    assert (f"bidirectional : outputs {tuple(bi_out.shape)}, h_n {tuple(bi_h.shape)}, "
            f"{_numel(bi):,} parameters") in output
    assert (f"unidirectional: outputs {tuple(uni_out.shape)}, h_n {tuple(uni_h.shape)}, "
            f"{_numel(uni):,} parameters") in output
    differences = [float(v) for v in re.findall(r"max \|difference\| = (\S+)", output)]
    assert len(differences) == 5 and max(differences) < 1e-12
    assert "bidirectional:  RnnlabError: step() needs a unidirectional encoder" in output
    future = re.search(r"next symbol \(needs the future\)\s+([\d.]+)%\s+([\d.]+)%", output)
    past = re.search(r"previous symbol \(needs the past\)\s+([\d.]+)%\s+([\d.]+)%", output)
    assert float(future.group(1)) < 40 and float(future.group(2)) > 90
    assert float(past.group(1)) > 90 and float(past.group(2)) > 90


# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_alone(name, tmp_path):
    """Each script in its own interpreter, exactly as a user runs it."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--tiny", "--out", str(tmp_path)],
        cwd=tmp_path, env=_child_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip()
