"""Character vocabulary: the mapping between characters and integer token ids.

A vocabulary is built once from the training text (`CharVocab.from_text`) and saved next to a
checkpoint (`save`/`load`, JSON with a `format_version`), so that sampling and evaluation later
use exactly the same ids the model was trained with.

Ids are positions in `chars`. `from_text` sorts characters by code point, so the same text always
gives the same ids. Encoding and decoding are vectorised with NumPy through UTF-32 code points,
because the default corpus has millions of characters and a per-character Python loop is slow.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np

from rnnlab.data.textfile import write_text_atomic
from rnnlab.errors import RnnlabError

FORMAT_VERSION = 1
UNKNOWN_POLICIES = ("error", "skip")
# How many distinct unknown characters an error message lists before summarising the rest.
_MAX_UNKNOWN_LISTED = 20


def _code_points(text: str) -> np.ndarray:
    """(len(text),) uint32 code points; "surrogatepass" keeps lone surrogates instead of failing."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


class CharVocab:
    """An ordered set of distinct characters; character `chars[i]` has id `i`."""

    def __init__(self, chars: Iterable[str]):
        chars = list(chars)
        if not chars:
            raise RnnlabError("vocabulary is empty; expected at least one character")
        for char in chars:
            if not isinstance(char, str) or len(char) != 1:
                raise RnnlabError(f"vocabulary entry {char!r} is not a single character")
        duplicates = sorted(char for char, count in Counter(chars).items() if count > 1)
        if duplicates:
            raise RnnlabError(f"vocabulary has duplicate characters {duplicates!r}; expected each character once")
        self._chars = chars
        self._ids = {char: index for index, char in enumerate(chars)}
        codes = _code_points("".join(chars))
        # Sorted code points plus the id each one maps to: lets `encode` use one searchsorted.
        self._sort_order = np.argsort(codes, kind="stable")
        self._sorted_codes = codes[self._sort_order]
        self._codes = codes

    @classmethod
    def from_text(cls, text: str) -> "CharVocab":
        """The vocabulary of `text`: its distinct characters, sorted by code point."""
        if not text:
            raise RnnlabError("cannot build a vocabulary from empty text; expected at least one character")
        return cls(sorted(set(text)))

    @property
    def chars(self) -> list[str]:
        """The characters, in id order (a copy)."""
        return list(self._chars)

    def __len__(self) -> int:
        return len(self._chars)

    def __contains__(self, char: object) -> bool:
        return char in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self._chars == other._chars

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"

    def encode(self, text: str, unknown: str = "error") -> np.ndarray:
        """(len(text),) int64 ids of `text`.

        unknown="error" raises RnnlabError listing characters missing from the vocabulary;
        unknown="skip" drops them (the result is then shorter than the text).
        """
        if unknown not in UNKNOWN_POLICIES:
            raise RnnlabError(f"unknown-character policy {unknown!r} is not supported; expected one of {UNKNOWN_POLICIES}")
        codes = _code_points(text)
        positions = np.searchsorted(self._sorted_codes, codes)
        positions = np.minimum(positions, len(self._sorted_codes) - 1)
        known = self._sorted_codes[positions] == codes
        ids = self._sort_order[positions].astype(np.int64)
        if known.all():
            return ids
        if unknown == "skip":
            return ids[known]
        raise RnnlabError(self._describe_unknown(codes[~known]))

    def _describe_unknown(self, unknown_codes: np.ndarray) -> str:
        values, counts = np.unique(unknown_codes, return_counts=True)
        # Most frequent first: those are the ones worth adding to the training text.
        order = np.lexsort((values, -counts))
        listed = ", ".join(
            f"{chr(int(values[i]))!r} x{int(counts[i])}" for i in order[:_MAX_UNKNOWN_LISTED]
        )
        more = len(values) - _MAX_UNKNOWN_LISTED
        suffix = f" and {more} more" if more > 0 else ""
        return (
            f"text has {int(counts.sum())} occurrences of {len(values)} characters not in the vocabulary "
            f"({len(self)} characters): {listed}{suffix}; pass --unknown skip to drop them"
        )

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """The text of a sequence of ids (list, NumPy array or CPU tensor, any integer dtype)."""
        ids = np.asarray(ids)
        if ids.size == 0:
            return ""
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise RnnlabError(f"cannot decode ids of shape {ids.shape} and dtype {ids.dtype}; expected a 1-D integer sequence")
        bad = (ids < 0) | (ids >= len(self))
        if bad.any():
            first = int(ids[np.argmax(bad)])
            raise RnnlabError(f"token id {first} is out of range; expected ids in 0..{len(self) - 1} for this vocabulary")
        return self._codes[ids].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")

    def to_json(self) -> dict:
        """A JSON-ready dict: {"format_version": 1, "kind": "char", "chars": [...]}."""
        return {"format_version": FORMAT_VERSION, "kind": "char", "chars": self.chars}

    @classmethod
    def from_json(cls, data: object) -> "CharVocab":
        """Inverse of `to_json`; RnnlabError for anything that is not a version-1 char vocabulary."""
        if not isinstance(data, dict):
            raise RnnlabError(f"vocabulary JSON is a {type(data).__name__}; expected an object with 'format_version' and 'chars'")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise RnnlabError(f"vocabulary format_version {version!r} is not supported; expected {FORMAT_VERSION}")
        kind = data.get("kind", "char")
        if kind != "char":
            raise RnnlabError(f"vocabulary kind {kind!r} is not supported; expected 'char'")
        chars = data.get("chars")
        if not isinstance(chars, list):
            raise RnnlabError(f"vocabulary 'chars' is {type(chars).__name__}; expected a list of single characters")
        return cls(chars)

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as UTF-8 JSON, atomically: a reader never sees a half-written file."""
        path = Path(path)
        text = json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n"
        try:
            write_text_atomic(path, text)
        except OSError as err:
            raise RnnlabError(f"{path}: cannot write vocabulary file ({err.strerror or err}); expected a writable path") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CharVocab":
        """Read a vocabulary written by `save`; errors name the file."""
        path = Path(path)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RnnlabError(f"{path}: vocabulary file not found; expected a JSON file written by rnnlab") from None
        except (OSError, UnicodeDecodeError) as err:
            raise RnnlabError(f"{path}: cannot read vocabulary file ({err}); expected a UTF-8 JSON file") from None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as err:
            raise RnnlabError(
                f"{path}: invalid JSON at line {err.lineno} column {err.colno} ({err.msg}); expected a vocabulary written by rnnlab"
            ) from None
        try:
            return cls.from_json(data)
        except RnnlabError as err:
            raise RnnlabError(f"{path}: {err}") from None

