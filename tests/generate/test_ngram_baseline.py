"""The n-gram logistic regression that benchmarks/sweep_names_classifier.py --model ngram uses as
the non-recurrent reference point for the names classifier."""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from ngram_classifier import (NgramFeatures, class_weights, ngrams,  # noqa: E402
                              train_ngram_classifier)


def test_ngrams_of_a_name_by_hand():
    # ^Kim$: single characters, then pairs across the markers.
    assert ngrams("Kim", 1) == {"^", "K", "i", "m", "$"}
    assert ngrams("Kim", 2) == {"^", "K", "i", "m", "$", "^K", "Ki", "im", "m$"}


def test_features_are_binary_and_ignore_unseen_ngrams():
    features = NgramFeatures.fit(["ab", "ba"], longest=2)
    matrix = features.transform(["aab", "zz"]).to_dense()
    # "aab" is ^, a, b, $, ^a, aa, ab, b$; all but "aa" occur in "ab" or "ba".
    known = {gram for gram in ngrams("aab", 2) if gram in features.index}
    assert known == {"^", "a", "b", "$", "^a", "ab", "b$"}
    assert matrix[0].sum().item() == 7
    assert set(matrix[0].unique().tolist()) == {0.0, 1.0}
    # "zz" shares only the markers with the training names.
    assert matrix[1].sum().item() == 2


def test_class_weights_average_one_per_example():
    labels = torch.tensor([0, 0, 0, 1])
    plain = class_weights(labels, 2, 0.0)
    assert torch.allclose(plain, torch.ones(2))
    balanced = class_weights(labels, 2, 1.0)
    assert balanced[1] / balanced[0] == 3.0
    assert torch.isclose(balanced[labels].mean(), torch.tensor(1.0))


def test_learns_suffixes_and_generalises_to_new_names():
    stems = ["Ivan", "Petr", "Sid", "Mar", "Pav", "Kuz", "Lep", "Rom"]
    names = [s + "ov" for s in stems] + [s + "ez" for s in stems]
    labels = [0] * len(stems) + [1] * len(stems)
    model = train_ngram_classifier(names, labels, 2, longest=3, l2=1e-4, iterations=200)
    probabilities = model.probabilities(["Tolov", "Tolez"])
    assert probabilities.shape == (2, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert probabilities[0, 0] > 0.9 and probabilities[1, 1] > 0.9
    again = train_ngram_classifier(names, labels, 2, longest=3, l2=1e-4, iterations=200)
    assert np.array_equal(again.probabilities(["Tolov"]), model.probabilities(["Tolov"]))
