"""`rnnlab classify train | predict | eval` end to end on a tiny temporary dataset."""

import json
import random

import pytest
import torch

from rnnlab.cli import main


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def tiny_data(tmp_path):
    """Sentiment-like toy data: the label is decided by the words 'good' / 'bad'."""
    rng = random.Random(0)
    filler = ["the", "film", "plot", "was", "a", "very", "acting", "and"]

    def rows(count):
        out = []
        for _ in range(count):
            label = rng.choice(["pos", "neg"])
            words = rng.sample(filler, 3) + ["good" if label == "pos" else "bad"]
            rng.shuffle(words)
            out.append((label, " ".join(words)))
        return out

    train = tmp_path / "train.tsv"
    train.write_text("label\ttext\n" + "".join(f"{l}\t{t}\n" for l, t in rows(200)), encoding="utf-8")
    dev = tmp_path / "dev.csv"
    dev.write_text("".join(f"{l},{t}\n" for l, t in rows(40)), encoding="utf-8")
    return train, dev


def train_args(train, dev, out, *extra):
    return ["classify", "train", "--train", str(train), "--dev", str(dev), "--out", str(out),
            "--no-progress", "--cell", "gru", "--hidden", "16", "--embedding", "16",
            "--dropout", "0.0", "--embedding-dropout", "0.0", "--lr", "0.01", "--warmup", "5",
            "--batch-size", "16", "--eval-interval", "40", *extra]


def test_train_predict_eval_round_trip(tmp_path, tiny_data, capsys):
    train, dev = tiny_data
    run = tmp_path / "run"
    assert main(train_args(train, dev, run, "--max-steps", "80")) == 0
    out = capsys.readouterr().out
    assert "best dev accuracy" in out and "stopped by max_steps at step 80" in out
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "classifier" and config["model"]["labels"] == ["neg", "pos"]
    assert config["model"]["cell"] == "gru" and config["train"]["max_steps"] == 80

    texts = tmp_path / "texts.txt"
    texts.write_text("a good film\n\nbad bad plot\nunseenword good\n", encoding="utf-8")
    predictions = tmp_path / "pred.tsv"
    assert main(["classify", "predict", str(run), "--input", str(texts),
                 "--output", str(predictions)]) == 0
    lines = [line.split("\t") for line in predictions.read_text().splitlines()]
    assert [line[0] for line in lines] == ["pos", "neg", "pos"]       # blank line skipped
    assert [line[2] for line in lines] == ["a good film", "bad bad plot", "unseenword good"]
    assert all(0.5 <= float(line[1]) <= 1.0 for line in lines)

    assert main(["classify", "predict", str(run), "--input", str(texts)]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("pos\t")

    assert main(["classify", "eval", str(run), "--data", str(dev)]) == 0
    report = capsys.readouterr().out
    assert "accuracy 1.0000" in report and "macro-F1 1.0000" in report
    header, neg_row, pos_row = report.strip().splitlines()[-3:]
    assert header.split()[-2:] == ["neg", "pos"]
    gold_neg = sum(1 for line in dev.read_text().splitlines() if line.startswith("neg,"))
    assert neg_row.split() == ["neg", str(gold_neg), "0"]
    assert pos_row.split() == ["pos", "0", str(40 - gold_neg)]

    # Several runs form an ensemble; the same run twice is that run.
    assert main(["classify", "eval", str(run), str(run), "--data", str(dev)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == report.splitlines()[0]


def test_resume_from_the_command_line(tmp_path, tiny_data, capsys):
    train, dev = tiny_data
    run = tmp_path / "run"
    assert main(train_args(train, dev, run, "--max-steps", "10", "--decay-steps", "20")) == 0
    assert main(["classify", "train", "--resume", str(run), "--max-steps", "20",
                 "--no-progress"]) == 0
    assert "stopped by max_steps at step 20" in capsys.readouterr().out
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(record["step"] for record in records) == 20


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err          # one line, no traceback
    return err[0]


def test_user_mistakes_give_one_line_and_exit_2(tmp_path, tiny_data, capsys):
    train, dev = tiny_data
    bad_dev = tmp_path / "bad_dev.tsv"
    bad_dev.write_text("pos\tgood film\nneutral\tfilm\n", encoding="utf-8")
    assert main(train_args(train, bad_dev, tmp_path / "r1", "--max-steps", "1")) == 2
    line = error_line(capsys)
    assert "bad_dev.tsv:2" in line and "'neutral'" in line and "'neg', 'pos'" in line
    assert not (tmp_path / "r1").exists()           # nothing written before the data is checked

    broken = tmp_path / "broken.tsv"
    broken.write_text("pos\tfine\nno tab on this line\n", encoding="utf-8")
    assert main(train_args(broken, dev, tmp_path / "r2", "--max-steps", "1")) == 2
    assert "broken.tsv:2: no tab found" in error_line(capsys)

    assert main(train_args(train, dev, tmp_path / "r3", "--pooling", "sum")) == 2
    assert "unknown pooling 'sum'; choose one of last, mean, max, attention" in error_line(capsys)

    assert main(["classify", "eval", str(tmp_path / "missing"), "--data", str(dev)]) == 2
    assert "does not exist" in error_line(capsys)

    assert main(["classify", "train", "--dataset", "imdb", "--out", str(tmp_path / "r4")]) == 2
    assert "unknown classification dataset 'imdb'" in error_line(capsys)


@pytest.mark.parametrize("action,phrase", [
    ("train", "best.safetensors"), ("predict", "probability"), ("eval", "confusion matrix")])
def test_help_explains_the_output(action, phrase, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", action, "--help"])
    assert exit_info.value.code == 0
    assert phrase in " ".join(capsys.readouterr().out.split())


def test_named_dataset_from_a_prefilled_cache(tmp_path, shared_data, monkeypatch, capsys):
    """--dataset sst2-sentences (the stsa.binary files, called sst2 before the treebank was read)
    reads the checksummed cache in its old folder datasets/sst2 (filled here from shared/data)."""
    import shutil

    cache = tmp_path / "cache" / "datasets" / "sst2"
    cache.mkdir(parents=True)
    for name in ("stsa.binary.train", "stsa.binary.dev"):
        shutil.copy(shared_data / "sst2" / name, cache / name)
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert main(["classify", "train", "--dataset", "sst2-sentences", "--out", str(run),
                 "--no-progress", "--max-steps", "2", "--hidden", "4", "--embedding", "4"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["dataset"] == "sst2-sentences"
    assert config["model"]["labels"] == ["0", "1"]
    assert main(["classify", "eval", str(run), "--dataset", "sst2-sentences"]) == 0
    assert "(872 examples" in capsys.readouterr().out
