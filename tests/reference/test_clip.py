"""Gradient clipping by global norm and by value."""

import math

import numpy as np
import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.reference.clip import clip_grad_norm, clip_grad_value


def make_grads(scale, seed=0):
    rng = np.random.default_rng(seed)
    return {"W_xh": scale * rng.standard_normal((4, 3)),
            "W_hh": scale * rng.standard_normal((4, 4)),
            "b_h": scale * rng.standard_normal(4)}


def norm_by_hand(grads):
    return math.sqrt(sum(float(v) ** 2 for g in grads.values() for v in g.ravel()))


def test_above_threshold_scales_to_exactly_max_norm_and_returns_old_norm():
    grads = make_grads(scale=5.0)
    original = {name: g.copy() for name, g in grads.items()}
    expected_norm = norm_by_hand(original)
    assert expected_norm > 1.5

    returned = clip_grad_norm(grads, max_norm=1.5)

    assert returned == pytest.approx(expected_norm, rel=1e-13)
    assert abs(norm_by_hand(grads) - 1.5) < 1e-12
    for name in grads:  # one common factor: directions are kept
        np.testing.assert_allclose(grads[name], original[name] * (1.5 / expected_norm),
                                   rtol=1e-14)


def test_agrees_with_torch_clip_grad_norm():
    grads = make_grads(scale=3.0)
    tensors = [torch.tensor(g, requires_grad=True) for g in grads.values()]
    for tensor, g in zip(tensors, grads.values()):
        tensor.grad = torch.tensor(g)
    torch_norm = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm=2.0))

    assert clip_grad_norm(grads, 2.0) == pytest.approx(torch_norm, rel=1e-12)
    # torch divides by (norm + 1e-6), so its clipped gradients are smaller by that relative bit.
    for tensor, g in zip(tensors, grads.values()):
        np.testing.assert_allclose(g, tensor.grad.numpy(), rtol=1e-6)


def test_below_threshold_leaves_arrays_untouched():
    grads = make_grads(scale=0.01)
    bits_before = {name: g.tobytes() for name, g in grads.items()}
    for g in grads.values():
        g.flags.writeable = False  # any write, even a multiply by 1.0, would raise

    returned = clip_grad_norm(grads, max_norm=10.0)

    assert returned == pytest.approx(norm_by_hand(grads), rel=1e-13)
    assert {name: g.tobytes() for name, g in grads.items()} == bits_before


def test_empty_grads_have_norm_zero():
    assert clip_grad_norm({}, 1.0) == 0.0


def test_value_clipping_bounds_every_entry_and_keeps_the_rest():
    grads = make_grads(scale=2.0)
    original = {name: g.copy() for name, g in grads.items()}
    reference = [torch.tensor(g) for g in original.values()]
    for tensor in reference:
        tensor.grad = tensor.clone()
    torch.nn.utils.clip_grad_value_(reference, clip_value=1.0)

    clip_grad_value(grads, 1.0)

    for (name, g), tensor in zip(grads.items(), reference):
        assert np.all(np.abs(g) <= 1.0)
        inside = np.abs(original[name]) <= 1.0
        assert np.array_equal(g[inside], original[name][inside])
        assert np.array_equal(g[~inside], np.sign(original[name][~inside]))
        assert np.array_equal(g, tensor.grad.numpy())
    assert any(np.any(np.abs(g) > 1.0) for g in original.values())  # something was clipped


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_bad_thresholds_are_errors_naming_the_value(bad):
    with pytest.raises(RnnlabError, match=f"max_norm must be > 0, got {bad!r}"):
        clip_grad_norm(make_grads(1.0), bad)
    with pytest.raises(RnnlabError, match=f"clip_value must be > 0, got {bad!r}"):
        clip_grad_value(make_grads(1.0), bad)


def test_non_finite_gradient_is_an_error_naming_it():
    grads = make_grads(1.0)
    grads["W_hh"][1, 2] = np.nan
    with pytest.raises(RnnlabError, match="'W_hh'"):
        clip_grad_norm(grads, 1.0)


def test_integer_gradient_is_an_error():
    with pytest.raises(RnnlabError, match="'w'.*int64"):
        clip_grad_norm({"w": np.arange(3, dtype=np.int64)}, 1.0)
