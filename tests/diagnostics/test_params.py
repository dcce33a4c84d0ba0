"""Parameter counts: the formulas against torch, for the chapter's models and random configs.

Expected values are computed here from first principles (sizes × sizes, two biases per gate
block) or read from torch modules built in the test, never copied from the chapter's text.
"""

import random

import pytest
import torch
from torch import nn

from rnnlab.diagnostics.params import (
    CHAPTER_EXAMPLES,
    HEADS,
    POOLINGS,
    ModelSpec,
    build_model,
    component_totals,
    count_parameters,
    format_breakdown,
    parameter_breakdown,
    recurrent_parameters,
)
from rnnlab.errors import RnnlabError
from rnnlab.nn.cells import CellSpec, cell_names, get_cell, register_cell, unregister_cell

CELLS = cell_names()      # every registered cell, gru_fused included

# The chapter's sample text for the character model (section 1.6): four lines of Hamlet.
CHAPTER_TEXT = """To be or not to be, that is the question.
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles"""


def numel(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def rnn_layer(input_size: int, hidden: int, gates: int = 1) -> int:
    """One layer, one direction: W_ih (G·H×I), W_hh (G·H×H), b_ih and b_hh (G·H each)."""
    return gates * hidden * input_size + gates * hidden * hidden + 2 * gates * hidden


def test_nn_rnn_two_layers():
    expected = rnn_layer(10, 20) + rnn_layer(20, 20)          # 640 + 840
    assert expected == 1480
    assert numel(nn.RNN(10, 20, num_layers=2)) == expected
    assert count_parameters(CHAPTER_EXAMPLES["nn-rnn"]) == expected
    assert recurrent_parameters("rnn_tanh", 10, 20, num_layers=2) == expected


def test_sentiment_model():
    vocab, embed, hidden, classes = 5000, 100, 128, 2
    embedding = vocab * embed
    recurrent = rnn_layer(embed, hidden)
    head = hidden * classes + classes
    expected = embedding + recurrent + head
    reference = nn.ModuleList([nn.Embedding(vocab, embed), nn.RNN(embed, hidden, batch_first=True),
                               nn.Linear(hidden, classes)])
    assert numel(reference) == expected
    spec = CHAPTER_EXAMPLES["sentiment"]
    assert count_parameters(spec) == expected == numel(build_model(spec))
    totals = component_totals(parameter_breakdown(spec))
    assert totals == {"embedding": embedding, "recurrent": recurrent, "head": head}
    # the one-bias formula undercounts the recurrent layer by exactly one bias vector
    assert recurrent - (embed * hidden + hidden * hidden + hidden) == hidden


def test_char_model_from_the_chapter_text():
    vocab = len(set(CHAPTER_TEXT))
    assert len(CHAPTER_TEXT) == 170 and vocab == 27
    embed, hidden = 32, 64
    expected = vocab * embed + rnn_layer(embed, hidden) + hidden * vocab + vocab
    reference = nn.ModuleList([nn.Embedding(vocab, embed), nn.RNN(embed, hidden),
                               nn.Linear(hidden, vocab)])
    assert numel(reference) == expected
    spec = ModelSpec(cell="rnn_tanh", vocab_size=vocab, embedding_size=embed,
                     hidden_size=hidden, head="lm")
    assert spec == CHAPTER_EXAMPLES["char-model"]
    model = build_model(spec)
    assert count_parameters(spec) == expected == numel(model) == model.num_parameters()


def test_exercise_one_counts_both_biases():
    spec = CHAPTER_EXAMPLES["exercise-1"]          # input 50, hidden 128, output 10
    expected = rnn_layer(50, 128) + 128 * 10 + 10
    assert count_parameters(spec) == expected == numel(build_model(spec))


@pytest.mark.parametrize("cell,gates,module", [("rnn_tanh", 1, nn.RNN), ("lstm", 4, nn.LSTM),
                                               ("gru", 3, nn.GRU)])
def test_stack_formula_matches_plain_torch(cell, gates, module):
    for layers, bidirectional in ((1, False), (3, False), (2, True)):
        dirs = 2 if bidirectional else 1
        expected = sum(dirs * rnn_layer(7 if layer == 0 else dirs * 5, 5, gates)
                       for layer in range(layers))
        torch_module = module(7, 5, num_layers=layers, bidirectional=bidirectional)
        assert numel(torch_module) == expected
        spec = ModelSpec(cell=cell, input_size=7, hidden_size=5, num_layers=layers,
                         bidirectional=bidirectional)
        assert count_parameters(spec) == expected


def random_specs(count: int, seed: int) -> list[ModelSpec]:
    """Configurations cycling through every cell and head, with random sizes and options."""
    rng = random.Random(seed)
    specs = []
    for i in range(count):
        cell, head = CELLS[i % len(CELLS)], HEADS[(i // len(CELLS)) % len(HEADS)]
        kw = dict(cell=cell, head=head, hidden_size=rng.randint(1, 24),
                  num_layers=rng.randint(1, 3), dropout=rng.choice([0.0, 0.25]))
        if head == "lm" or i % 3 == 0:
            kw.update(vocab_size=rng.randint(2, 40), embedding_size=rng.randint(1, 24))
        else:
            kw.update(input_size=rng.randint(1, 24))
        if head == "lm":
            if i % 2:
                kw.update(embedding_size=kw["hidden_size"], tie_weights=True)
            kw.update(residual=i % 7 in (1, 2), layer_norm=i % 7 in (2, 3))
        else:
            kw.update(bidirectional=rng.random() < 0.5, residual=i % 5 in (1, 2),
                      layer_norm=i % 5 in (2, 3))
        if head in ("classifier", "tagger"):
            kw["output_size"] = rng.randint(1, 9)
        if head == "classifier":
            kw["pooling"] = POOLINGS[rng.randrange(len(POOLINGS))]
        specs.append(ModelSpec(**kw))
    return specs


def test_random_configurations_equal_torch_numel_and_names():
    specs = random_specs(32, seed=2024)
    covered = {(s.cell, s.head) for s in specs}
    assert covered == {(c, h) for c in CELLS for h in HEADS}
    for flag in ("bidirectional", "residual", "layer_norm", "tie_weights", "embedded"):
        assert any(getattr(s, flag) for s in specs) and not all(getattr(s, flag) for s in specs)
    assert any(s.pooling == "attention" for s in specs)
    for spec in specs:
        torch.manual_seed(0)
        model = build_model(spec)
        breakdown = parameter_breakdown(spec)
        assert [(t.name, t.shape) for t in breakdown] == [
            (name, tuple(p.shape)) for name, p in model.named_parameters()], spec
        assert count_parameters(spec) == numel(model), spec


def test_a_registered_cell_is_counted_from_its_gates():
    """A user cell (2 gate blocks, no layer of its own: the generic step loop) is counted by the
    formula, and the count and names equal the torch model's."""
    register_cell(CellSpec("two_gate_test", gates=2, has_cell_state=False,
                           step=get_cell("rnn_tanh").step))
    try:
        for extra in ({}, {"bidirectional": True, "num_layers": 2}, {"layer_norm": True}):
            spec = ModelSpec(cell="two_gate_test", input_size=3, hidden_size=4, head="tagger",
                             output_size=2, **extra)
            model = build_model(spec)
            assert [(t.name, t.shape) for t in parameter_breakdown(spec)] == [
                (name, tuple(p.shape)) for name, p in model.named_parameters()]
            assert count_parameters(spec) == numel(model)
        assert recurrent_parameters("two_gate_test", 3, 4) == 2 * 4 * (3 + 4 + 2)
    finally:
        unregister_cell("two_gate_test")


def test_tied_lm_counts_the_shared_matrix_once():
    untied = ModelSpec(cell="gru", vocab_size=30, embedding_size=16, hidden_size=16, head="lm")
    tied = ModelSpec(cell="gru", vocab_size=30, embedding_size=16, hidden_size=16, head="lm",
                     tie_weights=True)
    assert count_parameters(untied) - count_parameters(tied) == 30 * 16
    assert "counted once" in format_breakdown(tied)


def test_layer_norm_adds_two_vectors_per_layer_and_residual_nothing():
    plain = ModelSpec(cell="lstm", input_size=8, hidden_size=8, num_layers=3, bidirectional=True)
    normed = ModelSpec(cell="lstm", input_size=8, hidden_size=8, num_layers=3,
                       bidirectional=True, layer_norm=True)
    residual = ModelSpec(cell="lstm", input_size=8, hidden_size=8, num_layers=3,
                         bidirectional=True, residual=True)
    assert count_parameters(normed) - count_parameters(plain) == 3 * 2 * 16
    assert count_parameters(residual) == count_parameters(plain)


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(cell="foo", input_size=3), "unknown cell 'foo'; registered cells: gru, gru_fused, "),
    (dict(input_size=3, hidden_size=-4), "hidden_size must be a positive integer, got -4"),
    (dict(input_size=0), "input_size must be a positive integer"),
    (dict(), "give input_size"),
    (dict(input_size=3, vocab_size=5, embedding_size=2), "not both"),
    (dict(vocab_size=5), "both vocab_size and embedding_size"),
    (dict(input_size=3, head="tagger"), "needs output_size"),
    (dict(input_size=3, head="lm"), "lm head predicts tokens"),
    (dict(vocab_size=5, embedding_size=4, hidden_size=6, head="lm", tie_weights=True),
     "embedding_size == hidden_size"),
    (dict(vocab_size=5, embedding_size=4, head="lm", bidirectional=True), "causal"),
    (dict(input_size=3, head="none", output_size=2), "no output layer"),
    (dict(input_size=3, head="tagger", output_size=2, pooling="max"), "classifier head only"),
    (dict(input_size=3, head="nope"), "unknown head"),
])
def test_bad_configurations_name_the_value(kwargs, fragment):
    with pytest.raises(RnnlabError, match=None) as info:
        ModelSpec(**kwargs)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)



@pytest.mark.parametrize("cell,gates", [("mingru", 2), ("minlstm", 3)])
def test_parallel_scan_cells_count_one_input_linear_per_layer(cell, gates):
    """minGRU/minLSTM (Feng et al. 2024) are, per layer and direction, one nn.Linear(I_l, G·H)
    with a bias and nothing else (no W_hh, no second bias): their count is that Linear's."""
    for layers, bidirectional, extra in ((1, False, {}), (3, False, {}), (2, True, {}),
                                         (2, True, {"layer_norm": True, "residual": True})):
        dirs = 2 if bidirectional else 1
        linears = nn.ModuleList(nn.Linear(7 if layer == 0 else dirs * 5, gates * 5)
                                for layer in range(layers) for _ in range(dirs))
        spec = ModelSpec(cell=cell, input_size=7, hidden_size=5, num_layers=layers,
                         bidirectional=bidirectional, **extra)
        norms = 2 * dirs * 5 * layers if extra.get("layer_norm") else 0
        assert count_parameters(spec) == numel(linears) + norms == numel(build_model(spec))
        assert recurrent_parameters(cell, 7, 5, layers, bidirectional) == numel(linears)
    names = [t.name for t in parameter_breakdown(ModelSpec(cell=cell, input_size=3,
                                                           hidden_size=4))]
    assert names == ["encoder.rnn.weight_ih_l0", "encoder.rnn.bias_ih_l0"]
