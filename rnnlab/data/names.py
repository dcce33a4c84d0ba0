"""Short texts by category (surnames by language): reading, splitting over distinct names, and
the generator's character vocabulary. Torch-free.

Two layouts are read (`read_categories`):

    a folder    one `<category>.txt` file per category, one name per line (../shared/data/names:
                Arabic.txt, Chinese.txt, ...); the category is the file name without `.txt`.
                Other files are ignored, hidden ones too.
    a TSV file  `category<TAB>name` per line, optionally after a header line whose fields are
                `category` or `label`, then `text` or `name` (the split files rnnlab writes
                start with `label<TAB>text`, so `rnnlab classify train` reads them as they are).

Decisions, the same for both: files are UTF-8 (rnnlab.data.textfile); surrounding whitespace is
removed from every name ("See " and "See" are one name); blank lines are skipped; a name holding
a tab, an empty category file and a folder without any `.txt` file are errors naming the file
(and line). Repeated lines are counted but a name is kept once per category: the data has many
repeats (Arabic.txt has 2,000 lines but 108 distinct names), and a split that put one copy in
training and another in the test set would test on training data.

Splits (`split_names`) are made over DISTINCT names, so a name never sits in two splits. A name
that occurs under several categories (465 in ../shared/data/names, mostly English/Scottish and
English/Irish) is kept under each of them, in the one split its name went to. Stratified by
category: a name belongs to the stratum of its rarest category (fewest distinct names), so the
small categories get their share of held-out names. Within a stratum the names are sorted, then
shuffled by a random generator seeded with (seed, stratum name), and the first
`round(test_fraction·n)` go to test, the next `round(dev_fraction·n)` to dev, the rest to train.
The split depends only on the seed and the data, not on file order; adding a category leaves the
other strata's splits as they were.

Vocabulary (`build_name_vocab`): a character-level `WordVocab` with four reserved ids: 0 <pad>,
1 <unk> (never used by the generator, but every WordVocab has it), 2 <s> (the start symbol the
generator reads first) and 3 </s> (the end symbol it emits last), then the training characters,
most frequent first. Case is kept.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rnnlab.data.textfile import read_text, write_text_atomic
from rnnlab.data.wordvocab import PAD, UNK, WordVocab
from rnnlab.errors import RnnlabError

BOS, EOS = "<s>", "</s>"
BOS_ID, EOS_ID = 2, 3
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
SPLITS = ("train", "dev", "test")
SPLIT_HEADER = "label\ttext"
_HEADER_CATEGORY = ("category", "label")
_HEADER_TEXT = ("text", "name")
# How many names or categories a message lists before summarising.
_MAX_LISTED = 20


@dataclass
class CategoryData:
    """The names of each category, each name once, in first-seen order.

    names       category -> distinct names (categories sorted)
    lines       category -> lines read (repeats included)
    source      what was read (for messages); sha256: a digest of its bytes (for --resume)
    """
    names: dict[str, list[str]]
    lines: dict[str, int]
    source: str
    sha256: str

    @property
    def categories(self) -> list[str]:
        return list(self.names)

    def pairs(self) -> list[tuple[str, str]]:
        """Every distinct (category, name), sorted."""
        return sorted((category, name) for category, names in self.names.items()
                      for name in names)

    def multi_category_names(self) -> dict[str, list[str]]:
        """name -> its categories, for the names that occur under more than one."""
        found: dict[str, list[str]] = {}
        for category, names in self.names.items():
            for name in names:
                found.setdefault(name, []).append(category)
        return {name: cats for name, cats in sorted(found.items()) if len(cats) > 1}

    def summary(self) -> str:
        pairs = sum(len(names) for names in self.names.values())
        distinct = len({name for names in self.names.values() for name in names})
        lines = sum(self.lines.values())
        return (f"{len(self.names)} categories, {lines:,} lines, {distinct:,} distinct names "
                f"({pairs:,} category-name pairs; {len(self.multi_category_names()):,} names "
                f"under more than one category, kept under each)")


def read_categories(path: str | os.PathLike) -> CategoryData:
    """The names of a folder of `<category>.txt` files or of a `category<TAB>name` TSV file."""
    path = Path(path)
    if not path.exists():
        raise RnnlabError(f"{path}: no such file or directory; expected a folder of "
                          "<category>.txt files or a TSV file of category<TAB>name lines")
    if path.is_dir():
        return _read_folder(path)
    return _read_tsv(path)


def _read_folder(folder: Path) -> CategoryData:
    files = sorted(p for p in folder.iterdir()
                   if p.suffix == ".txt" and p.is_file() and not p.name.startswith("."))
    if not files:
        raise RnnlabError(f"{folder}: no .txt files; expected one <category>.txt file per "
                          "category, one name per line (e.g. Japanese.txt)")
    names: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    digest = hashlib.sha256()
    for file in files:
        category = file.stem
        if file.stat().st_size == 0:
            raise RnnlabError(f"{file}: category {category!r} has no names (the file is empty); "
                              "expected one name per line")
        text = read_text(file)
        digest.update(file.name.encode("utf-8") + b"\0" + text.encode("utf-8") + b"\0")
        seen: dict[str, None] = {}
        count = 0
        for number, line in enumerate(text.split("\n"), start=1):
            name = line.strip()
            if not name:
                continue
            _check_name(name, file, number)
            seen.setdefault(name, None)
            count += 1
        if not seen:
            raise RnnlabError(f"{file}: category {category!r} has no names (only blank lines); "
                              "expected one name per line")
        names[category] = list(seen)
        lines[category] = count
    return CategoryData(names, lines, str(folder), digest.hexdigest())


def _read_tsv(path: Path) -> CategoryData:
    text = read_text(path)
    found: dict[str, dict[str, None]] = {}
    lines: Counter = Counter()
    first = True
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if first:
            first = False
            header = [cell.strip().lower() for cell in cells]
            if len(header) == 2 and header[0] in _HEADER_CATEGORY and header[1] in _HEADER_TEXT:
                continue
        if len(cells) != 2:
            raise RnnlabError(f"{path}:{number}: {len(cells)} tab-separated fields; expected "
                              "category<TAB>name (a folder of <category>.txt files also works)")
        category, name = cells[0].strip(), cells[1].strip()
        if not category:
            raise RnnlabError(f"{path}:{number}: empty category; expected category<TAB>name")
        if not name:
            raise RnnlabError(f"{path}:{number}: empty name for category {category!r}; "
                              "expected category<TAB>name")
        found.setdefault(category, {}).setdefault(name, None)
        lines[category] += 1
    if not found:
        raise RnnlabError(f"{path}: no names found (only blank lines or a header); expected "
                          "category<TAB>name lines")
    names = {category: list(found[category]) for category in sorted(found)}
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return CategoryData(names, {c: lines[c] for c in names}, str(path), digest)


def _check_name(name: str, file: Path, number: int) -> None:
    if "\t" in name:
        raise RnnlabError(f"{file}:{number}: the name {name!r} holds a tab; expected one name "
                          "per line without tabs")


# --------------------------------------------------------------------------------------------
# Splits over distinct names


@dataclass
class NameSplits:
    """split ("train", "dev", "test") -> sorted (category, name) pairs."""
    pairs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def names(self, split: str) -> set[str]:
        return {name for _, name in self.pairs[split]}

    def counts(self) -> dict[str, dict[str, int]]:
        """category -> split -> number of names."""
        table: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            for category, _ in self.pairs.get(split, []):
                row = table.setdefault(category, {s: 0 for s in SPLITS})
                row[split] += 1
        return dict(sorted(table.items()))

    def summary(self) -> str:
        parts = [f"{split} {len(set(n for _, n in self.pairs[split])):,} names "
                 f"({len(self.pairs[split]):,} pairs)" for split in SPLITS]
        return "splits over distinct names: " + ", ".join(parts)


def split_names(data: CategoryData, seed: int, dev_fraction: float = 0.1,
                test_fraction: float = 0.1) -> NameSplits:
    """Train/dev/test over distinct names, stratified by category (see the module docstring)."""
    for what, value in (("dev fraction", dev_fraction), ("test fraction", test_fraction)):
        if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
            raise RnnlabError(f"{what} must be in [0, 1), got {value!r}")
    if dev_fraction + test_fraction >= 1.0:
        raise RnnlabError(f"dev fraction {dev_fraction} + test fraction {test_fraction} leave "
                          "nothing to train on; expected a sum below 1")
    size = {category: len(names) for category, names in data.names.items()}
    categories_of: dict[str, list[str]] = {}
    for category, names in data.names.items():
        for name in names:
            categories_of.setdefault(name, []).append(category)
    strata: dict[str, list[str]] = {}
    for name, categories in categories_of.items():
        rarest = min(categories, key=lambda c: (size[c], c))
        strata.setdefault(rarest, []).append(name)
    split_of: dict[str, str] = {}
    for stratum in sorted(strata):
        names = sorted(strata[stratum])
        random.Random(f"{seed}:{stratum}").shuffle(names)
        held_test = _round_half_up(test_fraction * len(names))
        held_dev = _round_half_up(dev_fraction * len(names))
        for index, name in enumerate(names):
            split_of[name] = ("test" if index < held_test else
                              "dev" if index < held_test + held_dev else "train")
    splits = NameSplits({split: [] for split in SPLITS})
    for category, name in data.pairs():
        splits.pairs[split_of[name]].append((category, name))
    return splits


def check_balance(target) -> None:
    """An oversampling target (`oversample_categories`) is a whole number >= 0."""
    if isinstance(target, bool) or not isinstance(target, int) or target < 0:
        raise RnnlabError(f"balance must be a whole number >= 0, got {target!r}")


def oversample_categories(pairs: list[tuple[str, str]], target: int) -> list[tuple[str, str]]:
    """`pairs` with each category's pairs repeated max(1, round(target / count)) times, so that a
    category with few names weighs about `target` names in an epoch (0: `pairs` unchanged).

    The names data is unbalanced (Russian about half of it, Vietnamese 57 training names); a
    generator trained on it as it is learns the small categories' style least. Repeating them
    makes its samples more typical of their category and, as they are then seen more often,
    more often copies of training names (BENCHMARKS.md, "Names: balancing the generator")."""
    check_balance(target)
    if target == 0:
        return list(pairs)
    counts = Counter(category for category, _ in pairs)
    return [pair for pair in pairs for _ in range(max(1, _round_half_up(target / counts[pair[0]])))]


def _round_half_up(value: float) -> int:
    return int(value + 0.5)


def write_splits(splits: NameSplits, folder: str | os.PathLike) -> None:
    """folder/train.tsv, dev.tsv, test.tsv: `label<TAB>text` header, then category<TAB>name."""
    folder = Path(folder)
    for split in SPLITS:
        rows = "".join(f"{category}\t{name}\n" for category, name in splits.pairs[split])
        write_text_atomic(folder / f"{split}.tsv", f"{SPLIT_HEADER}\n{rows}")


def read_splits(folder: str | os.PathLike) -> NameSplits:
    """The splits `write_splits` wrote (an empty split file holds only its header)."""
    folder = Path(folder)
    splits = NameSplits()
    for split in SPLITS:
        path = folder / f"{split}.tsv"
        if not path.is_file():
            raise RnnlabError(f"{path} does not exist; expected the {split} split written when "
                              "the run started")
        rows = [line.split("\t") for line in read_text(path).split("\n")[1:] if line.strip()]
        bad = next((i for i, row in enumerate(rows) if len(row) != 2), None)
        if bad is not None:
            raise RnnlabError(f"{path}:{bad + 2}: expected category<TAB>name")
        splits.pairs[split] = [(category, name) for category, name in rows]
    return splits


# --------------------------------------------------------------------------------------------
# The generator's vocabulary


def build_name_vocab(names) -> WordVocab:
    """<pad>, <unk>, <s>, </s>, then the characters of `names`, most frequent first."""
    names = list(names)
    if not names:
        raise RnnlabError("no training names to build a vocabulary from")
    characters = WordVocab.build(names, level="char", lowercase=False, min_freq=1)
    return WordVocab([*SPECIAL_TOKENS, *characters.tokens[2:]], level="char", lowercase=False)


def check_name_vocab(vocab: WordVocab, source: str) -> None:
    """Raise RnnlabError unless `vocab` is a generator vocabulary (reserved ids in place)."""
    if vocab.level != "char" or vocab.lowercase or tuple(vocab.tokens[:4]) != SPECIAL_TOKENS:
        raise RnnlabError(f"{source} is not a name-generator vocabulary (expected characters "
                          f"with case kept after {', '.join(SPECIAL_TOKENS)})")


def unknown_characters(vocab: WordVocab, name: str) -> list[str]:
    """The characters of `name` the vocabulary does not hold, in order of first occurrence."""
    return list(dict.fromkeys(ch for ch in name if ch not in vocab))


def encode_name(vocab: WordVocab, name: str, where: str = "") -> list[int]:
    """The character ids of `name` (no start or end symbol); a character the vocabulary lacks
    is a RnnlabError naming it."""
    missing = unknown_characters(vocab, name)
    if missing:
        listed = ", ".join(repr(ch) for ch in missing[:_MAX_LISTED])
        raise RnnlabError(f"{where + ': ' if where else ''}the name {name!r} has "
                          f"character{'s' if len(missing) > 1 else ''} {listed} that the model "
                          "never saw in training; pass --unknown skip to leave such names out")
    return vocab.encode(name)


def list_known(values) -> str:
    """A short listing of known categories for messages."""
    values = list(values)
    shown = ", ".join(values[:_MAX_LISTED * 2])
    return shown + (f" and {len(values) - _MAX_LISTED * 2} more" if len(values) > _MAX_LISTED * 2
                    else "")


# --------------------------------------------------------------------------------------------
# Fixed input vectors (a generator conditioned on floats instead of a learned embedding)


def parse_floats(text: str, where: str) -> list[float]:
    """The numbers of `text`, separated by spaces, tabs, commas or line breaks."""
    values = []
    for token in text.replace(",", " ").split():
        try:
            value = float(token)
        except ValueError:
            raise RnnlabError(f"{where}: {token!r} is not a number; expected floats separated "
                              "by spaces or commas") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise RnnlabError(f"{where}: {token!r} is not a finite number")
        values.append(value)
    return values


def read_vector(path: str | os.PathLike) -> list[float]:
    """One vector: a file of floats (spaces, commas or line breaks between them)."""
    values = parse_floats(read_text(path), str(path))
    if not values:
        raise RnnlabError(f"{path}: no numbers found; expected a vector of floats")
    return values


def read_category_vectors(path: str | os.PathLike, categories: list[str]) -> list[list[float]]:
    """Each category's vector, in the order of `categories`, from `category<TAB>floats` lines
    (blank lines skipped; categories not asked for are ignored)."""
    path = Path(path)
    found: dict[str, list[float]] = {}
    size = None
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise RnnlabError(f"{path}:{number}: no tab; expected category<TAB>floats")
        category, numbers = line.split("\t", 1)
        category = category.strip()
        values = parse_floats(numbers, f"{path}:{number}")
        if not values:
            raise RnnlabError(f"{path}:{number}: no numbers for category {category!r}")
        if size is not None and len(values) != size:
            raise RnnlabError(f"{path}:{number}: {len(values)} numbers, but earlier lines have "
                              f"{size}; every vector needs the same size")
        if category in found:
            raise RnnlabError(f"{path}:{number}: a second vector for category {category!r}")
        size = len(values)
        found[category] = values
    missing = [category for category in categories if category not in found]
    if missing:
        raise RnnlabError(f"{path}: no vector for categor{'ies' if len(missing) > 1 else 'y'} "
                          f"{', '.join(map(repr, missing[:_MAX_LISTED]))}; expected one "
                          "category<TAB>floats line each")
    return [found[category] for category in categories]
