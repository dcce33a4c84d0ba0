"""`--cell mingru|minlstm` through every task: the char LM (train, checkpoint, resume, sample,
the NumPy engine too), the classifier and the tagger train a few steps, save and load; an
unknown --cell lists the registered cells.

The models run the cells' parallel form in training and their one-step form in sampling; that
the two agree is tested in tests/nn/test_min_cells.py. Here: the plumbing.
"""

import random

import pytest
import torch

from rnnlab.cli import main
from rnnlab.decoding import SamplingOptions
from rnnlab.models.classifier import RNNClassifier
from rnnlab.models.lm import CharLM
from rnnlab.models.tagger import Tagger
from rnnlab.nn.cells import cell_names
from rnnlab.nn.cells.scanlayer import ScanRNN
from rnnlab.tasks.classify import train_classifier
from rnnlab.tasks.lm import evaluate_lm, train_char_lm
from rnnlab.tasks.tag import train_tagger
from rnnlab.train.metrics import read_metrics

CELLS = ["mingru", "minlstm"]


def quiet(message):
    pass


@pytest.mark.parametrize("cell", CELLS)
def test_char_lm_trains_resumes_and_samples(tmp_path, cell):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("abcabd abcabd abcabe\n" * 60, encoding="utf-8")
    result = train_char_lm(data=str(corpus), out=tmp_path / "lm",
                           model=dict(cell=cell, num_layers=2, hidden_size=16, embedding_size=8),
                           train=dict(batch_size=4, bptt=16, lr=2e-2, warmup_steps=2,
                                      max_steps=40, eval_interval=20, precision="fp32",
                                      sample_length=0),
                           progress_bar=False, log=quiet)
    assert result.step == 40
    losses = [r["val_loss"] for r in read_metrics(tmp_path / "lm" / "metrics.jsonl")
              if "val_loss" in r]
    assert losses[-1] < losses[0]                               # it learned something
    model = CharLM.from_pretrained(tmp_path / "lm")
    assert model.config.cell == cell and isinstance(model.encoder.rnn, ScanRNN)
    assert "encoder.rnn.weight_ih_l1" in model.state_dict()
    assert not any("weight_hh" in name for name in model.state_dict())
    text = model.generate("ab", 20, SamplingOptions(temperature=0.5), seed=1)
    assert len(text) == 20 and set(text) <= set("abcde \n")
    # Sampling (one step at a time) and a whole-window forward give the same logits.
    ids = torch.as_tensor(model.vocab.encode("abcabd ab")).long().unsqueeze(0)
    with torch.no_grad():
        whole, _ = model(ids)
        state, stepped = None, []
        for t in range(ids.shape[1]):
            logits, state = model(ids[:, t:t + 1], state)
            stepped.append(logits)
    torch.testing.assert_close(torch.cat(stepped, dim=1), whole, rtol=0, atol=1e-5)
    resumed = train_char_lm(resume=tmp_path / "lm", overrides={"max_steps": 44},
                            progress_bar=False, log=quiet)
    assert resumed.step == 44
    again = CharLM.from_pretrained(tmp_path / "lm")
    assert evaluate_lm(again, again.vocab.encode("abcabd abcabe\n")).nats_per_char > 0


@pytest.mark.parametrize("cell", CELLS)
def test_classifier_trains_and_predicts(tmp_path, cell):
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
                              model=dict(cell=cell, embedding_size=8, hidden_size=8),
                              train_options=dict(batch_size=16, max_steps=8, eval_interval=4),
                              progress_bar=False, log=quiet)
    assert result.step == 8 and 0.0 <= result.scores["accuracy"] <= 1.0
    model = RNNClassifier.from_pretrained(tmp_path / "clf")
    assert model.config.cell == cell and model.encoder.bidirectional    # both directions scan
    assert len(model.predict(["w3 w1", "w2"])) == 2


@pytest.mark.parametrize("cell", CELLS)
def test_tagger_trains_and_predicts(tmp_path, cell):
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
                          model=dict(cell=cell, word_embedding_size=8, char_embedding_size=4,
                                     char_hidden_size=4, hidden_size=8),
                          training=dict(batch_size=8, max_steps=8, eval_interval=4),
                          progress_bar=False, log=quiet)
    assert result.step == 8
    tagger = Tagger.from_pretrained(tmp_path / "tagger")
    assert tagger.config.cell == cell
    assert len(tagger.predict([["the", "dog", "runs"]])[0]) == 3


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("cell", CELLS)
def test_numpy_engine_trains_the_min_cells(tmp_path, capsys, cell):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcabcabd hello world\n" * 30, encoding="utf-8")
    code, out, err = run_cli(["train", "--engine", "numpy", "--cell", cell, "--data", corpus,
                              "--out", tmp_path / "run", "--hidden", "8", "--batch-size", "4",
                              "--bptt", "10", "--max-steps", "6", "--eval-interval", "3",
                              "--sample-length", "5"], capsys)
    assert code == 0, err
    assert "stopped by max_steps at step 6" in out


@pytest.mark.parametrize("command", ["train", "classify", "tag"])
def test_unknown_cell_lists_the_registered_cells(tmp_path, capsys, command):
    data = {"train": ("c.txt", "abcabcabd hello world\n" * 30),
            "classify": ("d.tsv", "yes\tw1 w3\nno\tw2\n" * 20),
            "tag": ("d.conllu", "1\tthe\tthe\tDET\t_\t_\t0\t_\t_\t_\n"
                                "2\tdog\tdog\tNOUN\t_\t_\t0\t_\t_\t_\n\n" * 20)}[command]
    path = tmp_path / data[0]
    path.write_text(data[1], encoding="utf-8")
    args = (["train", "--data", path] if command == "train"
            else [command, "train", "--train", path, "--dev", path])
    code, _, err = run_cli([*args, "--cell", "mingur", "--out", tmp_path / "r"], capsys)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"unknown cell 'mingur'; registered cells: {', '.join(cell_names())}" in lines[0]
    assert "mingru, minlstm" in lines[0]
