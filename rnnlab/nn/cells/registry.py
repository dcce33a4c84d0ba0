"""The cell registry: one `CellSpec` per recurrent cell name, the single source of truth.

A cell is what one recurrent layer computes at one time step. Its spec says how many gate blocks
are stacked in the weight rows, which weights one layer holds (by default PyTorch's layout:
weight_ih (G·H, D), weight_hh (G·H, H), bias_ih and bias_hh (G·H,); a cell may declare its own,
see `CellWeight`), whether the state carries a cell state c beside h (LSTM-like), the one-step
formula, and optionally a fast torch module for whole sequences. Everything that needs
to know about cells (the encoder, the char LM, the parameter and memory calculators, the
gradient diagnostics, the CLI's error messages) asks the registry, so a new cell is one file
that calls `register_cell` and nothing else changes.

    spec = get_cell("gru")          # unknown names raise RnnlabError listing the registered ones
    spec.gates, spec.has_cell_state, spec.step(x, h, None, w_ih, w_hh, b_ih, b_hh)
    spec.weight_names               # ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'): step's order
    spec.weight_shapes(8, 16)       # (('weight_ih', (48, 8)), ('weight_hh', (48, 16)), ...)
    make_layer("gru", 8, 16, num_layers=2)   # nn.GRU(8, 16, 2, batch_first=True)

Weights: one layer (in one direction) holds the tensors `spec.weights` lists, named
`{name}_l{k}` (+ `_reverse`) in the layer module as PyTorch names its own, and `step` receives
them in that order after (x, h, c). The default is PyTorch's four; a cell without a
hidden-to-hidden matrix (minGRU: weight_ih and bias_ih only) declares
`weights=(CellWeight("weight_ih", ("GH", "D")), CellWeight("bias_ih", ("GH",)))`, and its
parameter count, the generic layer, the encoder's step and the parameter calculator follow.

Without `make_layer`, a spec still gets a layer: the generic step loop (`steploop.StepLoopRNN`)
runs `step` over time with nn.RNN's interface, parameter names and padding behaviour. That is
meant for research cells; give `make_layer` when speed matters.

Torch-free on purpose
---------------------
This module imports no torch, and neither does `builtin.py`, which registers the built-in
cells when the package is imported: their step formulas use tensor methods only and their
layer builders import torch.nn when called. So torch-free code (the `rnnlab params` calculator,
the model configs, `--help`) can validate cell names and read gate counts without paying for
torch; torch loads when a layer is built or a step runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from rnnlab.errors import RnnlabError
from rnnlab.settings import require_positive_ints, require_probabilities


# The symbols a weight's shape is written in: the cell's gate rows G·H, the hidden size H and
# the layer's input size D.
SHAPE_SYMBOLS = ("GH", "H", "D")


@dataclass(frozen=True)
class CellWeight:
    """One weight tensor of a layer in one direction: its name (the layer attribute is
    `{name}_l{k}`, plus `_reverse` for the backward direction) and its shape in SHAPE_SYMBOLS,
    e.g. ("GH", "D") for an input matrix, ("GH",) for a bias, ("H",) for a diagonal."""

    name: str
    shape: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise RnnlabError(f"a cell weight name must be a Python identifier, got {self.name!r}")
        if (not isinstance(self.shape, tuple) or not self.shape
                or any(symbol not in SHAPE_SYMBOLS for symbol in self.shape)):
            raise RnnlabError(f"cell weight {self.name!r}: shape must be a non-empty tuple of "
                              f"{', '.join(SHAPE_SYMBOLS)}, got {self.shape!r}")

    def size(self, gates: int, input_size: int, hidden_size: int) -> tuple[int, ...]:
        sizes = {"GH": gates * hidden_size, "H": hidden_size, "D": input_size}
        return tuple(sizes[symbol] for symbol in self.shape)


# PyTorch's nn.RNN/nn.LSTM/nn.GRU layout, in the order of their parameters.
TORCH_WEIGHTS = (CellWeight("weight_ih", ("GH", "D")), CellWeight("weight_hh", ("GH", "H")),
                 CellWeight("bias_ih", ("GH",)), CellWeight("bias_hh", ("GH",)))


@dataclass(frozen=True)
class CellSpec:
    """One recurrent cell (see the module docstring). Shapes: B batch rows, D inputs, H hidden.

    step(x (B, D), h (B, H), c (B, H) or None, *weights) -> (h' (B, H), c' or None)
        weights in the order of `weights` (PyTorch's: w_ih, w_hh, b_ih, b_hh);
        c is given (and c' returned) exactly when has_cell_state.
    make_layer(input_size, hidden_size, num_layers, dropout, bidirectional) -> a module with
        nn.RNN's API, batch_first=True, holding `weights` per layer and direction; None: the
        generic step loop built from `step`.
    gate_names: names of the gate blocks in row order, for reports (default "gate 1", ...).
    weights: the tensors of one layer in one direction (CellWeight); default PyTorch's four.
    """

    name: str
    gates: int
    has_cell_state: bool
    step: Callable
    make_layer: Callable | None = None
    description: str = ""
    gate_names: tuple[str, ...] = ()
    weights: tuple[CellWeight, ...] = TORCH_WEIGHTS

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or "," in self.name:
            raise RnnlabError(f"a cell name must be a non-empty string without commas, "
                              f"got {self.name!r}")
        if isinstance(self.gates, bool) or not isinstance(self.gates, int) or self.gates < 1:
            raise RnnlabError(f"cell {self.name!r}: gates must be a positive integer, "
                              f"got {self.gates!r}")
        if not callable(self.step):
            raise RnnlabError(f"cell {self.name!r}: step must be callable, got {self.step!r}")
        if self.make_layer is not None and not callable(self.make_layer):
            raise RnnlabError(f"cell {self.name!r}: make_layer must be callable or None, "
                              f"got {self.make_layer!r}")
        if self.gate_names and len(self.gate_names) != self.gates:
            raise RnnlabError(f"cell {self.name!r}: {len(self.gate_names)} gate names for "
                              f"{self.gates} gates")
        if (not isinstance(self.weights, tuple) or not self.weights
                or not all(isinstance(w, CellWeight) for w in self.weights)):
            raise RnnlabError(f"cell {self.name!r}: weights must be a non-empty tuple of "
                              f"CellWeight, got {self.weights!r}")
        if len(set(self.weight_names)) != len(self.weights):
            raise RnnlabError(f"cell {self.name!r}: weight names repeat: {self.weight_names}")

    @property
    def gate_labels(self) -> tuple[str, ...]:
        """gate_names, or "gate 1", "gate 2", ... when none were given."""
        return self.gate_names or tuple(f"gate {k + 1}" for k in range(self.gates))

    @property
    def weight_names(self) -> tuple[str, ...]:
        """The names of one layer's weights, in the order `step` receives them."""
        return tuple(weight.name for weight in self.weights)

    @property
    def has_recurrent_matrix(self) -> bool:
        """True when a weight is (G·H, H) named weight_hh: h_(t-1) enters through a matrix
        product, as in PyTorch's cells (not in minGRU/minLSTM, whose gates read x alone)."""
        return any(w.name == "weight_hh" and w.shape == ("GH", "H") for w in self.weights)

    def weight_shapes(self, input_size: int,
                      hidden_size: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(name, shape) of each weight of one layer in one direction, input size D."""
        return tuple((w.name, w.size(self.gates, input_size, hidden_size)) for w in self.weights)

    def num_parameters(self, input_size: int, hidden_size: int) -> int:
        """Parameters of one layer in one direction: the sum over `weights`. PyTorch's layout
        gives G·H·(D + H + 2) (weight_ih, weight_hh and TWO bias vectors)."""
        return sum(math.prod(shape) for _, shape in self.weight_shapes(input_size, hidden_size))


_REGISTRY: dict[str, CellSpec] = {}


def register_cell(spec: CellSpec, *, replace: bool = False) -> CellSpec:
    """Add `spec` under `spec.name`; a name already taken is an error unless replace=True."""
    if not isinstance(spec, CellSpec):
        raise RnnlabError(f"register_cell expects a CellSpec, got {type(spec).__name__}")
    if spec.name in _REGISTRY and not replace:
        raise RnnlabError(f"cell {spec.name!r} is already registered; pass replace=True to "
                          "replace it, or choose another name")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_cell(name: str) -> None:
    """Remove a registered cell (for tests); an unknown name is an error."""
    get_cell(name)
    del _REGISTRY[name]


def get_cell(name: str) -> CellSpec:
    """The spec registered under `name`; RnnlabError listing the registered cells otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):   # TypeError: an unhashable "name"
        raise RnnlabError(f"unknown cell {name!r}; registered cells: "
                          f"{', '.join(cell_names())}") from None


def cell_names() -> tuple[str, ...]:
    """The registered cell names, sorted."""
    return tuple(sorted(_REGISTRY))


def make_layer(name: str, input_size: int, hidden_size: int, num_layers: int = 1,
               dropout: float = 0.0, bidirectional: bool = False):
    """A recurrent module for cell `name` with nn.RNN's API (batch_first=True):
    forward(x (B, T, D) or a PackedSequence, hx=None) -> (output, h_n (L·dirs, B, H) or (h, c)).

    The spec's own make_layer when it has one, else the generic step loop over `step`.
    """
    spec = get_cell(name)
    require_positive_ints(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
    require_probabilities(dropout=dropout)
    args = (input_size, hidden_size, num_layers, float(dropout), bool(bidirectional))
    if spec.make_layer is not None:
        return spec.make_layer(*args)
    from rnnlab.nn.cells.steploop import StepLoopRNN   # torch: only when a layer is built

    return StepLoopRNN(spec, *args)
