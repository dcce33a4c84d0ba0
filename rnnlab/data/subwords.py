"""Subword tokenisation for translation: a SentencePiece model per language, learned on the
training side, and the pair of them that a translator saves as its vocabulary.

Why subwords, and why SentencePiece
-----------------------------------
Word vocabularies leave every unseen word as <unk> (German compounds make that common: the
Multi30k training German has ~18k distinct words, many seen once), and characters make
sequences five times longer, which a recurrent model pays for in time and in memory. Subwords
keep frequent words whole and split rare ones into pieces ("Sprung" "turm"), so nothing is
unknown and sequences stay short (~15 pieces per Multi30k sentence on either side with 8,000
pieces). SentencePiece (Kudo & Richardson 2018) learns the pieces from raw text, marks word
starts with "▁" so that decoding is exact string concatenation — reversible, no detokeniser
heuristics — and is a well-kept C++ library with wheels for every platform.

Choices (recorded in vocab.json with the model itself)
------------------------------------------------------
* Unigram language model pieces (SentencePiece's default algorithm; BPE is an option).
* No Unicode normalisation ("identity"): the model's output is the training text's own
  characters, so `decode(encode(line)) == line` for every training line (tested).
* Whitespace: SentencePiece collapses runs of spaces and strips the ends; the readers in
  rnnlab.data.parallel do the same before text reaches the model (`normalize_whitespace`),
  so the round trip is exact on what the model sees. References for BLEU stay raw.
* character_coverage 1.0 (every training character gets a piece) and byte fallback: a
  character never seen in training becomes its UTF-8 bytes instead of <unk>, so any input
  can be encoded and any output decodes to text.
* Ids: 0 <pad>, 1 <unk>, 2 <s> (begin), 3 </s> (end); the pieces follow.
* One thread for training, so the same text always gives the same model.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from rnnlab.atomic import atomic_write_json
from rnnlab.data.textfile import read_versioned_json
from rnnlab.errors import RnnlabError
from rnnlab.settings import ConfigDict

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
MODEL_TYPES = ("unigram", "bpe")
VOCAB_FORMAT_VERSION = 1
# byte fallback reserves 256 byte pieces, plus the 4 special ones, plus at least a few real ones
MIN_VOCAB_SIZE = 300


@dataclass
class SubwordOptions(ConfigDict):
    """How the tokenizers are learned (config.json's "vocab" section; the CLI's defaults)."""
    what = "subword option"
    source_size: int = 8000
    # Smaller on the target side: its size is the output layer's, the costliest layer per token,
    # while a source piece costs one embedding lookup. 4,000 pieces still cover Multi30k English
    # in ~14.6 pieces a sentence (8,000: ~14.1).
    target_size: int = 4000
    model_type: str = "unigram"

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise RnnlabError(f"unknown subword model type {self.model_type!r}; choose one of "
                              f"{', '.join(MODEL_TYPES)}")
        for name in ("source_size", "target_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < MIN_VOCAB_SIZE:
                raise RnnlabError(f"{name.replace('_', ' ')} must be an integer >= "
                                  f"{MIN_VOCAB_SIZE} (256 byte pieces are reserved), got "
                                  f"{value!r}")


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError:  # pragma: no cover - a declared dependency
        raise RnnlabError("translation needs the package 'sentencepiece' (pip install "
                          "sentencepiece)") from None
    return sentencepiece


class SubwordTokenizer:
    """One language's SentencePiece model: text <-> ids, reversible (see the module docstring)."""

    def __init__(self, model_proto: bytes, options: dict | None = None):
        spm = _sentencepiece()
        try:
            self.processor = spm.SentencePieceProcessor(model_proto=model_proto)
        except (RuntimeError, OSError, TypeError) as err:
            raise RnnlabError(f"not a readable SentencePiece model ({err})") from None
        self.model_proto = bytes(model_proto)
        self.options = dict(options or {})
        specials = (self.processor.pad_id(), self.processor.unk_id(), self.processor.bos_id(),
                    self.processor.eos_id())
        if specials != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
            raise RnnlabError(f"a SentencePiece model for rnnlab needs ids pad 0, unk 1, bos 2, "
                              f"eos 3; this one has {specials}")

    @classmethod
    def train(cls, lines: Sequence[str], vocab_size: int = 8000, model_type: str = "unigram",
              where: str = "the training text") -> "SubwordTokenizer":
        """Learn pieces from `lines` (already whitespace-normalised, see rnnlab.data.parallel).

        With little text, SentencePiece may find fewer pieces than `vocab_size`; the model then
        has fewer (len(tokenizer) tells), rather than failing."""
        if model_type not in MODEL_TYPES:
            raise RnnlabError(f"unknown subword model type {model_type!r}; choose one of "
                              f"{', '.join(MODEL_TYPES)}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) \
                or vocab_size < MIN_VOCAB_SIZE:
            raise RnnlabError(f"subword vocabulary size must be an integer >= {MIN_VOCAB_SIZE} "
                              f"(256 byte pieces are reserved), got {vocab_size!r}")
        lines = [line for line in lines if line]
        if not lines:
            raise RnnlabError(f"{where} has no text to learn subwords from")
        options = {"vocab_size": vocab_size, "model_type": model_type,
                   "character_coverage": 1.0, "byte_fallback": True,
                   "normalization_rule_name": "identity"}
        buffer = io.BytesIO()
        try:
            _sentencepiece().SentencePieceTrainer.train(
                sentence_iterator=iter(lines), model_writer=buffer, **options,
                hard_vocab_limit=False, pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID,
                eos_id=EOS_ID, num_threads=1, minloglevel=2)
        except RuntimeError as err:
            raise RnnlabError(f"cannot learn subwords from {where}: {err}") from None
        return cls(buffer.getvalue(), options)

    def __len__(self) -> int:
        return self.processor.get_piece_size()

    def encode(self, text: str) -> list[int]:
        """Piece ids of one text (no <s> or </s>)."""
        return self.processor.encode(text)

    def encode_lines(self, lines: Sequence[str]) -> list[list[int]]:
        return self.processor.encode(list(lines)) if len(lines) else []

    def decode(self, ids: Iterable[int]) -> str:
        """The text of piece ids; special ids (<pad>, <s>, </s>) are dropped."""
        return self.processor.decode([int(i) for i in ids if int(i) > EOS_ID or int(i) == UNK_ID])

    def pieces(self, ids: Iterable[int]) -> list[str]:
        """The pieces themselves ("▁Ein", "▁Hund"), for displays such as attention maps."""
        return [self.processor.id_to_piece(int(i)) for i in ids]

    def to_dict(self) -> dict:
        return {"size": len(self), "options": self.options,
                "model": base64.b64encode(self.model_proto).decode("ascii")}

    @classmethod
    def from_dict(cls, data: dict, where: str) -> "SubwordTokenizer":
        try:
            proto = base64.b64decode(data["model"], validate=True)
        except (KeyError, TypeError, ValueError) as err:
            raise RnnlabError(f"{where}: no readable SentencePiece model ({err})") from None
        tokenizer = cls(proto, data.get("options"))
        if "size" in data and data["size"] != len(tokenizer):
            raise RnnlabError(f"{where}: the model has {len(tokenizer)} pieces but the file says "
                              f"{data['size']}")
        return tokenizer


class TranslationVocab:
    """The source and target tokenizers of a translator: what vocab.json holds for it."""

    def __init__(self, source: SubwordTokenizer, target: SubwordTokenizer):
        self.source = source
        self.target = target

    @classmethod
    def train(cls, source_lines: Sequence[str], target_lines: Sequence[str],
              source_size: int = 8000, target_size: int = 8000,
              model_type: str = "unigram") -> "TranslationVocab":
        return cls(SubwordTokenizer.train(source_lines, source_size, model_type,
                                          "the source training text"),
                   SubwordTokenizer.train(target_lines, target_size, model_type,
                                          "the target training text"))

    def __len__(self) -> int:
        """Pieces on both sides (the two sizes are `len(vocab.source)`, `len(vocab.target)`)."""
        return len(self.source) + len(self.target)

    def to_dict(self) -> dict:
        return {"format_version": VOCAB_FORMAT_VERSION, "kind": "translation_vocab",
                "source": self.source.to_dict(), "target": self.target.to_dict()}

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict(), indent=None)

    @classmethod
    def load(cls, path: str | Path) -> "TranslationVocab":
        data = read_versioned_json(path, "translation_vocab", VOCAB_FORMAT_VERSION,
                                   "translation vocabulary")
        sides = []
        for side in ("source", "target"):
            if not isinstance(data.get(side), dict):
                raise RnnlabError(f"{path} lacks the {side} tokenizer")
            sides.append(SubwordTokenizer.from_dict(data[side], f"{path} ({side})"))
        return cls(*sides)
