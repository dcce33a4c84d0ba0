"""The built-in cells: rnn_tanh, rnn_relu, lstm, gru (PyTorch's modules and formulas) and
gru_fused (nn.GRU's numbers through rnnlab's fused kernel, see fused_gru.py).

Imported by `rnnlab.nn.cells`, so the built-ins are registered as soon as the registry is.
No torch at import time (see registry.py): the step formulas below use tensor methods only, and
each layer builder imports torch.nn (or the fused kernel) when it is called.

The formulas are the ones PyTorch documents for nn.RNN / nn.LSTM / nn.GRU, with their weight
layout: G gate blocks of H rows stacked in weight_ih (G·H, D) and weight_hh (G·H, H), two bias
vectors, gate order i, f, g, o (LSTM) and r, z, n (GRU).
"""

from __future__ import annotations

from functools import partial

from rnnlab.nn.cells.registry import CellSpec, register_cell


def _projections(x, h, w_ih, w_hh, b_ih, b_hh):
    """(W_ih x + b_ih, W_hh h + b_hh), each (B, G·H). addmm is what F.linear runs for 2-D
    input, so these round exactly like the torch modules' own projections."""
    return b_ih.addmm(x, w_ih.t()), b_hh.addmm(h, w_hh.t())


def rnn_tanh_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """h' = tanh(W_ih x + b_ih + W_hh h + b_hh); x (B, D), h (B, H) -> (h' (B, H), None)."""
    from_input, from_state = _projections(x, h, w_ih, w_hh, b_ih, b_hh)
    return (from_input + from_state).tanh(), None


def rnn_relu_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """h' = relu(W_ih x + b_ih + W_hh h + b_hh); x (B, D), h (B, H) -> (h' (B, H), None)."""
    from_input, from_state = _projections(x, h, w_ih, w_hh, b_ih, b_hh)
    return (from_input + from_state).relu(), None


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """x (B, D), h and c (B, H) -> (h', c'), gate order i, f, g, o."""
    from_input, from_state = _projections(x, h, w_ih, w_hh, b_ih, b_hh)
    i, f, g, o = (from_input + from_state).chunk(4, dim=1)              # each (B, H)
    c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c_new.tanh(), c_new


def gru_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """x (B, D), h (B, H) -> (h', None), gate order r, z, n."""
    from_input, from_state = _projections(x, h, w_ih, w_hh, b_ih, b_hh)
    r_in, z_in, n_in = from_input.chunk(3, dim=1)                        # each (B, H)
    r_h, z_h, n_h = from_state.chunk(3, dim=1)
    r = (r_in + r_h).sigmoid()
    z = (z_in + z_h).sigmoid()
    # The reset gate scales the hidden part of the candidate *after* its bias (PyTorch's form).
    n = (n_in + r * n_h).tanh()
    return (1.0 - z) * n + z * h, None


def _torch_layer(kind: str, input_size: int, hidden_size: int, num_layers: int, dropout: float,
                 bidirectional: bool, **extra):
    """nn.RNN / nn.LSTM / nn.GRU, batch-first."""
    from torch import nn

    # These modules apply dropout only between layers (and warn if asked to with one layer).
    return getattr(nn, kind)(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                             dropout=dropout if num_layers > 1 else 0.0,
                             bidirectional=bidirectional, **extra)


def _fused_gru_layer(input_size: int, hidden_size: int, num_layers: int, dropout: float,
                     bidirectional: bool):
    from rnnlab.nn.cells.fused_gru import FusedGRU

    return FusedGRU(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                    dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)


RNN_TANH = CellSpec("rnn_tanh", gates=1, has_cell_state=False, step=rnn_tanh_step,
                    make_layer=partial(_torch_layer, "RNN", nonlinearity="tanh"),
                    description="Elman RNN, h' = tanh(W_ih x + W_hh h + b) (nn.RNN)",
                    gate_names=("W_hh",))
RNN_RELU = CellSpec("rnn_relu", gates=1, has_cell_state=False, step=rnn_relu_step,
                    make_layer=partial(_torch_layer, "RNN", nonlinearity="relu"),
                    description="Elman RNN with relu (nn.RNN(nonlinearity='relu'))",
                    gate_names=("W_hh",))
LSTM = CellSpec("lstm", gates=4, has_cell_state=True, step=lstm_step,
                make_layer=partial(_torch_layer, "LSTM"),
                description="long short-term memory, state (h, c) (nn.LSTM)",
                gate_names=("i", "f", "g", "o"))
GRU = CellSpec("gru", gates=3, has_cell_state=False, step=gru_step,
               make_layer=partial(_torch_layer, "GRU"),
               description="gated recurrent unit (nn.GRU)", gate_names=("r", "z", "n"))
# Same parameters, state dict and numbers as "gru": checkpoints load either way.
GRU_FUSED = CellSpec("gru_fused", gates=3, has_cell_state=False, step=gru_step,
                     make_layer=_fused_gru_layer,
                     description="nn.GRU run by rnnlab's fused kernel where it applies (dense "
                                 "unidirectional input), else by nn.GRU",
                     gate_names=("r", "z", "n"))

BUILTIN_CELLS = (RNN_TANH, RNN_RELU, LSTM, GRU, GRU_FUSED)
for _spec in BUILTIN_CELLS:
    register_cell(_spec)

# The cells whose layers are PyTorch's own nn.RNN/nn.LSTM/nn.GRU: what a calculator modelling
# those modules' internals (the memory estimate) can speak for.
TORCH_MODULE_CELLS = tuple(spec.name for spec in (RNN_TANH, RNN_RELU, LSTM, GRU))
