"""Read a user's training text: one UTF-8 file, or every file under a directory.

What `read_text` guarantees about the returned string:

- It is decoded as UTF-8 (any script: Latin, Japanese, emoji ...). A leading UTF-8 byte order
  mark is removed, since it is an encoding artefact rather than a character of the text.
- Windows line endings "\\r\\n" become "\\n", so the same text saved on Windows and on Unix gives
  the same vocabulary and the same token ids. A lone "\\r" is left as it is.
- A directory gives the text of all its regular files, recursively, in order of their path
  relative to the directory, joined with "\\n". Hidden files and hidden folders (a name starting
  with ".") are skipped, so `.git/` or `.DS_Store` never leak into a corpus.

Every user mistake raises `RnnlabError` with one line naming the file and what was wrong:
a missing path, a directory without files, an empty file, a binary file (with the byte offset of
the first NUL byte), or a file that is not UTF-8 (with the byte offset and the offending bytes).

`write_text_atomic` is the matching writer for small files rnnlab produces itself (vocabularies,
caches): temporary file in the same folder, then os.replace.
"""

from __future__ import annotations

import json

import os
from pathlib import Path

from rnnlab.atomic import atomic_write_text
from rnnlab.errors import RnnlabError

UTF8_BOM = b"\xef\xbb\xbf"

# Bytes that never occur in ordinary text: C0 controls other than tab, newline, vertical tab,
# form feed and carriage return, plus DEL.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
# How much of a file to inspect when deciding whether it is binary, and above which share of
# control bytes it counts as binary rather than as text with a few stray control characters.
_BINARY_SAMPLE_BYTES = 8192
_BINARY_CONTROL_SHARE = 0.10


def read_text(path: str | os.PathLike) -> str:
    """Return the text of a UTF-8 file, or of all files under a directory (see module docstring)."""
    path = Path(path)
    if path.is_dir():
        return _read_directory(path)
    if not path.exists():
        raise RnnlabError(f"{path}: no such file or directory; expected a UTF-8 text file or a directory of them")
    if not path.is_file():
        raise RnnlabError(f"{path}: not a regular file; expected a UTF-8 text file or a directory of them")
    return _read_file(path)


def list_text_files(directory: Path) -> list[Path]:
    """Regular files under `directory`, recursively, sorted by relative path, hidden ones skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(directory):
        # Pruning hidden folders here means we never descend into e.g. a large .git directory.
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        for name in filenames:
            candidate = Path(dirpath) / name
            if not name.startswith(".") and candidate.is_file():
                found.append(candidate)
    # Sort by the relative path's parts so "a/b.txt" < "a-c.txt" is decided folder by folder,
    # the same on every operating system.
    return sorted(found, key=lambda file: file.relative_to(directory).parts)


def _read_directory(directory: Path) -> str:
    files = list_text_files(directory)
    if not files:
        raise RnnlabError(f"{directory}: directory contains no (non-hidden) files; expected UTF-8 text files in it")
    return "\n".join(_read_file(file) for file in files)


def _read_file(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise RnnlabError(f"{path}: cannot read file ({err.strerror or err}); expected a readable UTF-8 text file") from err
    offset = 0
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
        offset = len(UTF8_BOM)  # so reported byte offsets refer to the file, not to the stripped buffer
    if not data:
        raise RnnlabError(f"{path}: file is empty; expected UTF-8 text")
    _reject_binary(path, data, offset)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RnnlabError(_describe_decode_error(path, data, err, offset)) from None
    return text.replace("\r\n", "\n")


def _reject_binary(path: Path, data: bytes, offset: int) -> None:
    nul = data.find(b"\x00")
    if nul >= 0:
        raise RnnlabError(
            f"{path}: looks like a binary file (NUL byte at byte offset {nul + offset}); expected UTF-8 text"
        )
    sample = data[:_BINARY_SAMPLE_BYTES]
    control = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if control > _BINARY_CONTROL_SHARE * len(sample):
        raise RnnlabError(
            f"{path}: looks like a binary file ({control} of the first {len(sample)} bytes are control "
            f"characters); expected UTF-8 text"
        )


def _describe_decode_error(path: Path, data: bytes, err: UnicodeDecodeError, offset: int) -> str:
    start = err.start
    bad = data[start:max(err.end, start + 1)][:8]
    line = data.count(b"\n", 0, start) + 1
    return (
        f"{path}: not valid UTF-8 at byte offset {start + offset} (line {line}): bytes {bad.hex(' ')} "
        f"({err.reason}); expected UTF-8 text - re-save the file as UTF-8"
    )


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically, creating its folder if needed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def read_versioned_json(path: str | os.PathLike, kind: str, version: int, what: str) -> dict:
    """The JSON object rnnlab wrote at `path` with this "kind" and "format_version" (a
    vocabulary, for instance); a one-line RnnlabError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise RnnlabError(f"{what} file {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RnnlabError(f"{path} is not a readable {what} JSON file ({err})") from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise RnnlabError(f"{path} is not a {what} (kind {kind!r} expected)")
    if data.get("format_version") != version:
        raise RnnlabError(f"{path} has format_version {data.get('format_version')!r}; this "
                          f"rnnlab reads {version}")
    return data
