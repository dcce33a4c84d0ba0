"""A character n-gram logistic regression: the non-recurrent reference point for issue 11's
name classifier (benchmarks/sweep_names_classifier.py --model ngram).

A name is the set of its character n-grams, 1 to `longest` long, with ^ and $ marking its start
and end ("Kim", longest 2: K, i, m, ^K, Ki, im, m$ and the bare ^ and $). A linear layer over
those binary features gives one logit per class; it is trained full-batch with Adam on the
class-weighted cross-entropy plus an L2 penalty, for a fixed number of iterations (so the result
depends on the options, not on the machine's speed). If this model and the recurrent classifier
score alike on held-out names, the limit is in the data rather than in either model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def ngrams(name: str, longest: int) -> set[str]:
    """Every substring of ^name$ of 1 to `longest` characters."""
    marked = f"^{name}$"
    return {marked[start:start + size] for size in range(1, longest + 1)
            for start in range(len(marked) - size + 1)}


@dataclass
class NgramFeatures:
    """The n-gram -> column index of the training names (an n-gram unseen there is ignored)."""
    longest: int
    index: dict[str, int]

    @classmethod
    def fit(cls, names: list[str], longest: int) -> "NgramFeatures":
        seen = sorted(set().union(*(ngrams(name, longest) for name in names)))
        return cls(longest, {gram: column for column, gram in enumerate(seen)})

    def transform(self, names: list[str]) -> torch.Tensor:
        """(N, V) sparse binary float32 matrix."""
        rows, columns = [], []
        for row, name in enumerate(names):
            found = sorted(self.index[g] for g in ngrams(name, self.longest) if g in self.index)
            rows.extend([row] * len(found))
            columns.extend(found)
        values = torch.ones(len(rows))
        return torch.sparse_coo_tensor(torch.tensor([rows, columns], dtype=torch.long).view(2, -1),
                                       values, (len(names), len(self.index)),
                                       check_invariants=True).coalesce()


@dataclass
class NgramClassifier:
    features: NgramFeatures
    weight: torch.Tensor      # (V, C)
    bias: torch.Tensor        # (C,)

    def probabilities(self, names: list[str]) -> np.ndarray:
        """(N, C) class probabilities."""
        with torch.no_grad():
            logits = torch.sparse.mm(self.features.transform(names), self.weight) + self.bias
            return torch.softmax(logits, dim=1).numpy()


def class_weights(labels: torch.Tensor, num_classes: int, power: float) -> torch.Tensor:
    """(count_total / count_c) ** power, scaled so that a training example weighs 1 on average:
    power 0 is the plain loss, 1 weighs every class alike."""
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).double()
    weights = (counts.sum() / counts) ** power
    return (weights / weights[labels].mean()).float()


def train_ngram_classifier(names: list[str], labels: list[int], num_classes: int, *,
                           longest: int = 5, l2: float = 1e-4, class_weight_power: float = 0.5,
                           iterations: int = 300, lr: float = 0.05) -> NgramClassifier:
    """Fit the logistic regression on (name, class index) pairs; deterministic."""
    features = NgramFeatures.fit(names, longest)
    inputs = features.transform(names)
    targets = torch.tensor(labels, dtype=torch.long)
    weighting = class_weights(targets, num_classes, class_weight_power)
    # Zero start: the problem is convex, so no seed is needed and the result is reproducible.
    weight = torch.zeros(len(features.index), num_classes, requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.Adam([weight, bias], lr=lr)
    for _ in range(iterations):
        optimizer.zero_grad()
        logits = torch.sparse.mm(inputs, weight) + bias
        loss = F.cross_entropy(logits, targets, weight=weighting) + l2 * weight.pow(2).sum()
        loss.backward()
        optimizer.step()
    return NgramClassifier(features, weight.detach(), bias.detach())
