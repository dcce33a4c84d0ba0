"""Decoding rules: temperature, greedy, top-k, top-p — expected sets derived by hand."""

import math

import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.decoding import SamplingOptions, choose_next, filtered_logits

# Probabilities chosen so the sorted order and the nucleus sets are easy to read off.
PROBS = torch.tensor([0.05, 0.40, 0.10, 0.30, 0.15])
LOGITS = PROBS.log().unsqueeze(0)   # (1, V)


def allowed(options: SamplingOptions) -> set[int]:
    mask = torch.isfinite(filtered_logits(LOGITS, options))[0]
    return {i for i, keep in enumerate(mask.tolist()) if keep}


def test_top_k_keeps_the_k_most_likely():
    assert allowed(SamplingOptions(top_k=1)) == {1}
    assert allowed(SamplingOptions(top_k=2)) == {1, 3}
    assert allowed(SamplingOptions(top_k=3)) == {1, 3, 4}
    assert allowed(SamplingOptions(top_k=10)) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("p, expected", [
    (0.1, {1}),            # the top character alone already reaches 0.40
    (0.40, {1}),           # mass before 2nd is 0.40 >= p: stop
    (0.41, {1, 3}),
    (0.70, {1, 3}),        # 0.40 + 0.30 = 0.70 reaches p
    (0.71, {1, 3, 4}),
    (0.96, {0, 1, 2, 3, 4}),
])
def test_top_p_keeps_the_smallest_set_reaching_p(p, expected):
    assert allowed(SamplingOptions(top_p=p)) == expected


def test_sampling_emits_only_allowed_characters():
    gen = torch.Generator().manual_seed(0)
    for options, ok in [(SamplingOptions(top_k=2), {1, 3}), (SamplingOptions(top_p=0.71), {1, 3, 4})]:
        draws = {int(choose_next(LOGITS, options, gen)) for _ in range(300)}
        assert draws <= ok
        assert len(draws) == len(ok)   # and every allowed one does occur in 300 draws


def test_temperature_zero_is_greedy_and_small_temperature_concentrates():
    logits = torch.randn(8, 30, generator=torch.Generator().manual_seed(1))
    greedy = choose_next(logits, SamplingOptions(greedy=True))
    assert torch.equal(choose_next(logits, SamplingOptions(temperature=0.0)), greedy)
    gen = torch.Generator().manual_seed(2)
    assert torch.equal(choose_next(logits, SamplingOptions(temperature=1e-3), gen), greedy)


def test_temperature_scales_log_probabilities():
    out = torch.log_softmax(filtered_logits(LOGITS, SamplingOptions(temperature=2.0)), -1)[0]
    expected = torch.log_softmax(PROBS.log() / 2.0, -1)
    assert torch.allclose(out, expected, atol=1e-6)
    assert math.isclose(float(out.exp().sum()), 1.0, rel_tol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(temperature=-1), dict(top_k=0), dict(top_p=0.0),
                                    dict(top_p=1.5)])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(RnnlabError):
        SamplingOptions(**kwargs)
