"""Training-memory estimate of a recurrent model: parameters, gradients, optimizer state and the
activations autograd keeps for the backward pass, for a batch size, sequence length and precision.
It models the CPU kernels (oneDNN LSTM, PyTorch's native RNN/GRU loop); on a CUDA device cuDNN
keeps a different reserve space, and only the fixed costs are the same.

One job per module, each with its formulas in its docstring: `estimate` (fixed costs, the peak,
`estimate_training_memory`), `activations` (the symbolic forward pass), `onednn` (oneDNN's LSTM
workspace layout), `result` (rows, phases, table) and `measure` (the step run and measured).
They change for different reasons (a kernel's layout, a new layer, the profiler) and are tested
apart. All but `measure` import no torch, like rnnlab.diagnostics.params, so the measurement
names below load it (and `measure`) only on first use.
"""

from rnnlab.diagnostics.memory.activations import (ActivationModel, activation_items,
                                                   activation_model)
from rnnlab.diagnostics.memory.estimate import (OPTIMIZERS, PRECISIONS, adam_step_temporaries,
                                                estimate_training_memory)
from rnnlab.diagnostics.memory.onednn import onednn_lstm_workspace_bytes
from rnnlab.diagnostics.memory.result import CATEGORIES, MIB, MemoryEstimate, MemoryItem, mib

_MEASURE = ("make_batch", "forward_loss", "make_optimizer", "training_step",
            "measure_saved_activations", "measure_training_peak")

__all__ = ["ActivationModel", "CATEGORIES", "MIB", "MemoryEstimate", "MemoryItem", "OPTIMIZERS",
           "PRECISIONS", "activation_items", "activation_model", "adam_step_temporaries",
           "estimate_training_memory", "mib", "onednn_lstm_workspace_bytes", *_MEASURE]


def __getattr__(name: str):
    """The measurement helpers, imported on first use (PEP 562) because they need torch."""
    if name in _MEASURE:
        from rnnlab.diagnostics.memory import measure
        return getattr(measure, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
