"""Section 1.4: backpropagation through time, vanishing/exploding gradients and clipping.

1. Exact BPTT in rnnlab's NumPy engine (`RecurrentNetwork.backward`) for a loss summed over all
   time steps, L = Σ_t L_t, checked against central finite differences (`gradcheck`) for the
   RNN, LSTM and GRU cells.
2. Truncated BPTT (`backward(..., truncate=k)`): the same forward values, a gradient that stops
   after k steps; k = T is exact BPTT.
3. One step's Jacobian ∂h_t/∂h_(t-1), measured by finite differences, against
   diag(tanh'(a_t))·W_hh and against the chapter's W_hhᵀ·diag(tanh'(a_(t-1))).
4. The chapter's one-number model of gradient flow, g_n = (0.4·w)^n, done right
   (`rnnlab.diagnostics.scalar_flow`), and its plot.
5. Gradient clipping by global norm and by value (`rnnlab.reference.clip_grad_norm`,
   `clip_grad_value`).

    python examples/s1_4_bptt_and_gradients.py --out plots/
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from rnnlab.diagnostics import scalar_flow
from rnnlab.diagnostics.plots import plot_scalar_flow
from rnnlab.reference import (RecurrentNetwork, clip_grad_norm, clip_grad_value, gradcheck,
                              softmax_cross_entropy)

# The book's printed "gradient 50 steps back" per W_norm, shown only for comparison.
BOOK_PRINTED_GRADIENT = {0.5: 7.105427e-15, 1.0: 1.125899e-12, 2.0: 1.152922e+03,
                         4.0: 1.329228e+12}
BOOK_LABEL = {0.5: "vanishes", 1.0: "stable", 2.0: "explodes", 4.0: "explodes"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="smaller networks, fewer checked entries: a few seconds "
                             "(also RNNLAB_EXAMPLES_TINY=1)")
    parser.add_argument("--out", metavar="DIR",
                        help="directory for scalar_flow.png (default: a new temporary directory)")
    args = parser.parse_args(argv)
    args.tiny = args.tiny or os.environ.get("RNNLAB_EXAMPLES_TINY", "") not in ("", "0")
    args.out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rnnlab-examples-"))
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def bptt_against_finite_differences(tiny: bool) -> bool:
    print("== 1. exact BPTT vs finite differences, L = Σ_t cross-entropy(y_t, target_t) ==")
    batch, steps, inputs, hidden, classes = (2, 5, 3, 4, 3) if tiny else (3, 12, 4, 8, 5)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, inputs))                       # (B, T, D)
    targets = rng.integers(0, classes, (batch, steps))                    # (B, T)

    def summed_loss(outputs):
        # softmax_cross_entropy averages over the B·T tokens; scale back to a sum over time.
        loss, d_outputs = softmax_cross_entropy(outputs, targets)
        return loss * batch * steps, d_outputs * batch * steps

    all_passed = True
    for cell in ("rnn", "lstm", "gru"):
        network = RecurrentNetwork(cell, hidden, input_size=inputs, output_size=classes, seed=1)
        report, passed = gradcheck(network, x, loss_fn=summed_loss,
                                   max_entries_per_tensor=8 if tiny else 32)
        name, worst = report.worst
        print(f"  {cell:<4}: {'PASSED' if passed else 'FAILED'}, worst relative error "
              f"{worst:.1e} ({name}) over {sum(report.entries_checked.values())} checked entries")
        all_passed &= passed
    print()
    return all_passed


def truncated_bptt(tiny: bool) -> None:
    print("== 2. truncated BPTT: gradient of W_hh with the state gradient cut every k steps ==")
    steps = 8 if tiny else 24
    rng = np.random.default_rng(2)
    network = RecurrentNetwork("rnn", 6, input_size=3, output_size=2, seed=2)
    x = rng.standard_normal((2, steps, 3))
    outputs, _, cache = network.forward(x)
    d_outputs = rng.standard_normal(outputs.shape)                        # dL/dy_t, any probe
    exact = network.backward(d_outputs, cache).params["rnn.weight_hh_l0"]
    for k in (1, 2, 4, steps):
        cut = network.backward(d_outputs, cache, truncate=k).params["rnn.weight_hh_l0"]
        relative = np.linalg.norm(cut - exact) / np.linalg.norm(exact)
        label = "  (k = T: exact BPTT)" if k == steps else ""
        print(f"  k={k:>2}: ‖g_k - g_exact‖ / ‖g_exact‖ = {relative:.3e}{label}")
    print()


def step_jacobian() -> None:
    print("== 3. one step's Jacobian ∂h_t/∂h_(t-1) of a tanh RNN (finite differences) ==")
    rng = np.random.default_rng(3)
    network = RecurrentNetwork("rnn", 4, input_size=3, seed=3)
    cell, params = network.cells[0], network.layer_params(0, 0)
    w_hh = params["weight_hh"]
    x = rng.standard_normal((1, 3, 3))
    h0 = cell.zero_state(1)
    h1 = cell.forward(x[:, 0], h0, params)[0]                             # (1, H)
    h2 = cell.forward(x[:, 1], (h1,), params)[0]
    eps = 1e-6
    numeric = np.empty((4, 4))
    for j in range(4):
        bump = np.zeros_like(h1)
        bump[0, j] = eps
        plus = cell.forward(x[:, 1], (h1 + bump,), params)[0]
        minus = cell.forward(x[:, 1], (h1 - bump,), params)[0]
        numeric[:, j] = ((plus - minus) / (2 * eps))[0]
    slope_t = np.diag(1 - h2[0] ** 2)                                      # tanh'(a_t)
    slope_before = np.diag(1 - h1[0] ** 2)                                 # tanh'(a_(t-1))
    # The Jacobian J[i, j] = ∂h_t[i]/∂h_(t-1)[j]; its transpose is the same matrix in the
    # "gradient" layout the chapter writes (W_hhᵀ on the left), so compare like with like.
    rows = (("J   = diag(tanh'(a_t))·W_hh", slope_t @ w_hh, numeric),
            ("Jᵀ  = W_hhᵀ·diag(tanh'(a_t))", w_hh.T @ slope_t, numeric.T),
            ("the chapter's W_hhᵀ·diag(tanh'(a_(t-1)))", w_hh.T @ slope_before, numeric.T))
    for label, formula, measured in rows:
        print(f"  {label:<41} vs finite differences: max |difference| = "
              f"{np.abs(formula - measured).max():.1e}")
    print("  tanh' belongs to the step's own pre-activation a_t = W_xh x_t + W_hh h_(t-1) + b, "
          "not to a_(t-1).")
    print()


def scalar_model(out: Path) -> Path:
    print("== 4. the chapter's scalar model: g_n = (0.4·w)^n, gradient 49 steps back ==")
    steps, slope = scalar_flow.DEFAULT_STEPS, scalar_flow.DEFAULT_TANH_DERIVATIVE
    inputs = np.random.default_rng(0).standard_normal(steps + 1)
    print(scalar_flow.format_table(scalar_flow.CHAPTER_WEIGHTS, steps, slope,
                                   real_inputs=inputs))
    print()
    print("  w      (0.4·w)^49 by repeated multiplication   book prints          book says")
    for w in scalar_flow.CHAPTER_WEIGHTS:
        g = scalar_flow.simulate(w, steps, slope)[-1]
        print(f"  {w:<5g}  {g:.6e} ({scalar_flow.regime(w, slope):<8})          "
              f"{BOOK_PRINTED_GRADIENT[w]:.6e}         {BOOK_LABEL[w]}")
    boundary = scalar_flow.boundary_weight(slope)
    print(f"  boundary: 0.4·w = 1 at w = {boundary:g}. w = 2 gives 0.8 per step, which vanishes; "
          "w = 1 gives 0.4 per step, not a stable 1.")
    path = plot_scalar_flow(scalar_flow.CHAPTER_WEIGHTS, steps, slope, out / "scalar_flow.png")
    print(f"  plot: {path}")
    print()
    return path


def clipping() -> None:
    print("== 5. gradient clipping (two gradient tensors scaled by 100, as in the chapter) ==")
    rng = np.random.default_rng(4)
    grads = {"W1": rng.standard_normal((10, 10)) * 100, "W2": rng.standard_normal((5, 10)) * 100}
    original = {k: v.copy() for k, v in grads.items()}
    flat = np.concatenate([v.ravel() for v in original.values()])
    before = clip_grad_norm(grads, max_norm=1.0)
    clipped = np.concatenate([v.ravel() for v in grads.values()])
    cosine = clipped @ flat / (np.linalg.norm(clipped) * np.linalg.norm(flat))
    print(f"  clip by norm, max_norm 1.0: norm before {before:.4f}, after "
          f"{np.linalg.norm(clipped):.4f}, direction kept (cosine {cosine:.6f})")
    grads = {k: v.copy() for k, v in original.items()}
    clip_grad_value(grads, clip_value=1.0)
    by_value = np.concatenate([v.ravel() for v in grads.values()])
    cosine = by_value @ flat / (np.linalg.norm(by_value) * np.linalg.norm(flat))
    print(f"  clip by value, ±1.0:        norm after {np.linalg.norm(by_value):.4f}, largest "
          f"|entry| {np.abs(by_value).max():.1f}, direction changed (cosine {cosine:.6f})")
    print("  Clipping bounds an exploding step; it does nothing for a vanishing gradient "
          "(that needs LSTM/GRU, residual paths, good initialisation).")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    passed = bptt_against_finite_differences(args.tiny)
    truncated_bptt(args.tiny)
    step_jacobian()
    scalar_model(args.out)
    clipping()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
