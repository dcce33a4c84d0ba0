"""Jacobians of the recurrent state along a real trajectory.

For one sequence and one layer, J_t = ∂s_t/∂s_{t-1} is the step Jacobian of the layer's state
(its input x_t, which is the embedding or the layer below, held at its trajectory value). The
state s is h for RNN and GRU cells and the concatenation (h, c) for an LSTM: the cell state is
the LSTM's main gradient path, so a Jacobian of h alone would not chain. S = H, or 2H for LSTM.

    closed form (tanh/relu/linear RNN):   J_t = diag(f'(a_t)) W_hh,
                                           a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    autograd (LSTM, GRU, or on request):   torch.func.jacrev of one cell step

Backpropagated k steps, a gradient is multiplied by the transpose of
P_k = ∂s_T/∂s_{T-k} = J_T J_{T-1} ⋯ J_{T-k+1}, so ‖P_k‖_2 (its spectral norm, the largest
factor any gradient direction can get) against k shows vanishing or explosion directly. P_k is
accumulated in float64 and renormalised every step, its scale kept as a logarithm, so norms
like 1e-200 are reported without underflow.

The spectral radius ρ(W_hh) (largest |eigenvalue|) is reported per H×H gate block: for a linear
RNN ‖P_k‖^(1/k) → ρ as k grows; a tanh RNN can only shrink it further (|tanh'| <= 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rnnlab.diagnostics.gradflow import (
    LayerWeights,
    RecurrentStack,
    cell_step,
    gate_names,
    has_cell_state,
    hidden_of,
    rnn_preactivation,
)
from rnnlab.errors import RnnlabError

CLOSED_FORM_CELLS = ("rnn_tanh", "rnn_relu", "rnn_linear")
METHODS = ("auto", "closed", "autograd")


def state_size(cell: str, hidden: int) -> int:
    return 2 * hidden if has_cell_state(cell) else hidden


def flatten_state(cell: str, state) -> torch.Tensor:
    """(B, S): an (h, c) pair side by side (LSTM-like cells); other cells' h unchanged."""
    return torch.cat(state, dim=-1) if has_cell_state(cell) else state


def unflatten_state(cell: str, flat: torch.Tensor, hidden: int):
    return (flat[..., :hidden], flat[..., hidden:]) if has_cell_state(cell) else flat


# ----------------------------------------------------------------------------------------------
# One step's Jacobian


def closed_form_step_jacobian(cell: str, weights: LayerWeights, x: torch.Tensor,
                              h_prev: torch.Tensor) -> torch.Tensor:
    """diag(f'(a_t)) W_hh (H, H) for an Elman RNN; x (I,), h_prev (H,) of one sequence."""
    if cell not in CLOSED_FORM_CELLS:
        raise RnnlabError(f"the closed-form Jacobian is for {', '.join(CLOSED_FORM_CELLS)}; "
                          f"use autograd for {cell!r}")
    a = rnn_preactivation(weights, x[None], h_prev[None])[0]            # (H,)
    if cell == "rnn_tanh":
        slope = 1 - torch.tanh(a) ** 2
    elif cell == "rnn_relu":
        slope = (a > 0).to(a.dtype)  # relu'(0) taken as 0, as autograd does
    else:
        slope = torch.ones_like(a)
    return slope[:, None] * weights.weight_hh.detach()


def autograd_step_jacobian(cell: str, weights: LayerWeights, x: torch.Tensor,
                           s_prev: torch.Tensor) -> torch.Tensor:
    """∂s_t/∂s_{t-1} (S, S) by reverse-mode autograd; x (I,), s_prev (S,) of one sequence."""
    frozen = weights.detached()
    hidden = frozen.weight_hh.shape[1]

    def step(s: torch.Tensor) -> torch.Tensor:
        nxt = cell_step(cell, frozen, x[None], unflatten_state(cell, s[None], hidden))
        return flatten_state(cell, nxt)[0]

    return torch.func.jacrev(step)(s_prev)


# ----------------------------------------------------------------------------------------------
# Along a trajectory


def trajectory_jacobians(stack: RecurrentStack, inputs: torch.Tensor, layer: int = 0,
                         method: str = "auto") -> torch.Tensor:
    """J_t for t = 1..T of one layer along inputs (T, I) of one sequence: (T, S, S).

    The initial state is zero; jacobians[t] is ∂s_{t+1}/∂s_t in 0-based indexing.
    """
    if method not in METHODS:
        raise RnnlabError(f"unknown Jacobian method {method!r}; choose one of {', '.join(METHODS)}")
    if not -stack.num_layers <= layer < stack.num_layers:
        raise RnnlabError(f"layer {layer} does not exist; the stack has {stack.num_layers} layers")
    layer = layer % stack.num_layers
    use_closed = method == "closed" or (method == "auto" and stack.cell in CLOSED_FORM_CELLS)
    if inputs.dim() != 2:
        raise RnnlabError(f"inputs of one sequence must be (T, I), got {tuple(inputs.shape)}")
    with torch.no_grad():
        states = stack.unroll(inputs[None].detach())
    weights = stack.layers[layer].detached()
    layer_inputs = (inputs.detach() if layer == 0
                    else torch.stack([hidden_of(s)[0] for s in states[layer - 1]]))  # (T, I_l)
    hidden = stack.hidden_size
    previous = [torch.zeros(state_size(stack.cell, hidden), dtype=inputs.dtype)]
    previous += [flatten_state(stack.cell, s)[0] for s in states[layer][:-1]]
    jacobians = []
    for x, s_prev in zip(layer_inputs, previous):
        if use_closed:
            jacobians.append(closed_form_step_jacobian(stack.cell, weights, x, s_prev))
        else:
            jacobians.append(autograd_step_jacobian(stack.cell, weights, x, s_prev))
    return torch.stack(jacobians)


def product_log10_norms(jacobians: torch.Tensor) -> np.ndarray:
    """(T+1,) log10 ‖J_T ⋯ J_{T-k+1}‖_2 for k = 0..T (k = 0: the identity, norm 1).

    -inf once the product is exactly zero (e.g. every relu unit off at some step).
    """
    steps, size, _ = jacobians.shape
    product = torch.eye(size, dtype=torch.float64)
    log_scale = 0.0
    out = [0.0]
    for k in range(1, steps + 1):
        product = product @ jacobians[steps - k].to(torch.float64)
        norm = float(spectral_norms(product))
        if norm == 0.0 or not math.isfinite(norm):
            out += [-math.inf if norm == 0.0 else math.nan] * (steps + 1 - len(out))
            break
        log_scale += math.log(norm)
        product = product / norm  # keep the matrix at norm 1; the scale lives in log_scale
        out.append(log_scale / math.log(10))
    return np.array(out)


def spectral_norms(matrices: torch.Tensor) -> torch.Tensor:
    """Largest singular value of each matrix in (..., S, S): sqrt of λ_max(M Mᵀ).

    Only the top of the spectrum is needed, and a symmetric eigenvalue solve on the Gram matrix
    gives it to float64 precision at a fraction of the cost of an SVD (timing: see
    BENCHMARKS.md, section "Jacobian diagnostics: spectral norm"; an LSTM with H = 512 has
    S = 1024).
    """
    matrices = matrices.to(torch.float64)
    gram = matrices @ matrices.mT
    return torch.linalg.eigvalsh(gram)[..., -1].clamp(min=0.0).sqrt()


def step_sigma_max(jacobians: torch.Tensor) -> np.ndarray:
    """(T,) largest singular value of each step's Jacobian."""
    return spectral_norms(jacobians).numpy()


def spectral_radius(matrix: torch.Tensor | np.ndarray) -> float:
    """max |λ| over the eigenvalues of a square matrix."""
    matrix = torch.as_tensor(matrix, dtype=torch.float64)
    if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise RnnlabError(f"spectral radius needs a square matrix, got shape {tuple(matrix.shape)}")
    return float(torch.linalg.eigvals(matrix).abs().max())


def gate_spectral_radii(cell: str, weight_hh: torch.Tensor) -> dict[str, float]:
    """ρ of each H×H gate block of W_hh, named by the cell (one block, "W_hh", for an Elman
    RNN; i, f, g, o for LSTM; r, z, n for GRU)."""
    names = gate_names(cell)
    blocks = weight_hh.detach().chunk(len(names), dim=0)
    return {name: spectral_radius(block) for name, block in zip(names, blocks)}


@dataclass
class LayerJacobians:
    layer: int                          # 0-based
    sigma_max: np.ndarray               # (T,) σ_max(J_t)
    product_log10: np.ndarray           # (T+1,) log10 ‖∂s_T/∂s_{T-k}‖_2, k = 0..T
    spectral_radii: dict[str, float]    # ρ per gate block of W_hh
    per_step_factor: float | None       # 10^(least-squares slope of product_log10 against k)

    def summary(self) -> str:
        radii = ", ".join(f"ρ({name})={value:.3f}" for name, value in self.spectral_radii.items())
        steps = len(self.sigma_max)
        final = self.product_log10[-1]
        factor = "n/a" if self.per_step_factor is None else f"{self.per_step_factor:.4g}"
        return (f"layer {self.layer + 1}: ‖∂s_T/∂s_(T-{steps})‖ = 10^{final:.1f}, fitted factor "
                f"{factor} per step; σ_max(J_t) median {np.median(self.sigma_max):.3f}, max "
                f"{self.sigma_max.max():.3f}; {radii}")


def fitted_log10_slope(product_log10: np.ndarray) -> float | None:
    finite = np.isfinite(product_log10)
    if finite.sum() < 2:
        return None
    k = np.arange(len(product_log10))[finite]
    return float(10 ** np.polyfit(k, product_log10[finite], 1)[0])


def analyse_layer(stack: RecurrentStack, inputs: torch.Tensor, layer: int,
                  method: str = "auto") -> LayerJacobians:
    """All Jacobian diagnostics of one layer along inputs (T, I) of one sequence."""
    jacobians = trajectory_jacobians(stack, inputs, layer, method)
    layer = layer % stack.num_layers
    logs = product_log10_norms(jacobians)
    return LayerJacobians(layer, step_sigma_max(jacobians), logs,
                          gate_spectral_radii(stack.cell, stack.layers[layer].weight_hh),
                          fitted_log10_slope(logs))


def format_table(layers: list[LayerJacobians], max_rows: int = 40) -> str:
    """log10 ‖∂s_T/∂s_(T-k)‖ and σ_max(J_(T-k+1)) for k steps back, one column pair per layer."""
    from rnnlab.diagnostics.gradflow import select_rows

    steps = len(layers[0].sigma_max)
    header = [f"{'k':>5}"]
    for item in layers:
        header += [f"{f'L{item.layer + 1} log10‖P‖':>14}", f"{f'L{item.layer + 1} σmax(J)':>13}"]
    lines = ["k = steps back from T; P = ∂s_T/∂s_(T-k) (spectral norm); σmax(J) = largest "
             "singular value of the k-th step Jacobian back (J_(T-k+1))", "  ".join(header)]
    for k in select_rows(steps + 1, max_rows):
        cells = [f"{k:>5}"]
        for item in layers:
            sigma = f"{item.sigma_max[steps - k]:>13.4f}" if k >= 1 else f"{'':>13}"
            cells += [f"{item.product_log10[k]:>14.3f}", sigma]
        lines.append("  ".join(cells))
    return "\n".join(lines)
