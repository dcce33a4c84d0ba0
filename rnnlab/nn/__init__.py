"""PyTorch building blocks shared by the task models (classifier, tagger, char LM, ...).

- `cells`: the cell registry (`CellSpec`, `register_cell`, `get_cell`, `cell_names`) and the
  built-in cells rnn_tanh, rnn_relu, lstm, gru, gru_fused. Torch-free to import.
- `encoder.RecurrentEncoder`: a stack of layers of any registered cell over padded, batch-first
  input, exact under padding, with dropout, bidirectional, residual and layer-norm options and
  a one-step-at-a-time API (`step`) that gives the same numbers as the full-sequence call.
- `pooling`: sequence → vector reductions (`last`, `mean`, `max`, `attention`) that ignore
  padded positions exactly.

Import from the submodules (`from rnnlab.nn.encoder import RecurrentEncoder`): this package
imports nothing itself, so torch-free code can use `rnnlab.nn.cells`.
"""
