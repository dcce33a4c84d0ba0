"""Gate activations of the built-in gated cells, for display.

A cell's registered step (rnnlab.nn.cells) returns only the new state; the gates it computes on
the way are not kept. For the page they are recomputed here from the same pre-activations,
PyTorch's formulas and gate order (LSTM i, f, g, o; GRU r, z, n), all time steps of a layer at
once. The tests rebuild each layer's states from these gates (c_t = f·c_{t-1} + i·g,
h_t = o·tanh(c_t); h_t = (1 - z)·n + z·h_{t-1}) and compare them with the states the cell's
own step produced, so a gate shown is the gate the model used.

A cell registered by the user has an opaque step function: its gates cannot be recovered
without running it differently, so the page shows its states (h, and c) only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Gate:
    name: str        # the registry's gate name
    label: str       # what the page shows
    squash: str      # "sigmoid" (values in [0, 1]) or "tanh" (values in [-1, 1])


GATES: dict[str, tuple[Gate, ...]] = {
    "lstm": (Gate("i", "input gate i", "sigmoid"), Gate("f", "forget gate f", "sigmoid"),
             Gate("g", "candidate g", "tanh"), Gate("o", "output gate o", "sigmoid")),
    "gru": (Gate("r", "reset gate r", "sigmoid"), Gate("z", "update gate z", "sigmoid"),
            Gate("n", "candidate n", "tanh")),
}
GATES["gru_fused"] = GATES["gru"]          # the same formula and weights, another kernel


def gates_of(cell: str) -> tuple[Gate, ...]:
    """The gates the page can show for `cell` (none for ungated or user-registered cells)."""
    return GATES.get(cell, ())


def gate_activations(cell: str, x: torch.Tensor, h_prev: torch.Tensor, w_ih: torch.Tensor,
                     w_hh: torch.Tensor, b_ih: torch.Tensor, b_hh: torch.Tensor
                     ) -> dict[str, torch.Tensor]:
    """x (T, D) a layer's inputs, h_prev (T, H) its state before each step -> {gate: (T, H)}."""
    from_input = torch.addmm(b_ih, x, w_ih.t())                  # (T, G·H)
    from_state = torch.addmm(b_hh, h_prev, w_hh.t())             # (T, G·H)
    if cell == "lstm":
        i, f, g, o = (from_input + from_state).chunk(4, dim=1)
        return {"i": i.sigmoid(), "f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}
    if cell in ("gru", "gru_fused"):
        r_in, z_in, n_in = from_input.chunk(3, dim=1)
        r_h, z_h, n_h = from_state.chunk(3, dim=1)
        r = (r_in + r_h).sigmoid()
        return {"r": r, "z": (z_in + z_h).sigmoid(), "n": (n_in + r * n_h).tanh()}
    return {}
