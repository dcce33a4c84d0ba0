"""Truncated BPTT equals autograd on a model whose state is detached at every window start.

Windows are [0, k), [k, 2k), ... in absolute time. Two independent PyTorch references:

* unidirectional: the whole nn.RNN/LSTM/GRU module is run window by window, each window
  starting from the previous window's final state `.detach()`ed (the usual way to train with
  truncated BPTT in PyTorch);
* any direction: a step-by-step loop over nn.RNNCell/LSTMCell/GRUCell (for minGRU/minLSTM
  the paper's equations, paper_min_cells.py) that detaches the state
  wherever it crosses a window boundary, for the reverse direction as well (the semantics
  documented in RecurrentNetwork.backward).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.reference import RecurrentNetwork

from .paper_min_cells import PaperCell
from .test_network_vs_torch import CELL_IDS, CELLS, TorchTwin, assert_close

SEQ_LEN = 7
WINDOWS = [1, 2, 3, 4, 7, 9]  # 2, 3, 4 do not divide 7; 7 and 9 mean "no cut at all"


def make_case(cell_type, nonlinearity, num_layers, bidirectional, seed=0, output_size=3):
    net = RecurrentNetwork(cell_type, 4, input_size=3, num_layers=num_layers, bidirectional=bidirectional,
                           output_size=output_size, nonlinearity=nonlinearity, seed=seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((2, SEQ_LEN, 3))
    initial = tuple(0.5 * rng.standard_normal(net.state_shape(2)) for _ in net.state_names)
    outputs, final, cache = net.forward(x, net.join_state(initial))
    probe_outputs = rng.standard_normal(outputs.shape)
    probe_states = tuple(rng.standard_normal(part.shape) for part in net.split_state(final))
    return net, x, initial, cache, probe_outputs, probe_states


def probe_loss(outputs, final_parts, probe_outputs, probe_states):
    loss = (outputs * torch.from_numpy(probe_outputs)).sum()
    for part, probe in zip(final_parts, probe_states):
        loss = loss + (part * torch.from_numpy(probe)).sum()
    return loss


def assert_gradients_match(net, grads, param_grads, x_t, initial_t):
    for name, value in param_grads.items():
        assert_close(f"d {name}", grads.params[name], value)
    assert_close("d h0", grads.h0, initial_t[0].grad.numpy())
    if len(initial_t) == 2:
        assert_close("d c0", grads.c0, initial_t[1].grad.numpy())
    assert_close("d inputs", grads.inputs, x_t.grad.numpy())


# ------------------------------------------------------------- reference 1: whole module, by window


def module_by_windows(twin: TorchTwin, x_t, initial_t, k: int):
    """Run the torch module on windows of k steps, detaching the state between windows."""
    state = initial_t if len(initial_t) == 2 else initial_t[0]
    outputs = []
    for start in range(0, SEQ_LEN, k):
        if start > 0:
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        window_outputs, state = twin(x_t[:, start:start + k], state)
        outputs.append(window_outputs)
    return torch.cat(outputs, dim=1), (state if isinstance(state, tuple) else (state,))


@pytest.mark.parametrize("k", WINDOWS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize(("cell_type", "nonlinearity"), CELLS, ids=CELL_IDS)
def test_unidirectional_matches_module_run_window_by_window(cell_type, nonlinearity, num_layers, k):
    net, x, initial, cache, probe_outputs, probe_states = make_case(cell_type, nonlinearity, num_layers, False)
    grads = net.backward(probe_outputs, cache, d_final_state=net.join_state(probe_states), truncate=k)

    twin = TorchTwin(net)
    x_t = torch.from_numpy(x.copy()).requires_grad_()
    initial_t = tuple(torch.from_numpy(part.copy()).requires_grad_() for part in initial)
    outputs_t, final_t = module_by_windows(twin, x_t, initial_t, k)
    probe_loss(outputs_t, final_t, probe_outputs, probe_states).backward()
    assert_gradients_match(net, grads, {n: p.grad.numpy() for n, p in twin.named_parameters()}, x_t, initial_t)


# ------------------------------------------------------- reference 2: step by step, both directions


def cells_step_by_step(net: RecurrentNetwork, x_t, initial_t, k: int):
    """A hand-written torch loop over nn.*Cell modules, detaching where the state crosses a boundary.

    Boundary b (1 <= b < T, b % k == 0) lies between steps b-1 and b. The forward direction
    crosses it when entering step b, the reverse direction when entering step b-1.
    Returns (outputs, final state parts, {state_dict name: parameter}).
    """
    if net.cell_type in ("mingru", "minlstm"):   # the paper's equations (paper_min_cells.py)
        def cell_class(input_size, hidden_size):
            return PaperCell(net.cell_type, input_size, hidden_size)
    else:
        cell_class = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell,
                      "gru": torch.nn.GRUCell}[net.cell_type]
    extra = {"nonlinearity": net.nonlinearity} if net.cell_type == "rnn" else {}
    is_lstm = net.cell_type == "lstm"
    parameters = {}
    finals = [[None] * (net.num_layers * net.num_directions) for _ in net.state_names]
    layer_input = x_t
    for layer in range(net.num_layers):
        direction_outputs = []
        for direction in range(net.num_directions):
            row = layer * net.num_directions + direction
            cell = cell_class(layer_input.shape[2], net.hidden_size, **extra).double()
            for name, value in net.layer_params(layer, direction).items():
                getattr(cell, name).data = torch.from_numpy(value.copy())
                parameters[net.rnn_param_name(name, layer, direction)] = getattr(cell, name)
            state = tuple(part[row] for part in initial_t)
            reverse = direction == 1
            steps = range(SEQ_LEN - 1, -1, -1) if reverse else range(SEQ_LEN)
            outputs = [None] * SEQ_LEN
            for t in steps:
                boundary = t + 1 if reverse else t
                if 0 < boundary < SEQ_LEN and boundary % k == 0:
                    state = tuple(s.detach() for s in state)
                new = cell(layer_input[:, t], state if is_lstm else state[0])
                state = new if is_lstm else (new,)
                outputs[t] = state[0]
            for position, part in enumerate(state):
                finals[position][row] = part
            direction_outputs.append(torch.stack(outputs, dim=1))
        layer_input = torch.cat(direction_outputs, dim=2)
    head_weight = torch.from_numpy(net.params["head.weight"].copy()).requires_grad_()
    head_bias = torch.from_numpy(net.params["head.bias"].copy()).requires_grad_()
    parameters["head.weight"], parameters["head.bias"] = head_weight, head_bias
    outputs = layer_input @ head_weight.T + head_bias
    return outputs, tuple(torch.stack(rows) for rows in finals), parameters


@pytest.mark.parametrize("k", WINDOWS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize(("cell_type", "nonlinearity"), CELLS, ids=CELL_IDS)
def test_matches_step_by_step_detach_both_directions(cell_type, nonlinearity, bidirectional, k):
    net, x, initial, cache, probe_outputs, probe_states = make_case(
        cell_type, nonlinearity, num_layers=2, bidirectional=bidirectional, seed=4)
    grads = net.backward(probe_outputs, cache, d_final_state=net.join_state(probe_states), truncate=k)

    x_t = torch.from_numpy(x.copy()).requires_grad_()
    initial_t = tuple(torch.from_numpy(part.copy()).requires_grad_() for part in initial)
    outputs_t, final_t, parameters = cells_step_by_step(net, x_t, initial_t, k)
    # The reference runs the same forward computation: values must agree before gradients can.
    assert_close("outputs", net.forward(x, net.join_state(initial))[0], outputs_t.detach().numpy())
    probe_loss(outputs_t, final_t, probe_outputs, probe_states).backward()
    assert grads.params.keys() == parameters.keys()
    assert_gradients_match(net, grads, {n: p.grad.numpy() for n, p in parameters.items()}, x_t, initial_t)


# -------------------------------------------------------------------------------- properties


@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_window_at_least_as_long_as_sequence_is_exact_bptt(cell_type):
    net, _, _, cache, probe_outputs, probe_states = make_case(cell_type, "tanh", 2, True, seed=8)
    full = net.backward(probe_outputs, cache, d_final_state=net.join_state(probe_states))
    for k in (SEQ_LEN, SEQ_LEN + 5):
        truncated = net.backward(probe_outputs, cache, d_final_state=net.join_state(probe_states), truncate=k)
        for name in full.params:
            np.testing.assert_array_equal(truncated.params[name], full.params[name])
        np.testing.assert_array_equal(truncated.inputs, full.inputs)


def test_truncation_really_cuts():
    """A loss on the last step only: with k=2 the inputs before the last window get no gradient."""
    net = RecurrentNetwork("gru", 4, input_size=3, seed=0)
    x = np.random.default_rng(0).standard_normal((2, SEQ_LEN, 3))
    outputs, _, cache = net.forward(x)
    d_outputs = np.zeros_like(outputs)
    d_outputs[:, -1] = 1.0
    grads = net.backward(d_outputs, cache, truncate=2)  # windows [0,2) [2,4) [4,6) [6,7)
    assert np.all(grads.inputs[:, :6] == 0) and np.all(grads.inputs[:, 6] != 0)
    assert np.all(grads.h0 == 0)
    full = net.backward(d_outputs, cache)
    assert np.all(full.inputs[:, 0] != 0) and np.any(full.h0 != 0)
