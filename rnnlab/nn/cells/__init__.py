"""Recurrent cells by name: the registry (registry.py), the built-in cells (builtin.py) and the
parallel-scan cells minGRU and minLSTM (mingru.py, minlstm.py).

    from rnnlab.nn.cells import CellSpec, CellWeight, register_cell, get_cell, cell_names, make_layer

A new cell is one file that defines its one-step formula and calls `register_cell`; the encoder,
the models, the calculators and the diagnostics then accept its name. Importing this package
does not import torch (see registry.py).

Modules: registry.py (CellSpec, CellWeight and the name → spec table), builtin.py (rnn_tanh,
rnn_relu, lstm, gru, gru_fused), steploop.py (the generic layer for a spec without make_layer),
fused_gru.py (the fused GRU kernel behind gru_fused), mingru.py and minlstm.py (gates from the
input alone), minimal.py (what those two share), scan.py (linear recurrences in parallel over
time) and scanlayer.py (their layer).
"""

from rnnlab.nn.cells.registry import (
    CellSpec,
    CellWeight,
    cell_names,
    get_cell,
    make_layer,
    register_cell,
    unregister_cell,
)
from rnnlab.nn.cells import builtin  # noqa: F401  (registers the built-in cells)
from rnnlab.nn.cells import mingru, minlstm  # noqa: F401  (register the parallel-scan cells)

__all__ = ["CellSpec", "CellWeight", "cell_names", "get_cell", "make_layer", "register_cell",
           "unregister_cell"]
