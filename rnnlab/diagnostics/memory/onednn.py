"""oneDNN's LSTM on the CPU: the workspace it keeps for backward and its transient buffers.

nn.LSTM runs oneDNN's fused kernel on the CPU. Per layer and direction its workspace follows
oneDNN's layout (rnn_utils: every part starts on a 4096-byte page; leading dimensions are padded
to 64 bytes, and past any multiple of 256 elements):
    gates        T·B·ld(4H)·g        ht           T·B·ld(H)·s
    states       2·(T+1)·B·ld(max(I, H))·s        c states     2·(T+1)·B·H·4
    diff states  2 × 2·(T+1)·B·ld(max(I, H))·4    diff c       2·(T+1)·B·H·4
with s = g = 4 bytes in fp32 (2 in bf16). It is about 15·T·B·H·4 bytes per layer and direction
for H ≥ I: several times what the other cells keep.
"""

from __future__ import annotations

PAGE = 4096


def _good_ld(dim: int, itemsize: int) -> int:
    """oneDNN's leading dimension: a multiple of 64 bytes, bumped off multiples of 256."""
    step = 64 // itemsize
    ld = -(-dim // step) * step
    return ld + step if ld % 256 == 0 else ld


def _pages(nbytes: int) -> int:
    return -(-nbytes // PAGE) * PAGE


def onednn_lstm_workspace_bytes(batch: int, seq_len: int, input_size: int, hidden_size: int,
                                low_precision: bool = False) -> int:
    """Bytes of the workspace one oneDNN LSTM layer (one direction) keeps for backward.

    Verified byte-exact against torch 2.x on the CPU in fp32; the bf16 layout (2-byte states and
    gates, fp32 cell state and diff states) follows oneDNN's source.
    """
    s = 2 if low_precision else 4        # states, gates, ht
    acc = 4                              # diff states accumulate in fp32
    b, t, h = batch, seq_len, hidden_size
    wide = max(input_size, hidden_size)
    parts = [
        t * b * _good_ld(4 * h, s) * s,                  # gates
        t * b * _good_ld(h, s) * s,                      # ht
        2 * (t + 1) * b * _good_ld(wide, s) * s,         # states (layer = iter)
        2 * (t + 1) * b * h * 4,                         # c states
        2 * (t + 1) * b * _good_ld(wide, acc) * acc,     # diff states layer
        2 * (t + 1) * b * _good_ld(wide, acc) * acc,     # diff states iter
        2 * (t + 1) * b * h * acc,                       # diff c states
    ]
    return sum(_pages(p) for p in parts)


def forward_scratch_bytes(batch: int, seq_len: int, input_size: int, hidden_size: int,
                          itemsize: int) -> int:
    """Transient bytes inside one oneDNN LSTM forward call: the gate scratchpad and the weights
    reordered into oneDNN's layout (measured to within ~10%)."""
    gates = seq_len * batch * _good_ld(4 * hidden_size, 4) * 4       # (T, B, ld(4H)), fp32
    return gates + 4 * hidden_size * (input_size + hidden_size) * itemsize


def backward_scratch_bytes(batch: int, seq_len: int, input_size: int, hidden_size: int) -> int:
    """Transient bytes of one oneDNN LSTM backward call: the gate scratchpad, the input gradient
    (T, B, I), the weight gradients plus two reordered weight copies, the state gradients."""
    gates = seq_len * batch * _good_ld(4 * hidden_size, 4) * 4
    weights = 3 * 4 * hidden_size * (input_size + hidden_size) * 4
    return gates + seq_len * batch * input_size * 4 + weights + 4 * batch * hidden_size * 4
