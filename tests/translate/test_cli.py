"""`rnnlab translate train | eval | predict | attention`: the commands end to end, and every
bad input is one error line, exit code 2, and nothing written."""

import gzip
import io
import json
import re
import sys
from pathlib import Path

import pytest

from rnnlab.cli import main

LEGACY_CLASSIFIER = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_runs" / "classifier"


def train_args(source_train, target_train, source_dev, target_dev, out, *extra):
    return ["translate", "train", "--src-train", str(source_train), "--tgt-train",
            str(target_train), "--src-dev", str(source_dev), "--tgt-dev", str(target_dev),
            "--out", str(out), "--no-progress", "--embedding", "16", "--hidden", "16",
            "--src-vocab-size", "300", "--tgt-vocab-size", "300", "--batch-size", "16", *extra]


def test_train_then_resume_from_the_command_line(reverse_data, tmp_path, capsys):
    (source_train, target_train), (source_dev, target_dev) = reverse_data["train"], reverse_data["dev"]
    run = tmp_path / "run"
    assert main(train_args(source_train, target_train, source_dev, target_dev, run,
                           "--max-steps", "10", "--eval-interval", "10",
                           "--attention", "additive")) == 0
    out = capsys.readouterr().out
    assert "dev (last weights, greedy): BLEU" in out and "stopped by max_steps at step 10" in out
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "translator" and config["model"]["attention"] == "additive"
    assert config["vocab"]["options"]["source_size"] == 300
    assert main(["translate", "train", "--resume", str(run), "--max-steps", "12",
                 "--no-progress"]) == 0
    assert "stopped by max_steps at step 12" in capsys.readouterr().out


def test_eval_predict_and_attention(reverse_run, reverse_data, tmp_path, capsys, monkeypatch):
    source, target = reverse_data["dev"]
    assert main(["translate", "eval", str(reverse_run), "--src", str(source), "--ref",
                 str(target), "--beam", "3", "--output", str(tmp_path / "hyp.txt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("BLEU 100.00  chrF 100.00  (100 sentences)")
    assert "BLEU signature: nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" in out
    assert "chrF signature: nrefs:1|" in out and "beam search, beam 3" in out
    assert (tmp_path / "hyp.txt").read_text().splitlines() == target.read_text().splitlines()

    # predict: one output line per input line, empty lines kept; a .gz input; stdin
    text = "a b c\n\nh g\n"
    gz = tmp_path / "in.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    assert main(["translate", "predict", str(reverse_run), "--input", str(gz), "--beam", "1"]) == 0
    assert capsys.readouterr().out == "c b a\n\ng h\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert main(["translate", "predict", str(reverse_run)]) == 0
    assert capsys.readouterr().out == "c b a\n\ng h\n"

    heat = tmp_path / "heat.png"
    assert main(["translate", "attention", str(reverse_run), "--text", "a b c d", "--out",
                 str(heat)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "d c b a"
    assert "5 output × 4 source subwords" in out
    assert heat.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def files(tmp_path):
    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path
    return write


@pytest.mark.parametrize("case, message", [
    ("counts", r"has 3 lines but .*tgt has 2; parallel files need one line per sentence"),
    ("empty", r"empty\.src: file is empty"),
    ("latin1", r"latin1\.src: line 2, byte 2: not valid UTF-8 \(bytes e4\)"),
    ("empty_line", r"tgt:2: empty line in the pair at line 2 .* --skip-empty-pairs"),
])
def test_bad_training_data_is_one_line_exit_2_and_nothing_written(files, tmp_path, capsys,
                                                                  case, message):
    good_source, good_target = files("ok.src", b"a b\nc d\n"), files("ok.tgt", b"b a\nd c\n")
    source, target = {
        "counts": (files("three.src", b"a\nb\nc\n"), files("two.tgt", b"a\nb\n")),
        "empty": (files("empty.src", b""), good_target),
        "latin1": (files("latin1.src", b"ok\nM\xe4nner\n"), good_target),
        "empty_line": (good_source, files("gap.tgt", b"b a\n \n")),
    }[case]
    out = tmp_path / "run"
    assert main(train_args(source, target, good_source, good_target, out,
                           "--max-steps", "2")) == 2
    line = error_line(capsys)
    assert line.startswith("rnnlab translate: error: ")
    assert re.search(message, line), line
    assert not out.exists()


def test_skip_empty_pairs_trains_and_says_what_it_dropped(files, tmp_path, capsys):
    source = files("s", b"a b\n\nc d\ne f\n")
    target = files("t", b"b a\nx\nd c\nf e\n")
    assert main(train_args(source, target, source, target, tmp_path / "run", "--max-steps", "2",
                           "--skip-empty-pairs")) == 0
    assert "2 pairs with an empty side skipped" in capsys.readouterr().out   # train + dev


@pytest.mark.parametrize("argv, message", [
    (["predict", "{run}", "--input", "{src}", "--beam", "0"],
     "beam size must be a positive integer, got 0"),
    (["eval", "{run}", "--src", "{src}", "--ref", "{src}", "--beam", "-2"],
     "beam size must be a positive integer, got -2"),
    (["predict", str(LEGACY_CLASSIFIER), "--input", "{src}"],
     "is a 'classifier' checkpoint, but a 'translator' checkpoint was expected"),
    (["eval", "{run}", "--src", "{src}", "--ref", "{three}"],
     "has 2 lines but .* has 3"),
])
def test_bad_decoding_input_is_one_line_exit_2(reverse_run, files, tmp_path, capsys, argv,
                                               message):
    src = files("in.src", b"a b\nc\n")
    three = files("three.ref", b"a\nb\nc\n")
    output = tmp_path / "out.txt"
    argv = [a.format(run=reverse_run, src=src, three=three) for a in argv]
    assert main(["translate", *argv, "--output", str(output)]) == 2
    line = error_line(capsys)
    assert re.search(message, line), line
    assert not output.exists()


def test_a_run_of_another_task_cannot_be_resumed_as_a_translator(capsys):
    assert main(["translate", "train", "--resume", str(LEGACY_CLASSIFIER), "--max-steps", "1",
                 "--no-progress"]) == 2
    assert "is a 'classifier' checkpoint, but a 'translator' checkpoint was expected" \
        in error_line(capsys)
