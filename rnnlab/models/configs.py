"""The hyper-parameters of every model, as dataclasses written to config.json.

Torch-free on purpose: the CLI reads its defaults from these classes (so `--help` is fast and
never repeats a default), and `from_pretrained` rebuilds a model from config.json without
guessing. Cell names are checked against the cell registry (rnnlab.nn.cells) when a config is
made, so a cell registered by the user is accepted everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.errors import RnnlabError
from rnnlab.settings import ConfigDict, check_positive_ints, check_probabilities


def check_cell(name: str) -> None:
    from rnnlab.nn.cells import get_cell   # raises RnnlabError listing the registered cells

    get_cell(name)


@dataclass
class CharLMConfig(ConfigDict):
    vocab_size: int
    # GRU 2×256, embedding 64: the best of an 80-s sweep on tinyshakespeare (BENCHMARKS.md).
    cell: str = "gru"
    embedding_size: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = False
    residual: bool = False
    layer_norm: bool = False

    def __post_init__(self) -> None:
        check_cell(self.cell)
        check_positive_ints(self, "vocab_size", "embedding_size", "hidden_size", "num_layers")
        check_probabilities(self, "dropout")
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise RnnlabError(
                "tied input/output weights need embedding_size == hidden_size, got "
                f"{self.embedding_size} and {self.hidden_size}")


POOLINGS = ("last", "mean", "max", "attention")


@dataclass
class ClassifierConfig(ConfigDict):
    what = "classifier config"
    vocab_size: int
    labels: list[str]
    cell: str = "gru"
    embedding_size: int = 300
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.5              # before the output layer, and between recurrent layers
    embedding_dropout: float = 0.3
    # Training only: each word is replaced by <unk> with this probability, so the model cannot
    # lean on any single word (a strong regulariser on small data) and <unk> learns a meaning.
    word_dropout: float = 0.0
    pooling: str = "max"
    residual: bool = False
    layer_norm: bool = False
    attention_size: int | None = None   # attention pooling's hidden size (default: H·dirs)
    # Embeddings start as N(0, std²). PyTorch's default std 1 makes Adam, whose steps are about
    # lr per element, take hundreds of steps to move a vector noticeably; 0.1 learns faster.
    embedding_init_std: float = 0.1

    def __post_init__(self) -> None:
        self.labels = [str(label) for label in self.labels]
        if len(self.labels) < 2:
            raise RnnlabError(f"a classifier needs at least 2 labels, got {self.labels!r}")
        if len(set(self.labels)) != len(self.labels):
            raise RnnlabError(f"labels must be distinct, got {self.labels!r}")
        check_cell(self.cell)
        if self.pooling not in POOLINGS:
            raise RnnlabError(f"unknown pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}")
        check_positive_ints(self, "vocab_size", "embedding_size", "hidden_size", "num_layers")
        if not self.embedding_init_std > 0:
            raise RnnlabError(f"embedding_init_std must be > 0, got {self.embedding_init_std!r}")
        check_probabilities(self, "dropout", "embedding_dropout", "word_dropout")

    @property
    def num_classes(self) -> int:
        return len(self.labels)


@dataclass
class TaggerConfig(ConfigDict):
    what = "tagger config"
    word_vocab_size: int
    char_vocab_size: int
    num_tags: int
    cell: str = "lstm"
    word_embedding_size: int = 100
    char_embedding_size: int = 32
    char_hidden_size: int = 64          # per direction; the character vector is twice this
    hidden_size: int = 200              # per direction of the sentence encoder
    num_layers: int = 1
    dropout: float = 0.33
    word_dropout: float = 0.05

    def __post_init__(self) -> None:
        check_cell(self.cell)
        check_positive_ints(self, "word_vocab_size", "char_vocab_size", "num_tags",
                            "word_embedding_size", "char_embedding_size", "char_hidden_size",
                            "hidden_size", "num_layers")
        check_probabilities(self, "dropout", "word_dropout")
