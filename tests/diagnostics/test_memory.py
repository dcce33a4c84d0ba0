"""Memory estimate: activations exact against autograd's saved tensors, the fixed costs from
the formulas, the oneDNN workspace against torch, and the peak against a profiled step."""

import random
import subprocess
import sys

import pytest
import torch

from rnnlab.diagnostics.memory.activations import activation_items
from rnnlab.diagnostics.memory.estimate import estimate_training_memory
from rnnlab.diagnostics.memory.measure import (make_optimizer, measure_saved_activations,
                                               measure_training_peak, training_step)
from rnnlab.diagnostics.memory.onednn import onednn_lstm_workspace_bytes
from rnnlab.diagnostics.memory.activations import MODELLED_CELLS
from rnnlab.diagnostics.params import (
    HEADS,
    POOLINGS,
    ModelSpec,
    build_model,
    count_parameters,
    parameter_breakdown,
)
from rnnlab.errors import RnnlabError


def random_spec(rng: random.Random, cell: str, head: str) -> ModelSpec:
    kw = dict(cell=cell, head=head, hidden_size=rng.randint(1, 20),
              num_layers=rng.randint(1, 3), dropout=rng.choice([0.0, 0.3]))
    if head == "lm" or rng.random() < 0.5:
        kw.update(vocab_size=rng.randint(2, 30), embedding_size=rng.randint(1, 20))
    else:
        kw.update(input_size=rng.randint(1, 20))
    if head != "lm":
        kw.update(bidirectional=rng.random() < 0.5, residual=rng.random() < 0.3,
                  layer_norm=rng.random() < 0.3)
    elif rng.random() < 0.3:
        kw.update(embedding_size=kw["hidden_size"], tie_weights=True)
    if head in ("classifier", "tagger"):
        kw["output_size"] = rng.randint(1, 8)
    if head == "classifier":
        kw["pooling"] = rng.choice(POOLINGS)
    return ModelSpec(**kw)


def saved_bytes(spec, batch, seq_len, precision="fp32"):
    torch.manual_seed(0)
    model = build_model(spec)
    model.train()
    return measure_saved_activations(model, spec, batch, seq_len, precision,
                                     torch.Generator().manual_seed(1))


def test_activations_equal_saved_tensors_fp32():
    """Every cell × head, random options and sizes (including B = 1 and T = 1): the estimate
    of what is alive at the end of the forward pass is exact to the byte."""
    rng = random.Random(7)
    for cell in MODELLED_CELLS:
        for head in HEADS:
            for _ in range(2):
                spec = random_spec(rng, cell, head)
                batch, seq_len = rng.randint(1, 5), rng.randint(1, 7)
                estimate = sum(i.nbytes for i in activation_items(spec, batch, seq_len))
                assert estimate == saved_bytes(spec, batch, seq_len), (spec, batch, seq_len)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_activations_under_autocast(precision):
    """RNN and GRU under CPU autocast (token inputs, B, T >= 2): autograd saves the estimated
    activations plus the 2-byte copies of every weight matrix (biases are cached, not saved)."""
    rng = random.Random(11)
    for cell in ("rnn_tanh", "rnn_relu", "gru"):
        for head in HEADS:
            spec = random_spec(rng, cell, head)
            if not spec.embedded:
                spec = ModelSpec(**{**spec.to_dict(), "input_size": None, "vocab_size": 9,
                                    "embedding_size": 5})
            batch, seq_len = rng.randint(2, 5), rng.randint(2, 7)
            matrices = sum(t.count for t in parameter_breakdown(spec)
                           if t.component in ("recurrent", "head", "pooling")
                           and len(t.shape) == 2)
            if spec.tie_weights:
                matrices += spec.vocab_size * spec.hidden_size
            estimate = sum(i.nbytes for i in activation_items(spec, batch, seq_len, precision))
            assert estimate + 2 * matrices == saved_bytes(spec, batch, seq_len, precision), spec


def test_lstm_workspace_matches_onednn():
    shapes = [(4, 6, 5, 8), (16, 20, 32, 64), (3, 7, 100, 64), (16, 20, 32, 256), (2, 9, 17, 200)]
    for batch, seq_len, inputs, hidden in shapes:
        lstm = torch.nn.LSTM(inputs, hidden)
        workspaces = []

        def pack(tensor):
            if tensor.dtype == torch.uint8:
                workspaces.append(tensor.untyped_storage().nbytes())
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            lstm(torch.randn(seq_len, batch, inputs))
        if not workspaces:
            pytest.skip("nn.LSTM does not run oneDNN's kernel here (no workspace saved)")
        assert workspaces == [onednn_lstm_workspace_bytes(batch, seq_len, inputs, hidden)]


def test_fixed_costs_follow_the_parameter_count():
    spec = ModelSpec(cell="gru", vocab_size=50, embedding_size=16, hidden_size=32, head="lm")
    p = count_parameters(spec)
    tensors = len(parameter_breakdown(spec))
    expected_optimizer = {"adam": 8 * p + 4 * tensors, "adamw": 8 * p + 4 * tensors,
                          "sgd-momentum": 4 * p, "sgd": 0, "none": 0}
    for optimizer, optimizer_bytes in expected_optimizer.items():
        estimate = estimate_training_memory(spec, 8, 10, "fp32", optimizer)
        assert estimate.total("parameters") == 4 * p
        assert estimate.total("gradients") == 4 * p
        assert estimate.total("optimizer") == optimizer_bytes
        assert estimate.total("autocast") == 0
    half = estimate_training_memory(spec, 8, 10, "bf16", "adam")
    cast = sum(t.count for t in parameter_breakdown(spec) if t.component != "embedding")
    assert half.total("autocast") == 2 * cast
    assert half.total("parameters") == 4 * p          # master weights stay fp32


def test_exercise_two_hidden_states_are_one_item():
    """32 × 100 × 256 hidden states of one tanh layer, 4 bytes each: one row of the table."""
    spec = ModelSpec(cell="rnn_tanh", input_size=8, hidden_size=256)
    items = activation_items(spec, 32, 100)
    states = [i for i in items if "hidden states" in i.name]
    assert [i.nbytes for i in states] == [32 * 100 * 256 * 4]
    assert sum(i.nbytes for i in items) > 32 * 100 * 256 * 4     # and it is not all


def test_activations_scale_linearly_with_batch_and_time():
    spec = ModelSpec(cell="lstm", vocab_size=40, embedding_size=16, hidden_size=32, head="tagger",
                     output_size=5, bidirectional=True, num_layers=2)
    base = estimate_training_memory(spec, 8, 16).total("activations")
    assert estimate_training_memory(spec, 16, 16).total("activations") > 1.8 * base
    assert estimate_training_memory(spec, 8, 32).total("activations") > 1.8 * base


@pytest.mark.parametrize("spec,batch,seq_len,optimizer", [
    (ModelSpec(cell="lstm", vocab_size=30, embedding_size=16, hidden_size=32, num_layers=2,
               head="lm"), 8, 12, "adam"),
    (ModelSpec(cell="gru", input_size=6, hidden_size=24, bidirectional=True, head="tagger",
               output_size=4, layer_norm=True, residual=True, num_layers=2), 6, 10, "sgd"),
    (ModelSpec(cell="rnn_tanh", vocab_size=500, embedding_size=32, hidden_size=32,
               head="classifier", output_size=3), 8, 20, "adamw"),
])
def test_peak_within_a_quarter_of_the_measured_peak(spec, batch, seq_len, optimizer):
    estimate = estimate_training_memory(spec, batch, seq_len, "fp32", optimizer)
    measured = measure_training_peak(spec, batch, seq_len, "fp32", optimizer)
    assert measured["baseline"] > 0 and measured["step_delta"] > 0
    assert 0.75 <= estimate.peak_bytes / measured["peak"] <= 1.25
    assert estimate.peak_bytes == max(estimate.phases.values())


def test_table_lists_every_category_and_the_peak():
    spec = ModelSpec(cell="gru", input_size=4, hidden_size=8, head="tagger", output_size=3)
    text = estimate_training_memory(spec, 2, 3, "bf16", "adam").format_table()
    for word in ("parameters", "gradients", "optimizer", "autocast", "activations", "MiB",
                 "estimated peak"):
        assert word in text


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(precision="fp8"), "unknown precision 'fp8'"),
    (dict(optimizer="rmsprop"), "unknown optimizer 'rmsprop'"),
    (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
    (dict(seq_len=-2), "seq_len must be a positive integer, got -2"),
])
def test_bad_arguments(kwargs, fragment):
    spec = ModelSpec(cell="lstm", input_size=3, hidden_size=4)
    args = dict(batch_size=2, seq_len=3, precision="fp32", optimizer="adam") | kwargs
    with pytest.raises(RnnlabError) as info:
        estimate_training_memory(spec, **args)
    assert fragment in str(info.value)


def test_importing_the_estimate_loads_no_torch():
    """Like rnnlab.diagnostics.params, the estimate imports no torch; only the measurement
    names load it, on first use."""
    code = ("import sys; from rnnlab.diagnostics.memory.estimate import estimate_training_memory; "
            "assert 'torch' not in sys.modules, 'the estimate imported torch'; "
            "from rnnlab.diagnostics.memory.measure import training_step; "
            "assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd-momentum", "sgd", "none"])
def test_measured_optimizer_state_matches_the_estimate(optimizer):
    """The optimizer the measurement builds keeps the state the estimate counts, and its AdamW
    is the single-tensor one whose step temporaries the estimate models (not fused)."""
    spec = ModelSpec(cell="gru", vocab_size=20, embedding_size=6, hidden_size=8, head="lm")
    model = build_model(spec)
    opt = make_optimizer(optimizer, model.parameters())
    training_step(model, spec, opt, 2, 3, "fp32", torch.Generator().manual_seed(0))
    state = [] if opt is None else [v for s in opt.state.values() for v in s.values()]
    measured = sum(v.untyped_storage().nbytes() for v in state if isinstance(v, torch.Tensor))
    assert measured == estimate_training_memory(spec, 2, 3, "fp32", optimizer).total("optimizer")
    if opt is not None:
        assert not any(group.get("fused") for group in opt.param_groups)


def test_measurement_rejects_an_unknown_precision():
    spec = ModelSpec(cell="rnn_tanh", input_size=3, hidden_size=4)
    with pytest.raises(RnnlabError, match="unknown precision 'fp8'"):
        measure_saved_activations(build_model(spec), spec, 2, 3, "fp8")


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_lm_with_residual_and_layer_norm_is_exact(cell):
    """The lm head takes the per-layer encoder options too; its saved tensors stay exact."""
    for residual, layer_norm in ((True, False), (False, True), (True, True)):
        spec = ModelSpec(cell=cell, vocab_size=9, embedding_size=6, hidden_size=6, num_layers=2,
                         head="lm", residual=residual, layer_norm=layer_norm, dropout=0.3)
        estimate = sum(i.nbytes for i in activation_items(spec, 3, 4))
        assert estimate == saved_bytes(spec, 3, 4), spec


def test_a_cell_without_a_memory_model_is_refused():
    """A registered cell whose layer is not PyTorch's RNN/LSTM/GRU saves other tensors."""
    from rnnlab.nn.cells import cell_names

    if "gru_fused" not in cell_names():
        pytest.skip("no gru_fused cell registered")
    spec = ModelSpec(cell="gru_fused", input_size=3, hidden_size=4)
    with pytest.raises(RnnlabError, match="no memory model for cell 'gru_fused'"):
        estimate_training_memory(spec, 2, 3)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_parallel_scan_cells_are_refused_in_one_line(cell, capsys):
    """No memory model follows the scan layer's saved tensors yet: `rnnlab memory` says so in
    one line (exit 2) rather than print a number for another kernel; `rnnlab params` counts it."""
    from rnnlab.cli import main

    spec = ModelSpec(cell=cell, vocab_size=9, embedding_size=6, hidden_size=6, head="lm")
    with pytest.raises(RnnlabError, match=f"no memory model for cell '{cell}'"):
        estimate_training_memory(spec, 2, 3)
    flags = ["--cell", cell, "--vocab", "9", "--embedding", "6", "--hidden", "6", "--head", "lm"]
    assert main(["memory", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"no memory model for cell '{cell}'" in err[0]
    assert main(["params", *flags, "--check"]) == 0
