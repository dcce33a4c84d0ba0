"""Text features and the unit ranking, against values worked out by hand and numpy's corrcoef."""

import numpy as np
import pytest

from rnnlab.viz.features import (FEATURES, column, correlations, inside_quotes, rank_units,
                                 text_features)


def test_inside_quotes_is_the_state_after_reading_each_character():
    # a " b c " d : after the opening quote we are inside, after the closing one outside
    assert inside_quotes('a"bc"d').tolist() == [0, 1, 1, 1, 0, 0]
    assert inside_quotes("x\u201cy\u201dz").tolist() == [0, 1, 1, 0, 0]
    assert inside_quotes('""').tolist() == [1, 0]


def test_column_restarts_after_each_line_break():
    assert column("ab\ncd\n\ne").tolist() == [0, 1, 2, 0, 1, 2, 0, 0]


def test_word_and_newline_features():
    features = text_features("hi, 2\nx")
    assert set(features) == set(FEATURES)
    assert features["word"].tolist() == [1, 1, 0, 0, 1, 0, 1]
    assert features["newline"].tolist() == [0, 0, 0, 0, 0, 1, 0]


def test_correlations_match_numpy_corrcoef():
    rng = np.random.default_rng(0)
    feature = rng.normal(size=200)
    values = np.stack([2 * feature + 1, -feature, rng.normal(size=200),
                       0.3 * feature + rng.normal(size=200)], axis=1)      # (T, 4)
    r = correlations(values, feature)
    expected = [np.corrcoef(values[:, k], feature)[0, 1] for k in range(4)]
    np.testing.assert_allclose(r, expected, atol=1e-12)
    assert r[0] == pytest.approx(1.0) and r[1] == pytest.approx(-1.0)


def test_a_constant_unit_or_feature_correlates_zero():
    feature = np.array([0.0, 1.0, 0.0, 1.0])
    assert correlations(np.ones((4, 1)), feature).tolist() == [0.0]
    assert correlations(np.arange(4.0)[:, None], np.zeros(4)).tolist() == [0.0]


def test_rank_units_finds_a_planted_quote_unit_across_layers_and_quantities():
    rng = np.random.default_rng(1)
    text = 'ab "cd ef" gh "ij"\nkl "mnop qr" st' * 10
    quotes = inside_quotes(text)
    noise = rng.normal(size=(len(text), 6))
    planted = noise.copy()
    planted[:, 4] = -quotes + 0.1 * rng.normal(size=len(text))
    ranking = rank_units({("h", 0): noise, ("z", 1): planted}, text, top=3)
    best = ranking["quotes"][0]
    assert (best.quantity, best.layer, best.unit) == ("z", 1, 4)
    assert best.r < -0.9
    assert len(ranking["quotes"]) == 3
    assert abs(ranking["quotes"][1].r) <= abs(best.r)


def test_a_feature_constant_over_the_text_ranks_nothing():
    ranking = rank_units({("h", 0): np.random.default_rng(2).normal(size=(6, 3))}, "abcdef")
    assert ranking["quotes"] == [] and ranking["newline"] == []
    assert len(ranking["word"]) == 0          # every character is a letter: constant too
    assert len(ranking["column"]) == 3
