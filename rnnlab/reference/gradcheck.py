"""Finite-difference gradient check for a `RecurrentNetwork`.

For a scalar loss L, each checked entry w of a tensor gets the central difference

    numeric = (L(w + eps) - L(w - eps)) / (2 eps)

and is compared with the entry of the gradient from `backward`. Errors are measured relative to
the tensor's scale:

    relative error of a tensor = max |analytic - numeric| / max(|analytic|, |numeric|)

(maxima over the checked entries; 0 when both are all zero). Scaling by the largest entry rather
than entry by entry keeps entries that are legitimately ~0 from producing meaningless ratios of
rounding noise.

The check runs on a float64 copy of the network (float32 finite differences are too noisy to
judge anything), so the caller's network is never modified. It covers exact BPTT only:
truncated BPTT deliberately differs from the true gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnnlab.errors import RnnlabError
from rnnlab.reference.network import RecurrentNetwork

# loss_fn(outputs (B, T, out)) -> (loss, d_loss/d_outputs), e.g. a function from losses.py.
LossFunction = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass
class GradcheckReport:
    """Per checked tensor: its shape, how many entries were checked, its max relative error."""

    relative_errors: dict[str, float]
    shapes: dict[str, tuple[int, ...]]
    entries_checked: dict[str, int]
    tolerance: float

    @property
    def passed(self) -> bool:
        return all(error <= self.tolerance for error in self.relative_errors.values())

    @property
    def worst(self) -> tuple[str, float]:
        """(name, error) of the tensor with the largest relative error."""
        name = max(self.relative_errors, key=self.relative_errors.get)
        return name, self.relative_errors[name]

    def __str__(self) -> str:
        width = max(len(name) for name in self.relative_errors)
        lines = [f"{'tensor':<{width}}  {'shape':<16} {'checked':>7}  {'rel. error':>10}"]
        for name, error in self.relative_errors.items():
            flag = "" if error <= self.tolerance else "  FAIL"
            lines.append(f"{name:<{width}}  {str(self.shapes[name]):<16} "
                         f"{self.entries_checked[name]:>7}  {error:>10.2e}{flag}")
        lines.append(f"{'PASSED' if self.passed else 'FAILED'} (tolerance {self.tolerance:.0e})")
        return "\n".join(lines)


def gradcheck(
    network: RecurrentNetwork,
    inputs: np.ndarray,
    initial_state=None,
    loss_fn: LossFunction | None = None,
    *,
    eps: float = 1e-6,
    tolerance: float = 1e-6,
    max_entries_per_tensor: int | None = 64,
    seed: int = 0,
) -> tuple[GradcheckReport, bool]:
    """Compare `network.backward` with central finite differences.

    network                 the network to check (a float64 copy is what gets perturbed)
    inputs                  token ids (B, T) or dense x (B, T, D), as for `forward`
    initial_state           as for `forward`; None checks the gradient at a zero initial state
    loss_fn                 outputs -> (loss, d_outputs). None uses a random linear probe of the
                            outputs AND the final state, L = sum(R * outputs) + sum(S * final),
                            which exercises every gradient path including d_final_state
    eps                     finite-difference step
    tolerance               largest acceptable relative error per tensor
    max_entries_per_tensor  check a random subset of this many entries of bigger tensors
                            (None: every entry)
    seed                    seeds the probe and the subset choice

    Checks every parameter, the initial state(s) ('h0', and 'c0' for LSTM) and, for dense
    input, the inputs ('inputs'). Returns (report, passed).
    """
    if max_entries_per_tensor is not None and max_entries_per_tensor < 1:
        raise RnnlabError(f"max_entries_per_tensor must be None or >= 1, got {max_entries_per_tensor}")
    if not eps > 0:
        raise RnnlabError(f"eps must be positive, got {eps}")
    rng = np.random.default_rng(seed)
    net = network.astype(np.float64)

    # Float64 copies of everything we perturb. Token ids are not differentiable: they stay as they are.
    if isinstance(inputs, np.ndarray) and not net.uses_embedding and np.issubdtype(inputs.dtype, np.floating):
        inputs = inputs.astype(np.float64)
    batch_size = inputs.shape[0] if isinstance(inputs, np.ndarray) and inputs.ndim >= 1 else 0
    if initial_state is None:
        state_parts = tuple(np.zeros(net.state_shape(batch_size)) for _ in net.state_names)
    else:
        state_parts = tuple(np.array(part, dtype=np.float64) for part in net.split_state(
            initial_state, "initial_state"))

    def run(compute_gradients: bool):
        outputs, final_state, cache = net.forward(inputs, net.join_state(state_parts))
        final_parts = net.split_state(final_state, "final_state")
        if loss_fn is None:
            loss = float(np.sum(probe_outputs * outputs)) + sum(
                float(np.sum(p * f)) for p, f in zip(probe_states, final_parts))
            d_outputs, d_final = probe_outputs, net.join_state(probe_states)
        else:
            loss, d_outputs = loss_fn(outputs)
            d_final = None
        if not compute_gradients:
            return float(loss)
        return net.backward(d_outputs, cache, d_final_state=d_final)

    outputs, final_state, _ = net.forward(inputs, net.join_state(state_parts))
    probe_outputs = rng.standard_normal(outputs.shape)
    probe_states = tuple(rng.standard_normal(part.shape)
                         for part in net.split_state(final_state, "final_state"))

    grads = run(compute_gradients=True)
    # name -> (the array to perturb in place, its analytic gradient)
    checked: dict[str, tuple[np.ndarray, np.ndarray]] = {
        name: (net.params[name], grads.params[name]) for name in net.params
    }
    checked["h0"] = (state_parts[0], grads.h0)
    if grads.c0 is not None:
        checked["c0"] = (state_parts[1], grads.c0)
    if grads.inputs is not None:
        checked["inputs"] = (inputs, grads.inputs)

    errors, shapes, counts = {}, {}, {}
    for name, (array, analytic) in checked.items():
        if max_entries_per_tensor is None or array.size <= max_entries_per_tensor:
            entries = np.arange(array.size)
        else:
            entries = rng.choice(array.size, size=max_entries_per_tensor, replace=False)
        numeric = np.empty(len(entries))
        flat = array.reshape(-1)  # a view: writing to it perturbs the array the network reads
        assert np.shares_memory(flat, array), "perturbed arrays must be contiguous copies"
        for k, entry in enumerate(entries):
            original = flat[entry]
            flat[entry] = original + eps
            loss_plus = run(compute_gradients=False)
            flat[entry] = original - eps
            loss_minus = run(compute_gradients=False)
            flat[entry] = original
            numeric[k] = (loss_plus - loss_minus) / (2 * eps)
        analytic_entries = analytic.reshape(-1)[entries]
        scale = max(np.abs(analytic_entries).max(), np.abs(numeric).max())
        errors[name] = float(np.abs(analytic_entries - numeric).max() / scale) if scale > 0 else 0.0
        shapes[name] = array.shape
        counts[name] = len(entries)

    report = GradcheckReport(errors, shapes, counts, tolerance)
    return report, report.passed
