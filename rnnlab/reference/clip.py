"""Gradient clipping for the NumPy reference engine.

Gradients are `dict[str, np.ndarray]`; both functions clip the arrays in place.

`clip_grad_norm` follows torch.nn.utils.clip_grad_norm_ (L2 norm over all tensors together,
returns the norm before clipping) with one deliberate difference: torch divides by
`norm + 1e-6`, which leaves the clipped norm slightly below `max_norm`; here the scale is
exactly `max_norm / norm`, so the clipped norm equals `max_norm` up to rounding, and the arrays
are not touched at all (not even multiplied by 1.0) when the norm is within the limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from rnnlab.errors import RnnlabError


def _check_grads(owner: str, grads: Mapping[str, np.ndarray]) -> None:
    if not isinstance(grads, Mapping):
        raise RnnlabError(
            f"{owner}: grads must be a dict of name -> numpy array, got {type(grads).__name__}"
        )
    for name, grad in grads.items():
        if not isinstance(grad, np.ndarray) or grad.dtype.kind != "f":
            kind = grad.dtype if isinstance(grad, np.ndarray) else type(grad).__name__
            raise RnnlabError(
                f"{owner}: gradient {name!r} is {kind}; it must be a float numpy array "
                "(clipping happens in place)"
            )


def _check_threshold(owner: str, name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise RnnlabError(f"{owner}: {name} must be a number, got {value!r}")
    if not float(value) > 0:  # also rejects NaN
        raise RnnlabError(f"{owner}: {name} must be > 0, got {value!r}")
    return float(value)


def _global_l2_norm(grads: Mapping[str, np.ndarray]) -> float:
    # Per-tensor norms in float64, then combined with hypot, which avoids overflow and
    # precision loss when summing squares of very different magnitudes.
    per_tensor = (float(np.linalg.norm(g.astype(np.float64, copy=False).ravel()))
                  for g in grads.values())
    return math.hypot(*per_tensor)


def clip_grad_norm(grads: Mapping[str, np.ndarray], max_norm: float) -> float:
    """Scales all gradients by one factor so their global L2 norm is at most `max_norm`.

    grads: name -> float array of any shape; modified in place only when the norm exceeds
    `max_norm`. Returns the global norm before clipping, sqrt(sum of every squared entry).
    Raises RnnlabError for a non-finite norm (naming the offending gradient), because
    scaling by it would silently turn every gradient into NaN.
    """
    owner = "clip_grad_norm"
    max_norm = _check_threshold(owner, "max_norm", max_norm)
    _check_grads(owner, grads)
    norm = _global_l2_norm(grads)
    if not math.isfinite(norm):
        bad = next(name for name, g in grads.items() if not np.all(np.isfinite(g)))
        raise RnnlabError(f"{owner}: gradient {bad!r} has NaN or infinite entries")
    if norm > max_norm:
        scale = max_norm / norm
        for name, grad in grads.items():
            if not grad.flags.writeable:
                raise RnnlabError(f"{owner}: gradient {name!r} is read-only; cannot clip it")
        for grad in grads.values():
            grad *= scale
    return norm


def clip_grad_value(grads: Mapping[str, np.ndarray], clip_value: float) -> None:
    """Clamps every gradient entry into [-clip_value, clip_value], in place.

    grads: name -> float array of any shape. Entries already inside the range keep their exact
    bits; NaN entries stay NaN (as with torch.nn.utils.clip_grad_value_).
    """
    owner = "clip_grad_value"
    clip_value = _check_threshold(owner, "clip_value", clip_value)
    _check_grads(owner, grads)
    for name, grad in grads.items():
        if not grad.flags.writeable:
            raise RnnlabError(f"{owner}: gradient {name!r} is read-only; cannot clip it")
    for grad in grads.values():
        np.clip(grad, -clip_value, clip_value, out=grad)
