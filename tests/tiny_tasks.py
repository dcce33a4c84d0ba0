"""Tiny training runs of the three tasks for a given cell, shared by the tests that check a cell
works everywhere (tests/test_toy_cell.py: a cell registered by a test; tests/test_min_cells_tasks.py:
minGRU and minLSTM). Each trains a few steps on made-up data and returns the reloaded model."""

import random

from rnnlab.models.classifier import RNNClassifier
from rnnlab.models.lm import CharLM
from rnnlab.models.tagger import Tagger
from rnnlab.tasks.classify import train_classifier
from rnnlab.tasks.lm import train_char_lm
from rnnlab.tasks.tag import train_tagger
from rnnlab.train.metrics import read_metrics

LM_TEXT = "abcabd abcabd abcabe\n"


def quiet(message):
    pass


def train_tiny_char_lm(folder, cell: str, bptt: int):
    """40 steps of a 2×16 char LM on a repeated line; (result, reloaded model). Checks that the
    validation loss fell (the model learned something)."""
    corpus = folder / "corpus.txt"
    corpus.write_text(LM_TEXT * 60, encoding="utf-8")
    result = train_char_lm(data=str(corpus), out=folder / "lm",
                           model=dict(cell=cell, num_layers=2, hidden_size=16, embedding_size=8),
                           train=dict(batch_size=4, bptt=bptt, lr=2e-2, warmup_steps=2,
                                      max_steps=40, eval_interval=20, precision="fp32",
                                      sample_length=0),
                           progress_bar=False, log=quiet)
    assert result.step == 40
    losses = [r["val_loss"] for r in read_metrics(folder / "lm" / "metrics.jsonl")
              if "val_loss" in r]
    assert losses[-1] < losses[0]
    model = CharLM.from_pretrained(folder / "lm")
    assert model.config.cell == cell
    return result, model


def train_tiny_classifier(folder, cell: str) -> RNNClassifier:
    """8 steps on "yes iff w3 occurs"; the reloaded classifier (bidirectional) predicts."""
    rng = random.Random(0)

    def rows(count):
        lines = []
        for _ in range(count):
            words = [f"w{rng.randrange(6)}" for _ in range(rng.randint(2, 6))]
            lines.append(("yes" if "w3" in words else "no") + "\t" + " ".join(words))
        return "\n".join(lines) + "\n"

    (folder / "train.tsv").write_text(rows(120), encoding="utf-8")
    (folder / "dev.tsv").write_text(rows(30), encoding="utf-8")
    result = train_classifier(train=str(folder / "train.tsv"), dev=str(folder / "dev.tsv"),
                              out=folder / "clf",
                              model=dict(cell=cell, embedding_size=8, hidden_size=8),
                              train_options=dict(batch_size=16, max_steps=8, eval_interval=4),
                              progress_bar=False, log=quiet)
    assert result.step == 8 and 0.0 <= result.scores["accuracy"] <= 1.0
    model = RNNClassifier.from_pretrained(folder / "clf")
    assert model.config.cell == cell and model.encoder.bidirectional
    assert len(model.predict(["w3 w1", "w2"])) == 2
    return model


def train_tiny_tagger(folder, cell: str) -> Tagger:
    """8 steps on a five-word treebank; the reloaded tagger tags a sentence."""
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

    (folder / "train.conllu").write_text(treebank(40), encoding="utf-8")
    (folder / "dev.conllu").write_text(treebank(10), encoding="utf-8")
    result = train_tagger(train=str(folder / "train.conllu"), dev=str(folder / "dev.conllu"),
                          out=folder / "tagger",
                          model=dict(cell=cell, word_embedding_size=8, char_embedding_size=4,
                                     char_hidden_size=4, hidden_size=8),
                          training=dict(batch_size=8, max_steps=8, eval_interval=4),
                          progress_bar=False, log=quiet)
    assert result.step == 8
    tagger = Tagger.from_pretrained(folder / "tagger")
    assert tagger.config.cell == cell
    assert len(tagger.predict([["the", "dog", "runs"]])[0]) == 3
    return tagger
