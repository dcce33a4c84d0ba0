"""Parallel text for translation: two files, one sentence a line, line i of one the translation
of line i of the other; `.gz` files are read as they are. And the Multi30k dataset by name.

Reading rules (every user mistake is one RnnlabError line naming the file and, where there is
one, the line):
- UTF-8 only (a leading byte order mark is dropped; "\\r\\n" is read as "\\n"). Bytes that are
  not UTF-8 name the file, the line and the bytes. A NUL byte means a binary file.
- A file ending without a final line break is fine; an empty file (no bytes, or only line
  breaks) is an error.
- Source and target must have the same number of lines; the error names both counts.
- A pair with an empty side (a blank or whitespace-only line on either side) cannot train or
  score a translator: by default it is an error naming both files and the line. With
  `skip_empty=True` (`--skip-empty-pairs`) such pairs are dropped and counted in the log.
- What the model reads is `normalize_whitespace(line)`: ends stripped, runs of spaces and tabs
  collapsed to one space (what SentencePiece would do anyway; see rnnlab.data.subwords).
  The raw line is kept too: BLEU and chrF are computed against the raw references.

Multi30k (Elliott et al. 2016; German-English image captions, 29,000 training and 1,014
validation pairs): `fetch_multi30k(split, side)` downloads the raw gzipped files of the
upstream repository at a fixed commit into $RNNLAB_CACHE/datasets/multi30k/ (default
~/.cache/rnnlab) and checks their sha256 on download and on every later use. The text has no
stated licence; upstream describes the data as for research and education.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from rnnlab.errors import RnnlabError

UTF8_BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
NEWLINE = b"\n"
_SPACES = re.compile(r"\s+")


def normalize_whitespace(line: str) -> str:
    """Ends stripped and every run of whitespace made one space."""
    return _SPACES.sub(" ", line).strip()


def read_lines(path: str | os.PathLike) -> list[str]:
    """The lines of a UTF-8 text file (gzipped when it starts with the gzip magic bytes),
    without their line breaks. Raises RnnlabError as the module docstring says."""
    path = Path(path)
    if path.is_dir():
        raise RnnlabError(f"{path} is a directory; expected a text file with one sentence a line")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RnnlabError(f"{path}: no such file; expected a text file with one sentence a "
                          "line") from None
    except OSError as err:
        raise RnnlabError(f"{path}: cannot read ({err.strerror or err})") from None
    return decode_lines(data, str(path))


def decode_lines(data: bytes, where: str) -> list[str]:
    """The lines of `data` (a file's bytes, or standard input's), checked as the module
    docstring says; `where` names the source in messages."""
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise RnnlabError(f"{where}: not a readable gzip file ({err})") from None
        where = f"{where} (after gunzip)"
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    if not data.strip(b"\r\n"):
        raise RnnlabError(f"{where}: file is empty; expected one sentence a line")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(NEWLINE, 0, nul) + 1
        raise RnnlabError(f"{where}: line {line} holds a NUL byte; "
                          "this looks like a binary file, expected UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(NEWLINE, 0, err.start) + 1
        column = err.start - (data.rfind(NEWLINE, 0, err.start) + 1) + 1
        bad = data[err.start:max(err.end, err.start + 1)][:8].hex(" ")
        raise RnnlabError(f"{where}: line {line}, byte {column}: not valid UTF-8 (bytes {bad}); "
                          "expected UTF-8 text - re-save the file as UTF-8") from None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()              # the final line break ends the last line, it starts none
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@dataclass
class ParallelText:
    """Aligned sentence pairs: `source` and `target` are what the model reads (whitespace
    normalised), `references` the raw target lines (for BLEU), `line_numbers` the 1-based
    line of each pair in the files, `skipped` how many pairs with an empty side were dropped."""
    source: list[str]
    target: list[str]
    references: list[str]
    line_numbers: list[int]
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.source)


def read_parallel(source_path: str | os.PathLike, target_path: str | os.PathLike,
                  skip_empty: bool = False) -> ParallelText:
    """Read and check two aligned files (see the module docstring)."""
    source_raw, target_raw = read_lines(source_path), read_lines(target_path)
    if len(source_raw) != len(target_raw):
        raise RnnlabError(f"{source_path} has {len(source_raw):,} lines but {target_path} has "
                          f"{len(target_raw):,}; parallel files need one line per sentence on "
                          "both sides")
    text = ParallelText([], [], [], [])
    for number, (raw_source, raw_target) in enumerate(zip(source_raw, target_raw), start=1):
        source, target = normalize_whitespace(raw_source), normalize_whitespace(raw_target)
        if not source or not target:
            if skip_empty:
                text.skipped += 1
                continue
            empty = source_path if not source else target_path
            raise RnnlabError(
                f"{empty}:{number}: empty line in the pair at line {number} of {source_path} "
                f"and {target_path}; a pair needs text on both sides - remove the line from "
                "both files, or pass --skip-empty-pairs to drop such pairs")
        text.source.append(source)
        text.target.append(target)
        text.references.append(raw_target)
        text.line_numbers.append(number)
    if not text.source:
        raise RnnlabError(f"{source_path} and {target_path} hold no pair with text on both sides")
    return text


# --------------------------------------------------------------------------------------------
# Multi30k by name

MULTI30K = "multi30k"
PARALLEL_DATASETS = (MULTI30K,)
MULTI30K_SOURCE, MULTI30K_TARGET = "de", "en"      # the standard direction
# The upstream repository at the commit the shared copy was taken from (its SOURCE.md).
_MULTI30K_COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
_MULTI30K_BASE = (f"https://raw.githubusercontent.com/multi30k/dataset/{_MULTI30K_COMMIT}"
                  "/data/task1/raw")
# sha256 of the gzipped files, computed from the byte-identical shared copies.
_MULTI30K_FILES = {
    ("train", "de"): "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    ("train", "en"): "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    ("val", "de"): "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    ("val", "en"): "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
}


def multi30k_file(split: str, side: str):
    """The `rnnlab.data.corpus.Dataset` entry of one Multi30k file."""
    from rnnlab.data.corpus import Dataset

    if (split, side) not in _MULTI30K_FILES:
        raise RnnlabError(f"multi30k has no file for split {split!r}, language {side!r}; "
                          "expected split train or val (the test split is not distributed "
                          "here), language de or en")
    filename = f"{split}.{side}.gz"
    return Dataset(name=MULTI30K, url=f"{_MULTI30K_BASE}/{filename}",
                   sha256=_MULTI30K_FILES[split, side], filename=filename,
                   description=f"Multi30k task 1, {split} split, {side} (raw, gzipped)")


def fetch_multi30k(split: str, side: str, cache_dir: str | os.PathLike | None = None,
                   url: str | None = None) -> Path:
    """Path of the verified local copy of one Multi30k file, downloaded if needed.

    `url` overrides the upstream address (tests pass a file:// URL; the checksum still
    applies)."""
    from rnnlab.data import corpus

    dataset = multi30k_file(split, side)
    folder = Path(cache_dir or corpus.default_cache_dir()).expanduser() / "datasets" / MULTI30K
    return corpus.fetch_verified(dataset, folder, url,
                                 local_hint="--src-train/--tgt-train/--src-dev/--tgt-dev FILES")


def dataset_paths(name: str, split: str) -> tuple[Path, Path]:
    """(source path, target path) of a split of a named parallel dataset (German → English)."""
    if name not in PARALLEL_DATASETS:
        raise RnnlabError(f"unknown translation dataset {name!r}; expected one of: "
                          f"{', '.join(PARALLEL_DATASETS)}")
    return fetch_multi30k(split, MULTI30K_SOURCE), fetch_multi30k(split, MULTI30K_TARGET)
