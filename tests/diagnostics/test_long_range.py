"""Long-range tasks: the data is what the task says, the trivial predictor fails the threshold,
and a small LSTM solves the adding problem at lag 5 with a fixed seed."""

import json

import pytest
import torch

from rnnlab.diagnostics.long_range import (
    ADDING_SOLVED_MSE,
    COPY_SOLVED_ACCURACY,
    LongRangeConfig,
    adding_batch,
    copy_batch,
    format_results,
    plot_results,
    save_results,
    task_metric,
    train_long_range,
    trivial_metric,
)
from rnnlab.errors import RnnlabError


def test_adding_batch_marks_one_value_in_each_half():
    inputs, targets = adding_batch(256, 12, torch.Generator().manual_seed(0))
    assert inputs.shape == (256, 12, 2) and targets.shape == (256,)
    markers = inputs[:, :, 1]
    assert torch.equal(markers.sum(dim=1), torch.full((256,), 2.0))
    assert torch.equal(markers[:, :6].sum(dim=1), torch.ones(256))       # one per half
    assert torch.allclose((inputs[:, :, 0] * markers).sum(dim=1), targets)
    assert 0.0 <= float(inputs[:, :, 0].min()) and float(inputs[:, :, 0].max()) <= 1.0


def test_copy_batch_layout():
    k, n, lag = 4, 6, 7
    inputs, targets = copy_batch(32, lag, k, n, torch.Generator().manual_seed(0))
    length = 2 * k + lag
    assert inputs.shape == (32, length, n + 2) and targets.shape == (32, length)
    ids = inputs.argmax(dim=2)
    assert torch.equal(inputs.sum(dim=2), torch.ones(32, length))       # one-hot
    symbols = ids[:, :k]
    assert int(symbols.min()) >= 1 and int(symbols.max()) <= n
    assert torch.equal(ids[:, k + lag - 1], torch.full((32,), n + 1))   # the marker
    rest = torch.cat([ids[:, k:k + lag - 1], ids[:, k + lag:]], dim=1)
    assert int(rest.abs().sum()) == 0                                    # blanks elsewhere
    assert int(targets[:, :k + lag].abs().sum()) == 0
    assert torch.equal(targets[:, k + lag:], symbols)


def test_trivial_predictors_do_not_pass_the_thresholds():
    generator = torch.Generator().manual_seed(3)
    adding = LongRangeConfig(task="adding", lag=20)
    _, targets = adding_batch(4000, 20, generator)
    trivial = trivial_metric(adding, targets)
    assert trivial == pytest.approx(2 / 12, abs=0.01)          # Var(U1 + U2) = 1/6
    assert not adding.solved(trivial) and trivial > 10 * ADDING_SOLVED_MSE

    copy = LongRangeConfig(task="copy", lag=20, copy_symbols=10, copy_alphabet=8)
    _, targets = copy_batch(2000, 20, 10, 8, generator)
    chance = trivial_metric(copy, targets)
    assert chance == pytest.approx(1 / 8, abs=0.02)
    assert not copy.solved(chance) and chance < COPY_SOLVED_ACCURACY
    # a perfect copier passes; predicting blanks everywhere scores zero on the recall
    one_hot = torch.nn.functional.one_hot(targets, 10).float()
    assert task_metric(copy, one_hot, targets) == 1.0 and copy.solved(1.0)
    blanks = torch.nn.functional.one_hot(torch.zeros_like(targets), 10).float()
    assert task_metric(copy, blanks, targets) == 0.0


def test_lstm_solves_adding_at_lag_5():
    config = LongRangeConfig(task="adding", cell="lstm", lag=5, hidden_size=32, lr=0.01,
                             batch_size=64, max_steps=500, eval_every=25, eval_size=500, seed=0,
                             num_threads=1)
    result = train_long_range(config)
    assert result.solved and result.metric < ADDING_SOLVED_MSE
    assert result.solved_at_step == result.steps < config.max_steps      # stopped early
    assert result.trivial > 10 * ADDING_SOLVED_MSE                       # baseline fails
    assert result.history[0][1] > result.metric                         # it learned


def test_task_defaults_fill_budget_and_rate():
    adding, copy = LongRangeConfig(task="adding"), LongRangeConfig(task="copy")
    assert (adding.lr, adding.max_steps) == (3e-3, 2000)
    assert (copy.lr, copy.max_steps) == (1e-2, 4000)
    assert LongRangeConfig(task="copy", lr=0.5, max_steps=7).max_steps == 7
    assert copy.seq_len == 2 * copy.copy_symbols + copy.lag


def test_threads_are_restored_after_training():
    before = torch.get_num_threads()
    train_long_range(LongRangeConfig(task="adding", lag=3, hidden_size=4, max_steps=2,
                                     eval_every=1, eval_size=10, num_threads=1))
    assert torch.get_num_threads() == before


def test_budget_in_steps_is_respected_and_results_are_reported(tmp_path):
    config = LongRangeConfig(task="copy", cell="rnn_tanh", lag=3, hidden_size=8, max_steps=10,
                             eval_every=5, eval_size=50, copy_symbols=2, copy_alphabet=3,
                             num_threads=1)
    result = train_long_range(config)
    assert result.steps == 10 and [step for step, _ in result.history] == [5, 10]
    assert result.metric_name == "accuracy" and 0.0 <= result.metric <= 1.0
    text = format_results([result])
    assert "rnn_tanh" in text and "accuracy >= 0.99" in text
    path = save_results([result], tmp_path / "results.json")
    saved = json.loads(path.read_text())["results"][0]
    assert saved["steps"] == 10 and saved["task"] == "copy"
    png = plot_results([result], tmp_path / "copy.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(task="sort"), "unknown task 'sort'"),
    (dict(cell="transformer"), "unknown cell 'transformer'; registered cells: gru, gru_fused, "
                               "lstm, mingru, minlstm, rnn_relu, rnn_tanh"),
    (dict(lag=0), "lag must be a positive integer, got 0"),
    (dict(task="adding", lag=1), "lag >= 2"),
    (dict(hidden_size=-3), "hidden_size must be a positive integer, got -3"),
    (dict(lr=0.0), "lr must be > 0"),
    (dict(copy_alphabet=1), "copy_alphabet must be an integer >= 2"),
    (dict(max_steps=0), "max_steps must be a positive integer, got 0"),
    (dict(num_threads=0), "num_threads must be a positive integer, got 0"),
])
def test_bad_configurations(kwargs, fragment):
    with pytest.raises(RnnlabError) as info:
        LongRangeConfig(**kwargs)
    assert fragment in str(info.value)
