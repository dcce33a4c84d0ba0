"""The NumPy reference engine: exact, readable, torch-free.

Every forward and backward step is written out by hand so it can be read like a textbook and
checked against PyTorch's autograd. Importing this package never imports torch.
"""

# One line per module; add new modules' public names the same way.
from rnnlab.reference.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell, make_cell
from rnnlab.reference.gradcheck import GradcheckReport, gradcheck
from rnnlab.reference.losses import mean_squared_error, softmax_cross_entropy
from rnnlab.reference.network import ForwardCache, Gradients, RecurrentNetwork
from rnnlab.reference.optim import SGD, Adagrad, Adam
from rnnlab.reference.clip import clip_grad_norm, clip_grad_value
from rnnlab.reference.trace import (ElmanTrace, ElmanWeights, TraceSetup, chapter_example,
                                    format_trace, load_trace_weights, trace_elman)
