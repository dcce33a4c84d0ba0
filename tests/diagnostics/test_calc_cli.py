"""`rnnlab params`, `rnnlab memory`, `rnnlab longrange` through rnnlab.cli.main."""

import json

import pytest

from rnnlab.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_params_table_for_the_sentiment_model(capsys):
    code, out, err = run(capsys, "params", "--example", "sentiment", "--check")
    assert code == 0 and err == ""
    embedding, recurrent, head = 5000 * 100, 100 * 128 + 128 * 128 + 2 * 128, 128 * 2 + 2
    assert f"{embedding + recurrent + head:,}" in out
    assert "encoder.rnn.bias_hh_l0" in out and "(128,)" in out
    assert f"recurrent total" in out and f"{recurrent:,}" in out
    assert "checked:" in out


def test_params_json_matches_a_hand_count(capsys):
    code, out, _ = run(capsys, "params", "--cell", "gru", "--input-size", "6", "--hidden", "5",
                       "--layers", "2", "--bidirectional", "--head", "tagger",
                       "--output-size", "3", "--json")
    assert code == 0
    data = json.loads(out)
    layer = lambda i: 3 * 5 * i + 3 * 5 * 5 + 2 * 3 * 5          # noqa: E731
    expected = 2 * layer(6) + 2 * layer(10) + 3 * 10 + 3
    assert data["total"] == expected
    assert sum(t["count"] for t in data["tensors"]) == expected
    assert data["tensors"][0]["name"] == "encoder.rnn.weight_ih_l0"


def test_memory_table_and_json(capsys):
    code, out, err = run(capsys, "memory", "--example", "char-model", "--batch-size", "8",
                         "--seq-len", "25")
    assert code == 0 and err == ""
    for word in ("parameters", "gradients", "optimizer", "activations", "hidden states",
                 "estimated peak", "MiB"):
        assert word in out
    code, out, _ = run(capsys, "memory", "--cell", "lstm", "--vocab", "30", "--embedding", "8",
                       "--hidden", "16", "--head", "lm", "--batch-size", "4", "--seq-len", "5",
                       "--optimizer", "sgd", "--json")
    data = json.loads(out)
    params = 30 * 8 + 4 * 16 * (8 + 16 + 2) + 16 * 30 + 30
    assert data["items"][0]["bytes"] == 4 * params
    assert not any(i["category"] == "optimizer" for i in data["items"])
    assert data["peak_bytes"] == max(data["phases_bytes"].values())


def test_longrange_tiny_run_writes_results(capsys, tmp_path):
    code, out, _ = run(capsys, "longrange", "--task", "adding", "--cells", "rnn_tanh",
                       "--lags", "4", "--hidden", "8", "--max-steps", "6", "--eval-every", "3",
                       "--eval-size", "20", "--out", str(tmp_path), "--quiet")
    assert code == 0
    assert "rnn_tanh" in out and "MSE < 0.01" in out
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    assert [(r["cell"], r["lag"], r["steps"]) for r in results] == [("rnn_tanh", 4, 6)]
    assert (tmp_path / "adding.png").stat().st_size > 0


@pytest.mark.parametrize("argv,fragment", [
    (["params", "--cell", "foo", "--input-size", "3"], "unknown cell 'foo'; registered cells:"),
    (["params", "--input-size", "3", "--hidden", "-2"], "--hidden must be a positive integer"),
    (["params", "--vocab", "10"], "both vocab_size and embedding_size"),
    (["params", "--example", "nope"], "unknown example 'nope'"),
    (["memory", "--cell", "lstmm", "--input-size", "3"], "unknown cell 'lstmm'"),
    (["memory", "--input-size", "3", "--batch-size", "-1"], "--batch-size must be a positive"),
    (["memory", "--input-size", "3", "--precision", "fp64"], "unknown precision 'fp64'"),
    (["memory", "--input-size", "3", "--optimizer", "lion"], "unknown optimizer 'lion'"),
    (["longrange", "--cells", "lstm,foo"], "unknown cell 'foo'; registered cells: gru, "),
    (["longrange", "--cells", ","], "--cells is empty; registered cells:"),
    (["longrange", "--lags", "10,-5"], "--lags must be positive, got -5"),
    (["longrange", "--lags", "ten"], "--lags must be comma-separated integers"),
    (["longrange", "--task", "sort"], "unknown task 'sort'"),
    (["longrange", "--hidden", "0"], "hidden_size must be a positive integer, got 0"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and fragment in err
    assert err.startswith(f"rnnlab {argv[0]}: error:")


@pytest.mark.parametrize("command,words", [
    ("params", ["output:", "one row per parameter tensor", "bias_hh", "--check", "gru_fused"]),
    ("memory", ["output:", "activations", "PEAK", "bytes and MiB"]),
    ("longrange", ["output:", "adding", "copy", "Solved", "trivial", "gru_fused"]),
])
def test_help_explains_the_output(capsys, command, words):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in words:
        assert word in out
