"""The NumPy network agrees with torch.autograd: outputs, final states and every gradient.

Each case builds a random RecurrentNetwork, copies its weights into the equivalent PyTorch
module (nn.Embedding + nn.RNN/LSTM/GRU + nn.Linear, batch_first, float64; for minGRU/minLSTM a
loop over the paper's equations, paper_min_cells.py), and differentiates the same scalar loss in
both:

    L = sum(R * outputs) + sum(S_h * h_n) [+ sum(S_c * c_n)]

with random R, S. Since dL/d outputs = R and dL/d final = S, this checks backward() against
autograd through every path at once.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from rnnlab.reference import RecurrentNetwork, mean_squared_error, softmax_cross_entropy

from .paper_min_cells import PaperRNN

TOLERANCE = 1e-9

CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh"),
         ("mingru", "tanh"), ("minlstm", "tanh")]
CELL_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru", "mingru", "minlstm"]
IO_MODES = ["dense", "dense+head", "tokens+head"]


# ---------------------------------------------------------------------------------- helpers


class TorchTwin(torch.nn.Module):
    """The PyTorch module whose state_dict names match RecurrentNetwork.params."""

    def __init__(self, net: RecurrentNetwork):
        super().__init__()
        if net.uses_embedding:
            self.embedding = torch.nn.Embedding(net.vocab_size, net.embedding_dim)
        if net.cell_type in ("mingru", "minlstm"):
            self.rnn = PaperRNN(net.cell_type, net.input_size, net.hidden_size,
                                num_layers=net.num_layers, bidirectional=net.bidirectional)
        else:
            rnn_class = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[net.cell_type]
            extra = {"nonlinearity": net.nonlinearity} if net.cell_type == "rnn" else {}
            self.rnn = rnn_class(net.input_size, net.hidden_size, num_layers=net.num_layers,
                                 bidirectional=net.bidirectional, batch_first=True, **extra)
        if net.output_size is not None:
            self.head = torch.nn.Linear(net.top_size, net.output_size)
        torch_dtype = torch.float64 if net.dtype == np.float64 else torch.float32
        self.to(torch_dtype)
        # strict=True: fails if any name or shape differs from the NumPy network's.
        self.load_state_dict({name: torch.from_numpy(value) for name, value in net.state_dict().items()},
                             strict=True)
        self.uses_embedding = net.uses_embedding
        self.has_head = net.output_size is not None

    def forward(self, inputs, initial_state=None):
        x = self.embedding(inputs) if self.uses_embedding else inputs
        top, final_state = self.rnn(x, initial_state)
        return (self.head(top) if self.has_head else top), final_state


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours - theirs| / max |theirs|: relative to the tensor's scale (0 if both are zero)."""
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    scale = np.abs(theirs).max()
    difference = np.abs(ours - theirs).max()
    return float(difference / scale) if scale > 0 else float(difference)


def assert_close(name: str, ours: np.ndarray, theirs, tolerance: float = TOLERANCE) -> None:
    error = relative_error(ours, theirs)
    assert error <= tolerance, f"{name}: relative error {error:.3e} > {tolerance:.0e}"


def random_case(cell_type, nonlinearity, num_layers, bidirectional, io_mode, seed):
    """A network with random sizes, its inputs, an initial state and the loss probes R, S."""
    rng = np.random.default_rng(seed)
    hidden_size = int(rng.integers(2, 7))
    batch_size, seq_len = int(rng.integers(1, 4)), int(rng.integers(1, 8))
    output_size = int(rng.integers(1, 5)) if "head" in io_mode else None
    if io_mode.startswith("tokens"):
        vocab_size, embedding_dim = int(rng.integers(2, 9)), int(rng.integers(1, 5))
        net = RecurrentNetwork(cell_type, hidden_size, vocab_size=vocab_size, embedding_dim=embedding_dim,
                               num_layers=num_layers, bidirectional=bidirectional,
                               output_size=output_size, nonlinearity=nonlinearity, seed=seed)
        inputs = rng.integers(0, vocab_size, size=(batch_size, seq_len))
    else:
        input_size = int(rng.integers(1, 6))
        net = RecurrentNetwork(cell_type, hidden_size, input_size=input_size, num_layers=num_layers,
                               bidirectional=bidirectional, output_size=output_size,
                               nonlinearity=nonlinearity, seed=seed)
        inputs = rng.standard_normal((batch_size, seq_len, input_size))
    state_shape = net.state_shape(batch_size)
    initial = tuple(0.5 * rng.standard_normal(state_shape) for _ in net.state_names)
    return net, inputs, initial, rng


def torch_gradients(net, twin, inputs, initial, probe_outputs, probe_states):
    """Run the twin with autograd; returns (outputs, final parts, param grads, state grads, input grad)."""
    if net.uses_embedding:
        inputs_t = torch.from_numpy(inputs)
    else:
        inputs_t = torch.from_numpy(inputs.copy()).requires_grad_()
    initial_t = [torch.from_numpy(part.copy()).requires_grad_() for part in initial]
    outputs, final = twin(inputs_t, net.join_state(tuple(initial_t)))
    final_parts = final if isinstance(final, tuple) else (final,)
    loss = (outputs * torch.from_numpy(probe_outputs)).sum()
    for part, probe in zip(final_parts, probe_states):
        loss = loss + (part * torch.from_numpy(probe)).sum()
    loss.backward()
    param_grads = {name: p.grad.numpy() for name, p in twin.named_parameters()}
    return (outputs.detach().numpy(), [f.detach().numpy() for f in final_parts], param_grads,
            [s.grad.numpy() for s in initial_t], None if net.uses_embedding else inputs_t.grad.numpy())


# ------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("io_mode", IO_MODES)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize(("cell_type", "nonlinearity"), CELLS, ids=CELL_IDS)
def test_forward_and_every_gradient_match_autograd(cell_type, nonlinearity, num_layers, bidirectional, io_mode):
    seed = zlib.crc32(f"{cell_type}-{nonlinearity}-{num_layers}-{bidirectional}-{io_mode}".encode())
    net, inputs, initial, rng = random_case(cell_type, nonlinearity, num_layers, bidirectional, io_mode, seed)
    twin = TorchTwin(net)

    outputs, final, cache = net.forward(inputs, net.join_state(initial))
    final_parts = net.split_state(final)
    probe_outputs = rng.standard_normal(outputs.shape)
    probe_states = tuple(rng.standard_normal(part.shape) for part in final_parts)
    grads = net.backward(probe_outputs, cache, d_final_state=net.join_state(probe_states))

    t_outputs, t_final, t_param_grads, t_state_grads, t_input_grad = torch_gradients(
        net, twin, inputs, initial, probe_outputs, probe_states)

    assert_close("outputs", outputs, t_outputs)
    for name, ours, theirs in zip(net.state_names, final_parts, t_final):
        assert_close(f"final {name}", ours, theirs)
    assert grads.params.keys() == t_param_grads.keys()
    for name in t_param_grads:
        assert_close(f"d {name}", grads.params[name], t_param_grads[name])
    assert_close("d h0", grads.h0, t_state_grads[0])
    if cell_type == "lstm":
        assert_close("d c0", grads.c0, t_state_grads[1])
    else:
        assert grads.c0 is None
    if net.uses_embedding:
        assert grads.inputs is None
    else:
        assert_close("d inputs", grads.inputs, t_input_grad)


@pytest.mark.parametrize(("cell_type", "nonlinearity"), CELLS, ids=CELL_IDS)
def test_default_zero_initial_state_and_output_only_loss(cell_type, nonlinearity):
    """initial_state=None means zeros (still differentiable); d_final_state=None means 0."""
    net, inputs, _, rng = random_case(cell_type, nonlinearity, 2, True, "dense+head", seed=11)
    twin = TorchTwin(net)
    outputs, _, cache = net.forward(inputs)
    probe_outputs = rng.standard_normal(outputs.shape)
    grads = net.backward(probe_outputs, cache)

    zeros = tuple(np.zeros(net.state_shape(inputs.shape[0])) for _ in net.state_names)
    no_probe = tuple(np.zeros_like(z) for z in zeros)
    t_outputs, _, t_param_grads, t_state_grads, t_input_grad = torch_gradients(
        net, twin, inputs, zeros, probe_outputs, no_probe)
    assert_close("outputs", outputs, t_outputs)
    for name in t_param_grads:
        assert_close(f"d {name}", grads.params[name], t_param_grads[name])
    assert_close("d h0", grads.h0, t_state_grads[0])
    assert_close("d inputs", grads.inputs, t_input_grad)


def test_final_state_only_loss():
    """d_outputs=None: the loss depends on the final state alone."""
    net, inputs, initial, rng = random_case("lstm", "tanh", 2, False, "dense", seed=5)
    twin = TorchTwin(net)
    outputs, final, cache = net.forward(inputs, net.join_state(initial))
    probe_states = tuple(rng.standard_normal(part.shape) for part in net.split_state(final))
    grads = net.backward(None, cache, d_final_state=probe_states)
    _, _, t_param_grads, t_state_grads, t_input_grad = torch_gradients(
        net, twin, inputs, initial, np.zeros_like(outputs), probe_states)
    for name in t_param_grads:
        assert_close(f"d {name}", grads.params[name], t_param_grads[name])
    assert_close("d c0", grads.c0, t_state_grads[1])
    assert_close("d inputs", grads.inputs, t_input_grad)


def test_repeated_tokens_accumulate_embedding_gradient():
    """The same token at several positions: its embedding row must receive the sum."""
    net = RecurrentNetwork("gru", 3, vocab_size=4, embedding_dim=2, output_size=2, seed=3)
    tokens = np.array([[1, 1, 1, 2], [2, 1, 0, 0]])
    twin = TorchTwin(net)
    rng = np.random.default_rng(0)
    outputs, _, cache = net.forward(tokens)
    probe = rng.standard_normal(outputs.shape)
    grads = net.backward(probe, cache)
    _, _, t_param_grads, _, _ = torch_gradients(
        net, twin, tokens, (np.zeros(net.state_shape(2)),), probe, (np.zeros(net.state_shape(2)),))
    assert_close("d embedding", grads.params["embedding.weight"], t_param_grads["embedding.weight"])
    assert np.all(grads.params["embedding.weight"][3] == 0)  # token 3 never appears


@pytest.mark.parametrize("cell_type", ["rnn", "lstm", "gru"])
def test_float32_follows_the_parameters(cell_type):
    net = RecurrentNetwork(cell_type, 5, input_size=3, num_layers=2, bidirectional=True, output_size=4,
                           dtype=np.float32, seed=2)
    assert net.dtype == np.float32
    assert all(value.dtype == np.float32 for value in net.params.values())
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    outputs, final, cache = net.forward(x)
    assert outputs.dtype == np.float32
    assert all(part.dtype == np.float32 for part in net.split_state(final))
    grads = net.backward(np.ones_like(outputs), cache)
    assert all(g.dtype == np.float32 for g in grads.params.values())
    assert grads.inputs.dtype == np.float32 and grads.h0.dtype == np.float32

    twin = TorchTwin(net)
    x_t = torch.from_numpy(x).requires_grad_()
    t_outputs, _ = twin(x_t)
    t_outputs.sum().backward()
    assert_close("outputs", outputs, t_outputs.detach().numpy(), tolerance=1e-5)
    assert_close("d inputs", grads.inputs, x_t.grad.numpy(), tolerance=1e-5)
    # The float64 copy computes the same thing, to float32 precision.
    outputs64, _, _ = net.astype(np.float64).forward(x.astype(np.float64))
    assert_close("float64 copy", outputs, outputs64, tolerance=1e-5)


def test_state_dict_round_trip_through_torch():
    net = RecurrentNetwork("lstm", 4, vocab_size=6, embedding_dim=3, num_layers=2, bidirectional=True,
                           output_size=6, seed=0)
    torch.manual_seed(123)
    other = TorchTwin(net)
    for p in other.parameters():  # new weights, different from net's
        torch.nn.init.normal_(p)
    net.load_state_dict({name: t.detach().numpy() for name, t in other.state_dict().items()})
    tokens = np.array([[0, 5, 2], [3, 3, 1]])
    outputs, _, _ = net.forward(tokens)
    t_outputs, _ = other(torch.from_numpy(tokens))
    assert_close("outputs after load", outputs, t_outputs.detach().numpy())
    assert list(net.state_dict()) == list(other.state_dict())  # same names, same order


# ------------------------------------------------------------------------------------ losses


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("ignore_index", [None, -100, 2])
def test_cross_entropy_matches_torch(use_mask, ignore_index):
    rng = np.random.default_rng(7)
    logits = 3 * rng.standard_normal((3, 5, 4))
    targets = rng.integers(0, 4, size=(3, 5))
    if ignore_index == -100:
        targets[0, 1] = -100  # an ignored position may hold an out-of-range value
    mask = rng.random((3, 5)) > 0.3 if use_mask else None
    loss, d_logits = softmax_cross_entropy(logits, targets, mask=mask, ignore_index=ignore_index)

    # Torch: express the mask as ignore_index too, then mean over the remaining tokens.
    torch_targets = targets.copy()
    if ignore_index is not None:
        torch_targets[targets == ignore_index] = -100
    if mask is not None:
        torch_targets[~mask] = -100
    logits_t = torch.from_numpy(logits).requires_grad_()
    t_loss = torch.nn.functional.cross_entropy(logits_t.reshape(-1, 4), torch.from_numpy(torch_targets).reshape(-1),
                                               ignore_index=-100)
    t_loss.backward()
    assert abs(loss - t_loss.item()) <= 1e-12 * abs(t_loss.item())
    assert_close("d logits", d_logits, logits_t.grad.numpy(), tolerance=1e-12)


def test_cross_entropy_by_hand_and_stability():
    # Two classes, logits (0, log 3): p = (1/4, 3/4). Target 1 -> loss = -log(3/4).
    logits = np.array([[[0.0, np.log(3.0)]]])
    loss, d_logits = softmax_cross_entropy(logits, np.array([[1]]))
    assert loss == pytest.approx(-np.log(0.75), rel=1e-14)
    np.testing.assert_allclose(d_logits, [[[0.25, -0.25]]], rtol=1e-14)
    # Huge logits must not overflow: shifting them by a constant changes nothing.
    loss_big, d_big = softmax_cross_entropy(logits + 1e4, np.array([[1]]))
    assert loss_big == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(d_big, d_logits, rtol=1e-10)


def test_mean_squared_error_matches_torch():
    rng = np.random.default_rng(1)
    predictions, targets = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    loss, d_predictions = mean_squared_error(predictions, targets)
    predictions_t = torch.from_numpy(predictions).requires_grad_()
    t_loss = torch.nn.functional.mse_loss(predictions_t, torch.from_numpy(targets))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-13)
    assert_close("d predictions", d_predictions, predictions_t.grad.numpy(), tolerance=1e-13)


def test_training_loss_end_to_end_matches_torch():
    """Tokens -> 2-layer LSTM -> head -> cross-entropy with padding: the whole chain vs autograd."""
    net = RecurrentNetwork("lstm", 6, vocab_size=7, embedding_dim=4, num_layers=2, output_size=7, seed=9)
    rng = np.random.default_rng(9)
    tokens, targets = rng.integers(0, 7, (3, 8)), rng.integers(0, 7, (3, 8))
    targets[2, 5:] = -1  # padding
    logits, _, cache = net.forward(tokens)
    loss, d_logits = softmax_cross_entropy(logits, targets, ignore_index=-1)
    grads = net.backward(d_logits, cache)

    twin = TorchTwin(net)
    t_logits, _ = twin(torch.from_numpy(tokens))
    t_loss = torch.nn.functional.cross_entropy(t_logits.reshape(-1, 7), torch.from_numpy(targets).reshape(-1),
                                               ignore_index=-1)
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    for name, p in twin.named_parameters():
        assert_close(f"d {name}", grads.params[name], p.grad.numpy())


@pytest.mark.parametrize("cell_type", ["mingru", "minlstm"])
def test_min_cell_weights_load_into_rnnlab_torch_layer(cell_type):
    """The NumPy network's state_dict is a checkpoint of rnnlab's torch layer for the same cell
    (the parallel-scan layer): same names, same outputs and gradients, float64."""
    from rnnlab.nn.cells import make_layer

    net, inputs, initial, rng = random_case(cell_type, "tanh", 2, True, "dense+head", seed=21)
    twin = TorchTwin(net)
    twin.rnn = make_layer(cell_type, net.input_size, net.hidden_size, net.num_layers,
                          bidirectional=True).double()
    twin.load_state_dict({name: torch.from_numpy(value) for name, value in net.state_dict().items()},
                         strict=True)
    outputs, final, cache = net.forward(inputs, net.join_state(initial))
    probe_outputs = rng.standard_normal(outputs.shape)
    probe_states = (rng.standard_normal(final.shape),)
    grads = net.backward(probe_outputs, cache, d_final_state=probe_states[0])
    t_outputs, t_final, t_param_grads, t_state_grads, t_input_grad = torch_gradients(
        net, twin, inputs, initial, probe_outputs, probe_states)
    assert_close("outputs", outputs, t_outputs)
    assert_close("final h", final, t_final[0])
    for name in t_param_grads:
        assert_close(f"d {name}", grads.params[name], t_param_grads[name])
    assert_close("d h0", grads.h0, t_state_grads[0])
    assert_close("d inputs", grads.inputs, t_input_grad)
