"""A cell is one file: a toy cell defined here, registered through the public registry, trains the
char LM, the classifier and the tagger, and its runs save, load and sample — with no file under
rnnlab/ knowing about it."""

import pytest
import torch

from rnnlab.decoding import SamplingOptions
from rnnlab.nn.cells import CellSpec, register_cell, unregister_cell
from rnnlab.tasks.lm import train_char_lm
from tests.tiny_tasks import quiet, train_tiny_char_lm, train_tiny_classifier, train_tiny_tagger

TOY = "toy_leaky"


def toy_leaky_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """A two-gate leaky cell: z = σ(·), candidate = tanh(·), h' = (1 - z)·h + z·candidate.

    x (B, D), h (B, H); weights in PyTorch's layout with G = 2 blocks: z rows, then candidate.
    """
    gates = x @ w_ih.t() + b_ih + h @ w_hh.t() + b_hh          # (B, 2H)
    z, candidate = gates.chunk(2, dim=1)
    z = torch.sigmoid(z)
    return (1 - z) * h + z * torch.tanh(candidate), None


@pytest.fixture(autouse=True)
def toy_cell():
    register_cell(CellSpec(name=TOY, gates=2, has_cell_state=False, step=toy_leaky_step,
                           gate_names=("z", "candidate")))
    yield
    unregister_cell(TOY)


def test_toy_cell_trains_the_char_lm_and_samples(tmp_path):
    _, model = train_tiny_char_lm(tmp_path, TOY, bptt=8)
    assert "encoder.rnn.weight_hh_l1" in model.state_dict()    # PyTorch's names, 2 layers
    assert model.state_dict()["encoder.rnn.weight_hh_l1"].shape == (2 * 16, 16)
    text = model.generate("ab", 20, SamplingOptions(temperature=0.5), seed=1)
    assert len(text) == 20 and set(text) <= set("abcde \n")
    # resume continues the run with the registered cell
    resumed = train_char_lm(resume=tmp_path / "lm", overrides={"max_steps": 44},
                            progress_bar=False, log=quiet)
    assert resumed.step == 44


def test_toy_cell_trains_the_classifier(tmp_path):
    train_tiny_classifier(tmp_path, TOY)


def test_toy_cell_trains_the_tagger(tmp_path):
    train_tiny_tagger(tmp_path, TOY)
