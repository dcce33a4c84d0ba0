"""Step Jacobians: closed form against autograd, products, spectral radii, link to gradflow."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.diagnostics.gradflow import (
    LayerWeights,
    RecurrentStack,
    measure_gradient_flow,
)
from rnnlab.diagnostics.jacobian import (
    analyse_layer,
    closed_form_step_jacobian,
    format_table,
    gate_spectral_radii,
    product_log10_norms,
    spectral_norms,
    spectral_radius,
    step_sigma_max,
    trajectory_jacobians,
)
from rnnlab.errors import RnnlabError

F64 = torch.float64


def elman_stack(cell, layers=2, hidden=5, inputs=3, seed=0):
    torch.manual_seed(seed)
    if cell == "rnn_linear":
        module = nn.RNN(inputs, hidden, num_layers=layers).to(F64)
        stack = RecurrentStack.from_module(module)
        return RecurrentStack("rnn_linear", stack.layers)
    module = nn.RNN(inputs, hidden, num_layers=layers, nonlinearity=cell[4:]).to(F64)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.mul_(2.0)  # larger weights: tanh saturates partly and relu units switch on and off
    return RecurrentStack.from_module(module)


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "rnn_linear"])
def test_closed_form_equals_autograd_along_a_trajectory(cell):
    stack = elman_stack(cell)
    x = torch.randn(9, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    for layer in range(2):
        closed = trajectory_jacobians(stack, x, layer, method="closed")
        auto = trajectory_jacobians(stack, x, layer, method="autograd")
        assert closed.shape == (9, 5, 5)
        torch.testing.assert_close(closed, auto, rtol=1e-12, atol=1e-12)
    if cell == "rnn_relu":  # the test is only meaningful if some units are off
        assert (closed.abs().sum(dim=2) == 0).any()


def test_closed_form_is_diag_slope_times_w_hh():
    w = LayerWeights(torch.eye(2, dtype=F64), torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=F64))
    x = torch.tensor([0.3, -0.2], dtype=F64)
    h = torch.tensor([0.1, 0.4], dtype=F64)
    a = x + w.weight_hh @ h                         # no biases
    expected = torch.diag(1 - torch.tanh(a) ** 2) @ w.weight_hh
    torch.testing.assert_close(closed_form_step_jacobian("rnn_tanh", w, x, h), expected)
    with pytest.raises(RnnlabError, match="autograd"):
        closed_form_step_jacobian("lstm", w, x, h)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_autograd_jacobian_chain_reproduces_the_measured_gradient(cell):
    """∂L/∂s_t = J_(t+1)^T ⋯ J_T^T ∂L/∂s_T with ∂L/∂s_T = (v, 0) for an LSTM's (h, c)."""
    torch.manual_seed(2)
    module = (nn.LSTM if cell == "lstm" else nn.GRU)(3, 4).to(F64)
    stack = RecurrentStack.from_module(module)
    x = torch.randn(10, 3, dtype=F64)
    v = torch.randn(4, dtype=F64)
    flow = measure_gradient_flow(stack, x[None], lambda h, t: h @ v, "last", keep_grads=True)
    jac = trajectory_jacobians(stack, x, 0)
    assert jac.shape == ((10, 8, 8) if cell == "lstm" else (10, 4, 4))
    grad = torch.cat([v, torch.zeros(4, dtype=F64)]) if cell == "lstm" else v
    for t in reversed(range(10)):
        torch.testing.assert_close(grad[:4], flow.grads[0][t][0], rtol=1e-10, atol=1e-14)
        grad = jac[t].T @ grad


def test_spectral_radius_matches_numpy_and_known_matrices():
    rng = np.random.default_rng(0)
    for _ in range(5):
        m = rng.normal(size=(7, 7))
        assert spectral_radius(m) == pytest.approx(np.abs(np.linalg.eigvals(m)).max(), rel=1e-12)
    rotation = np.array([[0.0, -0.7], [0.7, 0.0]])       # eigenvalues ±0.7i
    assert spectral_radius(rotation) == pytest.approx(0.7)
    non_normal = np.array([[0.5, 100.0], [0.0, 0.2]])    # norm ~100, eigenvalues 0.5 and 0.2
    assert spectral_radius(non_normal) == pytest.approx(0.5)
    with pytest.raises(RnnlabError, match="square"):
        spectral_radius(np.ones((2, 3)))


def test_gate_spectral_radii_split_w_hh_into_blocks():
    module = nn.LSTM(3, 4)
    radii = gate_spectral_radii("lstm", module.weight_hh_l0)
    assert list(radii) == ["i", "f", "g", "o"]
    forget = module.weight_hh_l0.detach().numpy()[4:8]
    assert radii["f"] == pytest.approx(np.abs(np.linalg.eigvals(forget)).max(), rel=1e-6)


def test_product_norms_equal_explicit_products():
    rng = np.random.default_rng(3)
    jac = torch.tensor(rng.normal(size=(6, 4, 4)), dtype=F64)
    logs = product_log10_norms(jac)
    assert logs[0] == 0.0
    product = np.eye(4)
    for k in range(1, 7):
        product = product @ jac[6 - k].numpy()          # J_T ⋯ J_(T-k+1)
        assert logs[k] == pytest.approx(math.log10(np.linalg.norm(product, 2)), abs=1e-12)
    sigma = step_sigma_max(jac)
    assert sigma[2] == pytest.approx(np.linalg.norm(jac[2].numpy(), 2))


def test_spectral_norms_match_numpy_svd():
    rng = np.random.default_rng(5)
    batch = rng.normal(size=(4, 6, 6))
    batch[1] = np.outer(rng.normal(size=6), rng.normal(size=6))  # rank one
    batch[2] = 0.0
    got = spectral_norms(torch.tensor(batch)).numpy()
    expected = [np.linalg.norm(m, 2) for m in batch]
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


def test_product_norms_do_not_underflow():
    jac = torch.eye(3, dtype=F64).repeat(400, 1, 1) * 1e-3      # true norm after k steps: 1e-3k
    logs = product_log10_norms(jac)
    np.testing.assert_allclose(logs, -3.0 * np.arange(401), rtol=1e-12)  # down to 1e-1200
    zero = product_log10_norms(torch.zeros(3, 2, 2, dtype=F64))
    assert zero[0] == 0.0 and np.all(np.isneginf(zero[1:]))


def test_linear_rnn_product_factor_is_the_spectral_radius():
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    layer = LayerWeights(torch.tensor(rng.normal(size=(5, 2)), dtype=F64),
                         torch.tensor(0.8 * q, dtype=F64))
    result = analyse_layer(RecurrentStack("rnn_linear", [layer]),
                           torch.tensor(rng.normal(size=(12, 2)), dtype=F64), 0)
    assert result.spectral_radii["W_hh"] == pytest.approx(0.8)
    assert result.per_step_factor == pytest.approx(0.8, rel=1e-10)
    np.testing.assert_allclose(result.sigma_max, 0.8, rtol=1e-12)
    table = format_table([result])
    assert "log10‖P‖" in table and f"{12 * math.log10(0.8):.3f}" in table


def test_bad_layer_and_method():
    stack = elman_stack("rnn_tanh", layers=1)
    x = torch.zeros(3, 3, dtype=F64)
    with pytest.raises(RnnlabError, match="layer 1 does not exist"):
        trajectory_jacobians(stack, x, 1)
    with pytest.raises(RnnlabError, match="method"):
        trajectory_jacobians(stack, x, 0, method="finite")
