"""`rnnlab tag train | predict | eval` end to end on a small cut of UD English EWT dev."""

import json

import pytest
import torch

from rnnlab.cli import main
from rnnlab.data.conllu_io import read_conllu
from rnnlab.models.tagger import Tagger

SIZES = ["--hidden", "24", "--char-hidden", "12", "--word-dim", "24", "--char-dim", "8",
         "--layers", "1", "--batch-size", "16", "--warmup", "0", "--lr", "0.01", "--no-progress"]


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def treebank(shared_data, tmp_path):
    """train (200 sentences) and dev (40 sentences) cut from the real dev file."""
    source = shared_data / "ud_english_ewt" / "en_ewt-ud-dev.conllu"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    blocks = source.read_text(encoding="utf-8").split("\n\n")
    train, dev = tmp_path / "train.conllu", tmp_path / "dev.conllu"
    train.write_text("\n\n".join(blocks[:200]) + "\n\n", encoding="utf-8")
    dev.write_text("\n\n".join(blocks[200:240]) + "\n\n", encoding="utf-8")
    return train, dev


def test_train_predict_eval_round_trip(treebank, tmp_path, capsys):
    train, dev = treebank
    run = tmp_path / "run"
    assert main(["tag", "train", "--train", str(train), "--dev", str(dev), "--out", str(run),
                 "--max-steps", "20", "--eval-interval", "10", *SIZES]) == 0
    out = capsys.readouterr().out
    assert "best dev accuracy" in out and "stopped by max_steps at step 20" in out
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "tagger" and config["data"]["column"] == "upos"

    predicted = tmp_path / "pred.conllu"
    assert main(["tag", "predict", str(run), "--input", str(dev), "--output", str(predicted)]) == 0
    before, after = read_conllu(dev), read_conllu(predicted)
    assert [s.forms for s in after.sentences] == [s.forms for s in before.sentences]
    assert [s.tags("xpos") for s in after.sentences] == [s.tags("xpos") for s in before.sentences]
    model = Tagger.from_pretrained(run)
    expected = model.predict([s.forms for s in before.sentences])
    assert [s.tags("upos") for s in after.sentences] == expected
    # Only the UPOS column of word rows differs from the input.
    for old, new in zip(dev.read_text().splitlines(), predicted.read_text().splitlines()):
        old_cols, new_cols = old.split("\t"), new.split("\t")
        assert old_cols[:3] + old_cols[4:] == new_cols[:3] + new_cols[4:]
    capsys.readouterr()

    # eval on gold dev: numbers recomputed here from the predictions and the training words.
    assert main(["tag", "eval", str(run), "--data", str(dev), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    gold = [t for s in before.sentences for t in s.tags("upos")]
    guess = [t for tags in expected for t in tags]
    train_forms = {f for s in read_conllu(train).sentences for f in s.forms}
    forms = [f for s in before.sentences for f in s.forms]
    oov = [i for i, f in enumerate(forms) if f not in train_forms]
    assert scores["tokens"] == len(gold) == read_conllu(dev).num_words
    assert scores["correct"] == sum(g == p for g, p in zip(gold, guess))
    assert scores["oov_tokens"] == len(oov) > 0
    assert scores["oov_correct"] == sum(gold[i] == guess[i] for i in oov)
    # The run learned something in 20 steps: well above always guessing the commonest tag.
    commonest = max(set(gold), key=gold.count)
    assert scores["accuracy"] > gold.count(commonest) / len(gold)

    # eval of the predicted file against itself is perfect; the text form names the counts.
    assert main(["tag", "eval", str(run), "--data", str(predicted)]) == 0
    text = capsys.readouterr().out
    assert "accuracy      100.00%" in text and f"on {len(gold):,} tokens" in text
    assert f"on {len(oov):,} tokens unseen in training" in text


def test_unknown_dev_tag_fails_with_known_tags(treebank, tmp_path, capsys):
    train, dev = treebank
    text = dev.read_text(encoding="utf-8").replace("\tPROPN\t", "\tNAME\t", 1)
    dev.write_text(text, encoding="utf-8")
    assert main(["tag", "train", "--train", str(train), "--dev", str(dev), "--out",
                 str(tmp_path / "run"), "--max-steps", "1", *SIZES]) == 2
    err = capsys.readouterr().err
    assert "UPOS tag 'NAME'" in err and "known tags: ADJ, ADP" in err
    assert f"{dev}:" in err and "Traceback" not in err


def test_malformed_input_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.conllu"
    bad.write_text("# sent_id = 1\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\n\n", encoding="utf-8")
    assert main(["tag", "train", "--train", str(bad), "--dev", str(bad), "--out",
                 str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: expected 10 TAB-separated columns" in err and "found 8" in err


def test_usage_errors(tmp_path, capsys):
    assert main(["tag", "train", "--train", "x.conllu"]) == 2
    assert "give --train FILE and --dev FILE" in capsys.readouterr().err
    assert main(["tag", "eval", str(tmp_path / "nowhere"), "--data", "x.conllu"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_help_explains_the_output(capsys):
    with pytest.raises(SystemExit):
        main(["tag", "eval", "--help"])
    text = capsys.readouterr().out
    assert "OOV" in text and "never occur in the training data" in text
    with pytest.raises(SystemExit):
        main(["tag", "train", "--help"])
    text = capsys.readouterr().out
    assert "best.safetensors" in text and "known tags" in text


def test_help_shows_the_library_defaults(capsys):
    """--help reads its defaults from the config dataclasses (no copies that can drift)."""
    from dataclasses import fields

    from rnnlab.models.configs import TaggerConfig
    from rnnlab.train.config import TrainConfig

    with pytest.raises(SystemExit):
        main(["tag", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    defaults = {f.name: f.default for f in fields(TaggerConfig)}
    assert f"sentence BiLSTM size per direction (default: {defaults['hidden_size']})" in text
    assert f"character embedding size (default: {defaults['char_embedding_size']})" in text
    lr = next(f.default for f in fields(TrainConfig) if f.name == "lr")
    assert f"peak learning rate (AdamW) (default: {lr})" in text
    assert "max-epochs 10" in text
