"""Token vocabulary for classification and tagging: words (or characters) <-> ids.

Tokenisation (level "word")
    Lower-case (unless lowercase=False), then take, left to right, the longest match of:
        a word:   letters/digits/underscore, with inner hyphens or apostrophes ("well-made",
                  "don't", "1930s")
        a clitic: an apostrophe followed by letters ("'s", "'re": PTB-tokenised text keeps them)
        a symbol: any other single non-space character ("," "!" "(" "-")
    `\\w` is Unicode-aware, so accented and non-Latin letters are word characters; a text
    without spaces (Japanese) becomes long word tokens, for which level "char" is the better fit.
    Example: "It's a WELL-made film (really)!" ->
             ["it's", "a", "well-made", "film", "(", "really", ")", "!"]

Level "char": every character is a token (spaces too), after optional lower-casing.

Ids: 0 = "<pad>" (what padding uses), 1 = "<unk>" (any token not in the vocabulary), then the
training tokens seen at least `min_freq` times, most frequent first (ties alphabetical), so a
vocabulary is a deterministic function of the training texts and options. An empty text encodes
to [<unk>] (one step), since a recurrent encoder needs at least one step; see
rnnlab.data.classification for why empty texts are kept.

Saved as JSON with a format_version (`save` / `load`).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.textfile import read_versioned_json, write_text_atomic
from rnnlab.errors import RnnlabError

FORMAT_VERSION = 1
KIND = "token_vocab"
PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
LEVELS = ("word", "char")

TOKEN_PATTERN = re.compile(r"\w+(?:[-']\w+)*|'\w+|[^\w\s]")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Word tokens of `text` (see the module docstring)."""
    return TOKEN_PATTERN.findall(text.lower() if lowercase else text)


class WordVocab:
    """tokens[i] has id i; tokens[0] is <pad>, tokens[1] is <unk>."""

    def __init__(self, tokens: Iterable[str], level: str = "word", lowercase: bool = True):
        tokens = list(tokens)
        if level not in LEVELS:
            raise RnnlabError(f"unknown vocabulary level {level!r}; choose one of {', '.join(LEVELS)}")
        if tokens[:2] != [PAD, UNK]:
            raise RnnlabError(f"a vocabulary starts with {PAD!r}, {UNK!r}; got {tokens[:2]!r}")
        duplicates = sorted(token for token, count in Counter(tokens).items() if count > 1)
        if duplicates:
            raise RnnlabError(f"vocabulary lists tokens more than once: {duplicates[:10]!r}")
        self.tokens = tokens
        self.level = level
        self.lowercase = bool(lowercase)
        self._ids = {token: index for index, token in enumerate(tokens)}

    @classmethod
    def build(cls, texts: Iterable[str], *, level: str = "word", lowercase: bool = True,
              min_freq: int = 1, max_size: int | None = None) -> "WordVocab":
        """The vocabulary of `texts`: tokens seen >= min_freq times, at most max_size of them
        (not counting <pad> and <unk>), most frequent first, ties alphabetical."""
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise RnnlabError(f"min_freq must be a positive integer, got {min_freq!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise RnnlabError(f"max_size must be a positive integer or None, got {max_size!r}")
        probe = cls([PAD, UNK], level=level, lowercase=lowercase)
        counts = Counter()
        for text in texts:
            counts.update(probe.split(text))
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        kept = sorted((token for token, count in counts.items() if count >= min_freq),
                      key=lambda token: (-counts[token], token))
        if max_size is not None:
            kept = kept[:max_size]
        return cls([PAD, UNK, *kept], level=level, lowercase=lowercase)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    def split(self, text: str) -> list[str]:
        """Tokens of `text` at this vocabulary's level."""
        if self.level == "char":
            return list(text.lower() if self.lowercase else text)
        return tokenize(text, self.lowercase)

    def encode(self, text: str) -> list[int]:
        """Token ids; unknown tokens map to <unk>, an empty text to [<unk>]."""
        ids = [self._ids.get(token, UNK_ID) for token in self.split(text)]
        return ids or [UNK_ID]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]

    def unknown_share(self, texts: Iterable[str]) -> float:
        """The fraction of tokens of `texts` that are not in the vocabulary."""
        total = unknown = 0
        for text in texts:
            tokens = self.split(text)
            total += len(tokens)
            unknown += sum(token not in self._ids for token in tokens)
        return unknown / total if total else 0.0

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format_version": FORMAT_VERSION, "kind": KIND, "level": self.level,
                "lowercase": self.lowercase, "tokens": self.tokens}

    def save(self, path: str | os.PathLike) -> None:
        # Atomic (temporary file, then rename); no torch import needed to read or write it.
        write_text_atomic(Path(path), json.dumps(self.to_dict(), ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "WordVocab":
        data = read_versioned_json(path, KIND, FORMAT_VERSION, "token vocabulary")
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise RnnlabError(f"{path}: 'tokens' must be a list of strings")
        return cls(tokens, level=data.get("level", "word"), lowercase=data.get("lowercase", True))


@dataclass
class VocabOptions:
    """How a classifier's vocabulary is built from its training texts (saved in config.json)."""
    level: str = "word"
    lowercase: bool = True
    # 2: a word seen once in training is <unk>, so <unk> is trained on real rare words, as it
    # will be used at test time (SST-2: 81.0% vs 80.7% dev accuracy with min_freq 1).
    min_freq: int = 2
    max_size: int | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise RnnlabError(f"unknown vocabulary level {self.level!r}; choose one of "
                              f"{', '.join(LEVELS)}")
