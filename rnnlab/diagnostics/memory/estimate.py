"""The estimate: fixed costs from the parameter count, activations, and the step's peak.

Fixed costs (P = number of parameters; master weights stay fp32 in every precision)
    parameters   4·P bytes
    gradients    4·P bytes
    optimizer    Adam/AdamW: exp_avg and exp_avg_sq, 8·P (+ a 4-byte step counter per tensor);
                 SGD with momentum: one buffer, 4·P; plain SGD / none: 0
    autocast     bf16/fp16: the 2-byte copies of the weights and biases that autocast makes for
                 its matmuls and caches until the autocast region ends (autograd keeps most of
                 them for the backward pass): 2 bytes per entry; the embedding and layer norm
                 are not cast

Peak (the fullest moment of a steady-state step; `MemoryEstimate.phases`)
    The items never all live at once: gradients appear as the backward pass frees activations,
    and Adam updates its state after that. The estimate follows the step through time:
        forward          fixed + activations saved so far + what is alive but not saved: the
                         embedding output, each RNN/GRU layer's input projection of all T steps
                         (T·B·G·H·a) and its stacked (T, B, H) output, oneDNN's gate scratchpad
                         (T·B·4H·4) and reordered weights inside an LSTM call
        backward         fixed + all activations + the larger of the loss/logits gradients and
                         the last recurrent layer's output gradient (T·B·F·a; for oneDNN's LSTM
                         plus its backward scratchpad, input gradient and weight copies)
        end of backward  fixed + all gradients + what the caller still holds (+ the embedding
                         gradient's two (B, T, E) layouts)
        optimizer step   parameters + gradients + optimizer state + Adam's temporaries
                         (single-tensor Adam, the CPU default: sqrt(v) and its scaled copy of
                         one tensor while the previous tensor's is still referenced)
    with fixed = parameters + optimizer state + autocast copies. The end-of-forward activations
    are exact (tested against saved-tensor hooks); the transient terms were checked against the
    profiler's measured peaks (within a few per cent: BENCHMARKS.md, memory section).
"""

from __future__ import annotations

from rnnlab.diagnostics.memory.activations import activation_model
from rnnlab.diagnostics.memory.result import MemoryEstimate, MemoryItem
from rnnlab.diagnostics.params import ModelSpec, count_parameters, parameter_breakdown
from rnnlab.errors import RnnlabError

# fp16 is CPU autocast's other 2-byte type; rnnlab's trainers offer fp32 and bf16 only.
PRECISIONS = ("fp32", "bf16", "fp16")
OPTIMIZERS = ("adam", "adamw", "sgd-momentum", "sgd", "none")


def adam_step_temporaries(spec: ModelSpec) -> int:
    """PyTorch's single-tensor Adam (the CPU default) computes, per parameter tensor,
    sqrt(exp_avg_sq) and its scaled copy; the previous tensor's `denom` is still referenced
    while the next one is made. Peak: max over consecutive tensors of 2·n_i + n_(i-1).
    (Fused AdamW, which rnnlab's trainers use via make_adamw, makes none of these.)"""
    sizes = [tensor.count for tensor in parameter_breakdown(spec)]
    worst = max(2 * n + (sizes[i - 1] if i else 0) for i, n in enumerate(sizes))
    return 4 * worst


def _autocast_weight_bytes(spec: ModelSpec) -> int:
    """2 bytes per parameter a matmul uses (recurrent, pooling and head weights and biases;
    not the embedding lookup, not layer norm): autocast's cached copies."""
    total = sum(t.count for t in parameter_breakdown(spec)
                if t.component in ("recurrent", "head", "pooling"))
    if spec.head == "lm" and spec.tie_weights:
        total += spec.vocab_size * spec.hidden_size   # the tied head still casts the matrix
    return 2 * total


def estimate_training_memory(spec: ModelSpec, batch_size: int, seq_len: int,
                             precision: str = "fp32", optimizer: str = "adam") -> MemoryEstimate:
    """The memory of one training step of `build_model(spec)` (see the module docstring)."""
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RnnlabError(f"{name} must be a positive integer, got {value!r}")
    if precision not in PRECISIONS:
        raise RnnlabError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if optimizer not in OPTIMIZERS:
        raise RnnlabError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    params = count_parameters(spec)
    tensors = len(parameter_breakdown(spec))
    items = [MemoryItem("parameters", "fp32 weights", 4 * params, "4·P"),
             MemoryItem("gradients", "fp32 gradients", 4 * params, "4·P")]
    step_temporaries = 0
    if optimizer in ("adam", "adamw"):
        items.append(MemoryItem("optimizer", f"{optimizer}: exp_avg, exp_avg_sq, step",
                                8 * params + 4 * tensors, "8·P + 4 per tensor"))
        step_temporaries = adam_step_temporaries(spec)
    elif optimizer == "sgd-momentum":
        items.append(MemoryItem("optimizer", "sgd: momentum buffer", 4 * params, "4·P"))
    if precision != "fp32":
        items.append(MemoryItem("autocast", f"{precision} copies of matmul weights",
                                _autocast_weight_bytes(spec), "2 per weight or bias entry"))
    model = activation_model(spec, batch_size, seq_len, precision)
    items += model.items
    notes = []
    if precision != "fp32" and spec.cell == "lstm":
        notes.append("LSTM under CPU autocast runs oneDNN's bf16 kernel (needs AVX512-BF16 or "
                     "AMX); its saved tensors follow oneDNN's layout and were not measured "
                     "on a machine without that support")
    return MemoryEstimate(spec, batch_size, seq_len, precision, optimizer, items,
                          model.forward_peak, model.backward_extra, model.backward_end,
                          step_temporaries, notes)
