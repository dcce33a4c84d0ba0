"""What minGRU and minLSTM share (Feng et al. 2024, "Were RNNs All We Needed?").

Both cells compute their gates and their candidate state from the input x_t alone, and mix the
previous state in element-wise:

    k_t = W_ih x_t + b_ih                     (G·H rows; no W_hh, no second bias)
    h_t = a_t ⊙ h_(t-1) + b_t,  a_t, b_t functions of k_t only

so a whole sequence is one matrix product and a linear recurrence, solved by a scan
(scan.py, scanlayer.py) instead of a loop of matrix products.

The candidate is g(·) of its projection, with g(x) = x + ½ for x ≥ 0 and σ(x) below: the
paper's choice for its log-space version, which needs b_t > 0 (continuous, increasing, always
positive). rnnlab uses it in every form (step, chunked scan, log-space scan), so the forms are
one cell and the choice of scan is only a matter of speed and rounding.

Torch-free at import, like the registry: tensor methods only, torch.nn.functional imported
when a formula runs.
"""

from __future__ import annotations

from rnnlab.nn.cells.registry import CellWeight

# One layer in one direction holds an input matrix and one bias: G·H·(D + 1) parameters.
INPUT_ONLY_WEIGHTS = (CellWeight("weight_ih", ("GH", "D")), CellWeight("bias_ih", ("GH",)))


def positive_candidate(x):
    """g(x) = x + ½ (x ≥ 0), σ(x) (x < 0): positive, continuous, increasing."""
    return (x + 0.5).where(x >= 0, x.sigmoid())


def log_positive_candidate(x):
    """log g(x), computed without taking the log of anything below ½ or of a σ."""
    from torch.nn.functional import logsigmoid

    return (x.relu() + 0.5).log().where(x >= 0, logsigmoid(x))


def input_projection(x, h, w_ih, b_ih):
    """k = W_ih x + b_ih for one step, x (B, D) -> (B, G·H), in the state's dtype (fp32 under
    bf16 autocast, so the recurrence never runs in 2-byte floats)."""
    k = b_ih.addmm(x, w_ih.t())
    return k if k.dtype == h.dtype else k.to(h.dtype)


def build_layer(spec_name: str, coefficients, log_coefficients):
    """The registry's make_layer for a parallel-scan cell: a ScanRNN (imports torch)."""
    def make(input_size: int, hidden_size: int, num_layers: int, dropout: float,
             bidirectional: bool):
        from rnnlab.nn.cells.registry import get_cell
        from rnnlab.nn.cells.scanlayer import ScanRNN

        return ScanRNN(get_cell(spec_name), coefficients, log_coefficients, input_size,
                       hidden_size, num_layers, dropout, bidirectional)
    return make
