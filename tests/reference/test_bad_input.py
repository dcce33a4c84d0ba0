"""User mistakes raise RnnlabError (a ValueError) whose message names what was expected."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rnnlab.errors import RnnlabError
from rnnlab.reference import RecurrentNetwork, mean_squared_error, softmax_cross_entropy


def dense_net(**overrides):
    config = dict(input_size=5, num_layers=2, bidirectional=True, output_size=3, seed=0)
    config.update(overrides)
    return RecurrentNetwork("lstm", 4, **config)


def token_net():
    return RecurrentNetwork("gru", 4, vocab_size=10, embedding_dim=3, output_size=10, seed=0)


def test_rnnlab_error_is_a_value_error():
    with pytest.raises(ValueError):
        dense_net().forward(np.zeros((4, 7, 3)))


# ------------------------------------------------------------------------------------ inputs


def test_dense_input_with_wrong_feature_size():
    expected = "x has shape (4, 7, 3) but the network expects (B, T, 5): input_size is 5"
    with pytest.raises(RnnlabError, match=re.escape(expected)):
        dense_net().forward(np.zeros((4, 7, 3)))


def test_dense_input_with_wrong_rank():
    with pytest.raises(RnnlabError, match=re.escape("x has shape (7, 5) but the network expects (B, T, 5)")):
        dense_net().forward(np.zeros((7, 5)))


def test_dense_input_with_wrong_dtype():
    with pytest.raises(RnnlabError, match="x has dtype float32 but the network's parameters are float64"):
        dense_net().forward(np.zeros((2, 3, 5), dtype=np.float32))
    with pytest.raises(RnnlabError, match="x has dtype float64 but the network's parameters are float32"):
        dense_net(dtype=np.float32).forward(np.zeros((2, 3, 5)))


def test_input_that_is_not_an_array():
    with pytest.raises(RnnlabError, match="inputs must be a numpy array, got list"):
        dense_net().forward([[[0.0] * 5]])


def test_empty_sequence():
    with pytest.raises(RnnlabError, match=re.escape("x has shape (2, 0, 5): the batch size B and length T")):
        dense_net().forward(np.zeros((2, 0, 5)))


@pytest.mark.parametrize("bad_id", [10, 57, -1])
def test_token_id_out_of_range(bad_id):
    tokens = np.array([[1, 2, 3], [4, bad_id, 0]])
    with pytest.raises(RnnlabError, match=re.escape(f"token id {bad_id} is out of range: expected ids in [0, 9]")):
        token_net().forward(tokens)


def test_token_ids_must_be_integers_of_rank_two():
    with pytest.raises(RnnlabError, match="token ids must have an integer dtype, got float64"):
        token_net().forward(np.array([[1.0, 2.0]]))
    with pytest.raises(RnnlabError, match=re.escape("token ids have shape (2, 3, 1) but the network expects (B, T)")):
        token_net().forward(np.zeros((2, 3, 1), dtype=int))


# ------------------------------------------------------------------------------ states, grads


def test_initial_state_with_wrong_shape():
    net = dense_net()  # 2 layers x 2 directions -> 4 rows
    h0, c0 = np.zeros((2, 3, 4)), np.zeros((4, 3, 4))
    expected = ("initial_state h0 has shape (2, 3, 4) but expected (4, 3, 4) "
                "= (num_layers * num_directions, B, hidden_size)")
    with pytest.raises(RnnlabError, match=re.escape(expected)):
        net.forward(np.zeros((3, 2, 5)), (h0, c0))


def test_initial_state_of_the_wrong_kind():
    with pytest.raises(RnnlabError, match=r"initial_state for an LSTM must be a tuple \(h, c\)"):
        dense_net().forward(np.zeros((3, 2, 5)), np.zeros((4, 3, 4)))
    with pytest.raises(RnnlabError, match="initial_state for a GRU must be a single array h"):
        token_net().forward(np.zeros((1, 2), dtype=int), (np.zeros((1, 1, 4)),))


def test_initial_state_with_wrong_dtype():
    h0, c0 = np.zeros((4, 3, 4)), np.zeros((4, 3, 4), dtype=np.float32)
    with pytest.raises(RnnlabError, match="initial_state c0 has dtype float32 but the network's parameters are float64"):
        dense_net().forward(np.zeros((3, 2, 5)), (h0, c0))


def test_backward_with_wrong_gradient_shape_or_truncate():
    net = dense_net()
    outputs, _, cache = net.forward(np.zeros((3, 2, 5)))
    with pytest.raises(RnnlabError, match=re.escape("d_outputs has shape (3, 2, 4) but expected (3, 2, 3)")):
        net.backward(np.zeros((3, 2, 4)), cache)
    with pytest.raises(RnnlabError, match=re.escape("d_final_state c_n has shape (4, 3, 5) but expected (4, 3, 4)")):
        net.backward(outputs, cache, d_final_state=(None, np.zeros((4, 3, 5))))
    with pytest.raises(RnnlabError, match="truncate must be None or a positive integer number of steps, got 0"):
        net.backward(outputs, cache, truncate=0)
    with pytest.raises(RnnlabError, match="cache must be the third value returned by forward, got tuple"):
        net.backward(outputs, (1, 2))


# ----------------------------------------------------------------------------- weights dict


def test_weights_dict_with_a_missing_key():
    net = dense_net()
    weights = net.state_dict()
    del weights["rnn.bias_hh_l1_reverse"]
    with pytest.raises(RnnlabError, match=r"missing keys \['rnn.bias_hh_l1_reverse'\]. Expected exactly these keys"):
        net.load_state_dict(weights)


def test_weights_dict_with_an_unexpected_key():
    net = dense_net()
    weights = net.state_dict()
    weights["rnn.weight_ih_l2"] = np.zeros((16, 8))
    with pytest.raises(RnnlabError, match=r"unexpected keys \['rnn.weight_ih_l2'\]"):
        net.load_state_dict(weights)


def test_weights_dict_with_a_wrong_shape():
    net = dense_net()
    weights = net.state_dict()
    weights["rnn.weight_ih_l0"] = np.zeros((16, 3))
    expected = "weight 'rnn.weight_ih_l0' has shape (16, 3) but the network expects (16, 5)"
    with pytest.raises(RnnlabError, match=re.escape(expected)):
        net.load_state_dict(weights)
    # A failed load leaves the network as it was.
    assert net.params["rnn.weight_ih_l0"].shape == (16, 5)


def test_loaded_weights_are_cast_to_the_network_dtype():
    net = dense_net()
    weights = {name: value.astype(np.float32) for name, value in net.state_dict().items()}
    net.load_state_dict(weights)
    assert net.dtype == np.float64
    with pytest.raises(RnnlabError, match="weight 'head.bias' has dtype int64; expected floating point"):
        net.load_state_dict({**weights, "head.bias": np.zeros(3, dtype=np.int64)})


# ---------------------------------------------------------------------------- configuration


def test_bad_network_configuration():
    with pytest.raises(RnnlabError, match="give exactly one of input_size .* or vocab_size"):
        RecurrentNetwork("lstm", 4)
    with pytest.raises(RnnlabError, match="give exactly one of input_size"):
        RecurrentNetwork("lstm", 4, input_size=3, vocab_size=10, embedding_dim=2)
    with pytest.raises(RnnlabError, match="vocab_size was given, so embedding_dim is needed"):
        RecurrentNetwork("lstm", 4, vocab_size=10)
    with pytest.raises(RnnlabError, match="num_layers must be a positive integer, got 0"):
        RecurrentNetwork("lstm", 4, input_size=3, num_layers=0)
    with pytest.raises(RnnlabError, match="dtype must be float32 or float64, got float16"):
        RecurrentNetwork("lstm", 4, input_size=3, dtype=np.float16)
    with pytest.raises(RnnlabError, match="cell_type must be one of 'rnn', 'lstm', 'gru', "
                                          "'mingru', 'minlstm', got 'LSTM'"):
        RecurrentNetwork("LSTM", 4, input_size=3)


# ------------------------------------------------------------------------------------ losses


def test_cross_entropy_bad_targets():
    logits = np.zeros((2, 3, 4))
    with pytest.raises(RnnlabError, match=re.escape("targets have shape (3, 2) but expected (2, 3)")):
        softmax_cross_entropy(logits, np.zeros((3, 2), dtype=int))
    with pytest.raises(RnnlabError, match=re.escape("target 4 is out of range: expected class ids in [0, 3]")):
        softmax_cross_entropy(logits, np.array([[0, 1, 2], [3, 4, 0]]))
    with pytest.raises(RnnlabError, match="targets must be integer class ids, got dtype float64"):
        softmax_cross_entropy(logits, np.zeros((2, 3)))
    with pytest.raises(RnnlabError, match="no tokens to average over"):
        softmax_cross_entropy(logits, np.zeros((2, 3), dtype=int), mask=np.zeros((2, 3), dtype=bool))
    with pytest.raises(RnnlabError, match=re.escape("logits have shape (2, 4) but expected (B, T, V)")):
        softmax_cross_entropy(np.zeros((2, 4)), np.zeros((2, 3), dtype=int))


def test_mse_bad_targets():
    with pytest.raises(RnnlabError, match=re.escape("targets have shape (2, 3) but expected (2, 3, 1)")):
        mean_squared_error(np.zeros((2, 3, 1)), np.zeros((2, 3)))
