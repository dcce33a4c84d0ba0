"""A GRU over whole, unpadded sequences with a hand-written backward pass: the same numbers as
`nn.GRU`, fewer operations per time step.

Why
---
On a CPU, `nn.GRU` in fp32 runs a loop of small operations (there is no oneDNN GRU; LSTM has
one), and autograd records each of them, so the backward pass replays ~20 small kernels per time
step and layer. With few batch rows per step (e.g. batch 32, hidden 256) each kernel touches
only ~25 k numbers and dispatch overhead is a large share of a step.

This module keeps the arithmetic and cuts the kernels:

* the input projections of all time steps are one GEMM before the loop (as cuDNN does);
* the forward loop is 7 kernels per step and records nothing for autograd;
* the backward loop is 4 kernels per step: everything that does not depend on the incoming
  gradient is computed for all steps at once before the loop, and the weight gradient is one
  GEMM over all (T·B) rows after it.

Timed against nn.GRU it is faster only with few batch rows per step, and the same speed where
both are bound by the matrix products (see BENCHMARKS.md, section "Char-LM defaults: 80-s
trials"). So it is opt-in: the cell "gru_fused" (registered in builtin.py) builds `FusedGRU`,
an nn.GRU that runs this kernel where it applies; "gru" stays plain nn.GRU.

The GRU (PyTorch's layout and gate order r, z, n; W_hh is (3H, H), b_hh is (3H,)):

    gi_t = W_ih x_t + b_ih                      (all t at once, outside the loop)
    gh_t = W_hh h_{t-1} + b_hh
    r_t  = σ(gi_r + gh_r)      z_t = σ(gi_z + gh_z)
    n_t  = tanh(gi_n + r_t ⊙ gh_n)
    h_t  = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}

Backward, with δ_t = ∂L/∂h_t (the output's gradient plus what flows back from step t+1):

    ∂/∂(pre-tanh n) = δ ⊙ a,   a = (1 − z)(1 − n²)
    ∂/∂(pre-σ z)    = δ ⊙ b,   b = (h_{t-1} − n) z (1 − z)
    ∂/∂(pre-σ r)    = δ ⊙ a ⊙ c,   c = gh_n r (1 − r)
    ∂/∂gh_t = δ ⊙ [a c, b, a r] =: δ ⊙ K_t      ∂/∂gi_t = δ ⊙ [a c, b, a]
    δ_{t-1} = (output gradient at t-1) + δ_t ⊙ z_t + (∂/∂gh_t) W_hh

so the loop needs K_t and z_t (precomputed for all t) and one GEMM per step. Tests compare every
output and gradient with `nn.GRU` in float64 (`tests/nn/test_fused_gru.py`).

Shapes: time-major inside (T, B, ·); `fused_gru` takes and returns batch-first tensors like the
`nn.GRU(batch_first=True)` module whose parameters it uses.

`FusedGRU` has exactly nn.GRU's parameters and state-dict keys, so a "gru" checkpoint loads into
"gru_fused" and back.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence


class _GRUSequence(torch.autograd.Function):
    """gi (T, B, 3H), h0 (B, H), w_hh (3H, H), b_hh (3H,) -> hs (T, B, H)."""

    @staticmethod
    def forward(ctx, gi, h0, w_hh, b_hh):
        T, B, three_h = gi.shape
        H = three_h // 3
        # states[0] = h0 and states[1:] the outputs, so backward reads h_{t-1} as states[:-1]
        # without a copy.
        states = gi.new_empty(T + 1, B, H)
        states[0] = h0
        gh = b_hh.expand(T, B, 3 * H).clone()    # b_hh now, + W_hh h_{t-1} in the loop
        rz = gi.new_empty(T, B, 2 * H)           # σ outputs r, z
        n = gi.new_empty(T, B, H)                # tanh outputs
        w_hh_t = w_hh.t()
        pre = gi.new_empty(B, 2 * H)
        diff = gi.new_empty(B, H)
        # Per-step views made once (unbind), not by indexing inside the loop: at these sizes
        # Python-side view creation is a noticeable share of a step.
        gi_rz, gi_n = gi[..., :2 * H].unbind(0), gi[..., 2 * H:].unbind(0)
        gh_t, gh_rz, gh_n = gh.unbind(0), gh[..., :2 * H].unbind(0), gh[..., 2 * H:].unbind(0)
        rz_t, r_t, z_t = rz.unbind(0), rz[..., :H].unbind(0), rz[..., H:].unbind(0)
        n_t, h_t = n.unbind(0), states.unbind(0)
        for t in range(T):
            h = h_t[t]
            gh_t[t].addmm_(h, w_hh_t)                                       # (B, 3H)
            torch.add(gi_rz[t], gh_rz[t], out=pre)
            torch.sigmoid(pre, out=rz_t[t])
            torch.addcmul(gi_n[t], r_t[t], gh_n[t], out=n_t[t])
            torch.tanh(n_t[t], out=n_t[t])
            torch.sub(h, n_t[t], out=diff)
            torch.addcmul(n_t[t], z_t[t], diff, out=h_t[t + 1])            # n + z (h − n)
        ctx.save_for_backward(w_hh, states, rz, n, gh)
        return states[1:]

    @staticmethod
    def backward(ctx, grad_hs):
        w_hh, states, rz, n, gh = ctx.saved_tensors
        T, B, H = n.shape
        r, z = rz[..., :H], rz[..., H:]
        gh_n = gh[..., 2 * H:]
        h_prev = states[:-1]                                                # (T, B, H)
        a = (1 - z) * (1 - n * n)
        b = (h_prev - n) * z * (1 - z)
        c = gh_n * r * (1 - r)
        K = torch.stack([a * c, b, a * r], dim=2)                           # (T, B, 3, H)
        d_gh = torch.empty_like(K)                                          # (T, B, 3, H)
        delta = torch.empty_like(n)                                         # (T, B, H)
        grad_hs = grad_hs if grad_hs is not None else torch.zeros_like(n)
        carry = torch.zeros_like(n[0])
        grad_t, delta_t, z_t = grad_hs.unbind(0), delta.unbind(0), z.unbind(0)
        K_t = K.unbind(0)
        d_gh_gates = d_gh.unbind(0)                                # (B, 3, H) views, to write
        d_gh_rows = d_gh.view(T, B, 3 * H).unbind(0)               # (B, 3H) views, to multiply
        for t in range(T - 1, -1, -1):
            torch.add(grad_t[t], carry, out=delta_t[t])
            torch.mul(delta_t[t].unsqueeze(1), K_t[t], out=d_gh_gates[t])
            carry = torch.addmm(delta_t[t] * z_t[t], d_gh_rows[t], w_hh)
        d_gh_flat = d_gh.view(T * B, 3 * H)
        grad_w_hh = d_gh_flat.t() @ h_prev.reshape(T * B, H)                # (3H, H)
        grad_b_hh = d_gh_flat.sum(0)
        d_gi = d_gh.clone()
        torch.mul(delta, a, out=d_gi[:, :, 2])                              # ∂gi_n = δ a
        return d_gi.view(T, B, 3 * H), carry, grad_w_hh, grad_b_hh


def fused_gru(gru: nn.GRU, x: torch.Tensor, h0: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `gru` (an `nn.GRU(batch_first=True)`, unidirectional) over x (B, T, E) with the fused
    kernel. Returns (outputs (B, T, H), final state (L, B, H)), as `gru(x, h0)` does; dropout
    between layers follows `gru.dropout` in training mode, as nn.GRU applies it."""
    if not _is_plain_gru(gru):
        raise ValueError("fused_gru supports batch-first, unidirectional nn.GRUs with biases")
    B = x.shape[0]
    if h0 is None:
        h0 = x.new_zeros(gru.num_layers, B, gru.hidden_size)
    layer_input = x.transpose(0, 1)                                         # (T, B, E)
    finals = []
    for layer in range(gru.num_layers):
        w_ih = getattr(gru, f"weight_ih_l{layer}")
        b_ih = getattr(gru, f"bias_ih_l{layer}")
        w_hh = getattr(gru, f"weight_hh_l{layer}")
        b_hh = getattr(gru, f"bias_hh_l{layer}")
        gi = F.linear(layer_input, w_ih, b_ih)                              # (T, B, 3H)
        hs = _GRUSequence.apply(gi.contiguous(), h0[layer], w_hh, b_hh)    # (T, B, H)
        finals.append(hs[-1])
        layer_input = hs
        if gru.dropout and gru.training and layer < gru.num_layers - 1:
            layer_input = F.dropout(layer_input, gru.dropout, training=True)
    return layer_input.transpose(0, 1), torch.stack(finals)


def _is_plain_gru(gru: nn.Module) -> bool:
    """The layouts the kernel implements: nn.GRU, batch-first, one direction, with biases."""
    return (isinstance(gru, nn.GRU) and gru.batch_first and not gru.bidirectional and gru.bias
            and not getattr(gru, "proj_size", 0))


def can_fuse(gru: nn.Module, x: torch.Tensor) -> bool:
    """Whether `fused_gru` applies: a plain GRU (see _is_plain_gru), a float32 or float64 input,
    and no autocast (under autocast nn.GRU chooses its own precision)."""
    return (_is_plain_gru(gru) and x.dtype in (torch.float32, torch.float64)
            and not torch.is_autocast_enabled(x.device.type))


class FusedGRU(nn.GRU):
    """nn.GRU (batch-first) whose forward runs `fused_gru` where `can_fuse` allows: a dense
    (B, T, D) input (a PackedSequence goes to nn.GRU), one direction, float32/64, no autocast.
    Everything else, parameters and state-dict keys included, is nn.GRU's."""

    def forward(self, input, hx=None):
        if not isinstance(input, PackedSequence) and input.dim() == 3 and can_fuse(self, input):
            return fused_gru(self, input, hx)                  # (B, T, H), (L, B, H)
        return super().forward(input, hx)
