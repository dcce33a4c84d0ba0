"""Bad input to the language-model commands: one line on stderr, exit code 2, nothing lost."""

import json
from pathlib import Path

import pytest

from rnnlab.cli import main

TINY = ["--cell", "gru", "--layers", "1", "--hidden", "16", "--embedding", "8",
        "--batch-size", "2", "--bptt", "8", "--max-steps", "4", "--eval-interval", "2",
        "--precision", "fp32", "--sample-length", "0", "--no-progress"]


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def trained_run(tmp_path, capsys) -> Path:
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcabcabd hello world\n" * 30, encoding="utf-8")
    code, _, err = run_cli(["train", "--data", corpus, "--out", tmp_path / "run", *TINY], capsys)
    assert code == 0, err
    return tmp_path / "run"


def test_missing_path(tmp_path, capsys):
    code, _, err = run_cli(["train", "--data", tmp_path / "nope.txt", "--out", tmp_path / "r",
                            *TINY], capsys)
    assert_one_line_error(code, err, "nope.txt")


def test_empty_file(tmp_path, capsys):
    (tmp_path / "empty.txt").write_bytes(b"")
    code, _, err = run_cli(["train", "--data", tmp_path / "empty.txt", "--out", tmp_path / "r",
                            *TINY], capsys)
    assert_one_line_error(code, err, "empty.txt", "empty")


def test_binary_file(tmp_path, capsys):
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 20)
    code, _, err = run_cli(["train", "--data", tmp_path / "blob.bin", "--out", tmp_path / "r",
                            *TINY], capsys)
    assert_one_line_error(code, err, "blob.bin")


def test_non_utf8_file_names_the_byte_offset(tmp_path, capsys):
    (tmp_path / "latin1.txt").write_bytes(b"hello world " * 10 + "café".encode("latin-1"))
    code, _, err = run_cli(["train", "--data", tmp_path / "latin1.txt", "--out", tmp_path / "r",
                            *TINY], capsys)
    # 120 ASCII bytes, then "caf" (3 bytes): the bad byte 0xE9 sits at offset 123.
    assert_one_line_error(code, err, "latin1.txt", "123")


def test_corpus_too_short_names_the_minimum(tmp_path, capsys):
    (tmp_path / "short.txt").write_text("tiny text\n", encoding="utf-8")
    code, _, err = run_cli(["train", "--data", tmp_path / "short.txt", "--out", tmp_path / "r",
                            *TINY], capsys)
    # batch 2 × bptt 8 + 1 = 17 characters are needed.
    assert_one_line_error(code, err, "17")
    assert not (tmp_path / "r" / "config.json").exists()


def test_prime_with_unknown_characters(trained_run, capsys):
    code, out, err = run_cli(["sample", trained_run, "--prime", "xyzq", "--length", "5"], capsys)
    assert_one_line_error(code, err, "'x'", "'q'")
    assert out == ""
    code, out, err = run_cli(["sample", trained_run, "--prime", "axb", "--length", "5",
                              "--unknown", "skip", "--seed", "1"], capsys)
    assert code == 0, err


def test_eval_text_with_unknown_characters(trained_run, tmp_path, capsys):
    (tmp_path / "other.txt").write_text("hello there, world!", encoding="utf-8")
    code, _, err = run_cli(["eval", trained_run, "--data", tmp_path / "other.txt"], capsys)
    assert_one_line_error(code, err, "'!'")
    code, out, err = run_cli(["eval", trained_run, "--data", tmp_path / "other.txt",
                              "--unknown", "skip", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["num_chars"] > 0


def test_run_directory_without_checkpoint(tmp_path, capsys):
    (tmp_path / "emptyrun").mkdir()
    code, _, err = run_cli(["sample", tmp_path / "emptyrun"], capsys)
    assert_one_line_error(code, err, "emptyrun")
    code, _, err = run_cli(["sample", tmp_path / "does-not-exist"], capsys)
    assert_one_line_error(code, err, "does-not-exist")


def test_truncated_safetensors_is_refused(trained_run, capsys):
    for name in ("best.safetensors", "model.safetensors"):
        path = trained_run / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, _, err = run_cli(["sample", trained_run, "--length", "5"], capsys)
    assert_one_line_error(code, err, "safetensors")


def test_tampered_safetensors_header_is_refused(trained_run, capsys):
    path = trained_run / "best.safetensors"
    data = bytearray(path.read_bytes())
    data[8:16] = b"\xff" * 8      # garbage inside the JSON header
    path.write_bytes(bytes(data))
    code, _, err = run_cli(["sample", trained_run, "--length", "5"], capsys)
    assert_one_line_error(code, err, "best.safetensors")


def test_unknown_config_format_version(trained_run, capsys):
    config_path = trained_run / "config.json"
    config = json.loads(config_path.read_text())
    config["format_version"] = 99
    config_path.write_text(json.dumps(config))
    code, _, err = run_cli(["sample", trained_run, "--length", "5"], capsys)
    assert_one_line_error(code, err, "99")


def test_training_into_an_existing_run_is_refused(trained_run, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    before = (trained_run / "model.safetensors").read_bytes()
    code, _, err = run_cli(["train", "--data", corpus, "--out", trained_run, *TINY], capsys)
    assert_one_line_error(code, err, "--resume")
    assert (trained_run / "model.safetensors").read_bytes() == before
