"""`rnnlab generate train | sample | eval` end to end, and bad input: one line, exit code 2."""

import json

import pytest
import torch

from rnnlab.cli import main
from tests.generate.test_generator import toy_folder

TINY = ["--hidden", "32", "--embedding", "8", "--condition-size", "8", "--dropout", "0",
        "--batch-size", "16", "--lr", "0.02", "--warmup", "5", "--eval-interval", "100",
        "--no-progress"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = toy_folder(tmp_path_factory.mktemp("toy") / "names")
    run = tmp_path_factory.mktemp("runs") / "gen"
    assert main(["generate", "train", "--data", str(folder), "--out", str(run),
                 "--max-steps", "150", *TINY]) == 0
    return run


def test_train_writes_the_run_and_its_splits(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["kind"] == "generator"
    assert config["model"]["categories"] == ["Abc", "Xyz"]
    assert config["model"]["conditioning"] == "input"           # the measured default
    assert config["data"]["split_seed"] == 0 and config["train"]["max_steps"] == 150
    for split in ("train", "dev", "test"):
        lines = (run_dir / "splits" / f"{split}.tsv").read_text().splitlines()
        assert lines[0] == "label\ttext" and len(lines) > 1


def test_sample_prints_count_names(run_dir, capsys):
    code, out, err = run_cli(["generate", "sample", run_dir, "--category", "Abc", "--count",
                              "20", "--seed", "1"], capsys)
    assert code == 0, err
    names = out.splitlines()
    assert len(names) == 20
    assert sum(set(name) <= set("abc") for name in names) >= 15
    code, again, _ = run_cli(["generate", "sample", run_dir, "--category", "Abc", "--count",
                              "20", "--seed", "1"], capsys)
    assert again == out
    code, out, _ = run_cli(["generate", "sample", run_dir, "--category", "Xyz", "--count", "5",
                            "--novel", "--seed", "2"], capsys)
    training = {line.split("\t")[1] for line in
                (run_dir / "splits" / "train.tsv").read_text().splitlines()[1:]}
    assert code == 0 and len(set(out.splitlines())) == 5
    assert not set(out.splitlines()) & training


def test_eval_prints_the_held_out_loss_per_category(run_dir, capsys):
    code, out, err = run_cli(["generate", "eval", run_dir], capsys)
    assert code == 0, err
    assert out.startswith("held-out loss on the test split: ") and "nats/char" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(rows) == {"category", "Abc", "Xyz"}
    test_names = (run_dir / "splits" / "test.tsv").read_text().splitlines()[1:]
    assert int(rows["Abc"][1]) == sum(line.startswith("Abc\t") for line in test_names)


def test_eval_with_a_classifier_reports_recognisability(run_dir, tmp_path, capsys):
    classifier = tmp_path / "cls"
    assert main(["classify", "train", "--train", str(run_dir / "splits" / "train.tsv"),
                 "--dev", str(run_dir / "splits" / "dev.tsv"), "--level", "char",
                 "--min-freq", "1", "--out", str(classifier), "--hidden", "16", "--embedding",
                 "8", "--max-steps", "60", "--lr", "0.02", "--warmup", "5", "--no-progress",
                 "--eval-interval", "60"]) == 0
    capsys.readouterr()
    code, out, err = run_cli(["generate", "eval", run_dir, "--classifier", classifier,
                              "--samples", "20"], capsys)
    assert code == 0, err
    table = out.split("judged by")[1].splitlines()[1:]
    rows = {line.split()[0]: line.split() for line in table}
    assert set(rows) == {"category", "Abc", "Xyz", "macro"}
    # The alphabets do not overlap, so a classifier that saw them and samples that use them
    # agree almost always.
    assert float(rows["Abc"][1]) >= 0.8 and float(rows["Xyz"][1]) >= 0.8


def one_line_error(code, err, *fragments):
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


def test_unknown_category_lists_the_known_ones(run_dir, capsys):
    code, _, err = run_cli(["generate", "sample", run_dir, "--category", "Klingon"], capsys)
    one_line_error(code, err, "unknown category 'Klingon'", "known categories: Abc, Xyz")


def test_count_zero(run_dir, capsys):
    code, _, err = run_cli(["generate", "sample", run_dir, "--category", "Abc", "--count", "0"],
                           capsys)
    one_line_error(code, err, "count must be a positive integer, got 0")


def test_an_unseen_character_when_scoring(run_dir, tmp_path, capsys):
    data = tmp_path / "held.tsv"
    data.write_text("Abc\tabc\nXyz\txyQz\n", encoding="utf-8")
    code, _, err = run_cli(["generate", "eval", run_dir, "--data", data], capsys)
    one_line_error(code, err, "Xyz: the name 'xyQz' has character 'Q' that the model never saw",
                   "--unknown skip")
    code, out, err = run_cli(["generate", "eval", run_dir, "--data", data, "--unknown", "skip"],
                             capsys)
    assert code == 0, err
    assert "(1 names; 1 names left out for characters never seen in training)" in out


def test_unknown_category_in_scored_data(run_dir, tmp_path, capsys):
    data = tmp_path / "held.tsv"
    data.write_text("Abc\tabc\nKlingon\tabc\n", encoding="utf-8")
    code, _, err = run_cli(["generate", "eval", run_dir, "--data", data], capsys)
    one_line_error(code, err, "unknown category 'Klingon'; known categories: Abc, Xyz")


def test_empty_category_file(tmp_path, capsys):
    folder = toy_folder(tmp_path / "names", count=20)
    (folder / "Empty.txt").write_text("", encoding="utf-8")
    code, _, err = run_cli(["generate", "train", "--data", folder, "--out", tmp_path / "run",
                            "--max-steps", "1", *TINY], capsys)
    one_line_error(code, err, "Empty.txt: category 'Empty' has no names (the file is empty)")
    assert not (tmp_path / "run").exists()


def test_folder_without_txt_files(tmp_path, capsys):
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "README.md").write_text("names\n", encoding="utf-8")
    code, _, err = run_cli(["generate", "train", "--data", folder, "--out", tmp_path / "run",
                            "--max-steps", "1", *TINY], capsys)
    one_line_error(code, err, "no .txt files; expected one <category>.txt file per category")


def test_bad_conditioning_and_resume_conflicts(run_dir, tmp_path, capsys):
    folder = toy_folder(tmp_path / "names", count=20)
    code, _, err = run_cli(["generate", "train", "--data", folder, "--out", tmp_path / "run",
                            "--conditioning", "sideways", *TINY], capsys)
    one_line_error(code, err, "unknown conditioning 'sideways'")
    code, _, err = run_cli(["generate", "train", "--resume", run_dir, "--data", folder], capsys)
    one_line_error(code, err, "--data cannot be given with --resume")


def test_balance_repeats_the_small_categorys_names(tmp_path, capsys):
    folder = toy_folder(tmp_path / "names", count=20)
    (folder / "Xyz.txt").write_text("".join(f"{name}\n" for name in
                                            (folder / "Xyz.txt").read_text().split()[:10]),
                                    encoding="utf-8")
    code, out, err = run_cli(["generate", "train", "--data", folder, "--out", tmp_path / "run",
                              "--balance", "16", "--max-steps", "2", *TINY], capsys)
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["balance"] == 16
    train = [line.split("\t")[0] for line in
             (tmp_path / "run" / "splits" / "train.tsv").read_text().splitlines()[1:]]
    abc, xyz = train.count("Abc"), train.count("Xyz")
    assert xyz < abc <= 16
    # The split file keeps each name once; an epoch reads each category about 16 times.
    expected = sum(count * max(1, int(16 / count + 0.5)) for count in (abc, xyz))
    assert f"({expected:,} in all)" in out


def test_bad_balance_is_one_line_and_writes_nothing(run_dir, tmp_path, capsys):
    folder = toy_folder(tmp_path / "names", count=20)
    code, _, err = run_cli(["generate", "train", "--data", folder, "--out", tmp_path / "run",
                            "--balance", "-3", *TINY], capsys)
    one_line_error(code, err, "balance must be a whole number >= 0, got -3")
    assert not (tmp_path / "run").exists()
    code, _, err = run_cli(["generate", "train", "--resume", run_dir, "--balance", "5"], capsys)
    one_line_error(code, err, "--balance cannot be given with --resume")
