"""PyTorch building blocks shared by the task models (classifier, tagger, ...).

- `encoder.RecurrentEncoder`: a stack of RNN/LSTM/GRU layers over padded, batch-first input,
  exact under padding, with dropout, bidirectional, residual and layer-norm options and a
  one-step-at-a-time API (`step`) that gives the same numbers as the full-sequence call.
- `pooling`: sequence → vector reductions (`last`, `mean`, `max`, `attention`) that ignore
  padded positions exactly.
"""

from rnnlab.nn.encoder import CELLS, RecurrentEncoder
from rnnlab.nn.pooling import POOLINGS, SequencePooling, length_mask

__all__ = ["CELLS", "POOLINGS", "RecurrentEncoder", "SequencePooling", "length_mask"]
