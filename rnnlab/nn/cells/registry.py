"""The cell registry: one `CellSpec` per recurrent cell name, the single source of truth.

A cell is what one recurrent layer computes at one time step. Its spec says how many gate blocks
are stacked in the weight rows (PyTorch's layout: weight_ih (G·H, D), weight_hh (G·H, H),
bias_ih and bias_hh (G·H,)), whether the state carries a cell state c beside h (LSTM-like), the
one-step formula, and optionally a fast torch module for whole sequences. Everything that needs
to know about cells (the encoder, the char LM, the parameter and memory calculators, the
gradient diagnostics, the CLI's error messages) asks the registry, so a new cell is one file
that calls `register_cell` and nothing else changes.

    spec = get_cell("gru")          # unknown names raise RnnlabError listing the registered ones
    spec.gates, spec.has_cell_state, spec.step(x, h, None, w_ih, w_hh, b_ih, b_hh)
    make_layer("gru", 8, 16, num_layers=2)   # nn.GRU(8, 16, 2, batch_first=True)

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

from dataclasses import dataclass
from typing import Callable

from rnnlab.errors import RnnlabError
from rnnlab.settings import require_positive_ints, require_probabilities


@dataclass(frozen=True)
class CellSpec:
    """One recurrent cell (see the module docstring). Shapes: B batch rows, D inputs, H hidden.

    step(x (B, D), h (B, H), c (B, H) or None, w_ih, w_hh, b_ih, b_hh) -> (h' (B, H), c' or None)
        c is given (and c' returned) exactly when has_cell_state.
    make_layer(input_size, hidden_size, num_layers, dropout, bidirectional) -> a module with
        nn.RNN's API, batch_first=True; None: the generic step loop built from `step`.
    gate_names: names of the gate blocks in row order, for reports (default "gate 1", ...).
    """

    name: str
    gates: int
    has_cell_state: bool
    step: Callable
    make_layer: Callable | None = None
    description: str = ""
    gate_names: tuple[str, ...] = ()

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

    @property
    def gate_labels(self) -> tuple[str, ...]:
        """gate_names, or "gate 1", "gate 2", ... when none were given."""
        return self.gate_names or tuple(f"gate {k + 1}" for k in range(self.gates))

    def num_parameters(self, input_size: int, hidden_size: int) -> int:
        """Parameters of one layer in one direction, PyTorch's layout: G·H·(D + H + 2)
        (weight_ih, weight_hh and TWO bias vectors). A cell with another layout overrides this."""
        return self.gates * hidden_size * (input_size + hidden_size + 2)


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
