"""`--cell mingru|minlstm` through every task: the char LM (train, checkpoint, resume, sample,
the NumPy engine too), the classifier and the tagger train a few steps, save and load; an
unknown --cell lists the registered cells.

The models run the cells' parallel form in training and their one-step form in sampling; that
the two agree is tested in tests/nn/test_min_cells.py. Here: the plumbing.
"""

import pytest
import torch

from rnnlab.cli import main
from rnnlab.decoding import SamplingOptions
from rnnlab.models.lm import CharLM
from rnnlab.nn.cells import cell_names
from rnnlab.nn.cells.scanlayer import ScanRNN
from rnnlab.tasks.lm import evaluate_lm, train_char_lm
from tests.tiny_tasks import quiet, train_tiny_char_lm, train_tiny_classifier, train_tiny_tagger

CELLS = ["mingru", "minlstm"]


@pytest.mark.parametrize("cell", CELLS)
def test_char_lm_trains_resumes_and_samples(tmp_path, cell):
    _, model = train_tiny_char_lm(tmp_path, cell, bptt=16)
    assert isinstance(model.encoder.rnn, ScanRNN)
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
    train_tiny_classifier(tmp_path, cell)                 # both directions scan


@pytest.mark.parametrize("cell", CELLS)
def test_tagger_trains_and_predicts(tmp_path, cell):
    train_tiny_tagger(tmp_path, cell)


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
