"""Tagging data as tensors: the tagger's vocabularies (words, characters, tags) and padded
batches of sentences with the characters of their distinct words.

Word and character ids: 0 is <pad>, 1 is <unk>, then the entries in order. Tag ids follow the
tag set (sorted by name, so ids do not depend on sentence order).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

import torch

from rnnlab.atomic import atomic_write_json
from rnnlab.data.padding import pad_sequences
from rnnlab.data.textfile import read_versioned_json
from rnnlab.errors import RnnlabError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
VOCAB_FORMAT_VERSION = 1
IGNORE_INDEX = -100        # cross-entropy's ignore_index: the gold tag at padded positions


class TaggerVocab:
    """Words, characters and tags of a tagger, plus how often each word occurred in training.

    Word and character ids: 0 is <pad>, 1 is <unk>, then the entries in order. Words below
    `min_count` in training share <unk>. `word_counts` keeps every training word (with its
    count) so that "unseen in training" (OOV) has its plain meaning whatever `min_count` is.
    Words longer than `max_word_chars` are read as their first and last max_word_chars/2
    characters: prefixes and suffixes carry the signal, and one 80-character URL would
    otherwise make the character BiLSTM of its whole batch run 80 steps.
    """

    def __init__(self, words: Sequence[str], chars: Sequence[str], tags: Sequence[str],
                 word_counts: dict[str, int], lowercase: bool = False, max_word_chars: int = 20):
        for name, items in (("word", words), ("character", chars), ("tag", tags)):
            duplicates = sorted(item for item, n in Counter(items).items() if n > 1)
            if duplicates:
                raise RnnlabError(f"{name} vocabulary has duplicates {duplicates[:10]!r}")
        if not tags:
            raise RnnlabError("the tag set is empty; expected at least one tag")
        self.words = [PAD, UNK] + [w for w in words if w not in (PAD, UNK)]
        self.chars = [PAD, UNK] + [c for c in chars if c not in (PAD, UNK)]
        self.tags = list(tags)
        self.word_counts = dict(word_counts)
        self.lowercase = bool(lowercase)
        if (isinstance(max_word_chars, bool) or not isinstance(max_word_chars, int)
                or max_word_chars < 2):
            raise RnnlabError(f"max_word_chars must be an integer >= 2, got {max_word_chars!r}")
        self.max_word_chars = max_word_chars
        self._word_ids = {w: i for i, w in enumerate(self.words)}
        self._char_ids = {c: i for i, c in enumerate(self.chars)}
        self._tag_ids = {t: i for i, t in enumerate(self.tags)}

    @classmethod
    def build(cls, sentences: Iterable[tuple[Sequence[str], Sequence[str]]], min_count: int = 1,
              lowercase: bool = False) -> "TaggerVocab":
        """From training (forms, tags) pairs: words seen >= min_count times, all characters,
        and the tags sorted by name (so ids do not depend on sentence order)."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise RnnlabError(f"min count must be a positive integer, got {min_count!r}")
        forms: Counter = Counter()
        keys: Counter = Counter()
        chars: Counter = Counter()
        tags: set = set()
        for sentence_forms, sentence_tags in sentences:
            forms.update(sentence_forms)
            keys.update(f.lower() if lowercase else f for f in sentence_forms)
            for form in sentence_forms:
                chars.update(form)
            tags.update(sentence_tags)
        # Most frequent first, ties by spelling: deterministic ids.
        words = [w for w, n in sorted(keys.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count]
        char_list = [c for c, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))]
        return cls(words, char_list, sorted(tags), dict(forms), lowercase)

    def word_id(self, form: str) -> int:
        return self._word_ids.get(form.lower() if self.lowercase else form, UNK_ID)

    def char_ids(self, form: str) -> list[int]:
        if len(form) > self.max_word_chars:
            half = self.max_word_chars // 2
            form = form[:half] + form[len(form) - (self.max_word_chars - half):]
        return [self._char_ids.get(c, UNK_ID) for c in form]

    def tag_ids(self, tags: Sequence[str], where: str = "") -> list[int]:
        try:
            return [self._tag_ids[t] for t in tags]
        except KeyError as err:
            raise RnnlabError(f"{where}tag {err.args[0]!r} is not in the tag set; known tags: "
                              f"{', '.join(self.tags)}") from None

    def is_oov(self, form: str) -> bool:
        """True for a word form that never occurred in the training data."""
        return form not in self.word_counts

    def to_dict(self) -> dict:
        return {"format_version": VOCAB_FORMAT_VERSION, "kind": "tagger_vocab",
                "lowercase": self.lowercase, "max_word_chars": self.max_word_chars,
                "words": self.words[2:], "chars": self.chars[2:],
                "tags": self.tags, "word_counts": self.word_counts}

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict(), indent=None)

    @classmethod
    def load(cls, path: str | Path) -> "TaggerVocab":
        data = read_versioned_json(path, "tagger_vocab", VOCAB_FORMAT_VERSION, "tagger vocabulary")
        try:
            return cls(data["words"], data["chars"], data["tags"], data["word_counts"],
                       data.get("lowercase", False), data.get("max_word_chars", 20))
        except KeyError as err:
            raise RnnlabError(f"{path} lacks the entry {err.args[0]!r}") from None


@dataclass
class TaggerBatch:
    """A padded batch of sentences (batch-first).

    word_ids (B, T) int64, 0 at padding; lengths (B,) int64 words per sentence (CPU);
    char_ids (U, C) int64 characters of the U distinct forms of the batch, 0 at padding;
    char_lengths (U,) int64; word_index (B, T) int64 row of char_ids for each position;
    tags (B, T) int64 gold tag ids, -100 at padding (cross-entropy's ignore_index), or None.
    """
    word_ids: torch.Tensor
    lengths: torch.Tensor
    char_ids: torch.Tensor
    char_lengths: torch.Tensor
    word_index: torch.Tensor
    tags: torch.Tensor | None = None

    def to(self, device) -> "TaggerBatch":
        move = lambda t: None if t is None else t.to(device)
        # lengths stay on the CPU: packing wants them there.
        return TaggerBatch(move(self.word_ids), self.lengths, move(self.char_ids),
                           self.char_lengths, move(self.word_index), move(self.tags))

    def as_dict(self) -> dict:
        """Field name -> tensor (what the trainer moves to the device); inverse of
        TaggerBatch(**d). Not dataclasses.asdict, which would deep-copy every tensor."""
        return {f.name: getattr(self, f.name) for f in fields(self)}




def make_batch(vocab: TaggerVocab, sentences: Sequence[Sequence[str]],
               tags: Sequence[Sequence[str]] | None = None) -> TaggerBatch:
    """Encode sentences (lists of word forms) and optionally their gold tags into a batch."""
    if not sentences:
        raise RnnlabError("cannot tag an empty list of sentences")
    for index, sentence in enumerate(sentences):
        if len(sentence) == 0:
            raise RnnlabError(f"sentence {index} has no words; expected at least one")
    word_ids, lengths = pad_sequences([[vocab.word_id(w) for w in s] for s in sentences], PAD_ID)
    distinct: dict[str, int] = {}
    word_index, _ = pad_sequences(
        [[distinct.setdefault(form, len(distinct)) for form in s] for s in sentences], 0)
    char_ids, char_lengths = pad_sequences([vocab.char_ids(form) for form in distinct], PAD_ID)
    tag_tensor = None
    if tags is not None:
        if len(tags) != len(sentences):
            raise RnnlabError(f"{len(sentences)} sentences but {len(tags)} tag lists")
        for row, (sentence, sentence_tags) in enumerate(zip(sentences, tags)):
            if len(sentence_tags) != len(sentence):
                raise RnnlabError(f"sentence {row} has {len(sentence)} words but "
                                  f"{len(sentence_tags)} tags")
        tag_tensor, _ = pad_sequences([vocab.tag_ids(t) for t in tags], IGNORE_INDEX)
    return TaggerBatch(word_ids, lengths, char_ids, char_lengths, word_index, tag_tensor)
