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
    dropout: float = 0.0              # between recurrent layers and before the output layer
    # On the character embeddings; None: the same as `dropout` (runs saved before this field
    # existed did so). The budget rule sets 0: dropping features of the one character a step
    # reads hurt the char LM (BENCHMARKS.md, "Char LM: budget-aware defaults").
    embedding_dropout: float | None = None
    tie_weights: bool = False
    residual: bool = False
    layer_norm: bool = False

    def __post_init__(self) -> None:
        check_cell(self.cell)
        check_positive_ints(self, "vocab_size", "embedding_size", "hidden_size", "num_layers")
        check_probabilities(self, "dropout")
        if self.embedding_dropout is not None:
            check_probabilities(self, "embedding_dropout")
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


# How the generator's single input enters (rnnlab.models.generator): it sets the initial hidden
# state, is fed with every character, both, or not at all (the unconditional baseline).
GENERATOR_CONDITIONINGS = ("both", "init", "input", "none")


@dataclass
class GeneratorConfig(ConfigDict):
    """The conditional generator (one-to-many): a category or a fixed float vector in, a name
    out. Defaults from the names benchmark (BENCHMARKS.md, "Names: conditional generation")."""
    what = "generator config"
    vocab_size: int
    categories: list[str]
    # "input" had the lowest dev loss of init/input/both over two seeds (BENCHMARKS.md,
    # "Names: which conditioning"); "both" was within 0.005 nats, "init" 0.01 behind.
    conditioning: str = "input"
    cell: str = "gru"
    embedding_size: int = 32          # per character
    condition_size: int = 32          # the category embedding (or the projected vector)
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.1              # on the character embeddings and before the output layer
    vector_size: int | None = None    # conditions are fixed float vectors of this size

    def __post_init__(self) -> None:
        self.categories = [str(category) for category in self.categories]
        if not self.categories:
            raise RnnlabError("a generator needs at least one category")
        if len(set(self.categories)) != len(self.categories):
            raise RnnlabError(f"categories must be distinct, got {self.categories!r}")
        if self.conditioning not in GENERATOR_CONDITIONINGS:
            raise RnnlabError(f"unknown conditioning {self.conditioning!r}; choose one of "
                              f"{', '.join(GENERATOR_CONDITIONINGS)}")
        check_cell(self.cell)
        check_positive_ints(self, "vocab_size", "embedding_size", "condition_size",
                            "hidden_size", "num_layers")
        if self.vector_size is not None:
            check_positive_ints(self, "vector_size")
        check_probabilities(self, "dropout")


ATTENTIONS = ("additive", "dot", "general", "none")   # rnnlab.nn.attention, or no attention


@dataclass
class Seq2SeqConfig(ConfigDict):
    """The translator (rnnlab.models.seq2seq): a recurrent encoder, a recurrent decoder with
    attention over the encoder outputs, and an output layer over target subwords. Sizes chosen
    for 20 minutes on 2 CPU cores: per target token the output layer (E × V) and the decoder
    dominate the cost, so a small decoder (2 × 128 = 256) and embedding (256) see more epochs
    in the budget (11 on Multi30k; val BLEU 39.2 with beam 5: BENCHMARKS.md, "Translation")."""
    what = "translator config"
    source_vocab_size: int
    target_vocab_size: int
    cell: str = "gru"
    embedding_size: int = 256           # both languages; also the attentional vector's size
    hidden_size: int = 128              # encoder, per direction
    num_layers: int = 1                 # encoder layers
    bidirectional: bool = True          # encoder
    decoder_hidden_size: int | None = None   # default: the encoder's output size (H·dirs)
    decoder_layers: int = 1
    attention: str = "general"          # additive (Bahdanau), dot or general (Luong), none
    attention_size: int | None = None   # additive attention's hidden size (default: decoder's)
    dropout: float = 0.3
    tie_embeddings: bool = True         # target embedding = output layer weights
    # Embeddings start as N(0, std²). 0.1 (the classifier's choice) left a 300-piece reverse
    # task stuck at the unigram loss for hundreds of steps: the recurrent layers could hardly
    # tell the small input vectors apart; 0.5 and 1.0 learned it in ~100 steps.
    embedding_init_std: float = 0.5

    def __post_init__(self) -> None:
        check_cell(self.cell)
        if not self.embedding_init_std > 0:
            raise RnnlabError(f"embedding_init_std must be > 0, got {self.embedding_init_std!r}")
        if self.attention not in ATTENTIONS:
            raise RnnlabError(f"unknown attention {self.attention!r}; choose one of "
                              f"{', '.join(ATTENTIONS)}")
        check_positive_ints(self, "source_vocab_size", "target_vocab_size", "embedding_size",
                            "hidden_size", "num_layers", "decoder_layers")
        for name in ("decoder_hidden_size", "attention_size"):
            if getattr(self, name) is not None:
                check_positive_ints(self, name)
        check_probabilities(self, "dropout")
        if self.attention == "dot" and self.decoder_size != self.encoder_output_size:
            raise RnnlabError(
                f"dot attention needs the decoder size ({self.decoder_size}) to equal the "
                f"encoder's output size ({self.encoder_output_size} = hidden × directions); "
                "use general or additive attention, or change the sizes")

    @property
    def encoder_output_size(self) -> int:
        return self.hidden_size * (2 if self.bidirectional else 1)

    @property
    def decoder_size(self) -> int:
        return self.decoder_hidden_size or self.encoder_output_size


@dataclass(frozen=True)
class SearchOptions:
    """Greedy/beam search settings (rnnlab.decoding explains each)."""
    beam_size: int = 5
    length_penalty: float = 0.6          # alpha; 0: rank by raw log-probability
    max_length_ratio: float = 2.0
    max_length_extra: int = 10
    # Plain beam search can prune the greedy path early and end below it; comparing with the
    # greedy hypothesis (1/beam_size more work) means beam search never returns worse.
    keep_greedy: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.beam_size, bool) or not isinstance(self.beam_size, int) \
                or self.beam_size < 1:
            raise RnnlabError(f"beam size must be a positive integer, got {self.beam_size!r}")
        if not self.length_penalty >= 0:
            raise RnnlabError(f"length penalty must be >= 0, got {self.length_penalty!r}")
        if not self.max_length_ratio >= 0:
            raise RnnlabError(f"max length ratio must be >= 0, got {self.max_length_ratio!r}")
        if isinstance(self.max_length_extra, bool) or not isinstance(self.max_length_extra, int) \
                or self.max_length_extra < 1:
            raise RnnlabError(f"max length extra must be a positive integer, got "
                              f"{self.max_length_extra!r}")

    def max_length(self, source_length: int) -> int:
        """The most tokens (before </s>) a hypothesis for a source of this length may hold."""
        return int(source_length * self.max_length_ratio) + self.max_length_extra   # floor (>= 0)


# Characters a generated sequence may have before it is cut (the longest name: 20). Here, not in
# models/generator.py, so that the CLI can show it without importing torch.
GENERATOR_MAX_LENGTH = 30
