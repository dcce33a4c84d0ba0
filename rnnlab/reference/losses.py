"""Losses over sequences, each returning (loss, d_loss / d_predictions).

The gradient comes back with the shape and dtype of the predictions, ready to hand to
`RecurrentNetwork.backward` as `d_outputs`.
"""

from __future__ import annotations

import numpy as np

from rnnlab.errors import RnnlabError


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, stable: shifting by the max keeps exp() <= 1."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(
    logits: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray | None = None,
    ignore_index: int | None = None,
) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer targets, over the counted tokens.

    logits        (B, T, V) unnormalised scores
    targets       (B, T) integer class ids in [0, V)
    mask          optional (B, T), nonzero/True where a token counts (e.g. not padding)
    ignore_index  optional target value that does not count (like PyTorch's ignore_index)

    loss = -(1/N) * sum over counted (b, t) of log softmax(logits[b, t])[targets[b, t]]
    where N is the number of counted tokens, and
    dlogits[b, t] = (softmax(logits[b, t]) - one_hot(targets[b, t])) / N on counted tokens, 0 elsewhere.
    """
    if not isinstance(logits, np.ndarray) or logits.ndim != 3:
        raise RnnlabError(f"logits have shape {np.shape(logits)} but expected (B, T, V)")
    if not np.issubdtype(logits.dtype, np.floating):
        raise RnnlabError(f"logits must be floating point, got dtype {logits.dtype}")
    batch_size, seq_len, vocab = logits.shape
    if not isinstance(targets, np.ndarray) or targets.shape != (batch_size, seq_len):
        raise RnnlabError(
            f"targets have shape {np.shape(targets)} but expected ({batch_size}, {seq_len}) to match logits (B, T, V)"
        )
    if not np.issubdtype(targets.dtype, np.integer):
        raise RnnlabError(f"targets must be integer class ids, got dtype {targets.dtype}")

    counted = np.ones((batch_size, seq_len), dtype=bool)
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.shape != (batch_size, seq_len):
            raise RnnlabError(f"mask has shape {np.shape(mask)} but expected ({batch_size}, {seq_len})")
        counted &= mask.astype(bool)
    if ignore_index is not None:
        counted &= targets != ignore_index
    num_counted = int(counted.sum())
    if num_counted == 0:
        raise RnnlabError("no tokens to average over: every position is masked or equals ignore_index")
    counted_targets = targets[counted]
    if counted_targets.min() < 0 or counted_targets.max() >= vocab:
        bad = counted_targets.min() if counted_targets.min() < 0 else counted_targets.max()
        raise RnnlabError(f"target {bad} is out of range: expected class ids in [0, {vocab - 1}] (V = {vocab})")

    log_probs = log_softmax(logits)  # (B, T, V)
    # Ignored positions may hold any value (e.g. -100); point them at class 0 only to gather safely.
    safe_targets = np.where(counted, targets, 0)
    target_log_probs = np.take_along_axis(log_probs, safe_targets[..., None], axis=-1)[..., 0]  # (B, T)
    loss = -float(target_log_probs[counted].sum()) / num_counted

    d_logits = np.exp(log_probs)  # softmax, (B, T, V)
    np.put_along_axis(d_logits, safe_targets[..., None],
                      np.take_along_axis(d_logits, safe_targets[..., None], axis=-1) - 1, axis=-1)
    d_logits *= counted[..., None] / num_counted
    return loss, d_logits.astype(logits.dtype, copy=False)


def mean_squared_error(predictions: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over all entries of (predictions - targets)^2, and its gradient 2 (predictions - targets) / n."""
    if not isinstance(predictions, np.ndarray) or not np.issubdtype(predictions.dtype, np.floating):
        raise RnnlabError("predictions must be a floating-point numpy array")
    if not isinstance(targets, np.ndarray) or targets.shape != predictions.shape:
        raise RnnlabError(
            f"targets have shape {np.shape(targets)} but expected {predictions.shape}, the shape of predictions"
        )
    difference = predictions - targets.astype(predictions.dtype, copy=False)
    loss = float(np.mean(difference * difference))
    return loss, (2.0 / difference.size) * difference
