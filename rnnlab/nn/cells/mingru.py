"""minGRU (Feng et al. 2024): a GRU whose update gate and candidate read the input alone.

    k_t = W_ih x_t + b_ih, split into k_z, k_h (H rows each; W_ih is (2H, D))
    z_t = σ(k_z)                   the update gate
    h̃_t = g(k_h)                   the candidate, g as in minimal.py (positive)
    h_t = (1 − z_t) ⊙ h_(t-1) + z_t ⊙ h̃_t

i.e. the linear recurrence h_t = a_t ⊙ h_(t-1) + b_t with a = 1 − z and b = z ⊙ g(k_h); in log
space (Heinsen's scan) log a = log σ(−k_z), log b = log σ(k_z) + log g(k_h). (1 − z rather than
σ(−k_z): one pass over the (B, T, H) gates fewer, measured ~7% of a training step; it differs
only where z rounds to 1, k_z > ~17 in float32, where a is below 1e-7 and h_t = b_t either way.) No reset gate and no W_hh: 2·H·(D + 1) parameters
per layer and direction against nn.GRU's 3·H·(D + H + 2).

`mingru_step` is the one-step form (sampling, `RecurrentEncoder.step`); whole sequences run in
parallel over time (scanlayer.ScanRNN). Registered as "mingru"; torch-free at import.
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


def mingru_coefficients(k):
    """k (…, 2H) -> (a, b), each (…, H): h_t = a ⊙ h_(t-1) + b."""
    k_z, k_h = k.chunk(2, dim=-1)
    z = k_z.sigmoid()
    return 1 - z, z * positive_candidate(k_h)


def mingru_log_coefficients(k):
    """k (…, 2H) -> (log a, log b), each (…, H), for the log-space scan."""
    from torch.nn.functional import logsigmoid

    k_z, k_h = k.chunk(2, dim=-1)
    return logsigmoid(-k_z), logsigmoid(k_z) + log_positive_candidate(k_h)


def mingru_step(x, h, c, w_ih, b_ih):
    """One step: x (B, D), h (B, H) -> (h' (B, H), None)."""
    a, b = mingru_coefficients(input_projection(x, h, w_ih, b_ih))
    return b.addcmul(a, h), None


MINGRU = register_cell(CellSpec(
    "mingru", gates=2, has_cell_state=False, step=mingru_step,
    make_layer=build_layer("mingru", mingru_coefficients, mingru_log_coefficients),
    description="minGRU (Feng et al. 2024): gates from x alone, trained by a parallel scan",
    gate_names=("z", "candidate"), weights=INPUT_ONLY_WEIGHTS))
