"""minLSTM (Feng et al. 2024): an LSTM whose gates and candidate read the input alone, with the
forget and input gates normalised to sum to one and no output gate or cell state.

    k_t = W_ih x_t + b_ih, split into k_f, k_i, k_h (H rows each; W_ih is (3H, D))
    f_t = σ(k_f),  i_t = σ(k_i),  h̃_t = g(k_h)          (g as in minimal.py, positive)
    f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)
    h_t = f'_t ⊙ h_(t-1) + i'_t ⊙ h̃_t

Computed without the division: f / (f + i) = σ(log f − log i), so with
d = log σ(k_f) − log σ(k_i) the recurrence is h_t = a ⊙ h_(t-1) + b with a = σ(d),
b = (1 − a) ⊙ g(k_h). (In float32 σ(k) is 0 for k below about −104, and f/(f + i) would be 0/0;
d stays finite.) In log space: log a = log σ(d), log b = log σ(−d) + log g(k_h).
3·H·(D + 1) parameters per layer and direction.

`minlstm_step` is the one-step form; whole sequences run in parallel over time
(scanlayer.ScanRNN). Registered as "minlstm"; torch-free at import.
"""

from __future__ import annotations

from rnnlab.nn.cells.minimal import (
    INPUT_ONLY_WEIGHTS,
    build_layer,
    input_projection,
    log_positive_candidate,
    positive_candidate,
)
from rnnlab.nn.cells.registry import CellSpec, register_cell


def _forget_logit(k_f, k_i):
    """d = log f − log i, so f' = σ(d) and i' = σ(−d)."""
    from torch.nn.functional import logsigmoid

    return logsigmoid(k_f) - logsigmoid(k_i)


def minlstm_coefficients(k):
    """k (…, 3H) -> (a, b), each (…, H): h_t = a ⊙ h_(t-1) + b."""
    k_f, k_i, k_h = k.chunk(3, dim=-1)
    keep = _forget_logit(k_f, k_i).sigmoid()                    # f / (f + i)
    return keep, (1 - keep) * positive_candidate(k_h)


def minlstm_log_coefficients(k):
    """k (…, 3H) -> (log a, log b), each (…, H), for the log-space scan."""
    from torch.nn.functional import logsigmoid

    k_f, k_i, k_h = k.chunk(3, dim=-1)
    d = _forget_logit(k_f, k_i)
    return logsigmoid(d), logsigmoid(-d) + log_positive_candidate(k_h)


def minlstm_step(x, h, c, w_ih, b_ih):
    """One step: x (B, D), h (B, H) -> (h' (B, H), None)."""
    a, b = minlstm_coefficients(input_projection(x, h, w_ih, b_ih))
    return b.addcmul(a, h), None


MINLSTM = register_cell(CellSpec(
    "minlstm", gates=3, has_cell_state=False, step=minlstm_step,
    make_layer=build_layer("minlstm", minlstm_coefficients, minlstm_log_coefficients),
    description="minLSTM (Feng et al. 2024): normalised forget/input gates from x alone, "
                "trained by a parallel scan",
    gate_names=("f", "i", "candidate"), weights=INPUT_ONLY_WEIGHTS))
