"""Reading and writing CoNLL-U treebanks for part-of-speech tagging.

CoNLL-U (https://universaldependencies.org/format.html) has one word per line, ten TAB-separated
columns, sentences separated by a blank line, and comment lines starting with "#":

    # sent_id = 1
    # text = I can't go.
    1     I      I     PRON   PRP  ...
    2-3   can't  _     _      _    ...      <- multiword token: a range of the words below it
    2     ca     can   AUX    MD   ...
    3     n't    not   PART   RB   ...
    4     go     go    VERB   VB   ...
    4.1   gone   go    VERB   VBN  ...      <- empty node (enhanced dependencies only)
    5     .      .     PUNCT  .    ...
      ID  FORM   LEMMA UPOS   XPOS  FEATS HEAD DEPREL DEPS MISC

A tagger reads and labels the *syntactic words*: rows whose ID is a single integer. Multiword
token ranges ("2-3") and empty nodes ("4.1") are not tagged, but they are kept, together with
every comment and every other column, so that `write_conllu` can give back the input with only
the tag column replaced. Reading the output again gives the same sentences and tokens, with the
predicted tags.

The columns of each row are checked with the field parsers of the `conllu` library
(https://pypi.org/project/conllu/, the optional extra `rnnlab[tagging]`) applied to the exact
TAB-split columns; any error, ours or the library's, becomes one `RnnlabError` line that names the
file and the line number.

The module also knows where to download UD English EWT (`fetch_ud_english_ewt`), with a cache and
sha256 checks (see rnnlab.data.corpus).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from rnnlab.errors import RnnlabError

COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
TAG_COLUMNS = ("upos", "xpos")
# Index of each tag column among the ten.
_TAG_INDEX = {"upos": 3, "xpos": 4}
# The value CoNLL-U uses for "no value".
MISSING = "_"


@dataclass
class Word:
    """One syntactic word (a row with an integer ID) of a sentence."""
    form: str
    upos: str
    xpos: str
    line_number: int      # 1-based line in the file it came from, for error messages
    row: int              # index of its row in Sentence.lines

    def tag(self, column: str) -> str:
        return self.upos if column == "upos" else self.xpos


@dataclass
class Sentence:
    """A sentence of a CoNLL-U file, with everything needed to write it back unchanged.

    `lines` holds every line of the sentence as read (comments, multiword tokens, empty nodes,
    words), without line endings; `words` are the syntactic words that a tagger labels.
    `tokens` is the `conllu.TokenList` of the sentence (all rows, parsed) with its metadata.
    """
    lines: list[str]
    words: list[Word]
    first_line: int
    tokens: object = field(default=None, repr=False)

    @property
    def forms(self) -> list[str]:
        return [word.form for word in self.words]

    def tags(self, column: str = "upos") -> list[str]:
        _check_column(column)
        return [word.tag(column) for word in self.words]

    @property
    def sent_id(self) -> str | None:
        metadata = getattr(self.tokens, "metadata", None) or {}
        return metadata.get("sent_id")


@dataclass
class Treebank:
    """The sentences of one CoNLL-U file and where they came from."""
    path: str
    sentences: list[Sentence]

    def __len__(self) -> int:
        return len(self.sentences)

    @property
    def num_words(self) -> int:
        return sum(len(sentence.words) for sentence in self.sentences)


def _conllu():
    try:
        import conllu
    except ImportError:
        raise RnnlabError("reading CoNLL-U needs the package 'conllu'; install it with "
                          "pip install 'rnnlab[tagging]'") from None
    return conllu


def _check_column(column: str) -> None:
    if column not in TAG_COLUMNS:
        raise RnnlabError(f"unknown tag column {column!r}; choose one of {', '.join(TAG_COLUMNS)}")


# --------------------------------------------------------------------------------------------
# Reading


def read_conllu(path: str | os.PathLike) -> Treebank:
    """Read a CoNLL-U file. Raises RnnlabError naming FILE:LINE for anything malformed."""
    path = Path(path)
    if not path.exists():
        raise RnnlabError(f"CoNLL-U file {path} does not exist")
    if path.is_dir():
        raise RnnlabError(f"{path} is a directory; expected a CoNLL-U file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise RnnlabError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise RnnlabError(f"{path}:{line}: not valid UTF-8 (byte {err.start}); CoNLL-U files "
                          "are UTF-8") from None
    return parse_conllu(text, source=str(path))


def parse_conllu(text: str, source: str = "<string>") -> Treebank:
    """Parse CoNLL-U text; `source` names it in error messages (usually the file path)."""
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark is not part of the first line
    sentences: list[Sentence] = []
    block: list[str] = []
    block_start = 1
    # splitlines() would also split on form feeds and other separators inside fields; CoNLL-U
    # lines end in LF (or CRLF), so split on that alone.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for index, raw in enumerate(lines):
        line = raw[:-1] if raw.endswith("\r") else raw
        if line.strip() == "":
            if block:
                sentences.append(_parse_sentence(block, block_start, source))
                block = []
            continue
        if not block:
            block_start = index + 1
        block.append(line)
    if block:
        sentences.append(_parse_sentence(block, block_start, source))
    return Treebank(source, sentences)


def _parse_sentence(lines: list[str], first_line: int, source: str) -> Sentence:
    conllu = _conllu()
    from conllu.parser import DEFAULT_FIELD_PARSERS, parse_comment_line

    metadata = conllu.Metadata()
    tokens = []
    words: list[Word] = []
    for row, line in enumerate(lines):
        number = first_line + row
        where = f"{source}:{number}"
        if line.startswith("#"):
            try:
                for key, value in parse_comment_line(line):
                    metadata[key] = value
            except conllu.parser.ParseException as err:
                raise RnnlabError(f"{where}: bad comment line: {err}") from None
            continue
        columns = line.split("\t")
        if len(columns) != len(COLUMNS):
            raise RnnlabError(
                f"{where}: expected {len(COLUMNS)} TAB-separated columns "
                f"({' '.join(c.upper() for c in COLUMNS)}), found {len(columns)}: {_clip(line)}")
        token = conllu.Token()
        for i, name in enumerate(COLUMNS):
            parser = DEFAULT_FIELD_PARSERS.get(name)
            try:
                token[name] = parser(columns, i) if parser else columns[i]
            except conllu.parser.ParseException as err:
                raise RnnlabError(f"{where}: bad {name.upper()} column {columns[i]!r}: {err}") from None
        tokens.append(token)
        if isinstance(token["id"], int):
            expected_id = len(words) + 1
            if token["id"] != expected_id:
                raise RnnlabError(f"{where}: word ID {token['id']} out of sequence; expected "
                                  f"{expected_id} (IDs count 1, 2, 3 ... within a sentence)")
            if columns[1] == "":
                raise RnnlabError(f"{where}: word {token['id']} has an empty FORM column")
            words.append(Word(form=columns[1], upos=columns[3], xpos=columns[4],
                              line_number=number, row=row))
        elif token["id"] is None:
            raise RnnlabError(f"{where}: the ID column is empty; expected a word number such as 1, "
                              "a range such as 1-2, or an empty node such as 1.1")
    return Sentence(lines=list(lines), words=words, first_line=first_line,
                    tokens=conllu.TokenList(tokens, metadata))


def _clip(line: str, width: int = 60) -> str:
    shown = line if len(line) <= width else line[:width] + "…"
    return repr(shown)


# --------------------------------------------------------------------------------------------
# Writing


def with_tags(sentence: Sentence, tags: Sequence[str], column: str = "upos") -> list[str]:
    """The lines of `sentence` with `column` of each syntactic word replaced by `tags`."""
    _check_column(column)
    if len(tags) != len(sentence.words):
        raise RnnlabError(f"sentence at line {sentence.first_line} has {len(sentence.words)} "
                          f"words but {len(tags)} tags were given")
    index = _TAG_INDEX[column]
    lines = list(sentence.lines)
    for word, tag in zip(sentence.words, tags):
        if not tag or any(c in tag for c in "\t\n\r"):
            raise RnnlabError(f"tag {tag!r} cannot be written to CoNLL-U (empty or holds a TAB "
                              "or line break)")
        columns = lines[word.row].split("\t")
        columns[index] = tag
        lines[word.row] = "\t".join(columns)
    return lines


def format_conllu(sentences: Iterable[Sentence], tags: Iterable[Sequence[str]] | None = None,
                  column: str = "upos") -> str:
    """CoNLL-U text of `sentences`, each followed by a blank line; with `tags`, one tag list per
    sentence replaces `column` of its words (everything else is written as read)."""
    blocks = []
    sentences = list(sentences)
    tag_lists = [None] * len(sentences) if tags is None else list(tags)
    if len(tag_lists) != len(sentences):
        raise RnnlabError(f"{len(sentences)} sentences but {len(tag_lists)} tag lists")
    for sentence, sentence_tags in zip(sentences, tag_lists):
        lines = sentence.lines if sentence_tags is None else with_tags(sentence, sentence_tags, column)
        blocks.append("\n".join(lines) + "\n\n")
    return "".join(blocks)


def write_conllu(path: str | os.PathLike, sentences: Iterable[Sentence],
                 tags: Iterable[Sequence[str]] | None = None, column: str = "upos") -> Path:
    """Write `sentences` (with `tags` in `column`, if given) to `path`, atomically."""
    from rnnlab.train.checkpoint import atomic_write_bytes

    path = Path(path)
    if path.parent and not path.parent.exists():
        raise RnnlabError(f"cannot write {path}: folder {path.parent} does not exist")
    atomic_write_bytes(path, format_conllu(sentences, tags, column).encode("utf-8"))
    return path


# --------------------------------------------------------------------------------------------
# Tagged data for training and evaluation


def tagged_sentences(treebank: Treebank, column: str = "upos") -> list[tuple[list[str], list[str]]]:
    """(forms, tags) of every non-empty sentence; a word without a tag ("_") is an error."""
    _check_column(column)
    result = []
    for sentence in treebank.sentences:
        if not sentence.words:
            continue
        for word in sentence.words:
            if word.tag(column) == MISSING:
                raise RnnlabError(f"{treebank.path}:{word.line_number}: word {word.form!r} has no "
                                  f"{column.upper()} tag ('_'); training and evaluation need "
                                  "every word tagged")
        result.append((sentence.forms, sentence.tags(column)))
    if not result:
        raise RnnlabError(f"{treebank.path} holds no sentences with words")
    return result


def check_known_tags(treebank: Treebank, known: Sequence[str], column: str = "upos") -> None:
    """Raise RnnlabError at the first word whose tag is not in `known` (the training tag set)."""
    known_set = set(known)
    for sentence in treebank.sentences:
        for word in sentence.words:
            tag = word.tag(column)
            if tag not in known_set and tag != MISSING:
                raise RnnlabError(
                    f"{treebank.path}:{word.line_number}: {column.upper()} tag {tag!r} of word "
                    f"{word.form!r} never occurs in the training data; known tags: "
                    f"{', '.join(sorted(known_set))}")


# --------------------------------------------------------------------------------------------
# UD English EWT, downloaded by name

UD_ENGLISH_EWT = "ud_english_ewt"
# The upstream repository at the commit the shared copy was taken from (its SOURCE.md): v2.16.
_EWT_COMMIT = "15d613d8447b3478787d4c278730a1e48a945efb"
_EWT_BASE = f"https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/{_EWT_COMMIT}"
# sha256 of the files, computed from the byte-identical shared copies.
_EWT_FILES = {
    "train": ("en_ewt-ud-train.conllu",
              "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b"),
    "dev": ("en_ewt-ud-dev.conllu",
            "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6"),
}
TAGGING_DATASETS = (UD_ENGLISH_EWT,)


def dataset_file(name: str, split: str):
    """The `rnnlab.data.corpus.Dataset` entry of one split of a named tagging dataset."""
    from rnnlab.data.corpus import Dataset

    if name != UD_ENGLISH_EWT:
        raise RnnlabError(f"unknown tagging dataset {name!r}; expected one of: "
                          f"{', '.join(TAGGING_DATASETS)}")
    if split not in _EWT_FILES:
        raise RnnlabError(f"dataset {name!r} has no split {split!r}; expected one of: "
                          f"{', '.join(_EWT_FILES)} (the test split is not distributed here)")
    filename, sha256 = _EWT_FILES[split]
    return Dataset(name=name, url=f"{_EWT_BASE}/{filename}", sha256=sha256, filename=filename,
                   description=f"Universal Dependencies English EWT v2.16, {split} split "
                               "(CC BY-SA 4.0)")


def fetch_tagging_dataset(name: str, split: str, cache_dir: str | os.PathLike | None = None,
                          url: str | None = None) -> Path:
    """Path of the verified local copy of one split, downloaded into the cache if needed.

    The file goes to <cache>/datasets/<name>/<file> (cache: $RNNLAB_CACHE or ~/.cache/rnnlab)
    and its sha256 is checked after download and on every later use. `url` overrides the
    upstream address (tests pass a file:// URL; the checksum still applies).
    """
    from rnnlab.data import corpus

    dataset = dataset_file(name, split)
    folder = Path(cache_dir or corpus.default_cache_dir()).expanduser() / "datasets" / name
    return corpus.fetch_verified(dataset, folder, url, local_hint="--train FILE --dev FILE")
