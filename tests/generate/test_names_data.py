"""Names by category: the readers, the split over distinct names, the vocabulary, vector files.

Expected values are derived in the tests from the data they build (or, for the real data, by
reading the files here with plain Python), never copied from the code's output."""

from collections import Counter

import pytest

from rnnlab.data.names import (BOS, BOS_ID, EOS, EOS_ID, SPLITS, build_name_vocab, encode_name,
                               oversample_categories, read_categories, read_category_vectors,
                               read_splits, read_vector, split_names, write_splits)
from rnnlab.errors import RnnlabError


def write_folder(folder, files: dict[str, str]):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_folder_reader_keeps_each_name_once_per_category(tmp_path):
    folder = write_folder(tmp_path / "names", {
        "Alpha.txt": "Abe\nAbe\n\nAki  \n Abe\n",      # repeats, a blank line, spaces
        "Beta.txt": "Bo\nAki\n",
        "notes.md": "ignored\n", ".Hidden.txt": "ignored\n"})
    data = read_categories(folder)
    assert data.categories == ["Alpha", "Beta"]
    assert data.names == {"Alpha": ["Abe", "Aki"], "Beta": ["Bo", "Aki"]}
    assert data.lines == {"Alpha": 4, "Beta": 2}
    assert data.multi_category_names() == {"Aki": ["Alpha", "Beta"]}
    assert data.pairs() == [("Alpha", "Abe"), ("Alpha", "Aki"), ("Beta", "Aki"), ("Beta", "Bo")]


def test_tsv_reader_with_and_without_header(tmp_path):
    plain = tmp_path / "plain.tsv"
    plain.write_text("Beta\tBo\nAlpha\tAbe\n\nAlpha\tAbe\n", encoding="utf-8")
    headed = tmp_path / "headed.tsv"
    headed.write_text("category\tname\nBeta\tBo\nAlpha\tAbe\n", encoding="utf-8")
    for path in (plain, headed):
        data = read_categories(path)
        assert data.names == {"Alpha": ["Abe"], "Beta": ["Bo"]}
    assert read_categories(plain).lines == {"Alpha": 2, "Beta": 1}


@pytest.mark.parametrize("files, message", [
    ({"notes.md": "x\n"}, "no .txt files"),
    ({"Alpha.txt": "Abe\n", "Beta.txt": ""}, "category 'Beta' has no names (the file is empty)"),
    ({"Alpha.txt": "\n  \n"}, "category 'Alpha' has no names (only blank lines)"),
    ({"Alpha.txt": "Abe\nA\tb\n"}, "Alpha.txt:2: the name 'A\\tb' holds a tab"),
])
def test_folder_errors_name_the_problem(tmp_path, files, message):
    folder = write_folder(tmp_path / "names", files)
    with pytest.raises(RnnlabError, match=None) as caught:
        read_categories(folder)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("text, message", [
    ("Alpha\tAbe\nBeta Bo\n", ":2: 1 tab-separated fields"),
    ("Alpha\tAbe\n\tBo\n", ":2: empty category"),
    ("Alpha\t \n", ":1: empty name for category 'Alpha'"),
    ("category\ttext\n\n", "no names found"),
])
def test_tsv_errors_name_the_line(tmp_path, text, message):
    path = tmp_path / "data.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RnnlabError) as caught:
        read_categories(path)
    assert message in str(caught.value)


def test_missing_path(tmp_path):
    with pytest.raises(RnnlabError, match="no such file or directory"):
        read_categories(tmp_path / "nowhere")


def toy_data(tmp_path):
    """Three categories of different sizes; 'Shared*' names occur under two of them."""
    files = {
        "Big.txt": "".join(f"Big{i}\n" for i in range(200)) + "Shared1\nShared2\n",
        "Mid.txt": "".join(f"Mid{i}\n" for i in range(50)) + "Shared1\nShared3\n",
        "Small.txt": "".join(f"Small{i}\n" for i in range(20)) + "Shared2\nShared3\n",
    }
    return read_categories(write_folder(tmp_path / "toy", files))


def test_splits_are_disjoint_over_distinct_names_and_keep_every_pair(tmp_path):
    data = toy_data(tmp_path)
    splits = split_names(data, seed=7, dev_fraction=0.1, test_fraction=0.2)
    names = {split: splits.names(split) for split in SPLITS}
    assert not names["train"] & names["dev"]
    assert not names["train"] & names["test"]
    assert not names["dev"] & names["test"]
    every_pair = [pair for split in SPLITS for pair in splits.pairs[split]]
    assert sorted(every_pair) == data.pairs()            # each (category, name) exactly once
    # A name under two categories stays under both, in one split.
    for shared, categories in data.multi_category_names().items():
        (split,) = [s for s in SPLITS if shared in names[s]]
        assert sorted(c for c, n in splits.pairs[split] if n == shared) == categories


def test_splits_are_stratified_by_category(tmp_path):
    data = toy_data(tmp_path)
    splits = split_names(data, seed=3, dev_fraction=0.1, test_fraction=0.2)
    # A name's stratum is its rarest category (Big 202 names, Mid 52, Small 22): Shared1 (Big,
    # Mid) is Mid's, Shared2 (Big, Small) and Shared3 (Mid, Small) are Small's. Each stratum
    # holds out round(fraction * its size) names.
    strata = {"Big": {f"Big{i}" for i in range(200)},
              "Mid": {f"Mid{i}" for i in range(50)} | {"Shared1"},
              "Small": {f"Small{i}" for i in range(20)} | {"Shared2", "Shared3"}}
    for stratum, members in strata.items():
        held = {split: len(members & splits.names(split)) for split in SPLITS}
        assert held["test"] == int(0.2 * len(members) + 0.5), stratum
        assert held["dev"] == int(0.1 * len(members) + 0.5), stratum
        assert held["train"] == len(members) - held["test"] - held["dev"]


def test_splits_are_stable_under_a_seed_and_change_with_it(tmp_path):
    data = toy_data(tmp_path)
    first = split_names(data, seed=11)
    again = split_names(read_categories(tmp_path / "toy"), seed=11)
    assert first.pairs == again.pairs
    other = split_names(data, seed=12)
    assert other.pairs["test"] != first.pairs["test"]


def test_split_does_not_depend_on_file_order(tmp_path):
    base = {"A.txt": "".join(f"A{i}\n" for i in range(40)),
            "B.txt": "".join(f"B{i}\n" for i in range(30))}
    reordered = {name: "".join(reversed(text.splitlines(keepends=True)))
                 for name, text in base.items()}
    one = split_names(read_categories(write_folder(tmp_path / "one", base)), seed=5)
    two = split_names(read_categories(write_folder(tmp_path / "two", reordered)), seed=5)
    assert one.pairs == two.pairs


def test_split_fractions_are_checked(tmp_path):
    data = toy_data(tmp_path)
    with pytest.raises(RnnlabError, match="leave nothing to train on"):
        split_names(data, seed=0, dev_fraction=0.5, test_fraction=0.5)
    with pytest.raises(RnnlabError, match=r"dev fraction must be in \[0, 1\)"):
        split_names(data, seed=0, dev_fraction=-0.1)


def test_written_splits_read_back_and_are_classifier_tsv(tmp_path):
    from rnnlab.data.classification import read_examples

    splits = split_names(toy_data(tmp_path), seed=1)
    write_splits(splits, tmp_path / "splits")
    assert read_splits(tmp_path / "splits").pairs == splits.pairs
    # The shared classifier's reader takes the same file: label = category, text = name.
    examples = read_examples(tmp_path / "splits" / "train.tsv")
    assert [(e.label, e.text) for e in examples] == splits.pairs["train"]
    # And so does the generator's own TSV reader.
    assert read_categories(tmp_path / "splits" / "dev.tsv").pairs() == splits.pairs["dev"]


def test_real_names_data(shared_data):
    folder = shared_data / "names"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    # Independently: every file's stripped, non-blank lines, as sets.
    expected: dict[str, set[str]] = {}
    for path in sorted(folder.glob("*.txt")):
        expected[path.stem] = {line.strip() for line in path.read_text(encoding="utf-8")
                               .split("\n") if line.strip()}
    data = read_categories(folder)
    assert {c: set(names) for c, names in data.names.items()} == expected
    occurrences = Counter(name for names in expected.values() for name in names)
    assert len(data.multi_category_names()) == sum(1 for n in occurrences.values() if n > 1)
    splits = split_names(data, seed=0)
    names = [splits.names(split) for split in SPLITS]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert sum(map(len, names)) == len(occurrences)
    for category, row in splits.counts().items():   # every category is held out in proportion
        total = sum(row.values())
        assert abs(row["test"] - 0.1 * total) <= max(3, 0.03 * total), (category, row)


def test_vocab_reserves_the_start_and_end_symbols():
    vocab = build_name_vocab(["Abba", "Bob"])
    assert vocab.tokens[BOS_ID] == BOS and vocab.tokens[EOS_ID] == EOS
    # b three times, then A, B, a, o once each: most frequent first, ties by code point.
    assert vocab.tokens[4:] == ["b", "A", "B", "a", "o"]
    assert vocab.decode(encode_name(vocab, "Bob")) == ["B", "o", "b"]
    with pytest.raises(RnnlabError, match="'Zoë' has characters 'Z', 'ë' that the model never "
                                          "saw"):
        encode_name(vocab, "Zoë")


def test_vector_files(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("0.5, -1\n2e-1\n", encoding="utf-8")
    assert read_vector(path) == [0.5, -1.0, 0.2]
    path.write_text("0.5 abc\n", encoding="utf-8")
    with pytest.raises(RnnlabError, match="'abc' is not a number"):
        read_vector(path)
    table = tmp_path / "vectors.tsv"
    table.write_text("B\t0 1\nA\t1 0\nC\t1 1\n", encoding="utf-8")
    assert read_category_vectors(table, ["A", "B"]) == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(RnnlabError, match="no vector for category 'D'"):
        read_category_vectors(table, ["A", "D"])
    table.write_text("A\t1 0\nB\t1\n", encoding="utf-8")
    with pytest.raises(RnnlabError, match=":2: 1 numbers, but earlier lines have 2"):
        read_category_vectors(table, ["A", "B"])


def test_oversampling_repeats_small_categories_towards_the_target():
    pairs = [("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2"), ("B", "b3"), ("B", "b4"),
             ("B", "b5"), ("B", "b6"), ("B", "b7")]
    # target 6: A has 2 names -> 3 copies each; B has 7 -> round(0.86) = 1 copy.
    assert Counter(oversample_categories(pairs, 6)) == Counter(
        {("A", "a1"): 3, ("A", "a2"): 3, **{pair: 1 for pair in pairs[2:]}})
    # target 5: A -> round(2.5) = 3 (half up), B -> round(0.71) = 1.
    assert Counter(c for c, _ in oversample_categories(pairs, 5)) == {"A": 6, "B": 7}
    # target 28: A -> 14 copies, B -> 4; never fewer than one copy.
    assert Counter(c for c, _ in oversample_categories(pairs, 28)) == {"A": 28, "B": 28}
    assert oversample_categories(pairs, 1) == pairs
    assert oversample_categories(pairs, 0) == pairs


@pytest.mark.parametrize("bad", [-1, 2.5, True, "3"])
def test_oversampling_target_is_checked(bad):
    with pytest.raises(RnnlabError, match="balance must be a whole number >= 0"):
        oversample_categories([("A", "a")], bad)
