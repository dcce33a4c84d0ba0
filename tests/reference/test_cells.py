"""One time step of each cell: hand-worked values, PyTorch's single-step cells, and the backward step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.reference import GRUCell, LSTMCell, RNNCell, make_cell
from rnnlab.reference.cells import MinGRUCell, MinLSTMCell, log_sigmoid, sigmoid

from .paper_min_cells import PaperCell

TORCH_CELLS = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}
CASES = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]
CASE_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def logistic(v: float) -> float:
    """The textbook formula, in plain floats, for hand-worked expectations."""
    return 1 / (1 + math.exp(-v))


def scalar_params(weight_ih, weight_hh, bias_ih, bias_hh):
    """Parameters of a cell with D = H = 1, one number per gate."""
    return {"weight_ih": np.array(weight_ih, dtype=float)[:, None],
            "weight_hh": np.array(weight_hh, dtype=float)[:, None],
            "bias_ih": np.array(bias_ih, dtype=float), "bias_hh": np.array(bias_hh, dtype=float)}


# ----------------------------------------------------------------------- hand-worked examples


def test_rnn_step_by_hand():
    cell = RNNCell(1, 1, params=scalar_params([0.5], [-1.0], [0.1], [0.2]))
    (h,) = cell.forward(np.array([[2.0]]), (np.array([[0.3]]),))
    assert h[0, 0] == pytest.approx(math.tanh(0.5 * 2 + 0.1 - 0.3 + 0.2), rel=1e-15)
    relu = RNNCell(1, 1, "relu", params=scalar_params([0.5], [-1.0], [0.1], [0.2]))
    assert relu.forward(np.array([[2.0]]), (np.array([[0.3]]),))[0][0, 0] == pytest.approx(1.0)
    assert relu.forward(np.array([[-2.0]]), (np.array([[0.3]]),))[0][0, 0] == 0.0


def test_lstm_step_by_hand_gate_order_is_i_f_g_o():
    # Only the input weights differ per gate, so a swapped gate order changes the result.
    cell = LSTMCell(1, 1, params=scalar_params([1.0, 2.0, 3.0, 4.0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]))
    x, c = 0.5, 0.25
    h_new, c_new = cell.forward(np.array([[x]]), (np.array([[0.7]]), np.array([[c]])))

    i, f, g, o = logistic(1.0 * x), logistic(2.0 * x), math.tanh(3.0 * x), logistic(4.0 * x)
    expected_c = f * c + i * g
    assert c_new[0, 0] == pytest.approx(expected_c, rel=1e-14)
    assert h_new[0, 0] == pytest.approx(o * math.tanh(expected_c), rel=1e-14)


def test_gru_applies_reset_after_the_hidden_bias_like_pytorch():
    # r scales (W_hn h + b_hn): with b_hn != 0 this differs from the paper's W_hn (r * h).
    cell = GRUCell(1, 1, params=scalar_params([0.3, -0.2, 0.8], [0.5, 0.4, -0.6], [0.1, 0.0, 0.2], [0.0, 0.1, 0.7]))
    x, h = 1.5, -0.4

    r = logistic(0.3 * x + 0.1 + 0.5 * h)
    z = logistic(-0.2 * x + 0.4 * h + 0.1)
    n = math.tanh(0.8 * x + 0.2 + r * (-0.6 * h + 0.7))
    (h_new,) = cell.forward(np.array([[x]]), (np.array([[h]]),))
    assert h_new[0, 0] == pytest.approx((1 - z) * n + z * h, rel=1e-14)


def test_sigmoid_is_stable_and_exact():
    values = np.array([-800.0, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        result = sigmoid(values)
    expected = [0.0, math.exp(-30) / (1 + math.exp(-30)), logistic(-1), 0.5, logistic(1), logistic(30), 1.0]
    np.testing.assert_allclose(result, expected, rtol=1e-15, atol=0)


# ------------------------------------------------------------------- against PyTorch's cells


def torch_cell_with(cell, params, nonlinearity):
    extra = {"nonlinearity": nonlinearity} if isinstance(cell, RNNCell) else {}
    kind = {RNNCell: "rnn", LSTMCell: "lstm", GRUCell: "gru"}[type(cell)]
    twin = TORCH_CELLS[kind](cell.input_size, cell.hidden_size, **extra).double()
    twin.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in params.items()}, strict=True)
    return twin


@pytest.mark.parametrize(("cell_type", "nonlinearity"), CASES, ids=CASE_IDS)
def test_one_step_forward_and_backward_match_torch_cell(cell_type, nonlinearity):
    rng = np.random.default_rng(3)
    cell = make_cell(cell_type, 3, 5, nonlinearity)
    params = cell.init_params(rng)
    x = rng.standard_normal((4, 3))
    state = tuple(rng.standard_normal((4, 5)) for _ in cell.state_names)

    new_state, step_cache = cell.step_forward(cell.project_inputs(x, params), state, params)
    d_new_state = tuple(rng.standard_normal((4, 5)) for _ in cell.state_names)
    d_gates_x, d_gates_h, d_prev = cell.step_backward(d_new_state, step_cache, params)
    # One step = a sequence of length 1: add the time axis the stacked-gradient helpers expect.
    d_params = cell.parameter_gradients(x[:, None], state[0][:, None], d_gates_x[:, None], d_gates_h[:, None])
    d_x = cell.input_gradient(d_gates_x[:, None], params)[:, 0]

    twin = torch_cell_with(cell, params, nonlinearity)
    x_t = torch.from_numpy(x).requires_grad_()
    state_t = tuple(torch.from_numpy(s.copy()).requires_grad_() for s in state)
    out = twin(x_t, state_t if cell_type == "lstm" else state_t[0])
    out = out if cell_type == "lstm" else (out,)
    sum(((o * torch.from_numpy(d)).sum() for o, d in zip(out, d_new_state))).backward()

    for ours, theirs in zip(new_state, out):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
    for name, p in twin.named_parameters():
        np.testing.assert_allclose(d_params[name], p.grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=name)
    for ours, theirs in zip(d_prev, state_t):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(d_x, x_t.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(("cell_type", "nonlinearity"), CASES, ids=CASE_IDS)
def test_projecting_all_steps_at_once_equals_step_by_step(cell_type, nonlinearity):
    rng = np.random.default_rng(0)
    cell = make_cell(cell_type, 2, 3, nonlinearity)
    params = cell.init_params(rng)
    x = rng.standard_normal((4, 6, 2))  # (B, T, D)
    all_steps = cell.project_inputs(x, params)  # (B, T, G*H)
    assert all_steps.shape == (4, 6, cell.num_gates * 3)
    for t in range(6):
        np.testing.assert_allclose(all_steps[:, t], cell.project_inputs(x[:, t], params), rtol=1e-14)


def test_stacked_weight_gradients_equal_sum_of_per_step_outer_products():
    rng = np.random.default_rng(1)
    x, h_prev = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 4))
    d_gates_x, d_gates_h = rng.standard_normal((2, 5, 8)), rng.standard_normal((2, 5, 8))
    grads = RNNCell.parameter_gradients(x, h_prev, d_gates_x, d_gates_h)
    expected_ih = sum(np.outer(d_gates_x[b, t], x[b, t]) for b in range(2) for t in range(5))
    expected_hh = sum(np.outer(d_gates_h[b, t], h_prev[b, t]) for b in range(2) for t in range(5))
    np.testing.assert_allclose(grads["weight_ih"], expected_ih, rtol=1e-13)
    np.testing.assert_allclose(grads["weight_hh"], expected_hh, rtol=1e-13)
    np.testing.assert_allclose(grads["bias_ih"], d_gates_x.sum(axis=(0, 1)), rtol=1e-13)
    np.testing.assert_allclose(grads["bias_hh"], d_gates_h.sum(axis=(0, 1)), rtol=1e-13)


# ------------------------------------------------------------------------- shapes and setup


@pytest.mark.parametrize(("cell_type", "gates"), [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_parameter_shapes_match_torch(cell_type, gates):
    cell = make_cell(cell_type, 3, 5)
    twin = TORCH_CELLS[cell_type](3, 5)
    assert cell.parameter_shapes() == {name: tuple(p.shape) for name, p in twin.named_parameters()}
    assert cell.parameter_shapes()["weight_ih"] == (gates * 5, 3)


def test_init_is_uniform_within_one_over_sqrt_hidden_and_seeded():
    cell = LSTMCell(3, 16)
    params = cell.init_params(np.random.default_rng(0))
    bound = 1 / math.sqrt(16)
    for value in params.values():
        assert np.abs(value).max() <= bound and np.abs(value).max() > 0.8 * bound
    again = cell.init_params(np.random.default_rng(0))
    assert all(np.array_equal(params[n], again[n]) for n in params)
    assert cell.init_params(np.random.default_rng(0), np.float32)["weight_ih"].dtype == np.float32


def test_cell_owning_parameters_and_cell_without_them():
    cell = GRUCell(2, 3)
    with pytest.raises(RnnlabError, match="has no parameters: pass params="):
        cell.forward(np.zeros((1, 2)), cell.zero_state(1))
    cell.params = cell.init_params(np.random.default_rng(0))
    (h,) = cell.forward(np.ones((1, 2)), cell.zero_state(1))
    assert h.shape == (1, 3)


def test_make_cell_rejects_bad_names():
    with pytest.raises(RnnlabError, match="cell_type must be one of 'rnn', 'lstm', 'gru', 'mingru', "
                                          "'minlstm', got 'transformer'"):
        make_cell("transformer", 2, 3)
    with pytest.raises(RnnlabError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        make_cell("rnn", 2, 3, "sigmoid")
    with pytest.raises(RnnlabError, match="only applies to cell_type='rnn'"):
        make_cell("lstm", 2, 3, "relu")
    with pytest.raises(RnnlabError, match="hidden_size must be a positive integer, got 0"):
        make_cell("gru", 2, 0)


# ---------------------------------------------------------------------- minGRU and minLSTM


def g_by_hand(v: float) -> float:
    """The paper's positive candidate: v + 1/2 for v >= 0, the logistic function below."""
    return v + 0.5 if v >= 0 else logistic(v)


def test_mingru_step_by_hand():
    # D = H = 1, blocks z, candidate; the candidate's projection is negative here (g = σ).
    cell = MinGRUCell(1, 1, params={"weight_ih": np.array([[0.5], [-2.0]]),
                                    "bias_ih": np.array([0.1, 0.3])})
    x, h = 1.5, -0.4
    z = logistic(0.5 * x + 0.1)
    expected = (1 - z) * h + z * g_by_hand(-2.0 * x + 0.3)
    (h_new,) = cell.forward(np.array([[x]]), (np.array([[h]]),))
    assert h_new[0, 0] == pytest.approx(expected, rel=1e-14)
    # a positive projection: g(v) = v + 1/2
    (h_new,) = cell.forward(np.array([[-1.0]]), (np.array([[h]]),))
    z = logistic(-0.5 + 0.1)
    assert h_new[0, 0] == pytest.approx((1 - z) * h + z * (2.0 + 0.3 + 0.5), rel=1e-14)


def test_minlstm_step_by_hand_normalises_forget_and_input():
    cell = MinLSTMCell(1, 1, params={"weight_ih": np.array([[1.0], [-1.0], [0.5]]),
                                     "bias_ih": np.array([0.0, 0.2, -0.1])})
    x, h = 0.8, 0.3
    f, i = logistic(1.0 * x), logistic(-1.0 * x + 0.2)
    expected = f / (f + i) * h + i / (f + i) * g_by_hand(0.5 * x - 0.1)
    (h_new,) = cell.forward(np.array([[x]]), (np.array([[h]]),))
    assert h_new[0, 0] == pytest.approx(expected, rel=1e-14)


def test_minlstm_stays_finite_where_both_gates_underflow():
    """σ(-800) is 0 in float64: the textbook f / (f + i) would be 0/0; the cell's
    σ(log f − log i) gives the limit, f/(f+i) = exp(-800)/(exp(-800)+exp(-900)) ≈ 1."""
    cell = MinLSTMCell(1, 1, params={"weight_ih": np.zeros((3, 1)),
                                     "bias_ih": np.array([-800.0, -900.0, 1.0])})
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        (h_new,) = cell.forward(np.zeros((1, 1)), (np.array([[0.25]]),))
    assert h_new[0, 0] == pytest.approx(0.25, rel=1e-12)
    assert log_sigmoid(np.array([-800.0]))[0] == pytest.approx(-800.0, rel=1e-15)
    assert log_sigmoid(np.array([800.0]))[0] == 0.0


@pytest.mark.parametrize("cell_type", ["mingru", "minlstm"])
def test_min_cell_step_forward_and_backward_match_the_papers_equations(cell_type):
    rng = np.random.default_rng(4)
    cell = make_cell(cell_type, 3, 5)
    params = cell.init_params(rng)
    params = {name: 3 * value for name, value in params.items()}   # both branches of g
    x = rng.standard_normal((4, 3))
    state = (rng.standard_normal((4, 5)),)
    new_state, step_cache = cell.step_forward(cell.project_inputs(x, params), state, params)
    d_new = rng.standard_normal((4, 5))
    d_gates_x, d_gates_h, (d_h,) = cell.step_backward((d_new,), step_cache, params)
    assert d_gates_h is None                       # no hidden-to-hidden projection
    d_params = cell.parameter_gradients(x[:, None], state[0][:, None], d_gates_x[:, None], None)
    d_x = cell.input_gradient(d_gates_x[:, None], params)[:, 0]

    twin = PaperCell(cell_type, 3, 5).double()
    twin.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in params.items()},
                         strict=True)
    x_t = torch.from_numpy(x).requires_grad_()
    h_t = torch.from_numpy(state[0].copy()).requires_grad_()
    out = twin(x_t, h_t)
    (out * torch.from_numpy(d_new)).sum().backward()
    np.testing.assert_allclose(new_state[0], out.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert d_params.keys() == {"weight_ih", "bias_ih"}
    for name, p in twin.named_parameters():
        np.testing.assert_allclose(d_params[name], p.grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(d_h, h_t.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(d_x, x_t.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(("cell_type", "gates"), [("mingru", 2), ("minlstm", 3)])
def test_min_cell_parameters_are_one_linear_map(cell_type, gates):
    cell = make_cell(cell_type, 3, 5)
    assert cell.parameter_shapes() == {"weight_ih": (gates * 5, 3), "bias_ih": (gates * 5,)}
    assert cell.parameter_shapes() == {name: tuple(p.shape) for name, p in
                                       PaperCell(cell_type, 3, 5).named_parameters()}
    params = cell.init_params(np.random.default_rng(0))
    bound = 1 / math.sqrt(3)                   # nn.Linear's: 1/sqrt(fan-in)
    assert all(np.abs(v).max() <= bound and np.abs(v).max() > 0.5 * bound for v in params.values())
