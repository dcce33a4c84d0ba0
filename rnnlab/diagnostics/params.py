"""Exact parameter counts of recurrent models, from the formulas, tensor by tensor.

A configuration (`ModelSpec`) describes the model rnnlab builds for it (`build_model`):

    ids (B, T) ──Embedding(V, E)──┐
                                  ├─► recurrent layers × L (any registered cell, 1 or 2
    features (B, T, I) ───────────┘     directions, optional layer norm / residual) ──► head
                                                                        none | lm | classifier | tagger

Formulas (G = the cell's gate blocks from the cell registry, `get_cell(name).gates`: 1 for RNN,
4 for LSTM, 3 for GRU, 2 for minGRU, 3 for minLSTM; the tensors are the cell's declared weights,
`CellSpec.weights`)
    For each layer l = 1..L and each direction (D = 2 if bidirectional else 1), PyTorch's layout:
        weight_ih_l{l-1}   (G·H, I_l)      I_1 = E or I,  I_l = D·H for l > 1
        weight_hh_l{l-1}   (G·H, H)
        bias_ih_l{l-1}     (G·H,)          PyTorch keeps TWO bias vectors per gate block; the
        bias_hh_l{l-1}     (G·H,)          textbook formula with one bias undercounts by G·H.
    so one layer-direction has G·H·(I_l + H + 2) parameters (`CellSpec.num_parameters`).
    minGRU / minLSTM (gates from the input alone): weight_ih_l{l-1} (G·H, I_l) and
    bias_ih_l{l-1} (G·H,), so G·H·(I_l + 1) per layer-direction.
    layer norm (per layer, over the D·H output features): weight and bias, 2·D·H.
    residual connections add no parameters.
    Embedding: V·E.   Linear head (F → O): O·F + O, F = D·H.
    lm head (CharLM: embedding, encoder, head): Linear(H, V), or only its bias V when tied to
    the embedding (needs E == H).
    classifier: pooling over time ("last", "mean", "max": no parameters; "attention":
    Linear(F, F) + a score vector (1, F)) and a Linear(F, O).
    tagger: the same Linear(F, O) applied at every time step.

`parameter_breakdown(spec)` lists the tensors with the names, shapes and order of
`build_model(spec).named_parameters()`; `count_parameters(spec)` is their sum, which equals
`sum(p.numel() for p in build_model(spec).parameters())` (a tied matrix is counted once, as
`parameters()` yields it once). Both are tested against torch for random configurations.

Torch-free: validating a ModelSpec and counting an lm's parameters import no torch (the cell
registry is torch-free); the other heads check that rnnlab.nn.encoder imports, which loads torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

from rnnlab.errors import RnnlabError
from rnnlab.models.configs import POOLINGS
from rnnlab.nn.cells import get_cell

HEADS = ("none", "lm", "classifier", "tagger")


@dataclass(frozen=True)
class ModelSpec:
    """One model configuration. Give either `input_size` (dense features per time step) or
    `vocab_size` and `embedding_size` (token ids through an embedding)."""

    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    input_size: int | None = None
    vocab_size: int | None = None
    embedding_size: int | None = None
    bidirectional: bool = False
    residual: bool = False
    layer_norm: bool = False
    head: str = "none"
    output_size: int | None = None       # classes (classifier), tags (tagger); lm: vocab_size
    tie_weights: bool = False            # lm only: head.weight is embedding.weight
    pooling: str = "last"                # classifier only
    dropout: float = 0.0                 # no parameters; the memory estimate counts its masks

    def __post_init__(self) -> None:
        get_cell(self.cell)        # an unknown name raises, listing the registered cells
        if self.head not in HEADS:
            raise RnnlabError(f"unknown head {self.head!r}; choose one of {', '.join(HEADS)}")
        if self.pooling not in POOLINGS:
            raise RnnlabError(f"unknown pooling {self.pooling!r}; choose one of "
                              f"{', '.join(POOLINGS)}")
        _positive("hidden_size", self.hidden_size)
        _positive("num_layers", self.num_layers)
        for name in ("input_size", "vocab_size", "embedding_size", "output_size"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise RnnlabError(f"dropout must be in [0, 1), got {self.dropout!r}")
        embedded = self.vocab_size is not None or self.embedding_size is not None
        if embedded and self.input_size is not None:
            raise RnnlabError("give either input_size (dense inputs) or vocab_size and "
                              "embedding_size (token ids), not both")
        if embedded and (self.vocab_size is None or self.embedding_size is None):
            raise RnnlabError("token inputs need both vocab_size and embedding_size, got "
                              f"vocab_size={self.vocab_size}, embedding_size={self.embedding_size}")
        if not embedded and self.input_size is None:
            raise RnnlabError("give input_size (dense inputs) or vocab_size and embedding_size")
        if self.head == "lm":
            self._check_lm()
        elif self.tie_weights:
            raise RnnlabError("tie_weights applies to the lm head only")
        if self.head in ("classifier", "tagger") and self.output_size is None:
            raise RnnlabError(f"a {self.head} head needs output_size (number of "
                              f"{'classes' if self.head == 'classifier' else 'tags'})")
        if self.head == "none" and self.output_size is not None:
            raise RnnlabError("head 'none' has no output layer; drop output_size or choose "
                              "head lm, classifier or tagger")
        if self.pooling != "last" and self.head != "classifier":
            raise RnnlabError(f"pooling {self.pooling!r} applies to the classifier head only")

    def _check_lm(self) -> None:
        if self.vocab_size is None:
            raise RnnlabError("the lm head predicts tokens: give vocab_size and embedding_size")
        if self.output_size is not None and self.output_size != self.vocab_size:
            raise RnnlabError(f"an lm's output size is its vocabulary ({self.vocab_size}), got "
                              f"output_size={self.output_size}")
        if self.bidirectional:
            raise RnnlabError("the lm head (CharLM) is causal: bidirectional not supported")
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise RnnlabError("tied weights need embedding_size == hidden_size, got "
                              f"{self.embedding_size} and {self.hidden_size}")

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        return self.vocab_size is not None

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def rnn_input_size(self) -> int:
        return self.embedding_size if self.embedded else self.input_size

    @property
    def features(self) -> int:
        """Feature size of the recurrent stack's outputs, F = D·H."""
        return self.num_directions * self.hidden_size

    @property
    def head_outputs(self) -> int | None:
        return self.vocab_size if self.head == "lm" else self.output_size

    @property
    def per_layer_modules(self) -> bool:
        """True when the encoder runs one module per layer (residual or layer norm)."""
        return self.residual or self.layer_norm

    def to_dict(self) -> dict:
        return asdict(self)


def _positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RnnlabError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class TensorCount:
    name: str
    shape: tuple[int, ...]
    component: str          # embedding, recurrent, norm, pooling, head

    @property
    def count(self) -> int:
        return math.prod(self.shape)


# -- the formulas ------------------------------------------------------------------------------
def layer_direction_parameters(cell: str, input_size: int, hidden_size: int) -> int:
    """The cell's weights of one layer in one direction (`CellSpec.num_parameters`): PyTorch's
    layout G·H·(I + H + 2) (weight_ih, weight_hh, bias_ih, bias_hh); minGRU/minLSTM G·H·(I + 1)."""
    return get_cell(cell).num_parameters(input_size, hidden_size)


def recurrent_parameters(cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                         bidirectional: bool = False) -> int:
    """Parameters of `make_layer(cell, input_size, hidden_size, num_layers, bidirectional)`
    (for the built-ins: nn.RNN/nn.LSTM/nn.GRU)."""
    dirs = 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else dirs * hidden_size
        total += dirs * layer_direction_parameters(cell, layer_input, hidden_size)
    return total


def _recurrent_tensors(spec: ModelSpec, prefix: str, layer_input: int,
                       suffix_layer: int) -> list[TensorCount]:
    shapes = get_cell(spec.cell).weight_shapes(layer_input, spec.hidden_size)
    tensors = []
    for direction in range(spec.num_directions):
        suffix = f"_l{suffix_layer}" + ("_reverse" if direction else "")
        tensors += [TensorCount(f"{prefix}{name}{suffix}", shape, "recurrent")
                    for name, shape in shapes]
    return tensors


def _layer_inputs(spec: ModelSpec) -> list[int]:
    return [spec.rnn_input_size] + [spec.features] * (spec.num_layers - 1)


def _encoder_tensors(spec: ModelSpec) -> list[TensorCount]:
    """A RecurrentEncoder named "encoder": one module `rnn` (fast path) or, with residual or
    layer norm, one module per layer (`layers.k`) and the norms."""
    tensors: list[TensorCount] = []
    if not spec.per_layer_modules:
        for layer, size in enumerate(_layer_inputs(spec)):
            tensors += _recurrent_tensors(spec, "encoder.rnn.", size, layer)
        return tensors
    for layer, size in enumerate(_layer_inputs(spec)):
        tensors += _recurrent_tensors(spec, f"encoder.layers.{layer}.", size, 0)
    if spec.layer_norm:
        for layer in range(spec.num_layers):
            tensors += [TensorCount(f"encoder.norms.{layer}.weight", (spec.features,), "norm"),
                        TensorCount(f"encoder.norms.{layer}.bias", (spec.features,), "norm")]
    return tensors


def parameter_breakdown(spec: ModelSpec) -> list[TensorCount]:
    """Every parameter tensor of `build_model(spec)`: names, shapes and order as in
    `named_parameters()`."""
    tensors: list[TensorCount] = []
    if spec.embedded:
        tensors.append(TensorCount("embedding.weight", (spec.vocab_size, spec.embedding_size),
                                   "embedding"))
    if spec.head == "lm":   # CharLM: embedding, encoder (a RecurrentEncoder), head
        tensors += _encoder_tensors(spec)
        if not spec.tie_weights:
            tensors.append(TensorCount("head.weight", (spec.vocab_size, spec.hidden_size), "head"))
        tensors.append(TensorCount("head.bias", (spec.vocab_size,), "head"))
        return tensors

    tensors += _encoder_tensors(spec)
    if spec.head == "classifier" and spec.pooling == "attention":
        f = spec.features
        tensors += [TensorCount("pooling.attention_proj.weight", (f, f), "pooling"),
                    TensorCount("pooling.attention_proj.bias", (f,), "pooling"),
                    TensorCount("pooling.attention_score.weight", (1, f), "pooling")]
    if spec.head in ("classifier", "tagger"):
        tensors += [TensorCount("head.weight", (spec.output_size, spec.features), "head"),
                    TensorCount("head.bias", (spec.output_size,), "head")]
    return tensors


def count_parameters(spec: ModelSpec) -> int:
    return sum(t.count for t in parameter_breakdown(spec))


def component_totals(tensors: Iterable[TensorCount]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for tensor in tensors:
        totals[tensor.component] = totals.get(tensor.component, 0) + tensor.count
    return totals


def format_breakdown(spec: ModelSpec) -> str:
    """A plain-text table: one row per tensor, subtotals per component, the total."""
    tensors = parameter_breakdown(spec)
    name_width = max([len("tensor")] + [len(t.name) for t in tensors])
    shape_width = max([len("shape")] + [len(_shape(t.shape)) for t in tensors])
    total = sum(t.count for t in tensors)
    count_width = max(len("parameters"), len(f"{total:,}"))
    lines = [f"{'tensor':<{name_width}}  {'shape':<{shape_width}}  {'parameters':>{count_width}}"]
    lines.append("-" * len(lines[0]))
    for t in tensors:
        lines.append(f"{t.name:<{name_width}}  {_shape(t.shape):<{shape_width}}  "
                     f"{t.count:>{count_width},}")
    lines.append("-" * len(lines[0]))
    for component, count in component_totals(tensors).items():
        label = f"{component} total"
        lines.append(f"{label:<{name_width + shape_width + 2}}  {count:>{count_width},}")
    lines.append(f"{'TOTAL':<{name_width + shape_width + 2}}  {total:>{count_width},}")
    if spec.head == "lm" and spec.tie_weights:
        lines.append("(head.weight is embedding.weight: counted once)")
    return "\n".join(lines) + "\n"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# -- the model rnnlab builds -------------------------------------------------------------------
def build_model(spec: ModelSpec):
    """The torch model rnnlab builds for `spec` (in train mode, PyTorch's default init).

    lm: `CharLM`. Otherwise a `SequenceModel`: optional embedding, a `RecurrentEncoder`,
    optional pooling, a linear head.
    """
    if spec.head == "lm":
        from rnnlab.models.lm import CharLM, CharLMConfig

        return CharLM(CharLMConfig(vocab_size=spec.vocab_size, cell=spec.cell,
                                   embedding_size=spec.embedding_size,
                                   hidden_size=spec.hidden_size, num_layers=spec.num_layers,
                                   dropout=spec.dropout, tie_weights=spec.tie_weights,
                                   residual=spec.residual, layer_norm=spec.layer_norm))
    return _sequence_model_class()(spec)


def _sequence_model_class():
    import torch
    from torch import nn

    from rnnlab.nn.encoder import RecurrentEncoder
    from rnnlab.nn.pooling import SequencePooling

    class SequenceModel(nn.Module):
        """[Embedding] → recurrent encoder → [pooling] → [Linear] (see `build_model`).

        forward(inputs) with inputs ids (B, T) int64 or features (B, T, I), batch-first:
            head none -> (B, T, F); tagger -> (B, T, O); classifier -> (B, O).
        """

        def __init__(self, spec: ModelSpec):
            super().__init__()
            self.spec = spec
            if spec.embedded:
                self.embedding = nn.Embedding(spec.vocab_size, spec.embedding_size)
            self.encoder = RecurrentEncoder(
                spec.rnn_input_size, spec.hidden_size, cell=spec.cell, num_layers=spec.num_layers,
                dropout=spec.dropout, bidirectional=spec.bidirectional, residual=spec.residual,
                layer_norm=spec.layer_norm)
            if spec.head == "classifier":
                self.pooling = SequencePooling(spec.pooling, spec.features, spec.num_directions)
            if spec.head in ("classifier", "tagger"):
                self.head = nn.Linear(spec.features, spec.output_size)

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            x = self.embedding(inputs) if self.spec.embedded else inputs   # (B, T, E or I)
            x = nn.functional.dropout(x, self.spec.dropout, self.training)
            out, _ = self.encoder(x)                                         # (B, T, F)
            if self.spec.head == "none":
                return out
            if self.spec.head == "tagger":
                out = nn.functional.dropout(out, self.spec.dropout, self.training)
                return self.head(out)                                        # (B, T, O)
            pooled = self.pooling(out)                                       # (B, F)
            pooled = nn.functional.dropout(pooled, self.spec.dropout, self.training)
            return self.head(pooled)                                         # (B, O)

    return SequenceModel


# -- the chapter's examples (expected values are computed, never copied from the text) -------
CHAPTER_EXAMPLES = {
    # section 1.5: nn.RNN(input_size=10, hidden_size=20, num_layers=2)
    "nn-rnn": ModelSpec(cell="rnn_tanh", input_size=10, hidden_size=20, num_layers=2),
    # section 1.5: the sentiment model, Embedding(5000, 100) → RNN(100, 128) → Linear(128, 2)
    "sentiment": ModelSpec(cell="rnn_tanh", vocab_size=5000, embedding_size=100,
                           hidden_size=128, head="classifier", output_size=2),
    # section 1.6: the character model on the 27-character sample text: 27 → 32 → 64 → 27
    "char-model": ModelSpec(cell="rnn_tanh", vocab_size=27, embedding_size=32, hidden_size=64,
                            head="lm"),
    # exercise 1: input 50, hidden 128, output 10 (an output at every step)
    "exercise-1": ModelSpec(cell="rnn_tanh", input_size=50, hidden_size=128, head="tagger",
                            output_size=10),
}
