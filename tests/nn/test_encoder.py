"""RecurrentEncoder and pooling: padding never changes a result; step API == sequence API.

Expected values come from independent computations: each sequence run alone (no padding at
all), plain torch.nn modules, and hand-written formulas for the pooling modes.
"""

import itertools

import pytest
import torch
from torch import nn

from rnnlab.errors import RnnlabError
from rnnlab.nn.cells import cell_names
from rnnlab.nn.encoder import RecurrentEncoder
from rnnlab.nn.pooling import POOLINGS, SequencePooling, length_mask

# Every registered cell (the built-ins, gru_fused, mingru, minlstm) must keep the encoder's
# contract.
CELLS = cell_names()
# The cells whose layers are (or share every number with) PyTorch's nn.RNN/nn.LSTM/nn.GRU.
TORCH_LAYOUT_CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru", "gru_fused"]

# (residual, layer_norm): the fast path and the three variants of the per-layer path.
VARIANTS = [(False, False), (True, False), (False, True), (True, True)]
LENGTHS = [4, 7, 1, 5, 7, 2]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny tensors: threading only adds overhead (and contention on a shared 2-core machine).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def make_encoder(cell, bidirectional, layers, residual, layer_norm, input_size=6, hidden=5,
                 dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    encoder = RecurrentEncoder(input_size, hidden, cell=cell, num_layers=layers, dropout=0.3,
                               bidirectional=bidirectional, residual=residual,
                               layer_norm=layer_norm).to(dtype).eval()
    if layer_norm:
        # Non-trivial affine parameters, so the norm's weights are exercised too.
        with torch.no_grad():
            for norm in encoder.norms:
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.5, 0.5)
    return encoder


def state_parts(state):
    return state if isinstance(state, tuple) else (state,)


def random_batch(lengths, input_size=6, dtype=torch.float64, seed=1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), input_size, generator=generator, dtype=dtype)
    # Garbage in the padding: a correct encoder never reads it.
    for row, length in enumerate(lengths):
        x[row, length:] = 1e3
    return x, torch.tensor(lengths, dtype=torch.int64)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("residual,layer_norm", VARIANTS)
def test_alone_equals_padded_batch_float64(cell, bidirectional, layers, residual, layer_norm):
    # input_size = hidden·dirs so that the residual also applies at the first layer.
    hidden = 5
    input_size = hidden * (2 if bidirectional else 1)
    encoder = make_encoder(cell, bidirectional, layers, residual, layer_norm, input_size, hidden)
    x, lengths = random_batch(LENGTHS, input_size)
    outputs, final = encoder(x, lengths)
    assert outputs.shape == (len(LENGTHS), max(LENGTHS), encoder.output_size)
    for row, length in enumerate(LENGTHS):
        alone_out, alone_final = encoder(x[row:row + 1, :length])     # no padding, no lengths
        torch.testing.assert_close(outputs[row, :length], alone_out[0], rtol=0, atol=1e-12)
        # Exact zeros where the sequence has ended.
        assert torch.count_nonzero(outputs[row, length:]) == 0
        for batched, single in zip(state_parts(final), state_parts(alone_final)):
            torch.testing.assert_close(batched[:, row], single[:, 0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("residual,layer_norm", VARIANTS)
def test_alone_equals_padded_batch_float32(cell, residual, layer_norm):
    encoder = make_encoder(cell, True, 2, residual, layer_norm, input_size=6, hidden=8,
                           dtype=torch.float32)
    x, lengths = random_batch(LENGTHS, 6, torch.float32)
    outputs, final = encoder(x, lengths)
    # Batched and single matmuls round differently (~1e-7 per op); layer norm divides by a
    # standard deviation below 1, which can enlarge that a few times, hence 5e-6.
    atol = 5e-6 if layer_norm else 1e-6
    for row, length in enumerate(LENGTHS):
        alone_out, alone_final = encoder(x[row:row + 1, :length])
        torch.testing.assert_close(outputs[row, :length], alone_out[0], rtol=0, atol=atol)
        for batched, single in zip(state_parts(final), state_parts(alone_final)):
            torch.testing.assert_close(batched[:, row], single[:, 0], rtol=0, atol=atol)


@pytest.mark.parametrize("cell", CELLS)
def test_final_state_is_taken_at_the_true_ends(cell):
    """Forward final = output at the last real step; backward final = backward output at t=0."""
    encoder = make_encoder(cell, True, 1, False, False)
    x, lengths = random_batch(LENGTHS)
    outputs, final = encoder(x, lengths)
    h = state_parts(final)[0]                                        # (2, B, H)
    for row, length in enumerate(LENGTHS):
        torch.testing.assert_close(h[0, row], outputs[row, length - 1, :5], rtol=0, atol=0)
        torch.testing.assert_close(h[1, row], outputs[row, 0, 5:], rtol=0, atol=0)


@pytest.mark.parametrize("cell", TORCH_LAYOUT_CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fast_path_matches_plain_torch_module(cell, bidirectional):
    """Parameter names follow PyTorch, so a plain nn.LSTM/GRU/RNN loads the same weights."""
    encoder = make_encoder(cell, bidirectional, 2, False, False)
    kinds = {"lstm": nn.LSTM, "gru": nn.GRU, "gru_fused": nn.GRU}
    extra = {} if cell in kinds else {"nonlinearity": cell[4:]}
    plain = kinds.get(cell, nn.RNN)(6, 5, num_layers=2, batch_first=True,
                                    bidirectional=bidirectional, **extra).double().eval()
    plain.load_state_dict({k[len("rnn."):]: v for k, v in encoder.state_dict().items()})
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    expected_out, expected_state = plain(x)
    out, state = encoder(x)                                            # no lengths: all full
    torch.testing.assert_close(out, expected_out, rtol=0, atol=1e-14)
    for a, b in zip(state_parts(state), state_parts(expected_state)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("residual,layer_norm", VARIANTS)
def test_step_api_equals_sequence_api(cell, layers, residual, layer_norm):
    encoder = make_encoder(cell, False, layers, residual, layer_norm, input_size=5, hidden=5)
    x = torch.randn(3, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    initial = encoder.initial_state(3)
    for part in state_parts(initial):
        part.normal_()  # a non-zero starting state must be honoured by both
    outputs, final = encoder(x, state=initial)
    state = initial
    for t in range(x.shape[1]):
        out_t, state = encoder.step(x[:, t], state)
        torch.testing.assert_close(out_t, outputs[:, t], rtol=0, atol=1e-12)
    for a, b in zip(state_parts(state), state_parts(final)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_step_from_zero_state_and_in_float32():
    encoder = make_encoder("lstm", False, 2, False, False, dtype=torch.float32)
    x = torch.randn(2, 5, 6)
    outputs, _ = encoder(x)
    state = None
    for t in range(5):
        out_t, state = encoder.step(x[:, t], state)
        torch.testing.assert_close(out_t, outputs[:, t], rtol=0, atol=1e-6)


def test_gradients_do_not_depend_on_padding():
    """The gradient of a padded batch's summed loss equals the sum of per-sequence gradients."""
    encoder = make_encoder("lstm", True, 2, True, True)
    pooling = SequencePooling("max", encoder.output_size, 2)
    x, lengths = random_batch(LENGTHS)

    def grads(inputs, lens):
        encoder.zero_grad()
        out, _ = encoder(inputs, lens)
        pooling(out, lens).sum().backward()
        return [p.grad.clone() for p in encoder.parameters()]

    batched = grads(x, lengths)
    summed = None
    for row, length in enumerate(LENGTHS):
        single = grads(x[row:row + 1, :length], None)
        summed = single if summed is None else [a + b for a, b in zip(summed, single)]
    for a, b in zip(batched, summed):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-11)


def test_residual_adds_the_layer_input_where_sizes_match():
    # With every recurrent weight and bias zero, a tanh layer outputs tanh(0) = 0, so a residual
    # layer passes its input through unchanged; the first layer (6 -> 5) cannot add its input.
    encoder = make_encoder("rnn_tanh", False, 3, True, False, input_size=6, hidden=5)
    assert encoder.residual_at == (False, True, True)
    with torch.no_grad():
        for parameter in encoder.parameters():
            parameter.zero_()
    x, lengths = random_batch([3, 2])
    outputs, _ = encoder(x, lengths)
    assert torch.count_nonzero(outputs) == 0
    # Now let the first layer output something and check layers 2, 3 pass it on unchanged.
    with torch.no_grad():
        encoder.layers[0].bias_ih_l0.copy_(torch.arange(5, dtype=torch.float64) / 10)
    outputs, _ = encoder(x, lengths)
    expected = torch.tanh(torch.arange(5, dtype=torch.float64) / 10)
    torch.testing.assert_close(outputs[0, :3], expected.expand(3, 5), rtol=0, atol=1e-15)


def test_layer_norm_normalises_each_layer_output():
    encoder = make_encoder("gru", True, 1, False, True)
    with torch.no_grad():
        encoder.norms[0].weight.fill_(1.0)
        encoder.norms[0].bias.zero_()
    x, lengths = random_batch(LENGTHS)
    outputs, _ = encoder(x, lengths)
    mask = length_mask(lengths, x.shape[1])
    real = outputs[mask]                                               # (N, 10)
    torch.testing.assert_close(real.mean(dim=1), torch.zeros(len(real), dtype=torch.float64),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(real.var(dim=1, unbiased=False),
                               torch.ones(len(real), dtype=torch.float64), rtol=0, atol=1e-3)


# -- pooling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", POOLINGS)
@pytest.mark.parametrize("directions", [1, 2])
def test_pooling_is_exact_under_padding(mode, directions):
    torch.manual_seed(0)
    pooling = SequencePooling(mode, 8, directions).double()
    x, lengths = random_batch(LENGTHS, 8)
    pooled = pooling(x, lengths)
    for row, length in enumerate(LENGTHS):
        alone = pooling(x[row:row + 1, :length])
        torch.testing.assert_close(pooled[row], alone[0], rtol=0, atol=1e-12)


def test_pooling_values_match_hand_computation():
    x, lengths = random_batch([3, 1, 2], 4)
    row, length = 0, 3
    real = x[row, :length]
    mean = SequencePooling("mean", 4)(x, lengths)
    torch.testing.assert_close(mean[row], real.sum(0) / 3, rtol=0, atol=1e-15)
    maximum = SequencePooling("max", 4)(x, lengths)
    torch.testing.assert_close(maximum[row], torch.stack(list(real)).amax(0), rtol=0, atol=0)
    # The padding holds 1e3: had it leaked into max pooling, row 1 would show it.
    assert maximum[1].max() < 100
    last_uni = SequencePooling("last", 4, 1)(x, lengths)
    torch.testing.assert_close(last_uni[2], x[2, 1], rtol=0, atol=0)
    last_bi = SequencePooling("last", 4, 2)(x, lengths)
    torch.testing.assert_close(last_bi[2], torch.cat([x[2, 1, :2], x[2, 0, 2:]]), rtol=0, atol=0)


def test_attention_weights_are_a_distribution_over_real_steps():
    torch.manual_seed(0)
    pooling = SequencePooling("attention", 4).double()
    x, lengths = random_batch([3, 1, 2], 4)
    weights = pooling.attention_weights(x, lengths)
    torch.testing.assert_close(weights.sum(1), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-15)
    assert weights[0, 3:].eq(0).all() and weights[1, 1:].eq(0).all() and weights[2, 2:].eq(0).all()
    # The pooled vector is the weighted average, computed by hand.
    scores = pooling.attention_score(torch.tanh(pooling.attention_proj(x[0, :3]))).squeeze(-1)
    expected = (torch.softmax(scores, 0).unsqueeze(1) * x[0, :3]).sum(0)
    torch.testing.assert_close(pooling(x, lengths)[0], expected, rtol=0, atol=1e-14)


# -- errors -------------------------------------------------------------------------------------


def test_unknown_cell_lists_the_choices():
    with pytest.raises(RnnlabError, match="'lsmt'; registered cells: gru, gru_fused, lstm, "
                                          "mingru, minlstm, rnn_relu, rnn_tanh"):
        RecurrentEncoder(4, 4, cell="lsmt")


def test_bidirectional_step_is_refused_clearly():
    encoder = RecurrentEncoder(4, 3, cell="gru", bidirectional=True)
    with pytest.raises(RnnlabError, match="unidirectional"):
        encoder.step(torch.randn(2, 4))


@pytest.mark.parametrize("lengths,message", [
    ([0, 3], r"1\.\.3"), ([4, 3], r"1\.\.3"), ([3], r"shape \(2,\)"), ([2.0, 3.0], "integers")])
def test_bad_lengths_are_rejected(lengths, message):
    encoder = RecurrentEncoder(4, 3)
    with pytest.raises(RnnlabError, match=message):
        encoder(torch.randn(2, 3, 4), torch.tensor(lengths))


def test_bad_input_and_state_shapes_are_rejected():
    encoder = RecurrentEncoder(4, 3, cell="lstm", num_layers=2)
    with pytest.raises(RnnlabError, match="5 features per step, expected 4"):
        encoder(torch.randn(2, 3, 5))
    with pytest.raises(RnnlabError, match="floating point"):
        encoder(torch.ones(2, 3, 4, dtype=torch.int64))
    with pytest.raises(RnnlabError, match=r"an \(h, c\) pair"):
        encoder(torch.randn(2, 3, 4), state=torch.zeros(2, 2, 3))
    with pytest.raises(RnnlabError, match=r"expected \(2, 2, 3\)"):
        encoder(torch.randn(2, 3, 4), state=(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)))
    with pytest.raises(RnnlabError, match="positive integer"):
        RecurrentEncoder(4, 0)
    with pytest.raises(RnnlabError, match="pooling"):
        SequencePooling("median", 4)


def test_output_size_and_parameter_layout():
    for cell, bidirectional, layers in itertools.product(CELLS, [False, True], [1, 2]):
        encoder = RecurrentEncoder(7, 3, cell=cell, num_layers=layers, bidirectional=bidirectional)
        assert encoder.output_size == 3 * (2 if bidirectional else 1)
        # PyTorch: per layer and direction, W_ih (g·H, in), W_hh (g·H, H) and two biases (g·H);
        # minGRU/minLSTM (Feng et al. 2024): W_ih (g·H, in) and one bias, no W_hh.
        gates = {"lstm": 4, "gru": 3, "gru_fused": 3, "mingru": 2, "minlstm": 3}.get(cell, 1)
        input_only = cell in ("mingru", "minlstm")
        expected = 0
        for layer in range(layers):
            size_in = 7 if layer == 0 else encoder.output_size
            per_row = size_in + 1 if input_only else size_in + 3 + 2
            expected += (2 if bidirectional else 1) * gates * 3 * per_row
        assert sum(p.numel() for p in encoder.parameters()) == expected


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("residual,layer_norm", [(False, False), (True, True)])
def test_padding_invariance_on_gpu(cell, residual, layer_norm):
    """cuDNN (fast path) and the per-layer path on CUDA: same contract, float64 tolerance."""
    encoder = make_encoder(cell, True, 2, residual, layer_norm, input_size=10).cuda()
    x, lengths = random_batch(LENGTHS, 10)
    outputs, final = encoder(x.cuda(), lengths.cuda())
    for row, length in enumerate(LENGTHS):
        alone_out, alone_final = encoder(x[row:row + 1, :length].cuda())
        torch.testing.assert_close(outputs[row, :length], alone_out[0], rtol=0, atol=1e-10)
        assert torch.count_nonzero(outputs[row, length:]) == 0
        for batched, single in zip(state_parts(final), state_parts(alone_final)):
            torch.testing.assert_close(batched[:, row], single[:, 0], rtol=0, atol=1e-10)
