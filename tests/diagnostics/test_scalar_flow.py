"""The scalar gradient model: (0.4·w)^n, the boundary 0.4·w = 1, and a real scalar tanh RNN.

Expected values come from exact rational arithmetic: 0.4·w is 1/5, 2/5, 4/5 and 8/5 for
w = 0.5, 1, 2, 4.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from rnnlab.diagnostics import scalar_flow as sf
from rnnlab.errors import RnnlabError

EXACT_FACTORS = {0.5: Fraction(1, 5), 1.0: Fraction(2, 5), 2.0: Fraction(4, 5),
                 4.0: Fraction(8, 5)}


@pytest.mark.parametrize("w", sorted(EXACT_FACTORS))
def test_simulation_equals_the_exact_power(w):
    gradients = sf.simulate(w, 49)
    assert len(gradients) == 50 and gradients[0] == 1.0
    for n in range(50):
        assert gradients[n] == pytest.approx(float(EXACT_FACTORS[w] ** n), rel=1e-13)
        assert sf.closed_form(w, n) == pytest.approx(float(EXACT_FACTORS[w] ** n), rel=1e-13)


def test_after_49_steps_only_w_4_explodes():
    g49 = {w: sf.simulate(w, 49)[-1] for w in EXACT_FACTORS}
    assert g49[0.5] < g49[1.0] < g49[2.0] < 1.0 < g49[4.0]
    assert [sf.regime(w) for w in sorted(EXACT_FACTORS)] == [
        "vanishes", "vanishes", "vanishes", "explodes"]


def test_boundary_is_where_the_factor_is_one():
    assert sf.boundary_weight() == pytest.approx(2.5)
    assert sf.per_step_factor(sf.boundary_weight()) == pytest.approx(1.0)
    assert sf.regime(2.5) == "neutral"
    assert sf.regime(2.49) == "vanishes" and sf.regime(2.51) == "explodes"
    assert sf.boundary_weight(0.25) == pytest.approx(4.0)
    np.testing.assert_allclose(sf.simulate(2.5, 30), 1.0, rtol=1e-13)
    sweep = sf.sweep_log10(np.array([2.4, 2.5, 2.6]), 49)
    assert sweep[0] < 0 and sweep[1] == pytest.approx(0.0, abs=1e-12) and sweep[2] > 0
    assert sf.sweep_log10(np.array([2.0]), 49)[0] == pytest.approx(49 * math.log10(0.8))


def test_steps_to_a_millionth():
    n = sf.steps_to_fraction(2.0)
    assert n == pytest.approx(math.log(1e-6) / math.log(0.8))
    gradients = sf.simulate(2.0, 70)
    assert gradients[math.floor(n)] > 1e-6 > gradients[math.ceil(n)]
    assert sf.steps_to_fraction(4.0) is None and sf.steps_to_fraction(2.5) is None


def test_real_scalar_tanh_rnn_gradient_matches_autograd():
    x = np.random.default_rng(0).standard_normal(20)
    for w in (0.5, 2.0, 4.0):
        gradients, slopes = sf.scalar_tanh_rnn_gradients(w, x)
        hs = [torch.zeros((), dtype=torch.float64, requires_grad=True)]
        for value in x:
            hs.append(torch.tanh(w * hs[-1] + float(value)))
        for h in hs:
            h.retain_grad()
        hs[-1].backward()
        # NumPy's and PyTorch's tanh may differ in the last bit; a saturated step's slope
        # 1 − h² then carries a relative error of about eps / (1 − h²) (cancellation), so
        # the tolerance grows with the sum of 1 / slope over the steps in the product
        # (w = 4 reaches slopes near 1e-3: ~1e-12 relative on some CPUs, seen on AVX-512).
        eps = np.finfo(np.float64).eps
        for n in range(21):
            tolerance = 1e-12 + 8 * eps * float(np.sum(1.0 / slopes[20 - n:]))
            assert gradients[n] == pytest.approx(float(hs[20 - n].grad), rel=tolerance,
                                                 abs=1e-300)
        # 1 − h² near h = ±1: one last-bit difference in h is an absolute 2·eps in the slope.
        np.testing.assert_allclose(slopes, [1 - float(h.detach()) ** 2 for h in hs[1:]],
                                   rtol=1e-12, atol=4 * eps)


def test_table_holds_the_computed_values():
    table = sf.format_table([0.5, 1, 2, 4], 49, real_inputs=np.zeros(50))
    lines = table.splitlines()
    assert "w = 2.5" in lines[0]
    row = {line.split()[0]: line.split() for line in lines[2:]}
    assert float(row["2"][2]) == pytest.approx(float(Fraction(4, 5) ** 49), rel=1e-3)
    assert row["2"][3] == "vanishes" and row["4"][3] == "explodes"
    # With zero input a scalar tanh RNN from h_0 = 0 stays at 0, so tanh' = 1 exactly.
    assert float(row["1"][5]) == pytest.approx(1.0)


def test_bad_input():
    with pytest.raises(RnnlabError, match="tanh derivative"):
        sf.simulate(1.0, 5, tanh_derivative=0.0)
    with pytest.raises(RnnlabError, match="steps"):
        sf.simulate(1.0, -1)
    with pytest.raises(RnnlabError, match="1-D"):
        sf.scalar_tanh_rnn_gradients(1.0, np.zeros((2, 2)))
