"""Gradient flow through time: known answers for linear and tanh RNNs, parity with torch.nn."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.diagnostics.gradflow import (
    LayerWeights,
    RecurrentStack,
    char_lm_gradient_flow,
    fit_decay,
    fresh_char_lm,
    measure_gradient_flow,
    sample_windows,
)
from rnnlab.errors import RnnlabError

F64 = torch.float64


def tensor(array):
    return torch.tensor(np.asarray(array), dtype=F64)


def linear_loss(v):
    """L_b = v·h_T for each sequence b: (B, H) -> (B,)."""
    v = tensor(v)
    return lambda h, t: h @ v


def random_layer(rng, hidden, inputs, scale=1.0):
    return LayerWeights(tensor(rng.normal(size=(hidden, inputs))),
                        tensor(scale * rng.normal(size=(hidden, hidden)) / math.sqrt(hidden)),
                        tensor(rng.normal(size=hidden)), tensor(rng.normal(size=hidden)))


# ----------------------------------------------------------------------------------------------
# The step-by-step unroll is the torch.nn computation


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_step_by_step_unroll_equals_the_fused_module(cell):
    torch.manual_seed(0)
    kind = {"lstm": nn.LSTM, "gru": nn.GRU}.get(cell, nn.RNN)
    extra = {"nonlinearity": cell[4:]} if kind is nn.RNN else {}
    module = kind(4, 6, num_layers=2, batch_first=True, **extra).to(F64)
    x = torch.randn(3, 7, 4, dtype=F64)
    expected, final = module(x)
    states = RecurrentStack.from_module(module).unroll(x)
    hidden = [s[0] if isinstance(s, tuple) else s for s in states[-1]]
    torch.testing.assert_close(torch.stack(hidden, dim=1), expected, rtol=1e-12, atol=1e-12)
    final_h = final[0] if cell == "lstm" else final
    for layer in range(2):
        last = states[layer][-1]
        torch.testing.assert_close(last[0] if cell == "lstm" else last, final_h[layer])
    if cell == "lstm":
        torch.testing.assert_close(states[1][-1][1], final[1][1])


def test_stack_shares_the_module_parameters():
    module = nn.GRU(3, 4, batch_first=True)
    stack = RecurrentStack.from_module(module)
    assert stack.layers[0].weight_hh is module.weight_hh_l0


@pytest.mark.parametrize("cell", ["gru_fused", "two_gate_cs_test"])
def test_registered_cells_unroll_like_their_layer(cell):
    """gru_fused's layer (an nn.GRU running the fused kernel) and a user cell's generic layer:
    the unroll reproduces the module's outputs and final (h, c)."""
    from rnnlab.nn.cells import CellSpec, get_cell, make_layer, register_cell, unregister_cell

    def two_gate_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
        a, b = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(2, dim=1)
        c_new = torch.sigmoid(a) * c + torch.tanh(b)
        return torch.tanh(c_new), c_new

    if cell == "two_gate_cs_test":
        register_cell(CellSpec(cell, gates=2, has_cell_state=True, step=two_gate_step))
    try:
        torch.manual_seed(0)
        module = make_layer(cell, 4, 6, num_layers=2).to(F64)
        x = torch.randn(3, 7, 4, dtype=F64)
        expected, final = module(x)
        stack = RecurrentStack.from_module(module)
        states = stack.unroll(x)
        hidden = [s[0] if isinstance(s, tuple) else s for s in states[-1]]
        torch.testing.assert_close(torch.stack(hidden, dim=1), expected, rtol=1e-12, atol=1e-12)
        if get_cell(cell).has_cell_state:
            assert stack.cell == cell
            torch.testing.assert_close(states[1][-1][1], final[1][1], rtol=1e-12, atol=1e-12)
    finally:
        if cell == "two_gate_cs_test":
            unregister_cell(cell)


def test_unknown_cell_lists_the_registered_cells():
    layer = LayerWeights(torch.zeros(4, 2, dtype=F64), torch.zeros(4, 4, dtype=F64))
    with pytest.raises(RnnlabError, match="unknown cell 'lsmt'; registered cells: gru, gru_fused"):
        RecurrentStack("lsmt", [layer])
    with pytest.raises(RnnlabError, match="registered cells: gru, gru_fused"):
        fresh_char_lm(10, "lsmt", 4, 1, 3)


def test_bidirectional_module_is_refused():
    with pytest.raises(RnnlabError, match="bidirectional"):
        RecurrentStack.from_module(nn.LSTM(3, 4, bidirectional=True))


# ----------------------------------------------------------------------------------------------
# Known answer 1: linear RNN, L = v·h_T  =>  ∂L/∂h_t = (W^T)^(T-t) v


def test_linear_rnn_gradient_is_the_matrix_power_closed_form():
    rng = np.random.default_rng(1)
    hidden, steps = 5, 12
    layer = random_layer(rng, hidden, 3, scale=1.3)
    w = layer.weight_hh.numpy()
    v = rng.normal(size=hidden)
    inputs = tensor(rng.normal(size=(3, steps, 3)))          # B = 3: each row has the same answer
    flow = measure_gradient_flow(RecurrentStack("rnn_linear", [layer]), inputs, linear_loss(v),
                                 "last", keep_grads=True)
    for t in range(steps):
        expected = np.linalg.matrix_power(w.T, steps - 1 - t) @ v
        for b in range(3):
            np.testing.assert_allclose(flow.grads[0][t][b].numpy(), expected, rtol=1e-12,
                                       atol=1e-12)
        np.testing.assert_allclose(flow.norms[0, t], np.linalg.norm(expected), rtol=1e-12)


def test_linear_rnn_loss_at_every_step_sums_the_powers():
    rng = np.random.default_rng(2)
    hidden, steps = 4, 9
    layer = random_layer(rng, hidden, 2)
    w = layer.weight_hh.numpy()
    v = rng.normal(size=hidden)
    inputs = tensor(rng.normal(size=(1, steps, 2)))
    stack = RecurrentStack("rnn_linear", [layer])
    every = measure_gradient_flow(stack, inputs, linear_loss(v), "every", keep_grads=True)
    last = measure_gradient_flow(stack, inputs, linear_loss(v), "last")
    for t in range(steps):
        # L = Σ_k v·h_k, and h_k depends on h_t through W^(k-t) for every k >= t.
        expected = sum(np.linalg.matrix_power(w.T, k - t) @ v for k in range(t, steps))
        np.testing.assert_allclose(every.grads[0][t][0].numpy(), expected, rtol=1e-11)
    assert every.norms[0, -1, 0] == pytest.approx(last.norms[0, -1, 0], rel=1e-14)


def test_two_layer_linear_rnn_follows_the_layered_recurrence():
    """h1_t = W1 h1_(t-1) + U1 x_t, h2_t = W2 h2_(t-1) + U2 h1_t, L = v·h2_T:
    g2_t = W2^T g2_(t+1) (g2_T = v);  g1_t = U2^T g2_t + W1^T g1_(t+1) (g1_(T+1) = 0)."""
    rng = np.random.default_rng(3)
    hidden, steps = 4, 8
    first, second = random_layer(rng, hidden, 3), random_layer(rng, hidden, hidden)
    v = rng.normal(size=hidden)
    flow = measure_gradient_flow(RecurrentStack("rnn_linear", [first, second]),
                                 tensor(rng.normal(size=(1, steps, 3))), linear_loss(v), "last",
                                 keep_grads=True)
    w1, w2, u2 = first.weight_hh.numpy(), second.weight_hh.numpy(), second.weight_ih.numpy()
    g2, g1 = v, np.zeros(hidden)
    for t in reversed(range(steps)):
        if t < steps - 1:
            g2 = w2.T @ g2
        g1 = u2.T @ g2 + w1.T @ g1
        np.testing.assert_allclose(flow.grads[1][t][0].numpy(), g2, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(flow.grads[0][t][0].numpy(), g1, rtol=1e-11, atol=1e-13)


def test_scaled_orthogonal_recurrence_fits_its_exact_decay_factor():
    rng = np.random.default_rng(4)
    hidden, steps = 6, 20
    q, _ = np.linalg.qr(rng.normal(size=(hidden, hidden)))
    for rho, kind, horizon in ((0.9, "extrapolated", math.log(1e-6) / math.log(0.9)),
                               (0.3, "measured", 12.0)):  # 0.3^11 = 1.8e-6, 0.3^12 = 5.3e-7
        layer = LayerWeights(tensor(rng.normal(size=(hidden, 2))), tensor(rho * q))
        flow = measure_gradient_flow(RecurrentStack("rnn_linear", [layer]),
                                     tensor(rng.normal(size=(2, steps, 2))),
                                     linear_loss(rng.normal(size=hidden)), "last")
        fit = fit_decay(flow.by_distance(-1))
        assert fit.factor == pytest.approx(rho, rel=1e-10)
        assert fit.horizon_kind == kind
        assert fit.horizon == pytest.approx(horizon, rel=1e-8)


# ----------------------------------------------------------------------------------------------
# Known answer 2: tanh RNN, the gradient equals the explicitly multiplied Jacobian chain


def test_tanh_rnn_gradient_equals_the_explicit_jacobian_chain():
    rng = np.random.default_rng(5)
    hidden, steps = 5, 15
    layer = random_layer(rng, hidden, 3, scale=1.5)
    w_ih, w_hh = layer.weight_ih.numpy(), layer.weight_hh.numpy()
    bias = layer.bias_ih.numpy() + layer.bias_hh.numpy()
    x = rng.normal(size=(steps, 3))
    v = rng.normal(size=hidden)
    flow = measure_gradient_flow(RecurrentStack("rnn_tanh", [layer]), tensor(x[None]),
                                 linear_loss(v), "last", keep_grads=True)
    # NumPy forward pass, then J_j = diag(1 - h_j²) W_hh and ∂L/∂h_t = (J_T ⋯ J_(t+1))^T v.
    h, hs = np.zeros(hidden), []
    for t in range(steps):
        h = np.tanh(w_ih @ x[t] + w_hh @ h + bias)
        hs.append(h)
    chain = np.eye(hidden)
    for t in reversed(range(steps)):
        expected = chain.T @ v
        np.testing.assert_allclose(flow.grads[0][t][0].numpy(), expected, rtol=1e-10, atol=1e-14)
        assert flow.norms[0, t, 0] == pytest.approx(np.linalg.norm(expected), rel=1e-10)
        chain = chain @ (np.diag(1 - hs[t] ** 2) @ w_hh)


# ----------------------------------------------------------------------------------------------
# Decay fit


def test_fit_decay_on_a_geometric_sequence():
    norms = 3.0 * 0.8 ** np.arange(100)
    fit = fit_decay(norms)
    assert fit.factor == pytest.approx(0.8, rel=1e-12)
    # 0.8^d < 1e-6  <=>  d > ln(1e-6)/ln(0.8) = 61.91...
    assert (fit.horizon_kind, fit.horizon) == ("measured", 62.0)
    short = fit_decay(norms[:50])
    assert short.horizon_kind == "extrapolated"
    assert short.horizon == pytest.approx(math.log(1e-6) / math.log(0.8), rel=1e-10)
    assert "beyond T" in short.describe(50) and "extrapolated" in short.describe(50)


def test_fit_decay_growth_zeros_and_bad_threshold():
    assert fit_decay(2.0 ** np.arange(10)).horizon_kind == "never"
    with_zeros = 0.5 ** np.arange(10.0)
    with_zeros[[3, 7]] = 0.0                # left out of the log fit
    fit = fit_decay(with_zeros)
    assert fit.factor == pytest.approx(0.5) and fit.points == 8
    assert fit_decay(np.zeros(5)).horizon_kind == "unknown"
    with pytest.raises(RnnlabError, match="threshold"):
        fit_decay(np.ones(3), threshold=2.0)


# ----------------------------------------------------------------------------------------------
# Character language models on text


def test_sample_windows_targets_are_the_next_characters():
    ids = np.arange(100)
    inputs, targets = sample_windows(ids, 10, 4, seed=3)
    assert inputs.shape == targets.shape == (4, 10)
    torch.testing.assert_close(targets[:, :-1], inputs[:, 1:])
    assert torch.all(targets[:, -1] == inputs[:, -1] + 1)
    with pytest.raises(RnnlabError, match="needs at least 11"):
        sample_windows(np.arange(10), 10, 1)


def test_char_lm_measurement_is_per_sequence_and_both_losses_agree_at_the_end():
    model = fresh_char_lm(vocab_size=7, cell="lstm", hidden=8, layers=2, embedding=5, seed=1)
    ids = torch.randint(0, 7, (3, 11), generator=torch.Generator().manual_seed(0))
    targets = torch.roll(ids, -1, dims=1)
    report = char_lm_gradient_flow(model, ids, targets)
    assert report.last.norms.shape == (2, 11, 3)
    # h_T of every layer reaches only the loss at step T, so both losses agree there.
    np.testing.assert_allclose(report.every.norms[:, -1], report.last.norms[:, -1], rtol=1e-12)
    # Sequences are independent: measuring one alone gives its row of the batch measurement.
    alone = char_lm_gradient_flow(model, ids[1:2], targets[1:2])
    np.testing.assert_allclose(alone.last.norms[..., 0], report.last.norms[..., 1], rtol=1e-10)
    assert "many-to-one, layer 2 (top)" in report.summary()


def test_init_scale_sets_the_recurrent_std_only():
    default = fresh_char_lm(10, "lstm", 64, 1, 8, init_scale=None, seed=0)
    scaled = fresh_char_lm(10, "lstm", 64, 1, 8, init_scale=2.0, seed=0)
    zero = fresh_char_lm(10, "lstm", 64, 1, 8, init_scale=0.0, seed=0)
    w = scaled.encoder.rnn.weight_hh_l0.detach()
    assert float(w.std()) == pytest.approx(2.0 / 8.0, rel=0.03)   # 16,384 draws of N(0, 4/64)
    assert float(zero.encoder.rnn.weight_hh_l0.detach().abs().max()) == 0.0
    torch.testing.assert_close(scaled.encoder.rnn.weight_ih_l0, default.encoder.rnn.weight_ih_l0)
    torch.testing.assert_close(scaled.head.weight, default.head.weight)
    with pytest.raises(RnnlabError, match="init scale"):
        fresh_char_lm(10, "gru", 8, 1, 8, init_scale=-1.0)
