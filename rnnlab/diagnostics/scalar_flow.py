"""The chapter's one-number model of vanishing and exploding gradients, computed correctly.

Model (section 1.4): a single hidden unit with recurrent weight w. Going one step back in time
multiplies the gradient by ∂h_t/∂h_{t-1} = w·tanh'(a_t). Assuming, as the chapter does, that
tanh'(a) is a constant 0.4:

    g_n = (0.4·w)^n · g_0        (the gradient n steps before the loss)

so the gradient vanishes when 0.4·w < 1, explodes when 0.4·w > 1, and the boundary is
0.4·w = 1, i.e. w = 2.5. A sequence of length 50 gives 49 multiplications: g_49 = (0.4·w)^49.
In particular w = 2 gives 0.8^49, which vanishes, and w = 1 gives 0.4^49 (not a stable 1).

That constant 0.4 is an assumption, not a property of tanh. In a real scalar tanh RNN,
h_t = tanh(w·h_{t-1} + x_t), the slope is tanh'(a_t) = 1 - h_t², which shrinks as |w| grows and
the unit saturates; `scalar_tanh_rnn_gradients` computes that exact product for comparison.
"""

from __future__ import annotations

import math

import numpy as np

from rnnlab.errors import RnnlabError

DEFAULT_TANH_DERIVATIVE = 0.4
DEFAULT_STEPS = 49                      # a sequence of 50 steps: 49 multiplications
CHAPTER_WEIGHTS = (0.5, 1.0, 2.0, 4.0)
# Relative tolerance for calling a factor exactly 1 (0.4 is not exact in binary floating point).
_NEUTRAL_TOLERANCE = 1e-12


def _check(tanh_derivative: float, steps: int | None = None) -> None:
    if not (math.isfinite(tanh_derivative) and tanh_derivative > 0):
        raise RnnlabError(f"tanh derivative must be a positive number, got {tanh_derivative}")
    if steps is not None and (not isinstance(steps, int) or steps < 0):
        raise RnnlabError(f"number of steps must be an integer >= 0, got {steps!r}")


def per_step_factor(w: float, tanh_derivative: float = DEFAULT_TANH_DERIVATIVE) -> float:
    """w·tanh': the factor one step back in time multiplies the gradient by."""
    _check(tanh_derivative)
    return w * tanh_derivative


def simulate(w: float, steps: int = DEFAULT_STEPS,
             tanh_derivative: float = DEFAULT_TANH_DERIVATIVE) -> np.ndarray:
    """(steps+1,) g_n for n = 0..steps, by repeated multiplication from g_0 = 1 (float64).

    Index n is the distance back from the loss (the chapter's list, reversed to time order).
    """
    _check(tanh_derivative, steps)
    factor = per_step_factor(w, tanh_derivative)
    gradients = np.empty(steps + 1)
    gradients[0] = 1.0
    for n in range(1, steps + 1):
        gradients[n] = gradients[n - 1] * factor
    return gradients


def closed_form(w: float, n: int, tanh_derivative: float = DEFAULT_TANH_DERIVATIVE) -> float:
    """(tanh'·w)^n."""
    return per_step_factor(w, tanh_derivative) ** n


def boundary_weight(tanh_derivative: float = DEFAULT_TANH_DERIVATIVE) -> float:
    """The w at which tanh'·w = 1: smaller w vanishes, larger explodes."""
    _check(tanh_derivative)
    return 1.0 / tanh_derivative


def regime(w: float, tanh_derivative: float = DEFAULT_TANH_DERIVATIVE) -> str:
    """"vanishes", "neutral" (|factor| = 1) or "explodes"."""
    factor = abs(per_step_factor(w, tanh_derivative))
    if abs(factor - 1.0) <= _NEUTRAL_TOLERANCE:
        return "neutral"
    return "vanishes" if factor < 1 else "explodes"


def steps_to_fraction(w: float, fraction: float = 1e-6,
                      tanh_derivative: float = DEFAULT_TANH_DERIVATIVE) -> float | None:
    """n at which |g_n| = fraction·g_0, i.e. ln(fraction)/ln|factor|; None if it never shrinks."""
    if not 0 < fraction < 1:
        raise RnnlabError(f"fraction must be between 0 and 1, got {fraction}")
    factor = abs(per_step_factor(w, tanh_derivative))
    if factor == 0:
        return 1.0  # gone after one step
    if factor >= 1 or regime(w, tanh_derivative) == "neutral":
        return None
    return math.log(fraction) / math.log(factor)


def sweep_log10(w_values: np.ndarray, steps: int = DEFAULT_STEPS,
                tanh_derivative: float = DEFAULT_TANH_DERIVATIVE) -> np.ndarray:
    """log10 |g_steps| = steps·log10|tanh'·w| for each w (-inf at w = 0); no overflow."""
    _check(tanh_derivative, steps)
    factors = np.abs(np.asarray(w_values, dtype=np.float64) * tanh_derivative)
    with np.errstate(divide="ignore"):
        return steps * np.log10(factors)


def scalar_tanh_rnn_gradients(w: float, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A real scalar tanh RNN h_t = tanh(w·h_{t-1} + x_t), h_0 = 0, over inputs x (T,).

    Returns (gradients, slopes): gradients[n] = ∂h_T/∂h_{T-n} for n = 0..T, the exact product
    of w·(1 - h_j²) over the last n steps; slopes[t] = tanh'(a_t) = 1 - h_t² for t = 1..T.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 1:
        raise RnnlabError(f"inputs must be a 1-D sequence, got shape {inputs.shape}")
    h = 0.0
    slopes = np.empty(len(inputs))
    for t, x in enumerate(inputs):
        h = math.tanh(w * h + x)
        slopes[t] = 1.0 - h * h
    factors = w * slopes[::-1]                      # last step first
    return np.concatenate([[1.0], np.cumprod(factors)]), slopes


def format_table(w_values, steps: int = DEFAULT_STEPS,
                 tanh_derivative: float = DEFAULT_TANH_DERIVATIVE, fraction: float = 1e-6,
                 real_inputs: np.ndarray | None = None) -> str:
    """One row per w: the factor, g_steps = (tanh'·w)^steps, the regime and the 1e-6 horizon.

    With `real_inputs` (length >= steps), two more columns: a real scalar tanh RNN's mean
    tanh'(a_t) and its exact gradient `steps` back.
    """
    lines = [f"gradient {steps} steps before the loss, g_{steps} = ({tanh_derivative:g}·w)^{steps}"
             f"; boundary {tanh_derivative:g}·w = 1 at w = {boundary_weight(tanh_derivative):g}"]
    header = f"{'w':>7}  {'factor':>8}  {f'g_{steps}':>11}  {'regime':>9}  {f'steps to {fraction:g}':>14}"
    if real_inputs is not None:
        header += f"  {'real mean tanh´':>15}  {f'real g_{steps}':>11}"
    lines.append(header)
    for w in w_values:
        horizon = steps_to_fraction(w, fraction, tanh_derivative)
        row = (f"{w:>7g}  {per_step_factor(w, tanh_derivative):>8.4g}  "
               f"{closed_form(w, steps, tanh_derivative):>11.3e}  {regime(w, tanh_derivative):>9}  "
               f"{'never' if horizon is None else f'{horizon:.1f}':>14}")
        if real_inputs is not None:
            gradients, slopes = scalar_tanh_rnn_gradients(w, real_inputs)
            row += f"  {slopes.mean():>15.4f}  {abs(gradients[steps]):>11.3e}"
        lines.append(row)
    return "\n".join(lines)
