"""Exercise 4 of the chapter, measured: how the recurrent init scale sets the gradient's decay.

For each cell (Elman tanh RNN, LSTM, GRU) and init scale S, an untrained character language
model is built with every W_hh gate block drawn i.i.d. N(0, S²/H) (spectral radius ≈ S; see
`rnnlab.diagnostics.gradflow`), all from the same seed, so that within a cell only S differs. On
one batch of real text, with a loss at the last step only, ‖∂L/∂h_t‖ of the top layer is
measured at every distance d = T - t from the loss (float64, mean over the batch).

The chapter's sketch instead draws every weight matrix from U(-S, S) and reports one averaged
parameter-gradient norm per scale; that mixes input and recurrent weights, ties the meaning of
S to the hidden size, and hides the dependence on distance that the exercise is about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rnnlab.diagnostics.gradflow import (
    DEFAULT_THRESHOLD,
    DecayFit,
    char_lm_gradient_flow,
    fit_decay,
    fresh_char_lm,
)
from rnnlab.errors import RnnlabError
from rnnlab.nn.cells import cell_names

DEFAULT_SCALES = (0.01, 0.1, 0.5, 1.0, 2.0)
# The exercise's comparison (any registered cell can be asked for).
DEFAULT_CELLS = ("rnn_tanh", "lstm", "gru")
# Short names accepted on the command line.
CELL_ALIASES = {"rnn": "rnn_tanh", "tanh": "rnn_tanh", "relu": "rnn_relu"}


def resolve_cell(name: str) -> str:
    """A registered cell name, or an alias of one (rnn, tanh, relu)."""
    cell = CELL_ALIASES.get(name, name)
    if cell not in cell_names():
        raise RnnlabError(f"unknown cell {name!r}; registered cells: {', '.join(cell_names())} "
                          f"(or rnn for rnn_tanh)")
    return cell


@dataclass
class InitScaleResult:
    cell: str
    scale: float
    norms_by_distance: np.ndarray       # (T,) mean ‖∂L/∂h‖ of the top layer at d = 0..T-1
    fit: DecayFit


def init_scale_experiment(ids: torch.Tensor, targets: torch.Tensor, vocab_size: int,
                          cells=DEFAULT_CELLS, scales=DEFAULT_SCALES, hidden: int = 64,
                          layers: int = 1, embedding: int = 32, seed: int = 0,
                          threshold: float = DEFAULT_THRESHOLD) -> list[InitScaleResult]:
    """One result per (cell, scale), cells outer; ids/targets (B, T) int64."""
    results = []
    for cell in cells:
        for scale in scales:
            model = fresh_char_lm(vocab_size, resolve_cell(cell), hidden, layers, embedding,
                                  init_scale=scale, seed=seed)
            report = char_lm_gradient_flow(model, ids, targets, threshold=threshold)
            norms = report.last.by_distance(-1)
            results.append(InitScaleResult(resolve_cell(cell), scale, norms,
                                           fit_decay(norms, threshold)))
    return results


def table_distances(seq_len: int) -> list[int]:
    """Distances shown in the table: 0, 1, 5, 10, 20, 50, 100, ... below T, and T-1."""
    chosen = [d for d in (0, 1, 5, 10, 20, 50, 100, 200, 500, 1000) if d < seq_len]
    if chosen[-1] != seq_len - 1:
        chosen.append(seq_len - 1)
    return chosen


def format_table(results: list[InitScaleResult]) -> str:
    seq_len = len(results[0].norms_by_distance)
    distances = table_distances(seq_len)
    lines = ["‖∂L/∂h_t‖ of the top layer at distance d from a loss at the last step "
             "(mean over the batch); factor = fitted per-step decay",
             "  ".join([f"{'cell':>8}", f"{'scale':>6}"] + [f"{f'd={d}':>10}" for d in distances]
                       + [f"{'factor':>8}"])]
    for result in results:
        factor = "n/a" if result.fit.factor is None else f"{result.fit.factor:.4g}"
        lines.append("  ".join([f"{result.cell:>8}", f"{result.scale:>6g}"]
                               + [f"{result.norms_by_distance[d]:>10.2e}" for d in distances]
                               + [f"{factor:>8}"]))
    return "\n".join(lines)
