"""Linear recurrences h_t = a_t ⊙ h_(t-1) + b_t over a whole sequence, three ways.

minGRU and minLSTM (mingru.py, minlstm.py) compute their gates from the input alone, so once
the input projection of every step is known (one matrix product), what remains is this
element-wise linear recurrence. Each channel of each row is an independent scalar recurrence,
and composing two steps is again such a step, (a2, b2) ∘ (a1, b1) = (a2·a1, a2·b1 + b2), which
is what lets it run in parallel over time.

    a, b (B, T, H), h0 (B, H)  ──►  h (B, T, H), h[:, t] = a[:, t] ⊙ h[:, t-1] + b[:, t]
    reverse=True runs from t = T-1 down to 0 (h[:, t] reads h[:, t+1]), for a backward direction.

* `chunked_scan` (the one the layers use): the blocked scan. Time is cut into N chunks of C ≈ √T
  steps. (1) Inside every chunk at once, a scan from a zero state, and the running product of
  the a's: C steps on (B, N, H) tensors. (2) The chunks' starting states, one after another:
  N steps on (B, H). (3) h = local + decay ⊙ start, one pass. That is C + N ≈ 2√T small loop
  steps instead of T, and the arithmetic is that of the plain recurrence (multiplications by
  a ∈ [0, 1] and additions, no division, no logarithm), so it is as accurate as the sequential
  loop at any length and cannot overflow. The backward pass is the same scan run the other way
  (a custom autograd function, below), so autograd records one node, not T.
* `log_scan`: Heinsen (2023), "Efficient parallelization of a ubiquitous sequential
  computation": h_t = exp(a*_t) h0 + exp(a*_t + logcumsumexp_(s≤t)(log b_s − a*_s)),
  a*_t = Σ_(s≤t) log a_s. A handful of whole-tensor operations, no Python loop; it needs
  b > 0 (both cells make their candidate positive for this, see mingru.py) and takes h0 apart so
  h0 may have any sign. Its rounding error grows with |a*_t| (the two large terms cancel):
  about ε·|Σ log a| relative, which in float32 over thousands of steps with small a is ~1e-2.
* `sequential_scan`: the plain loop, the reference (and the one-step form the cells' `step` is).

Which one the layers run was chosen by measurement (docs/parallel-scan.md, BENCHMARKS.md,
"Parallel-scan cells"): on 2 CPU cores the chunked scan was faster than the log-space scan at
every length measured, and it is exact where the log-space one loses digits.
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

SCANS = ("chunked", "log", "sequential")


def chunk_size(length: int) -> int:
    """C ≈ √T, which balances the C steps inside the chunks against the N = ⌈T/C⌉ steps across
    them; a divisor of T within a factor 2 of √T when there is one (no padding)."""
    root = math.isqrt(max(length - 1, 0)) + 1                      # ⌈√T⌉
    for offset in range(root):
        for size in (root - offset, root + offset):
            if 2 * size >= root and size <= 2 * root and length % size == 0:
                return size
    return root


def _order(size: int, reverse: bool) -> range:
    return range(size - 1, -1, -1) if reverse else range(size)


def _scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor, reverse: bool) -> torch.Tensor:
    """The blocked scan, no autograd: a, b (B, T, H), h0 (B, H) -> h (B, T, H).

    Seen as (B, N, C, H) (chunk n, step i inside it), three loops of whole-tensor operations:
    (1) inside every chunk at once, from a zero state: the state leaving each chunk, s, and the
        product of its a's, p (C steps on (B, N, H));
    (2) the state entering each chunk, chunk after chunk: start_(n+1) = s_n + p_n ⊙ start_n
        (N steps on (B, H));
    (3) the recurrence again inside every chunk at once, now from its true start, written
        straight into the output (C steps on (B, N, H)).
    """
    batch, length, hidden = b.shape
    size = chunk_size(length)
    chunks = -(-length // size)
    pad = chunks * size - length
    a, b = a.contiguous(), b.contiguous()
    if pad:
        # Padded steps (a = 1, b = 0) keep the state; forward they come after the sequence,
        # reverse before it (at its end), so they never touch a real step.
        a = torch.cat([a, a.new_ones(batch, pad, hidden)], dim=1)
        b = torch.cat([b, b.new_zeros(batch, pad, hidden)], dim=1)
    a4 = a.view(batch, chunks, size, hidden)
    b4 = b.view(batch, chunks, size, hidden)
    steps = _order(size, reverse)
    leaving = b4[:, :, steps[0]]                      # (B, N, H)
    product = a4[:, :, steps[0]]
    for i in steps[1:]:
        leaving = torch.addcmul(b4[:, :, i], a4[:, :, i], leaving)
        product = product * a4[:, :, i]
    starts = torch.empty(batch, chunks, hidden, dtype=b.dtype, device=b.device)
    state = h0
    for n in _order(chunks, reverse):
        starts[:, n] = state
        state = torch.addcmul(leaving[:, n], product[:, n], state)
    h = torch.empty_like(b4)                          # (B, N, C, H)
    previous = starts
    for i in steps:
        torch.addcmul(b4[:, :, i], a4[:, :, i], previous, out=h[:, :, i])
        previous = h[:, :, i]
    return h.view(batch, chunks * size, hidden)[:, :length]


def _check(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> None:
    if a.shape != b.shape or a.dim() != 3 or h0.shape != (b.shape[0], b.shape[2]):
        raise ValueError(f"scan expects a and b (B, T, H) and h0 (B, H), got {tuple(a.shape)}, "
                         f"{tuple(b.shape)}, {tuple(h0.shape)}")


class _ChunkedScan(torch.autograd.Function):
    """(h, h_final) = scan(a, b, h0), h_final the state after the last step (h[:, -1], or h[:, 0]
    for reverse=True) as a tensor of its own, so that carrying it on costs no (B, T, H) gradient.

    Backward by the adjoint recurrence, itself a linear scan. With g_t = ∂L/∂h_t (direct),
    λ_t = ∂L/∂h_t (total) and μ_t = a_t λ_t (what reaches h_(t-1)), and μ_(T+1) = ∂L/∂h_final:

        μ_t = a_t ⊙ μ_(t+1) + a_t ⊙ g_t     (a scan the other way, on the same a, from μ_(T+1))
        λ_t = g_t + μ_(t+1)   ∂L/∂b_t = λ_t   ∂L/∂a_t = λ_t ⊙ h_(t-1)   ∂L/∂h0 = μ_1
    (for reverse=True read t+1 as t-1, h_(t-1) as h_(t+1), μ_1 as μ_T and μ_(T+1) as μ_0)."""

    @staticmethod
    def forward(ctx, a, b, h0, reverse):
        h = _scan(a, b, h0, reverse)
        ctx.save_for_backward(a, h0, h)
        ctx.reverse = reverse
        return h, (h[:, 0] if reverse else h[:, -1]).clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_h, grad_final):
        a, h0, h = ctx.saved_tensors
        reverse = ctx.reverse
        if grad_h is None:
            grad_h = torch.zeros_like(h)
        if grad_final is None:
            grad_final = torch.zeros_like(h0)
        mu = _scan(a, a * grad_h, grad_final, not reverse)
        lam = grad_h.clone()
        grad_a = torch.empty_like(a)
        if reverse:       # the state h_t came from h_(t+1); h0 enters at T-1
            lam[:, 1:] += mu[:, :-1]
            lam[:, 0] += grad_final
            torch.mul(lam[:, :-1], h[:, 1:], out=grad_a[:, :-1])
            torch.mul(lam[:, -1], h0, out=grad_a[:, -1])
            grad_h0 = mu[:, -1]
        else:             # h_t came from h_(t-1); h0 enters at 0
            lam[:, :-1] += mu[:, 1:]
            lam[:, -1] += grad_final
            torch.mul(lam[:, 1:], h[:, :-1], out=grad_a[:, 1:])
            torch.mul(lam[:, 0], h0, out=grad_a[:, 0])
            grad_h0 = mu[:, 0]
        return grad_a, lam, grad_h0, None


def chunked_scan_with_final(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor,
                            reverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The blocked scan with its own backward pass (module docstring): (h (B, T, H), the state
    after the last step (B, H))."""
    _check(a, b, h0)
    return _ChunkedScan.apply(a, b, h0, reverse)


def chunked_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor,
                 reverse: bool = False) -> torch.Tensor:
    """The blocked scan with its own backward pass (see the module docstring)."""
    return chunked_scan_with_final(a, b, h0, reverse)[0]


def log_scan(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor,
             reverse: bool = False) -> torch.Tensor:
    """Heinsen's log-space scan on log a, log b (B, T, H) (b > 0); h0 (B, H) of any sign.
    Differentiated by autograd."""
    _check(log_a, log_b, h0)
    if reverse:
        return log_scan(log_a.flip(1), log_b.flip(1), h0).flip(1)
    a_star = log_a.cumsum(dim=1)                                       # log Π_(s≤t) a_s
    from_inputs = (a_star + torch.logcumsumexp(log_b - a_star, dim=1)).exp()
    return a_star.exp() * h0.unsqueeze(1) + from_inputs


def sequential_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor,
                    reverse: bool = False) -> torch.Tensor:
    """The plain loop, one step at a time (autograd records every step)."""
    _check(a, b, h0)
    steps = range(a.shape[1] - 1, -1, -1) if reverse else range(a.shape[1])
    outputs = [None] * a.shape[1]
    state = h0
    for t in steps:
        state = torch.addcmul(b[:, t], a[:, t], state)
        outputs[t] = state
    return torch.stack(outputs, dim=1)
