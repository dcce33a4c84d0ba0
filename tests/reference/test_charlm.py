"""The NumPy char-LM trainer: it learns, its stream batching is exact, and its CLI behaves."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.data.streams import NumpyStreamBatcher, numpy_eval_windows
from rnnlab.data.textfile import read_text
from rnnlab.data.vocab import CharVocab
from rnnlab.errors import RnnlabError
from rnnlab.reference.charlm import (
    NumpyCharLMConfig,
    NumpyCharLMTrainer,
    evaluate_loss,
    load_numpy_charlm,
    sample_text,
    save_numpy_charlm,
    train_numpy_charlm,
    window_gradients,
)
from rnnlab.reference.network import RecurrentNetwork

REPO_ROOT = Path(__file__).resolve().parents[2]


def unigram_entropy(text: str) -> float:
    """Nats/char of the best model that ignores context: it predicts every character's frequency."""
    counts = np.array(list(Counter(text).values()), dtype=np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


# ---------------------------------------------------------------------------------- learning


def test_loss_clearly_falls_on_tinyshakespeare(tinyshakespeare):
    text = read_text(tinyshakespeare)
    vocab_size = len(set(text))
    lines: list[str] = []
    # 150 windows of 32 x 25 characters (120k characters, ~2 s here); validation covers the
    # whole held-out last 10% (111k characters) before and after.
    result = train_numpy_charlm(text, NumpyCharLMConfig(max_steps=150, eval_interval=10_000, sample_length=0),
                                log=lines.append)
    # Before training the model is close to uniform over the vocabulary: ln(65) = 4.17 nats.
    assert abs(result.initial_val_loss - math.log(vocab_size)) < 0.3
    # Margin: the unigram entropy (3.31 nats/char here) is the floor for any model that only
    # learned how often each character occurs; 0.5 nats below it means it uses context.
    # Measured: 2.14 nats/char after 150 steps, a drop of 2.05 from 4.18.
    assert result.val_loss < unigram_entropy(text[: int(len(text) * 0.9)]) - 0.5
    assert result.val_loss < result.initial_val_loss - 1.5
    assert result.smoothed_loss < result.initial_val_loss - 1.0
    assert result.steps == 150 and result.tokens_trained == 150 * 32 * 25
    assert any("tokens/s" in line for line in lines)


# ------------------------------------------------------------------------- stream batching


def test_training_windows_reconstruct_each_stream_in_order():
    ids = np.arange(103)  # ids equal positions, so the windows show exactly where they read
    streams = NumpyStreamBatcher(ids, batch_size=4, bptt=7)
    length = (103 - 1) // 4  # 25 targets per row: windows of 7, 7, 7, 4 steps
    assert streams.windows_per_epoch == 4
    windows = [streams.next_window() for _ in range(streams.windows_per_epoch)]
    assert [w.x.shape for w in windows] == [(4, 7), (4, 7), (4, 7), (4, 4)]
    assert [w.reset_state for w in windows] == [True, False, False, False]
    x = np.concatenate([w.x for w in windows], axis=1)  # (B, L)
    y = np.concatenate([w.y for w in windows], axis=1)
    for row in range(4):
        np.testing.assert_array_equal(x[row], ids[row * length:(row + 1) * length])
        np.testing.assert_array_equal(y[row], ids[row * length + 1:(row + 1) * length + 1])
    # Every target but the (N - 1) % B = 2 left over is used exactly once per epoch.
    assert sorted(y.ravel()) == list(range(1, 101))
    again = streams.next_window()
    assert (again.epoch, again.index, again.reset_state) == (1, 0, True)
    np.testing.assert_array_equal(again.x, windows[0].x)


def test_eval_windows_cover_every_target_once_in_order():
    ids = np.arange(50)  # 49 targets: 3 streams of 16, then a 1-row stream over the last 1
    targets = {}
    rows_seen = []
    for x, y, reset_state in numpy_eval_windows(ids, batch_size=3, bptt=5):
        if reset_state:
            rows_seen.append(x.shape[0])
            current = [[] for _ in range(x.shape[0])]
            targets[len(rows_seen)] = current
        np.testing.assert_array_equal(y, x + 1)
        for row in range(x.shape[0]):
            current[row].extend(y[row].tolist())
    assert rows_seen == [3, 1]
    flat = [t for streams in targets.values() for row in streams for t in row]
    assert flat == list(range(1, 50))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "mingru", "minlstm"])
def test_carried_state_equals_running_the_whole_stream_at_once(cell):
    network = RecurrentNetwork(cell, 8, vocab_size=11, embedding_dim=5, output_size=11, dtype=np.float64, seed=3)
    ids = np.random.default_rng(0).integers(0, 11, 3 * 20 + 1)
    streams = NumpyStreamBatcher(ids, batch_size=3, bptt=6)  # windows of 6, 6, 6, 2 steps
    logits, state = [], None
    for _ in range(streams.windows_per_epoch):
        x = streams.next_window().x
        window_logits, state, _ = network.forward(x, state)
        logits.append(window_logits)
    whole_logits, whole_state, _ = network.forward(streams.rows[:, :-1])  # (B, L, V) in one go
    np.testing.assert_allclose(np.concatenate(logits, axis=1), whole_logits, rtol=0, atol=1e-12)
    for carried, whole in zip(network.split_state(state), network.split_state(whole_state)):
        np.testing.assert_allclose(carried, whole, rtol=0, atol=1e-12)


def test_window_gradients_stop_at_window_boundaries():
    """Summed over the windows of an epoch (fixed weights), the per-window gradients equal the
    engine's own truncated BPTT over the whole stream, cut every bptt steps."""
    network = RecurrentNetwork("gru", 6, vocab_size=9, embedding_dim=4, output_size=9, dtype=np.float64, seed=1)
    ids = np.random.default_rng(2).integers(0, 9, 2 * 17 + 1)
    bptt = 5
    streams = NumpyStreamBatcher(ids, batch_size=2, bptt=bptt)  # windows of 5, 5, 5, 2 steps
    summed = {name: np.zeros_like(value) for name, value in network.params.items()}
    d_logits_per_window, state = [], None
    for _ in range(streams.windows_per_epoch):
        window = streams.next_window()
        logits, _, _ = network.forward(window.x, state)
        _, grads, state = window_gradients(network, window.x, window.y, state)
        for name, grad in grads.items():
            summed[name] += grad
        # The same loss gradient, to hand to the whole-stream backward below.
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        np.put_along_axis(probs, window.y[..., None], np.take_along_axis(probs, window.y[..., None], -1) - 1, -1)
        d_logits_per_window.append(probs / window.y.size)
    _, _, cache = network.forward(streams.rows[:, :-1])
    truncated = network.backward(np.concatenate(d_logits_per_window, axis=1), cache, truncate=bptt).params
    exact = network.backward(np.concatenate(d_logits_per_window, axis=1), cache).params
    for name in summed:
        np.testing.assert_allclose(summed[name], truncated[name], rtol=1e-9, atol=1e-12, err_msg=name)
    # ...and truncation really changed something (else the test would prove nothing).
    assert not np.allclose(summed["rnn.weight_hh_l0"], exact["rnn.weight_hh_l0"])


def test_state_carries_between_windows_and_resets_at_each_epoch():
    text = "abcdefghij" * 7  # 70 characters: 63 for training, 7 held out
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    config = NumpyCharLMConfig(hidden_size=4, batch_size=2, bptt=16, max_steps=5, dtype="float64")
    trainer = NumpyCharLMTrainer(config, vocab, ids[:63], ids[63:], log=lambda line: None)
    assert trainer.streams.windows_per_epoch == 2  # 31 targets per row: windows of 16 and 15
    seen_states = []
    forward = trainer.network.forward

    def recording_forward(x, initial_state=None):
        seen_states.append(None if initial_state is None else initial_state.copy())
        outputs, final_state, cache = forward(x, initial_state)
        finals.append(final_state.copy())
        return outputs, final_state, cache

    finals: list[np.ndarray] = []
    trainer.network.forward = recording_forward
    for _ in range(4):
        trainer.train_step()
    assert seen_states[0] is None and seen_states[2] is None  # epoch starts
    np.testing.assert_array_equal(seen_states[1], finals[0])
    np.testing.assert_array_equal(seen_states[3], finals[2])


def test_validation_loss_with_carried_state_equals_one_pass_over_the_split():
    network = RecurrentNetwork("rnn", 8, vocab_size=7, embedding_dim=4, output_size=7, dtype=np.float64, seed=0)
    ids = np.random.default_rng(5).integers(0, 7, 40)
    logits, _, _ = network.forward(ids[None, :-1])  # one stream, no windows
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    one_pass = -np.take_along_axis(log_probs[0], ids[1:, None], -1).mean()
    assert evaluate_loss(network, ids, batch_size=1, bptt=6) == pytest.approx(one_pass, rel=1e-12)
    # With several streams each prediction has less context, but every target still counts once.
    assert np.isfinite(evaluate_loss(network, ids, batch_size=4, bptt=6))


# ----------------------------------------------------------------------- sampling and saving


def test_sampling_is_seeded_and_greedy_at_temperature_zero():
    vocab = CharVocab.from_text("hello world\n")
    network = RecurrentNetwork("rnn", 8, vocab_size=len(vocab), embedding_dim=4, output_size=len(vocab), seed=0)
    first = sample_text(network, vocab, 30, np.random.default_rng(7))
    assert first == sample_text(network, vocab, 30, np.random.default_rng(7))
    assert len(first) == 30 and set(first) <= set(vocab.chars)
    greedy = [sample_text(network, vocab, 10, np.random.default_rng(seed), temperature=0) for seed in (1, 2)]
    assert greedy[0] == greedy[1]


def test_saved_run_loads_back_with_identical_outputs(tmp_path):
    text = "to be or not to be, that is the question\n" * 20
    config = NumpyCharLMConfig(hidden_size=8, batch_size=4, bptt=10, max_steps=3, sample_length=5, dtype="float64")
    result = train_numpy_charlm(text, config, log=lambda line: None)
    save_numpy_charlm(result, tmp_path / "run")
    network, vocab, loaded_config = load_numpy_charlm(tmp_path / "run")
    assert vocab == result.vocab and loaded_config == result.config
    ids = vocab.encode("to be")[None, :]
    np.testing.assert_array_equal(network.forward(ids)[0], result.network.forward(ids)[0])
    summary = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert summary["steps"] == 3 and summary["engine"] == "numpy"


def test_config_rejects_bad_values_with_one_line():
    with pytest.raises(RnnlabError, match="optimizer"):
        NumpyCharLMConfig(optimizer="rmsprop")
    with pytest.raises(RnnlabError, match="batch_size"):
        NumpyCharLMConfig(batch_size=0)
    with pytest.raises(RnnlabError, match="clip_threshold"):
        NumpyCharLMConfig(clip_threshold=-1.0)
    assert NumpyCharLMConfig(optimizer="adam").lr == 2e-3
    assert NumpyCharLMConfig().max_time == 300.0  # neither limit given: like the torch engine


def test_adam_and_value_clipping_train_too():
    text = "abcabcabd hello world\n" * 40
    config = NumpyCharLMConfig(hidden_size=16, batch_size=4, bptt=10, max_steps=60, optimizer="adam", lr=1e-2,
                               clip="value", clip_threshold=1.0, sample_length=0, eval_interval=1000)
    result = train_numpy_charlm(text, config, log=lambda line: None)
    assert result.val_loss < result.initial_val_loss - 0.5


# -------------------------------------------------------------------------------------- CLI


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


SMALL = ["--hidden", "16", "--batch-size", "4", "--bptt", "10", "--max-steps", "20",
         "--eval-interval", "10", "--sample-length", "15"]


def test_cli_trains_end_to_end(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcabcabd hello world\n" * 30, encoding="utf-8")
    code, out, err = run_cli(["train", "--engine", "numpy", "--data", corpus, "--out", tmp_path / "run",
                              "--precision", "fp64", "--seed", "3", *SMALL], capsys)
    assert code == 0, err
    assert "step 1 | epoch 0 | loss" in out and "tokens/s" in out
    assert "----- sample at step 10 -----" in out
    assert "stopped by max_steps at step 20" in out
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"run.json", "vocab.json", "weights.npz"}
    _, _, config = load_numpy_charlm(tmp_path / "run")
    assert (config.hidden_size, config.dtype, config.seed, config.cell, config.lr) == (16, "float64", 3, "rnn_tanh", 0.1)


@pytest.mark.parametrize("extra, fragment", [
    (["--resume", "somewhere"], "--resume"),
    (["--tie-weights"], "--tie-weights"),
    (["--dropout", "0.5"], "--dropout"),
    (["--precision", "bf16"], "--precision bf16"),
    (["--warmup", "10"], "--warmup"),
    (["--decay-steps", "5"], "--decay-steps"),
    (["--cell", "transformer"], "transformer"),
    (["--batch-size", "0"], "batch_size"),
    (["--batch-size", "64"], "needs at least"),
])
def test_cli_bad_options_exit_2_with_one_line(tmp_path, capsys, extra, fragment):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcabcabd hello world\n" * 30, encoding="utf-8")
    code, _, err = run_cli(["train", "--engine", "numpy", "--data", corpus, *SMALL, *extra], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert fragment in lines[0]


def test_importing_the_trainer_does_not_import_torch():
    code = ("import sys, rnnlab.reference.charlm, rnnlab.commands.train_numpy; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
