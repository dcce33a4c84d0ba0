"""Exercise 4: gradient against distance for each init scale and cell."""

import numpy as np
import pytest
import torch

from rnnlab.diagnostics.gradflow import fresh_char_lm
from rnnlab.diagnostics.init_scale import (
    format_table,
    init_scale_experiment,
    resolve_cell,
    table_distances,
)
from rnnlab.errors import RnnlabError

VOCAB, HIDDEN, EMBEDDING, SEED = 6, 12, 4, 3


@pytest.fixture(scope="module")
def batch():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (2, 16), generator=generator)
    return ids, torch.roll(ids, -1, dims=1)


def run(batch, cells, scales):
    ids, targets = batch
    return init_scale_experiment(ids, targets, VOCAB, cells, scales, hidden=HIDDEN, layers=1,
                                 embedding=EMBEDDING, seed=SEED)


def test_one_result_per_cell_and_scale_in_order(batch):
    results = run(batch, ["rnn", "gru"], [0.1, 1.0])
    assert [(r.cell, r.scale) for r in results] == [
        ("rnn_tanh", 0.1), ("rnn_tanh", 1.0), ("gru", 0.1), ("gru", 1.0)]
    assert all(r.norms_by_distance.shape == (16,) for r in results)


def test_zero_scale_cuts_the_path_through_h_for_rnn_and_lstm_but_not_gru(batch):
    """With W_hh = 0, h_t of a tanh RNN or LSTM no longer depends on h_(t-1): the gradient
    beyond the loss step is exactly zero. A GRU keeps h_t = z_t·h_(t-1) + ...: it is not."""
    rnn, lstm, gru = run(batch, ["rnn_tanh", "lstm", "gru"], [0.0])
    for result in (rnn, lstm):
        assert result.norms_by_distance[0] > 0
        assert np.all(result.norms_by_distance[1:] == 0.0)
    assert np.all(gru.norms_by_distance > 0)


def test_tanh_rnn_shrinks_at_least_as_fast_as_the_norm_of_w_hh(batch):
    """‖∂L/∂h_(t-1)‖ = ‖W_hh^T diag(tanh') ∂L/∂h_t‖ <= ‖W_hh‖₂ ‖∂L/∂h_t‖ since |tanh'| <= 1."""
    for result in run(batch, ["rnn"], [0.1, 0.5, 2.0]):
        model = fresh_char_lm(VOCAB, "rnn_tanh", HIDDEN, 1, EMBEDDING, result.scale, SEED)
        w_hh = model.encoder.rnn.weight_hh_l0.detach().double()
        bound = float(torch.linalg.matrix_norm(w_hh, ord=2))
        norms = result.norms_by_distance
        assert np.all(norms[1:] <= bound * norms[:-1] * (1 + 1e-12))
    small, _, large = run(batch, ["rnn"], [0.1, 0.5, 2.0])
    assert small.norms_by_distance[-1] < large.norms_by_distance[-1]


def test_table_and_distances(batch):
    assert table_distances(100) == [0, 1, 5, 10, 20, 50, 99]
    assert table_distances(3) == [0, 1, 2]
    results = run(batch, ["lstm"], [0.5])
    table = format_table(results)
    assert "d=15" in table and "lstm" in table
    row = table.splitlines()[-1].split()
    assert float(row[2]) == pytest.approx(results[0].norms_by_distance[0], rel=1e-2)


def test_cell_names():
    assert resolve_cell("rnn") == "rnn_tanh" and resolve_cell("gru") == "gru"
    assert resolve_cell("gru_fused") == "gru_fused"      # any registered cell
    with pytest.raises(RnnlabError, match="'transformer'; registered cells: gru, gru_fused"):
        resolve_cell("transformer")
