"""minGRU and minLSTM: the parallel form (scan over time) against the sequential form (the cell's
one-step formula), against the paper's formulas, and at the edges (10,000 saturated steps).

Expected values come from independent computations: the paper's equations written out here
with plain torch operations and autograd (including minLSTM's literal f / (f + i), which the
cell itself never divides), step-by-step loops, finite differences (torch.autograd.gradcheck for
the hand-written backward of the chunked scan) and a float64 run of the plain loop.
The encoder contract for every registered cell (a sequence alone == inside a padded batch, final
states at the true ends, step == forward) is in test_encoder.py, which covers these cells too.
"""

import math

import pytest
import torch

from rnnlab.errors import RnnlabError
from rnnlab.nn.cells import CellSpec, CellWeight, get_cell, make_layer, register_cell, unregister_cell
from rnnlab.nn.cells.scan import chunk_size, chunked_scan, log_scan, sequential_scan
from rnnlab.nn.cells.scanlayer import ScanRNN
from rnnlab.nn.cells.steploop import StepLoopRNN
from rnnlab.nn.encoder import RecurrentEncoder

F64 = torch.float64
CELLS = ["mingru", "minlstm"]
PARALLEL_SCANS = ["chunked", "log"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# -- the paper's equations, written out independently ---------------------------------------------


def g(x):
    """Feng et al. 2024, log-space version: g(x) = x + 0.5 for x >= 0, sigmoid(x) otherwise."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def paper_step(cell, x, h, weight, bias):
    k = x @ weight.T + bias
    if cell == "mingru":
        k_z, k_h = k.chunk(2, dim=-1)
        z = torch.sigmoid(k_z)
        return (1 - z) * h + z * g(k_h)
    k_f, k_i, k_h = k.chunk(3, dim=-1)
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    return f / (f + i) * h + i / (f + i) * g(k_h)


def paper_stack(cell, encoder, x, state):
    """A unidirectional stack, step by step with the paper's formulas: outputs (B, T, H), h_n."""
    layer_input, finals = x, []
    for layer in range(encoder.num_layers):
        w = getattr(encoder.rnn, f"weight_ih_l{layer}")
        b = getattr(encoder.rnn, f"bias_ih_l{layer}")
        h, outputs = state[layer], []
        for t in range(x.shape[1]):
            h = paper_step(cell, layer_input[:, t], h, w, b)
            outputs.append(h)
        layer_input = torch.stack(outputs, dim=1)
        finals.append(h)
    return layer_input, torch.stack(finals)


def set_scan(module, scan):
    for layer in module.modules():
        if isinstance(layer, ScanRNN):
            layer.scan = scan


def weighted(outputs, state):
    """A loss weighting every output and state entry differently."""
    total = (outputs * torch.linspace(-1, 1, outputs.numel(), dtype=outputs.dtype)
             .view_as(outputs)).sum()
    return total + (state * torch.linspace(2, -1, state.numel(), dtype=state.dtype)
                    .view_as(state)).sum()


def gradients(encoder, x, state, run):
    """run(encoder, x, state) -> (outputs, final); returns values and every gradient."""
    x = x.clone().requires_grad_(True)
    state = state.clone().requires_grad_(True)
    encoder.zero_grad()
    outputs, final = run(encoder, x, state)
    weighted(outputs, final).backward()
    return {"outputs": outputs.detach(), "final": final.detach(), "d x": x.grad,
            "d state": state.grad,
            **{f"d {name}": p.grad.clone() for name, p in encoder.named_parameters()}}


def parallel(encoder, x, state):
    return encoder(x, state=state)


def step_by_step(encoder, x, state):
    outputs = []
    for t in range(x.shape[1]):
        out, state = encoder.step(x[:, t], state)
        outputs.append(out)
    return torch.stack(outputs, dim=1), state


def paper(encoder, x, state):
    return paper_stack(encoder.cell, encoder, x, state)


def assert_all_close(got, expected, tolerance):
    """max |got - expected| <= tolerance · max(1, max |expected|), tensor by tensor."""
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name].shape == expected[name].shape, name
        scale = max(1.0, float(expected[name].abs().max()))
        error = float((got[name] - expected[name]).abs().max())
        assert error <= tolerance * scale, f"{name}: {error:.2e} > {tolerance:.0e} × {scale:.2f}"


# -- sequential form == parallel form ------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("length", [1, 2, 7, 513])
@pytest.mark.parametrize("scan", PARALLEL_SCANS)
def test_parallel_equals_sequential_and_the_paper(cell, length, scan):
    """Outputs, final states and every gradient (weights, inputs, the carried initial state),
    2 layers, float64, relative to each tensor's largest entry. The chunked scan does the
    loop's arithmetic in another order: 1e-12. The log-space scan goes through exp/log of
    partial sums (measured ~4e-11 at 513 steps): 1e-9."""
    torch.manual_seed(0)
    encoder = RecurrentEncoder(5, 6, cell=cell, num_layers=2).double()
    set_scan(encoder, scan)
    generator = torch.Generator().manual_seed(length)
    x = torch.randn(3, length, 5, dtype=F64, generator=generator)
    state = torch.rand(2, 3, 6, dtype=F64, generator=generator) * 2 - 1   # carried, any sign
    expected = gradients(encoder, x, state, step_by_step)
    got = gradients(encoder, x, state, parallel)
    assert_all_close(got, expected, 1e-12 if scan == "chunked" else 1e-9)
    # and both are the paper's cell
    assert_all_close(gradients(encoder, x, state, paper), expected, 1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_state_carried_across_windows_equals_one_pass(cell):
    """The char LM's truncated BPTT: window 2 starts from window 1's final state."""
    torch.manual_seed(1)
    encoder = RecurrentEncoder(4, 5, cell=cell, num_layers=2).double()
    x = torch.randn(2, 40, 4, dtype=F64)
    whole, whole_final = encoder(x)
    first, state = encoder(x[:, :13])
    second, final = encoder(x[:, 13:], state=state.detach())
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, rtol=0, atol=1e-13)
    torch.testing.assert_close(final, whole_final, rtol=0, atol=1e-13)
    # one step at a time (sampling) continues the same stream
    out, state = encoder(x[:, 13:14], state=state)
    torch.testing.assert_close(out[:, 0], whole[:, 13], rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("scan", PARALLEL_SCANS)
def test_bidirectional_parallel_equals_the_generic_step_loop(cell, scan):
    """The same spec without a layer of its own runs in StepLoopRNN, whose packing logic is
    independent of the scan layer's: same state-dict keys, and a padded bidirectional batch
    gives the same outputs, final states and gradients (1e-12; the log-space scan 1e-10)."""
    spec = get_cell(cell)
    loop_name = f"{cell}_loop_test"
    register_cell(CellSpec(loop_name, spec.gates, spec.has_cell_state, spec.step,
                           weights=spec.weights))
    try:
        torch.manual_seed(2)
        fast = RecurrentEncoder(4, 3, cell=cell, num_layers=2, bidirectional=True).double()
        loop = RecurrentEncoder(4, 3, cell=loop_name, num_layers=2, bidirectional=True).double()
        assert isinstance(fast.rnn, ScanRNN) and type(loop.rnn) is StepLoopRNN
        set_scan(fast, scan)
        assert list(loop.state_dict()) == list(fast.state_dict())
        loop.load_state_dict(fast.state_dict())
        lengths = torch.tensor([5, 1, 9, 3])
        x = torch.randn(4, 9, 4, dtype=F64)
        for row, length in enumerate(lengths):
            x[row, length:] = 1e3                       # padding a correct layer never reads
        state = torch.randn(4, 4, 3, dtype=F64)

        def run(encoder, x, state):
            return encoder(x, lengths, state)

        assert_all_close(gradients(fast, x, state, run), gradients(loop, x, state, run),
                         1e-12 if scan == "chunked" else 1e-10)
    finally:
        unregister_cell(loop_name)


@pytest.mark.parametrize("cell", CELLS)
def test_time_blocks_equal_one_whole_sequence(cell, monkeypatch):
    """Long unidirectional input runs in blocks of BLOCK steps through all layers; the numbers
    and gradients are those of the whole sequence at once (1e-12, float64), dropout aside."""
    from rnnlab.nn.cells import scanlayer

    torch.manual_seed(8)
    encoder = RecurrentEncoder(4, 5, cell=cell, num_layers=3).double()
    x = torch.randn(2, 2 * scanlayer.BLOCK + 9, 4, dtype=F64)
    state = torch.randn(3, 2, 5, dtype=F64)
    blocked = gradients(encoder, x, state, parallel)
    monkeypatch.setattr(scanlayer, "BLOCK", 10**9)
    assert_all_close(blocked, gradients(encoder, x, state, parallel), 1e-12)


# -- the scans themselves -------------------------------------------------------------------------


@pytest.mark.parametrize("reverse", [False, True])
def test_chunked_scan_equals_the_loop_at_every_chunk_boundary(reverse):
    generator = torch.Generator().manual_seed(3)
    for length in list(range(1, 40)) + [99, 100, 101]:
        a = torch.rand(2, length, 3, dtype=F64, generator=generator)
        b = torch.randn(2, length, 3, dtype=F64, generator=generator)
        h0 = torch.randn(2, 3, dtype=F64, generator=generator)
        torch.testing.assert_close(chunked_scan(a, b, h0, reverse),
                                   sequential_scan(a, b, h0, reverse), rtol=0, atol=1e-14)
    # Chunks of about √T steps, without padding where T has a divisor near √T.
    for length in range(1, 3000):
        size, root = chunk_size(length), math.ceil(math.sqrt(length))
        assert root / 2 <= size <= 2 * root, (length, size)
        near = [d for d in range(1, length + 1) if length % d == 0 and root <= 2 * d <= 4 * root]
        assert not near or length % size == 0, (length, size)
    assert chunk_size(512) == 16 and chunk_size(2048) == 32 and chunk_size(509) == 23


@pytest.mark.parametrize("reverse", [False, True])
def test_chunked_scan_backward_against_finite_differences(reverse):
    """The hand-written backward pass (the adjoint scan) against central differences."""
    generator = torch.Generator().manual_seed(4)
    for length in (1, 2, 5, 10):
        a = torch.rand(2, length, 3, dtype=F64, generator=generator).requires_grad_()
        b = torch.randn(2, length, 3, dtype=F64, generator=generator).requires_grad_()
        h0 = torch.randn(2, 3, dtype=F64, generator=generator).requires_grad_()
        assert torch.autograd.gradcheck(lambda a, b, h0: chunked_scan(a, b, h0, reverse),
                                        (a, b, h0))


def saturated_encoder(cell, dtype):
    """One layer whose gate pre-activations are ±50 to ±150: every gate is 0 or 1 to
    float precision, some steps keep the state exactly, some replace it entirely."""
    torch.manual_seed(5)
    encoder = RecurrentEncoder(4, 8, cell=cell).to(dtype)
    with torch.no_grad():
        encoder.rnn.weight_ih_l0.mul_(100.0)
        encoder.rnn.bias_ih_l0.mul_(100.0)
    return encoder


@pytest.mark.parametrize("cell", CELLS)
def test_parallel_form_stays_finite_for_10000_saturated_steps(cell):
    """10,000 steps, float32, gates saturated: both parallel scans give finite outputs, states
    and gradients, and the chunked scan (the layers' default) equals the float64 loop."""
    x = torch.randn(2, 10_000, 4, generator=torch.Generator().manual_seed(6))
    state = torch.randn(1, 2, 8)
    reference_encoder = saturated_encoder(cell, F64)
    set_scan(reference_encoder, "sequential")
    reference = gradients(reference_encoder, x.double(), state.double(), parallel)
    with torch.no_grad():
        k = reference_encoder.rnn.weight_ih_l0 @ x.double()[0].T
    assert float(k.abs().median()) > 20          # the gates really are saturated
    for scan in PARALLEL_SCANS:
        encoder = saturated_encoder(cell, torch.float32)
        set_scan(encoder, scan)
        got = gradients(encoder, x, state, parallel)
        for name, value in got.items():
            assert torch.isfinite(value).all(), (scan, name)
        if scan == "chunked":
            assert_all_close({name: value.double() for name, value in got.items()}, reference,
                             1e-5)


def test_log_scan_takes_any_initial_state():
    """Heinsen's scan needs b > 0; rnnlab's h0 term is kept apart, so h0 may be negative."""
    a = torch.rand(1, 6, 2, dtype=F64)
    b = torch.rand(1, 6, 2, dtype=F64) + 0.1
    h0 = torch.tensor([[-3.0, 0.0]], dtype=F64)
    torch.testing.assert_close(log_scan(a.log(), b.log(), h0), sequential_scan(a, b, h0),
                               rtol=1e-12, atol=1e-12)


# -- the layer and the registry -----------------------------------------------------------------


@pytest.mark.parametrize("cell,gates", [("mingru", 2), ("minlstm", 3)])
def test_registry_entry_and_parameters(cell, gates):
    spec = get_cell(cell)
    assert (spec.gates, spec.has_cell_state, spec.has_recurrent_matrix) == (gates, False, False)
    assert spec.weight_names == ("weight_ih", "bias_ih")
    assert spec.weight_shapes(7, 5) == (("weight_ih", (gates * 5, 7)), ("bias_ih", (gates * 5,)))
    layer = make_layer(cell, 7, 5, num_layers=2, bidirectional=True)
    assert isinstance(layer, ScanRNN)
    # one nn.Linear(D, G·H) per layer and direction, nothing else
    linears = [torch.nn.Linear(7, gates * 5), torch.nn.Linear(7, gates * 5),
               torch.nn.Linear(10, gates * 5), torch.nn.Linear(10, gates * 5)]
    assert sum(p.numel() for p in layer.parameters()) == sum(
        p.numel() for m in linears for p in m.parameters())
    assert spec.num_parameters(7, 5) + spec.num_parameters(10, 5) == sum(
        p.numel() for p in layer.parameters()) // 2
    assert [name for name, _ in layer.named_parameters()] == [
        "weight_ih_l0", "bias_ih_l0", "weight_ih_l0_reverse", "bias_ih_l0_reverse",
        "weight_ih_l1", "bias_ih_l1", "weight_ih_l1_reverse", "bias_ih_l1_reverse"]
    # nn.Linear's initialisation: within ±1/√(fan-in) of each layer
    assert float(layer.weight_ih_l0.detach().abs().max()) <= 7 ** -0.5
    assert float(layer.weight_ih_l1.detach().abs().max()) <= 10 ** -0.5


def test_cell_weight_declarations_are_checked():
    with pytest.raises(RnnlabError, match="shape must be a non-empty tuple of GH, H, D"):
        CellWeight("w", ("GH", "X"))
    with pytest.raises(RnnlabError, match="Python identifier"):
        CellWeight("w x", ("GH",))
    with pytest.raises(RnnlabError, match="weight names repeat"):
        CellSpec("x", 1, False, torch.tanh, weights=(CellWeight("w", ("GH",)),) * 2)
    with pytest.raises(RnnlabError, match="tuple of CellWeight"):
        CellSpec("x", 1, False, torch.tanh, weights=("weight_ih",))
    assert get_cell("gru").has_recurrent_matrix


def test_layer_rejects_bad_input_and_scan():
    layer = make_layer("mingru", 3, 4)
    with pytest.raises(RnnlabError, match=r"\(B, T, 3\)"):
        layer(torch.randn(2, 5, 4))
    with pytest.raises(RnnlabError, match="a mingru state is one tensor"):
        layer(torch.randn(2, 5, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    layer.scan = "fft"
    with pytest.raises(RnnlabError, match="unknown scan 'fft'; choose one of chunked, log"):
        layer(torch.randn(2, 5, 3))


@pytest.mark.parametrize("cell", CELLS)
def test_bf16_autocast_keeps_the_recurrence_in_float32(cell):
    """Under CPU bf16 autocast the projection is bf16, the scan and the state are float32 —
    in the parallel form and in the one-step form — and agree with an fp32 run to bf16's
    precision."""
    torch.manual_seed(7)
    encoder = RecurrentEncoder(6, 8, cell=cell, num_layers=2)
    x = torch.randn(2, 30, 6)
    expected, expected_final = encoder(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outputs, final = encoder(x)
        stepped, state = encoder.step(x[:, 0])
    assert outputs.dtype == final.dtype == stepped.dtype == state.dtype == torch.float32
    torch.testing.assert_close(outputs, expected, rtol=0, atol=0.05)
    torch.testing.assert_close(stepped, expected[:, 0], rtol=0, atol=0.05)
