"""A cell is one file: a toy cell defined here, registered through the public registry, trains the
char LM, the classifier and the tagger, and its runs save, load and sample — with no file under
rnnlab/ knowing about it."""

import random

import pytest
import torch

from rnnlab.decoding import SamplingOptions
from rnnlab.models.classifier import RNNClassifier
from rnnlab.models.lm import CharLM
from rnnlab.models.tagger import Tagger
from rnnlab.nn.cells import CellSpec, register_cell, unregister_cell
from rnnlab.tasks.classify import train_classifier
from rnnlab.tasks.lm import train_char_lm
from rnnlab.tasks.tag import train_tagger
from rnnlab.train.metrics import read_metrics

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


def quiet(message):
    pass


def test_toy_cell_trains_the_char_lm_and_samples(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abcabd abcabd abcabe\n" * 60, encoding="utf-8")
    result = train_char_lm(data=str(corpus), out=tmp_path / "lm",
                           model=dict(cell=TOY, num_layers=2, hidden_size=16, embedding_size=8),
                           train=dict(batch_size=4, bptt=8, lr=2e-2, warmup_steps=2,
                                      max_steps=40, eval_interval=20, precision="fp32",
                                      sample_length=0),
                           progress_bar=False, log=quiet)
    assert result.step == 40
    losses = [r["val_loss"] for r in read_metrics(tmp_path / "lm" / "metrics.jsonl")
              if "val_loss" in r]
    assert losses[-1] < losses[0]                     # it learned something
    model = CharLM.from_pretrained(tmp_path / "lm")
    assert model.config.cell == TOY
    assert "encoder.rnn.weight_hh_l1" in model.state_dict()    # PyTorch's names, 2 layers
    assert model.state_dict()["encoder.rnn.weight_hh_l1"].shape == (2 * 16, 16)
    text = model.generate("ab", 20, SamplingOptions(temperature=0.5), seed=1)
    assert len(text) == 20 and set(text) <= set("abcde \n")
    # resume continues the run with the registered cell
    resumed = train_char_lm(resume=tmp_path / "lm", overrides={"max_steps": 44},
                            progress_bar=False, log=quiet)
    assert resumed.step == 44


def test_toy_cell_trains_the_classifier(tmp_path):
    rng = random.Random(0)

    def rows(count):
        lines = []
        for _ in range(count):
            words = [f"w{rng.randrange(6)}" for _ in range(rng.randint(2, 6))]
            lines.append(("yes" if "w3" in words else "no") + "\t" + " ".join(words))
        return "\n".join(lines) + "\n"

    (tmp_path / "train.tsv").write_text(rows(120), encoding="utf-8")
    (tmp_path / "dev.tsv").write_text(rows(30), encoding="utf-8")
    result = train_classifier(train=str(tmp_path / "train.tsv"), dev=str(tmp_path / "dev.tsv"),
                              out=tmp_path / "clf",
                              model=dict(cell=TOY, embedding_size=8, hidden_size=8),
                              train_options=dict(batch_size=16, max_steps=8, eval_interval=4),
                              progress_bar=False, log=quiet)
    assert result.step == 8 and 0.0 <= result.scores["accuracy"] <= 1.0
    model = RNNClassifier.from_pretrained(tmp_path / "clf")
    assert model.config.cell == TOY and model.encoder.bidirectional
    assert len(model.predict(["w3 w1", "w2"])) == 2


def test_toy_cell_trains_the_tagger(tmp_path):
    rng = random.Random(1)
    tags = {"the": "DET", "dog": "NOUN", "cat": "NOUN", "runs": "VERB", "sleeps": "VERB"}

    def treebank(count):
        lines = []
        for sentence in range(count):
            words = [rng.choice(list(tags)) for _ in range(rng.randint(2, 5))]
            lines.append(f"# sent_id = {sentence + 1}")
            lines += [f"{i}\t{w}\t{w}\t{tags[w]}\t_\t_\t0\t_\t_\t_" for i, w in enumerate(words, 1)]
            lines.append("")
        return "\n".join(lines) + "\n"

    (tmp_path / "train.conllu").write_text(treebank(40), encoding="utf-8")
    (tmp_path / "dev.conllu").write_text(treebank(10), encoding="utf-8")
    result = train_tagger(train=str(tmp_path / "train.conllu"), dev=str(tmp_path / "dev.conllu"),
                          out=tmp_path / "tagger",
                          model=dict(cell=TOY, word_embedding_size=8, char_embedding_size=4,
                                     char_hidden_size=4, hidden_size=8),
                          training=dict(batch_size=8, max_steps=8, eval_interval=4),
                          progress_bar=False, log=quiet)
    assert result.step == 8
    tagger = Tagger.from_pretrained(tmp_path / "tagger")
    assert tagger.config.cell == TOY
    assert len(tagger.predict([["the", "dog", "runs"]])[0]) == 3
