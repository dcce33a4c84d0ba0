"""Scores of labelled predictions: confusion matrix, accuracy, macro-F1 (classification uses
them per example, tagging per token)."""

from __future__ import annotations

import numpy as np


def confusion_matrix(gold, predicted, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts; row = gold class, column = predicted class."""
    gold = np.asarray(gold, dtype=np.int64).ravel()
    predicted = np.asarray(predicted, dtype=np.int64).ravel()
    if gold.shape != predicted.shape:
        raise ValueError(f"{gold.size} gold labels but {predicted.size} predictions")
    counts = np.bincount(gold * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def scores_from_confusion(confusion: np.ndarray) -> dict[str, float]:
    """accuracy and macro-F1 (mean over classes that occur in gold or predictions).

    A class that never occurs in either has no defined F1 and is left out of the mean; a class
    that occurs but is never predicted right has F1 = 0.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    total = confusion.sum()
    accuracy = float(np.trace(confusion) / total) if total else 0.0
    true_positive = np.diag(confusion)
    gold_count = confusion.sum(axis=1)
    predicted_count = confusion.sum(axis=0)
    present = (gold_count + predicted_count) > 0
    f1 = np.divide(2 * true_positive, gold_count + predicted_count,
                   out=np.zeros_like(true_positive), where=present)
    macro_f1 = float(f1[present].mean()) if present.any() else 0.0
    return {"accuracy": accuracy, "macro_f1": macro_f1}


def format_confusion(confusion: np.ndarray, labels: list[str]) -> str:
    """A plain-text table: one row per gold label, one column per predicted label."""
    names = [str(label) for label in labels]
    corner = "gold \\ predicted"
    first = max([len(corner)] + [len(n) for n in names])
    width = max([len(n) for n in names] + [len(str(int(confusion.max(initial=0))))])
    lines = [corner.ljust(first) + "  " + "  ".join(n.rjust(width) for n in names)]
    for name, row in zip(names, confusion):
        lines.append(name.ljust(first) + "  " + "  ".join(str(int(v)).rjust(width) for v in row))
    return "\n".join(lines)
