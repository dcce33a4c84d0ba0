"""SST trees: the reader (phrases, labels, escapes, errors with line and column), label schemes,
de-duplication, the real treebank files (counts, no dev sentence among the SST-2 training
phrases), and `rnnlab classify` on trees end to end (phrases, scoring on sentences, bad input)."""

import json
import shutil

import pytest
import torch

from rnnlab.cli import main
from rnnlab.data.classification import (CLASSIFICATION_DATASETS, detect_format,
                                        fetch_classification_dataset, read_examples)
from rnnlab.data.sst_trees import (TreeOptions, parse_tree, parse_trees, phrase_examples,
                                   read_trees, scheme_of_labels, sentence_examples)
from rnnlab.errors import RnnlabError
from rnnlab.models.classifier import RNNClassifier
from rnnlab.tasks.classify import DataSource

ROCK = "(3 (2 (2 The) (2 Rock)) (4 (3 (2 is) (4 great)) (2 .)))"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def write(folder, name, text):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the reader ---------------------------------------------------------------------------------


def test_phrases_of_a_hand_written_tree_are_its_spans():
    tree = parse_tree(ROCK)
    # Every bracket of ROCK, read off by hand: (label, the words it covers).
    by_hand = {("The", 2), ("Rock", 2), ("The Rock", 2), ("is", 2), ("great", 4),
               ("is great", 3), (".", 2), ("is great .", 4), ("The Rock is great .", 3)}
    assert set(tree.phrases()) == by_hand and len(tree.phrases()) == 9
    assert tree.leaves == ("The", "Rock", "is", "great", ".")
    assert set(tree.spans) == {(0, 1, 2), (1, 2, 2), (0, 2, 2), (2, 3, 2), (3, 4, 4),
                               (2, 4, 3), (4, 5, 2), (2, 5, 4), (0, 5, 3)}
    assert tree.label == 3 and tree.text == "The Rock is great ."    # the root is the sentence
    [sentence] = sentence_examples([tree], "fine")
    assert (sentence.text, sentence.label, sentence.line) == ("The Rock is great .", "3", 1)


def test_binary_scheme_drops_neutral_and_merges_the_ends():
    tree = parse_tree("(4 (0 awful) (1 (1 dull) (2 (3 nice) (4 superb))))")
    binary = {(e.text, e.label) for e in phrase_examples([tree], "binary")}
    assert binary == {("awful", "0"), ("dull", "0"), ("nice", "1"), ("superb", "1"),
                      ("dull nice superb", "0"), ("awful dull nice superb", "1")}
    fine = {(e.text, e.label) for e in phrase_examples([tree], "fine")}
    assert fine == {("awful", "0"), ("dull", "1"), ("nice", "3"), ("superb", "4"),
                    ("nice superb", "2"), ("dull nice superb", "1"),
                    ("awful dull nice superb", "4")}
    neutral = parse_tree("(2 (2 a) (3 fine))", line_number=7)
    assert sentence_examples([neutral], "binary") == []
    assert [(e.label, e.line) for e in sentence_examples([neutral], "fine")] == [("2", 7)]
    assert [e.label for e in sentence_examples([neutral], "binary", keep_unlabelled=True)] == [None]
    assert scheme_of_labels(["0", "1"]) == "binary"
    assert scheme_of_labels(["0", "1", "2", "3", "4"]) == "fine"
    assert scheme_of_labels(["neg", "pos"]) is None


def test_distinct_phrases_follow_the_vocabulary_case():
    trees = parse_trees("(3 (3 The) (3 film))\n(3 (2 the) (3 film))\n(1 (2 the) (1 film))\n")
    lowered = [(e.text, e.label, e.line) for e in phrase_examples(trees, "fine")]
    # First occurrence kept; "The film"/"the film" with label 3 are one; label 1 is another.
    assert lowered == [("The", "3", 1), ("film", "3", 1), ("The film", "3", 1), ("the", "2", 2),
                       ("film", "1", 3), ("the film", "1", 3)]
    cased = {(e.text, e.label) for e in phrase_examples(trees, "fine", lowercase=False)}
    assert ("the film", "3") in cased and ("The film", "3") in cased and len(cased) == 7


def test_ptb_escapes_become_plain_text():
    tree = parse_tree("(2 (2 -LRB-) (2 (2 ``) (2 (2 a\\/b) (2 (2 '') (2 (2 \\*) (2 -RRB-))))))")
    assert tree.text == '( " a/b " * )'
    assert tree.leaves[0] == "-LRB-"                 # the leaves stay as in the file


@pytest.mark.parametrize("line,column,message", [
    ("(3 (2 a) (2 b)", 15, "unbalanced parentheses: the tree ends with 1 '(' not closed"),
    ("(3 (2 a)))", 10, "unbalanced parentheses: ')' with no matching '('"),
    ("(3 (2 a)) (2 b))", 11, "text after the end of the tree"),
    ("(7 (2 a) (2 b))", 2, "label 7 is out of range; expected 0-4"),
    ("(3 (a) (2 b))", 5, "label 'a' is not a number"),
    ("(3 ((2 a) (2 b)))", 5, "missing label after '('"),
    ("()", 1, "empty tree '()'"),
    ("(2 )", 4, "empty tree: the node labelled 2 has no word or subtrees"),
    ("(3 (2 a b))", 9, "a second word 'b' in one node"),
    ("(3 (2 a) b)", 10, "the word 'b' follows a subtree"),
    ("1 a fine film", 1, "expected '(' to open a tree, found '1'"),
])
def test_malformed_trees_name_line_and_column(line, column, message):
    with pytest.raises(RnnlabError) as error:
        parse_trees(f"{ROCK}\n\n{line}\n", "t.txt")       # the bad tree is on line 3
    assert str(error.value).startswith(f"t.txt:3:{column}: {message}")


def test_format_detection_and_the_tree_format_in_read_examples(tmp_path):
    path = write(tmp_path, "train.txt", f"{ROCK}\n(2 (2 so) (2 so))\n")
    assert detect_format(path) == "sst-trees"
    assert detect_format(write(tmp_path, "s.txt", "1 a (good) film\n")) == "sst"
    assert [(e.text, e.label) for e in read_examples(path)] == [
        ("The Rock is great .", "3"), ("so so", "2")]
    binary = read_examples(path, trees=TreeOptions(labels="binary"))
    assert [(e.text, e.label) for e in binary] == [("The Rock is great .", "1")]
    unlabelled = read_examples(path, require_labels=False, trees=TreeOptions(labels="binary"))
    assert [e.label for e in unlabelled] == ["1", None]     # prediction reads every sentence
    neutral = write(tmp_path, "neutral.txt", "(2 (2 so) (2 so))\n")
    with pytest.raises(RnnlabError, match="no tree has a label under the binary scheme"):
        read_examples(neutral, trees=TreeOptions(labels="binary"))
    with pytest.raises(RnnlabError, match="unknown label scheme 'three'"):
        TreeOptions(labels="three")


# -- the real treebank (../shared/data/sst) -------------------------------------------------------


@pytest.fixture(scope="module")
def real_trees():
    from tests.conftest import SHARED_DATA

    folder = SHARED_DATA / "sst"
    if not (folder / "train.txt").is_file():
        pytest.skip(f"{folder} not found")
    return read_trees(folder / "train.txt"), read_trees(folder / "dev.txt")


def test_real_files_have_the_official_split_sizes(real_trees):
    train, dev = real_trees
    # Socher et al. (2013): 8,544 / 1,101 sentences; SST-2 (Kim 2014): 6,920 / 872.
    assert (len(train), len(dev)) == (8544, 1101)
    assert (len(sentence_examples(train, "binary")), len(sentence_examples(dev, "binary"))) \
        == (6920, 872)
    # shared/data/sst/SOURCE.md counted 318,582 labelled nodes and 77,201 distinct lower-cased
    # non-neutral (label, phrase) pairs with its own script.
    assert sum(len(tree.spans) for tree in train) == 318582
    assert len(phrase_examples(train, "binary")) == 77201


def test_no_sst2_dev_sentence_is_a_training_phrase(real_trees):
    train, dev = real_trees
    every_training_node = {text.lower() for tree in train for text, _ in tree.phrases()}
    training_phrases = {e.text.lower() for e in phrase_examples(train, "binary")}
    dev_sentences = {e.text.lower() for e in sentence_examples(dev, "binary")}
    assert len(dev_sentences) == 872
    assert not dev_sentences & every_training_node       # whatever the node's label
    assert not dev_sentences & training_phrases
    # SST-5 keeps neutral sentences, and three of them do occur in train.txt (found with grep:
    # dev line 664 "(2 (2 Hey) (2 (2 Arnold) (2 !)))" is also train line 8178; the other two
    # are titles inside training sentences). All three are neutral in both files.
    overlap = {tree.text.lower(): tree.label for tree in dev
               if tree.text.lower() in every_training_node}
    assert overlap == {"hey arnold !": 2, "what time is it there ?": 2, "this is it .": 2}


# -- rnnlab classify on trees ----------------------------------------------------------------------

POSITIVE = ["a", "fine", "film"], ["great", "acting"], ["the", "good", "plot"]
NEGATIVE = ["a", "dull", "film"], ["bad", "acting"], ["the", "awful", "plot"]


def toy_tree(words, label, word_labels):
    """A right-branching tree with the sentence label on every inner node."""
    node = f"({word_labels.get(words[-1], 2)} {words[-1]})"
    for word in reversed(words[:-1]):
        node = f"({label} ({word_labels.get(word, 2)} {word}) {node})"
    return node


@pytest.fixture
def toy_trees(tmp_path):
    word_labels = {"fine": 3, "great": 4, "good": 3, "dull": 1, "bad": 0, "awful": 0}
    lines = []
    for index in range(40):
        pos, neg = POSITIVE[index % 3], NEGATIVE[(index + 1) % 3]
        lines.append(toy_tree(pos, 3 + index % 2, word_labels))
        lines.append(toy_tree(neg, index % 2, word_labels))
    lines.append(toy_tree(["the", "film"], 2, word_labels))         # neutral: dropped in binary
    train = write(tmp_path, "train.txt", "\n".join(lines) + "\n")
    dev = write(tmp_path, "dev.txt", "\n".join(lines[:6] + lines[-1:]) + "\n")
    return train, dev


def tree_train_args(train, dev, out, *extra):
    return ["classify", "train", "--train", str(train), "--dev", str(dev), "--out", str(out),
            "--no-progress", "--hidden", "8", "--embedding", "8", "--max-steps", "3",
            "--batch-size", "8", *extra]


def test_train_on_phrases_score_on_sentences(tmp_path, toy_trees, capsys):
    train, dev = toy_trees
    run = tmp_path / "run"
    assert main(tree_train_args(train, dev, run, "--labels", "binary", "--phrases")) == 0
    out = capsys.readouterr().out
    # Distinct binary (label, phrase) pairs of the toy trees, counted by hand: the 6 sentences,
    # their inner phrases "fine film", "good plot", "dull film", "awful plot" (4) and the
    # sentiment words (6); neutral words and the neutral tree give none: 16.
    assert "data: 16 training examples" in out and "distinct labelled phrases of 81 trees" in out
    assert "6 dev examples" in out                  # the neutral dev tree has no binary label
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["tree_labels"] == "binary" and config["data"]["phrases"] is True
    assert config["model"]["labels"] == ["0", "1"]
    # The vocabulary counts words in the 81 training sentences, not in the phrases.
    vocab = RNNClassifier.from_pretrained(run).vocab
    assert "fine" in vocab and "great" in vocab

    # eval reads the scheme off the model's labels; scoring is per sentence.
    assert main(["classify", "eval", str(run), "--data", str(dev)]) == 0
    assert "(6 examples" in capsys.readouterr().out
    assert main(["classify", "eval", str(run), "--data", str(dev), "--labels", "fine"]) == 2
    assert "scored with fine labels ['0', '1', '2', '3', '4'], but the model has labels " \
        "['0', '1']" in capsys.readouterr().err
    # predict gives every sentence of a tree file, the neutral one included.
    assert main(["classify", "predict", str(run), "--input", str(dev)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and lines[0].endswith("\ta fine film") and lines[-1].endswith("the film")

    # resume reads the recorded tree options
    assert main(["classify", "train", "--resume", str(run), "--max-steps", "4",
                 "--no-progress"]) == 0
    assert "data: 16 training examples" in capsys.readouterr().out

    # Sentence-level training from the same trees, and five labels.
    assert main(tree_train_args(train, dev, tmp_path / "sentences", "--labels", "binary")) == 0
    assert "data: 80 training examples" in capsys.readouterr().out
    # Five labels: the 6 sentences and 4 inner phrases with both of their labels (20), the
    # sentiment words (6), the neutral words a, film, acting, the, plot (5), "the film" (1): 32.
    assert main(tree_train_args(train, dev, tmp_path / "fine", "--phrases")) == 0
    out = capsys.readouterr().out
    assert "data: 32 training examples" in out and "; 5 labels;" in out
    assert "7 dev examples" in out


def test_min_freq_counts_sentences_not_phrases(tmp_path):
    # "gem" occurs in one sentence, so in three of its phrases; min_freq 2 makes it <unk>.
    train = write(tmp_path, "t.txt", "(4 (2 a) (4 (2 real) (4 gem)))\n"
                                     "(1 (2 a) (1 (2 real) (1 dud)))\n"
                                     "(3 (2 a) (3 (2 real) (3 treat)))\n(0 (2 a) (0 mess))\n")
    from rnnlab.tasks.classify import _prepare
    from rnnlab.data.wordvocab import VocabOptions

    source = DataSource(train=str(train), dev=str(train), phrases=True)
    vocab, _, data, _ = _prepare(source, 1, VocabOptions(min_freq=2), None, lambda _: None)
    assert vocab.tokens[2:] == ["a", "real"]
    # gem, dud, treat, mess, a, real, and 7 longer phrases, all distinct
    assert len(data) == 13


def test_dev_fraction_holds_out_whole_trees(tmp_path):
    # Twelve trees with words of their own: a held-out tree's words are in no training phrase.
    train = write(tmp_path, "t.txt", "".join(f"(3 (2 a{i}) (3 (2 b{i}) (3 c{i})))\n"
                                             for i in range(12)))
    source = DataSource(train=str(train), tree_labels="fine", phrases=True, dev_fraction=0.25)
    data = source.load(seed=3)
    assert len(data.dev) == 3 and "3 examples held out" in data.dev_name
    assert len(data.train) == 9 * 5 and len(data.vocab_texts) == 9
    held_words = {word for e in data.dev for word in e.text.split()}
    assert len(held_words) == 9
    assert not held_words & {word for e in data.train for word in e.text.split()}


def test_bad_tree_input_gives_one_line_exit_2_and_writes_nothing(tmp_path, toy_trees, capsys):
    _, dev = toy_trees
    cases = [
        ("open.txt", f"{ROCK}\n(3 (2 a) (2 b)\n", "open.txt:2:15: unbalanced parentheses"),
        ("seven.txt", "(3 (2 a) (7 b))\n", "seven.txt:1:11: label 7 is out of range"),
        ("table.tsv", "label\ttext\n1\ta fine film\n",
         "table.tsv:1:1: expected '(' to open a tree, found 'label"),
    ]
    for name, text, message in cases:
        path = write(tmp_path, name, text)
        out = tmp_path / f"run-{name}"
        assert main(tree_train_args(path, dev, out, "--format", "sst-trees", "--phrases")) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not out.exists()
    table = tmp_path / "table.tsv"
    assert main(tree_train_args(table, table, tmp_path / "r", "--labels", "binary")) == 2
    assert "--labels and --phrases apply to SST trees" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# -- named datasets and old run directories --------------------------------------------------------


def test_tree_datasets_share_one_verified_cache(shared_data, tmp_path):
    from rnnlab.data.corpus import file_sha256

    for name in ("sst2", "sst5"):
        for split, entry in CLASSIFICATION_DATASETS[name].splits.items():
            assert file_sha256(shared_data / "sst" / entry.filename) == entry.sha256, split
    source = shared_data / "sst" / "dev.txt"
    path, fmt = fetch_classification_dataset("sst2", "dev", cache_dir=tmp_path,
                                             url=source.as_uri())
    assert path == tmp_path / "datasets" / "sst" / "dev.txt" and fmt == "sst-trees"
    # sst5 finds the same verified file without downloading (no URL could be reached here).
    assert fetch_classification_dataset("sst5", "dev", cache_dir=tmp_path) == (path, fmt)


def test_tree_datasets_choose_their_standard_setting():
    assert DataSource(dataset="sst2").tree_options() == TreeOptions("binary", phrases=True)
    assert DataSource(dataset="sst5").tree_options() == TreeOptions("fine", phrases=True)
    assert DataSource(dataset="sst5", phrases=False).tree_options() == TreeOptions("fine")
    with pytest.raises(RnnlabError, match="dataset 'sst2-sentences' is not trees"):
        DataSource(dataset="sst2-sentences", tree_labels="binary").tree_options()


@pytest.mark.slow
def test_dataset_sst5_trains_on_phrases_and_evaluates(shared_data, tmp_path, monkeypatch,
                                                       capsys):
    cache = tmp_path / "cache" / "datasets" / "sst"
    cache.mkdir(parents=True)
    for name in ("train.txt", "dev.txt"):
        shutil.copy(shared_data / "sst" / name, cache / name)
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert main(["classify", "train", "--dataset", "sst5", "--out", str(run), "--no-progress",
                 "--max-steps", "1", "--hidden", "4", "--embedding", "4"]) == 0
    out = capsys.readouterr().out
    assert "distinct labelled phrases of 8,544 trees, fine labels" in out
    assert "1,101 dev examples" in out
    assert main(["classify", "eval", str(run), "--dataset", "sst2"]) == 2
    assert "labels ['0', '1', '2', '3', '4']" in capsys.readouterr().err
    assert main(["classify", "train", "--dataset", "sst2", "--labels", "fine", "--out",
                 str(tmp_path / "r2")]) == 2
    assert "dataset 'sst2' has binary labels, not fine; use --dataset sst5" \
        in capsys.readouterr().err


def test_runs_that_recorded_the_old_sst2_read_the_sentence_files():
    old = {"train": None, "dev": None, "dataset": "sst2", "format": "auto", "dev_fraction": 0.1,
           "train_sha256": "x", "dev_sha256": "y"}
    assert DataSource.from_saved(old).dataset == "sst2-sentences"
    new = {**old, "tree_labels": "binary", "phrases": True}
    assert DataSource.from_saved(new).dataset == "sst2"


def test_a_run_that_recorded_the_old_sst2_resumes_on_the_sentence_files(
        shared_data, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache" / "datasets" / "sst2"            # the old cache folder
    cache.mkdir(parents=True)
    for name in ("stsa.binary.train", "stsa.binary.dev"):
        shutil.copy(shared_data / "sst2" / name, cache / name)
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    assert main(["classify", "train", "--dataset", "sst2-sentences", "--out", str(run),
                 "--no-progress", "--max-steps", "1", "--hidden", "4", "--embedding", "4"]) == 0
    # Rewrite config.json's data section as rnnlab wrote it before the treebank was read.
    config_path = run / "config.json"
    config = json.loads(config_path.read_text())
    config["data"] = {key: value for key, value in config["data"].items()
                      if key not in ("tree_labels", "phrases")} | {"dataset": "sst2"}
    config_path.write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["classify", "train", "--resume", str(run), "--max-steps", "2",
                 "--no-progress"]) == 0
    assert "6,920 training examples" in capsys.readouterr().out
    assert json.loads(config_path.read_text())["data"]["dataset"] == "sst2-sentences"


def test_positive_probability_of_binary_and_fine_models():
    import numpy as np

    from rnnlab.data.sst_trees import positive_probability

    binary = np.array([[0.3, 0.7], [0.9, 0.1]])
    assert np.allclose(positive_probability(binary, ["0", "1"]), [0.7, 0.1])
    # Five classes: (p3 + p4) / (p0 + p1 + p3 + p4); the neutral mass is left out.
    fine = np.array([[0.1, 0.1, 0.6, 0.1, 0.1], [0.0, 0.2, 0.0, 0.4, 0.4]])
    assert np.allclose(positive_probability(fine, ["0", "1", "2", "3", "4"]), [0.5, 0.8])
    with pytest.raises(RnnlabError, match="neither the binary nor the fine scheme"):
        positive_probability(binary, ["neg", "pos"])
