"""`rnnlab trace`: the table on stdout, one-line errors with exit code 2, no torch."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]

CHAPTER_WEIGHTS = {
    "W_xh": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]],
    "W_hh": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]],
    "W_hy": [[0.2, 0.4, 0.6]],
    "inputs": [[1.0, 0.5], [0.8, 0.3], [0.6, 0.9]],
}


def first_output():
    """y_1 of the chapter example by hand: h_0 = 0, so h_1 = tanh(W_xh x_1)."""
    h1 = [math.tanh(v) for v in (0.1 * 1.0 + 0.2 * 0.5, 0.3 * 1.0 + 0.4 * 0.5,
                                  0.5 * 1.0 + 0.6 * 0.5)]
    return 0.2 * h1[0] + 0.4 * h1[1] + 0.6 * h1[2]


def run_cli(capsys, *argv):
    code = main(["trace", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, out, err, *fragments):
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_chapter_example_prints_the_table(capsys):
    code, out, err = run_cli(capsys, "--chapter-example")
    assert code == 0 and err == ""
    rows = [line for line in out.splitlines() if line[:1].isdigit()]
    assert len(rows) == 4
    assert f"[{first_output():.4f}]" in rows[1]


def test_weights_file_prints_the_same_table(capsys, tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(CHAPTER_WEIGHTS))
    _, from_file, _ = run_cli(capsys, str(path), "--precision", "6")
    _, built_in, _ = run_cli(capsys, "--chapter-example", "--precision", "6")
    assert from_file.splitlines()[1:] == built_in.splitlines()[1:]  # all but the title line
    assert f"[{first_output():.6f}]" in from_file


def test_help_explains_the_columns(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["trace", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for column in ("x_t", "a_t", "h_t", "y_t", "W_hh", "--chapter-example"):
        assert column in out


def test_bad_json_exits_2_with_line_and_column(capsys, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"W_xh": [[0.1, 0.2]],\n "W_hh": [[0.1]]\n "W_hy": [[1]]}')
    code, out, err = run_cli(capsys, str(path))
    assert_one_line_error(code, out, err, "rnnlab trace: error:", "broken.json",
                          "invalid JSON at line 3, column 2")


def test_bad_shape_exits_2_naming_key_and_shapes(capsys, tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({**CHAPTER_WEIGHTS, "W_hh": [[0.1, 0.2]] * 3}))
    code, out, err = run_cli(capsys, str(path))
    assert_one_line_error(code, out, err, "weights.json: W_hh has shape (3, 2) but must be (3, 3)")


def test_file_without_inputs_exits_2(capsys, tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({k: v for k, v in CHAPTER_WEIGHTS.items() if k != "inputs"}))
    code, out, err = run_cli(capsys, str(path))
    assert_one_line_error(code, out, err, "no inputs to trace", "input_size=2")


@pytest.mark.parametrize("argv", [[], ["w.json", "--chapter-example"]])
def test_exactly_one_source_is_required(capsys, argv):
    code, out, err = run_cli(capsys, *argv)
    assert_one_line_error(code, out, err, "--chapter-example")


def test_subprocess_runs_without_importing_torch():
    # -X importtime lists every module imported; torch must not be among them.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "rnnlab", "trace", "--chapter-example"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"[{first_output():.4f}]" in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "numpy" in imported  # the check can see imports at all
    assert not {name for name in imported if name.split(".")[0] == "torch"}
