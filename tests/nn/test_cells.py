"""The cell registry, the generic step-loop layer and the gru_fused cell.

Expected values come from independent computations: PyTorch's own nn.RNN/LSTM/GRU modules (the
built-in cells' layers), each sequence run alone (no padding), and a loop written out in the
test for a toy cell. Parity is checked in float64 with the tolerances stated at each check.
"""

import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.errors import RnnlabError
from rnnlab.nn.encoder import RecurrentEncoder
from rnnlab.nn.cells import (
    CellSpec,
    cell_names,
    get_cell,
    make_layer,
    register_cell,
    unregister_cell,
)
from rnnlab.nn.cells.fused_gru import FusedGRU, can_fuse
from rnnlab.nn.cells.steploop import StepLoopRNN

F64 = torch.float64
LENGTHS = [4, 7, 1, 5, 7, 2]
# Cells whose layers are PyTorch's own modules: the references for the generic layer.
TORCH_CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def loop_copies():
    """For each built-in torch cell, "<name>_loop": the same step, no make_layer (so the layer
    is the generic StepLoopRNN)."""
    names = {}
    for name in TORCH_CELLS:
        spec = get_cell(name)
        copy = register_cell(CellSpec(f"{name}_loop", spec.gates, spec.has_cell_state,
                                      spec.step))
        names[name] = copy.name
    yield names
    for copy in names.values():
        unregister_cell(copy)


def parts(state):
    return state if isinstance(state, tuple) else (state,)


def padded_batch(lengths, input_size, seed=1):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), input_size, generator=generator, dtype=F64)
    for row, length in enumerate(lengths):
        x[row, length:] = 1e3                    # garbage a correct layer never reads
    return x, torch.tensor(lengths)


# -- the registry --------------------------------------------------------------------------------


def test_builtin_cells_are_registered():
    assert set(cell_names()) >= {"rnn_tanh", "rnn_relu", "lstm", "gru", "gru_fused"}
    assert cell_names() == tuple(sorted(cell_names()))
    assert [(get_cell(n).gates, get_cell(n).has_cell_state) for n in TORCH_CELLS] == [
        (1, False), (1, False), (4, True), (3, False)]


def test_unknown_cell_lists_the_registered_cells():
    with pytest.raises(RnnlabError) as info:
        get_cell("lsmt")
    assert str(info.value) == f"unknown cell 'lsmt'; registered cells: {', '.join(cell_names())}"
    with pytest.raises(RnnlabError, match="registered cells: .*gru_fused"):
        make_layer("lsmt", 3, 4)
    with pytest.raises(RnnlabError, match="'lsmt'.*registered cells"):
        RecurrentEncoder(4, 4, cell="lsmt")


def test_duplicate_registration_is_refused_unless_replace():
    spec = CellSpec("dup_test", gates=1, has_cell_state=False, step=get_cell("rnn_tanh").step)
    register_cell(spec)
    try:
        with pytest.raises(RnnlabError, match="'dup_test' is already registered.*replace=True"):
            register_cell(spec)
        other = CellSpec("dup_test", gates=2, has_cell_state=False, step=spec.step)
        assert register_cell(other, replace=True) is other
        assert get_cell("dup_test").gates == 2
        with pytest.raises(RnnlabError, match="already registered"):
            register_cell(get_cell("lstm"))
    finally:
        unregister_cell("dup_test")
    assert "dup_test" not in cell_names()
    with pytest.raises(RnnlabError, match="unknown cell 'dup_test'"):
        unregister_cell("dup_test")


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(name="", gates=1), "non-empty"), (dict(name="a,b", gates=1), "without commas"),
    (dict(name="x", gates=0), "gates must be a positive integer, got 0"),
    (dict(name="x", gates=True), "gates must be"),
    (dict(name="x", gates=1, step="tanh"), "step must be callable"),
    (dict(name="x", gates=1, make_layer=3), "make_layer must be callable"),
    (dict(name="x", gates=2, gate_names=("a",)), "1 gate names for 2 gates")])
def test_bad_specs_name_the_value(kwargs, fragment):
    kwargs = {"has_cell_state": False, "step": torch.tanh, **kwargs}
    with pytest.raises(RnnlabError, match=fragment):
        CellSpec(**kwargs)
    with pytest.raises(RnnlabError, match="expects a CellSpec"):
        register_cell("lstm")


@pytest.mark.parametrize("name", TORCH_CELLS + ["gru_fused"])
def test_num_parameters_counts_the_torch_layer(name):
    layer = make_layer(name, 7, 5)
    assert get_cell(name).num_parameters(7, 5) == sum(p.numel() for p in layer.parameters())
    # PyTorch keeps two bias vectors per gate block: G·H·(D + H + 2).
    gates = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3, "gru_fused": 3}[name]
    assert get_cell(name).num_parameters(7, 5) == gates * 5 * (7 + 5 + 2)


def test_make_layer_builds_batch_first_torch_modules():
    kinds = {"rnn_tanh": nn.RNN, "rnn_relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
    for name, kind in kinds.items():
        layer = make_layer(name, 3, 4, num_layers=2, dropout=0.25, bidirectional=True)
        assert type(layer) is kind and layer.batch_first and layer.bidirectional
        assert layer.num_layers == 2 and layer.dropout == 0.25
    assert make_layer("rnn_relu", 3, 4).nonlinearity == "relu"
    assert make_layer("gru", 3, 4, dropout=0.5).dropout == 0.0   # one layer: nothing between
    assert type(make_layer("gru_fused", 3, 4)) is FusedGRU
    with pytest.raises(RnnlabError, match="hidden_size must be a positive integer, got 0"):
        make_layer("gru", 3, 0)
    with pytest.raises(RnnlabError, match=r"dropout must be in \[0, 1\), got 1.5"):
        make_layer("gru", 3, 4, dropout=1.5)


def test_registry_and_calculator_import_without_torch():
    code = ("import sys\n"
            "from rnnlab.nn.cells import get_cell, cell_names\n"
            "from rnnlab.diagnostics.params import ModelSpec, count_parameters\n"
            "assert get_cell('lstm').num_parameters(3, 4) == 4 * 4 * 9\n"
            "spec = ModelSpec(cell='gru', vocab_size=27, embedding_size=32, hidden_size=64,"
            " head='lm')\n"
            "count_parameters(spec)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


# -- the generic step-loop layer against PyTorch's modules ---------------------------------------


def weighted_loss(outputs, state):
    """Every output and state entry weighted differently, so gradients right only in sum fail."""
    total = (outputs ** 2).sum()
    for part in parts(state):
        total = total + (part * torch.linspace(-1, 1, part.numel(), dtype=F64).view_as(part)).sum()
    return total


def run_with_grads(encoder, x, lengths):
    x = x.clone().requires_grad_(True)
    encoder.zero_grad()
    outputs, state = encoder(x, lengths)
    weighted_loss(outputs, state).backward()
    grads = {name: p.grad.clone() for name, p in encoder.named_parameters()}
    return outputs.detach(), tuple(s.detach() for s in parts(state)), x.grad, grads


@pytest.mark.parametrize("cell", TORCH_CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("residual", [False, True])
def test_generic_layer_equals_torch_module(loop_copies, cell, bidirectional, layers, residual):
    """Same weights, padded batch: outputs, final states, input and weight gradients (float64,
    atol 1e-12: only the order of the same float64 operations differs)."""
    hidden = 4
    input_size = hidden * (2 if bidirectional else 1)   # so the residual applies at layer 1 too
    torch.manual_seed(0)
    reference = RecurrentEncoder(input_size, hidden, cell=cell, num_layers=layers,
                                 bidirectional=bidirectional, residual=residual).double()
    generic = RecurrentEncoder(input_size, hidden, cell=loop_copies[cell], num_layers=layers,
                               bidirectional=bidirectional, residual=residual).double()
    layer = generic.rnn if generic.rnn is not None else generic.layers[0]
    assert isinstance(layer, StepLoopRNN)
    # Same parameter names, shapes and order as the torch module: the state dict loads as is.
    assert [(n, p.shape) for n, p in generic.named_parameters()] == [
        (n, p.shape) for n, p in reference.named_parameters()]
    generic.load_state_dict(reference.state_dict())
    x, lengths = padded_batch(LENGTHS, input_size)
    expected = run_with_grads(reference, x, lengths)
    got = run_with_grads(generic, x, lengths)
    for name, a, b in zip(("outputs", "state", "input grad"), got[:3], expected[:3]):
        for part_a, part_b in zip(parts(a), parts(b)):
            torch.testing.assert_close(part_a, part_b, rtol=0, atol=1e-12, msg=name)
    for name in expected[3]:
        torch.testing.assert_close(got[3][name], expected[3][name], rtol=0, atol=1e-12,
                                   msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_generic_layer_dense_input_and_initial_state(loop_copies, cell):
    """Called directly like nn.LSTM/nn.GRU: dense input, a non-zero hx, 2 layers, 2 directions."""
    torch.manual_seed(0)
    reference = make_layer(cell, 3, 4, num_layers=2, bidirectional=True).double()
    generic = make_layer(loop_copies[cell], 3, 4, num_layers=2, bidirectional=True).double()
    generic.load_state_dict(reference.state_dict())
    x = torch.randn(2, 5, 3, dtype=F64)
    h0 = tuple(torch.randn(4, 2, 4, dtype=F64) for _ in range(2 if cell == "lstm" else 1))
    hx = h0 if cell == "lstm" else h0[0]
    expected_out, expected_state = reference(x, hx)
    out, state = generic(x, hx)
    torch.testing.assert_close(out, expected_out, rtol=0, atol=1e-12)
    for a, b in zip(parts(state), parts(expected_state)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_generic_layer_alone_equals_padded_batch(loop_copies, cell, bidirectional):
    """Directly on the layer: a PackedSequence in gives one out, each sequence's numbers equal
    the sequence run alone, and the padding (1e3 garbage in the input) is never read."""
    torch.manual_seed(0)
    layer = make_layer(loop_copies[cell], 3, 4, num_layers=2, bidirectional=bidirectional)
    layer = layer.double()
    x, lengths = padded_batch(LENGTHS, 3)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out_packed, state = layer(packed)
    assert type(out_packed) is type(packed)
    torch.testing.assert_close(out_packed.batch_sizes, packed.batch_sizes, rtol=0, atol=0)
    outputs, _ = pad_packed_sequence(out_packed, batch_first=True)
    for row, length in enumerate(LENGTHS):
        alone_out, alone_state = layer(x[row:row + 1, :length])
        torch.testing.assert_close(outputs[row, :length], alone_out[0], rtol=0, atol=1e-14)
        assert torch.count_nonzero(outputs[row, length:]) == 0
        for batched, single in zip(parts(state), parts(alone_state)):
            torch.testing.assert_close(batched[:, row], single[:, 0], rtol=0, atol=1e-14)


def test_generic_layer_init_matches_pytorch_and_dropout_acts_between_layers(loop_copies):
    torch.manual_seed(5)
    reference = nn.GRU(3, 4, num_layers=2, batch_first=True)
    torch.manual_seed(5)
    generic = make_layer(loop_copies["gru"], 3, 4, num_layers=2)
    # Same shapes drawn in the same order from U(-1/√H, 1/√H): the same numbers.
    for (name, a), (_, b) in zip(generic.named_parameters(), reference.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    dropped = make_layer(loop_copies["gru"], 3, 4, num_layers=2, dropout=0.5)
    x = torch.randn(2, 3, 3)
    dropped.eval()
    assert torch.equal(dropped(x)[0], dropped(x)[0])          # eval: deterministic
    dropped.train()
    torch.manual_seed(1)
    first = dropped(x)[0]
    assert not torch.equal(first, dropped(x)[0])              # train: masks between layers
    single = make_layer(loop_copies["gru"], 3, 4, num_layers=1, dropout=0.5).train()
    assert torch.equal(single(x)[0], single(x)[0])            # one layer: nothing between


def test_generic_layer_rejects_bad_states(loop_copies):
    layer = make_layer(loop_copies["lstm"], 3, 4, num_layers=2)
    x = torch.randn(2, 5, 3)
    with pytest.raises(RnnlabError, match=r"an \(h, c\) pair"):
        layer(x, torch.zeros(2, 2, 4))
    with pytest.raises(RnnlabError, match=r"expected \(2, 2, 4\)"):
        layer(x, (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(RnnlabError, match=r"\(B, T, 3\)"):
        layer(torch.randn(2, 5, 4))


# -- a user-defined cell -------------------------------------------------------------------------


def toy_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """A two-gate cell with a cell state: c' = σ(a)·c + tanh(b), h' = tanh(c')."""
    a, b = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(2, dim=1)
    c_new = torch.sigmoid(a) * c + torch.tanh(b)
    return torch.tanh(c_new), c_new


@pytest.fixture
def toy_cell():
    spec = register_cell(CellSpec("toy_test", gates=2, has_cell_state=True, step=toy_step,
                                  description="two gates, a cell state"))
    yield spec.name
    unregister_cell(spec.name)


def test_toy_cell_forward_equals_a_hand_loop(toy_cell):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(3, 4, cell=toy_cell).double()
    assert sum(p.numel() for p in encoder.parameters()) == 2 * 4 * (3 + 4 + 2)
    x = torch.randn(2, 6, 3, dtype=F64)
    outputs, (h_n, c_n) = encoder(x)
    w_ih, w_hh = encoder.rnn.weight_ih_l0, encoder.rnn.weight_hh_l0
    b = encoder.rnn.bias_ih_l0 + encoder.rnn.bias_hh_l0
    h = c = torch.zeros(2, 4, dtype=F64)
    for t in range(6):
        pre = x[:, t] @ w_ih.T + h @ w_hh.T + b
        c = torch.sigmoid(pre[:, :4]) * c + torch.tanh(pre[:, 4:])
        h = torch.tanh(c)
        torch.testing.assert_close(outputs[:, t], h, rtol=0, atol=1e-14)
    torch.testing.assert_close(h_n[0], h, rtol=0, atol=1e-14)
    torch.testing.assert_close(c_n[0], c, rtol=0, atol=1e-14)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("residual,layer_norm", [(False, False), (True, True)])
def test_toy_cell_step_equals_forward(toy_cell, layers, residual, layer_norm):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(4, 4, cell=toy_cell, num_layers=layers, residual=residual,
                               layer_norm=layer_norm).double().eval()
    x = torch.randn(3, 6, 4, dtype=F64)
    initial = tuple(torch.randn(layers, 3, 4, dtype=F64) for _ in range(2))
    outputs, final = encoder(x, state=initial)
    state = initial
    for t in range(6):
        out_t, state = encoder.step(x[:, t], state)
        torch.testing.assert_close(out_t, outputs[:, t], rtol=0, atol=1e-12)
    for a, b in zip(state, final):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    with pytest.raises(RnnlabError, match=r"a toy_test state is an \(h, c\) pair"):
        encoder(x, state=initial[0])


# -- gru_fused -----------------------------------------------------------------------------------


def test_gru_fused_and_gru_share_checkpoints_and_numbers():
    """A "gru" state dict loads into "gru_fused" and back; outputs, states and gradients agree
    (float64: rtol 1e-10, atol 1e-12, the fused kernel's own tolerance against nn.GRU)."""
    torch.manual_seed(0)
    plain = RecurrentEncoder(5, 6, cell="gru", num_layers=2).double()
    fused = RecurrentEncoder(5, 6, cell="gru_fused", num_layers=2).double()
    assert list(fused.state_dict()) == list(plain.state_dict())
    fused.load_state_dict(plain.state_dict())
    x = torch.randn(3, 7, 5, dtype=F64)
    assert can_fuse(fused.rnn, x)                      # the dense call runs the fused kernel
    for lengths in (None, torch.tensor([7, 2, 5])):    # packed input: nn.GRU's own forward
        expected = run_with_grads(plain, x, lengths)
        got = run_with_grads(fused, x, lengths)
        for a, b in zip(got[:3], expected[:3]):
            for part_a, part_b in zip(parts(a), parts(b)):
                torch.testing.assert_close(part_a, part_b, rtol=1e-10, atol=1e-12)
        for name in expected[3]:
            torch.testing.assert_close(got[3][name], expected[3][name], rtol=1e-10, atol=1e-12)
    back = RecurrentEncoder(5, 6, cell="gru", num_layers=2).double()
    back.load_state_dict(fused.state_dict())
    torch.testing.assert_close(back(x)[0], fused(x)[0], rtol=1e-10, atol=1e-12)
