"""Every gradient of backward() agrees with central finite differences, and gradcheck catches bugs."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.reference import (
    GradcheckReport,
    LSTMCell,
    RecurrentNetwork,
    gradcheck,
    mean_squared_error,
    softmax_cross_entropy,
)

TOLERANCE = 1e-6
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh"),
         ("mingru", "tanh"), ("minlstm", "tanh")]
CELL_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru", "mingru", "minlstm"]


def expected_tensor_names(net: RecurrentNetwork) -> set[str]:
    names = set(net.params) | {"h0"}
    if net.cell_type == "lstm":
        names.add("c0")
    if not net.uses_embedding:
        names.add("inputs")
    return names


@pytest.mark.parametrize(("cell_type", "nonlinearity"), CELLS, ids=CELL_IDS)
def test_two_layer_dense_network_passes_on_every_entry(cell_type, nonlinearity):
    net = RecurrentNetwork(cell_type, 3, input_size=2, num_layers=2, output_size=2,
                           nonlinearity=nonlinearity, seed=1)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 2))
    initial = tuple(0.5 * rng.standard_normal(net.state_shape(2)) for _ in net.state_names)
    report, passed = gradcheck(net, x, net.join_state(initial), max_entries_per_tensor=None, tolerance=TOLERANCE)
    assert passed, str(report)
    assert set(report.relative_errors) == expected_tensor_names(net)
    for name in ("rnn.weight_ih_l1", "rnn.weight_hh_l1"):      # minGRU/minLSTM: no weight_hh
        if name in net.params:
            assert report.entries_checked[name] == net.params[name].size


@pytest.mark.parametrize(("cell_type", "nonlinearity"), CELLS, ids=CELL_IDS)
def test_bidirectional_token_network_with_cross_entropy(cell_type, nonlinearity):
    net = RecurrentNetwork(cell_type, 3, vocab_size=5, embedding_dim=2, bidirectional=True, output_size=5,
                           nonlinearity=nonlinearity, seed=2)
    rng = np.random.default_rng(2)
    tokens, targets = rng.integers(0, 5, (2, 4)), rng.integers(0, 5, (2, 4))
    targets[1, 3] = -1

    def loss_fn(logits):
        return softmax_cross_entropy(logits, targets, ignore_index=-1)

    report, passed = gradcheck(net, tokens, loss_fn=loss_fn, max_entries_per_tensor=None, tolerance=TOLERANCE)
    assert passed, str(report)
    assert set(report.relative_errors) == expected_tensor_names(net)  # embedding.weight, no 'inputs'


def test_mse_loss_and_a_network_without_head():
    net = RecurrentNetwork("gru", 3, input_size=2, num_layers=2, bidirectional=True, seed=3)
    rng = np.random.default_rng(3)
    x, targets = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3, 6))
    report, passed = gradcheck(net, x, loss_fn=lambda out: mean_squared_error(out, targets),
                               max_entries_per_tensor=None)
    assert passed, str(report)


def test_catches_a_wrong_gradient(monkeypatch):
    """Scale the cell-state gradient passed back by 1%: gradcheck must flag it."""
    original = LSTMCell.step_backward

    def slightly_wrong(self, d_state, step_cache, params):
        d_gates_x, d_gates_h, (d_h_prev, d_c_prev) = original(self, d_state, step_cache, params)
        return d_gates_x, d_gates_h, (d_h_prev, 1.01 * d_c_prev)

    monkeypatch.setattr(LSTMCell, "step_backward", slightly_wrong)
    net = RecurrentNetwork("lstm", 3, input_size=2, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 5, 2))
    report, passed = gradcheck(net, x)
    assert not passed
    assert report.relative_errors["c0"] > 1e-3
    assert report.relative_errors["rnn.weight_hh_l0"] > 1e-4
    assert "FAIL" in str(report) and "FAILED" in str(report)


def test_subset_of_entries_float32_network_untouched():
    net = RecurrentNetwork("rnn", 4, input_size=3, num_layers=2, output_size=2, dtype=np.float32, seed=0)
    before = net.state_dict()
    x = np.random.default_rng(0).standard_normal((2, 3, 3)).astype(np.float32)
    report, passed = gradcheck(net, x, max_entries_per_tensor=3, seed=5)
    assert passed, str(report)
    assert isinstance(report, GradcheckReport)
    assert all(count <= 3 for count in report.entries_checked.values())
    assert report.entries_checked["head.bias"] == 2  # smaller than the limit: all entries
    # The check ran on a float64 copy: the caller's network is exactly as it was.
    assert net.dtype == np.float32
    assert all(np.array_equal(before[name], net.params[name]) for name in before)
    name, error = report.worst
    assert report.relative_errors[name] == error == max(report.relative_errors.values())
