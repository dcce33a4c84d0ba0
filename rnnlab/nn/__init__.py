"""PyTorch building blocks shared by the task models (classifier, tagger, char LM, ...).

- `cells`: the cell registry (`CellSpec`, `register_cell`, `get_cell`, `cell_names`) and the
  built-in cells rnn_tanh, rnn_relu, lstm, gru, gru_fused. Torch-free to import.
- `encoder.RecurrentEncoder`: a stack of layers of any registered cell over padded, batch-first
  input, exact under padding, with dropout, bidirectional, residual and layer-norm options and
  a one-step-at-a-time API (`step`) that gives the same numbers as the full-sequence call.
- `pooling`: sequence → vector reductions (`last`, `mean`, `max`, `attention`) that ignore
  padded positions exactly.

The torch modules load on first use (`from rnnlab.nn import RecurrentEncoder`), so that
`rnnlab.nn.cells` can be imported by torch-free code.
"""

from __future__ import annotations

import importlib

from rnnlab.nn.cells import CellSpec, cell_names, get_cell, register_cell

# name -> the submodule that defines it, imported on first access (PEP 562).
_LAZY = {"RecurrentEncoder": "rnnlab.nn.encoder", "POOLINGS": "rnnlab.nn.pooling",
         "SequencePooling": "rnnlab.nn.pooling", "length_mask": "rnnlab.nn.pooling"}

__all__ = ["CellSpec", "POOLINGS", "RecurrentEncoder", "SequencePooling", "cell_names",
           "get_cell", "length_mask", "register_cell"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnlab.nn' has no attribute {name!r}")
