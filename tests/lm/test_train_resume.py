"""The char-LM trainer: exact resume, checkpoints, Japanese text, sampling reproducibility."""

import math
from pathlib import Path

import pytest
import torch

from rnnlab.train.checkpoint import load_weights
from rnnlab.tasks.lm import train_char_lm
from rnnlab.models.lm import CharLM
from rnnlab.decoding import SamplingOptions

TINY_MODEL = dict(cell="lstm", num_layers=2, hidden_size=24, embedding_size=8, dropout=0.1)


def tiny_train(**extra):
    # fp32 so the comparison is bit-exact on any CPU; decay_steps fixes the schedule length so
    # that a shorter first leg follows the same learning rates as the full run.
    return dict(batch_size=4, bptt=16, lr=3e-3, warmup_steps=3, max_steps=12, decay_steps=12,
                eval_interval=5, precision="fp32", sample_length=0, seed=7, **extra)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("the quick brown fox jumps over the lazy dog.\n" * 40, encoding="utf-8")
    return path


def quiet(msg):  # training logs are not under test here
    pass


def test_n_steps_equal_half_plus_resume(tmp_path, corpus):
    full = train_char_lm(data=str(corpus), out=tmp_path / "full", model=TINY_MODEL,
                         train=tiny_train(), progress_bar=False, log=quiet)
    assert full.step == 12
    half = train_char_lm(data=str(corpus), out=tmp_path / "half", model=TINY_MODEL,
                         train={**tiny_train(), "max_steps": 6}, progress_bar=False, log=quiet)
    assert half.step == 6
    resumed = train_char_lm(resume=tmp_path / "half", overrides={"max_steps": 12},
                            progress_bar=False, log=quiet)
    assert resumed.step == 12
    a = load_weights(tmp_path / "full" / "model.safetensors")
    b = load_weights(tmp_path / "half" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert full.scores == resumed.scores
    # The first leg really stopped early: its step-6 score differs from the final one.
    assert half.scores != full.scores


def test_loss_falls_and_run_directory_is_complete(tmp_path, corpus):
    result = train_char_lm(data=str(corpus), out=tmp_path / "run",
                           model={**TINY_MODEL, "dropout": 0.0},
                           train={**tiny_train(), "lr": 2e-2, "max_steps": 60,
                                  "decay_steps": 60, "eval_interval": 30},
                           progress_bar=False, log=quiet)
    run = tmp_path / "run"
    for name in ("config.json", "vocab.json", "model.safetensors", "best.safetensors",
                 "metrics.jsonl", "loss.png"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    vocab_size = len(set(corpus.read_text()))
    # Clearly below a uniform guess over the vocabulary (ln V nats): the model learned something
    # in 60 tiny steps (measured: about 2.3 against ln 29 = 3.37).
    assert result.scores["loss"] < 0.75 * math.log(vocab_size)


def test_sampling_with_a_seed_is_reproducible(tmp_path, corpus):
    train_char_lm(data=str(corpus), out=tmp_path / "run", model=TINY_MODEL, train=tiny_train(),
                  progress_bar=False, log=quiet)
    model = CharLM.from_pretrained(tmp_path / "run")
    opts = SamplingOptions(temperature=1.0, top_k=5)
    a = model.generate("the ", 80, opts, seed=3)
    b = model.generate("the ", 80, opts, seed=3)
    c = model.generate("the ", 80, opts, seed=4)
    assert a == b and len(a) == 80
    assert a != c
    assert set(a) <= set(model.vocab.chars)
    streamed = "".join(model.generate("the ", 80, opts, seed=3, stream=True))
    assert streamed == a
    # Sampling runs under no_grad step by step, so a suspended stream leaves the caller's grad mode
    # alone.
    chars = model.generate("the ", 5, opts, seed=3, stream=True)
    next(chars)
    assert torch.is_grad_enabled()
    with torch.no_grad():
        next(chars)
        assert not torch.is_grad_enabled()


def test_stateful_generation_equals_rereading_the_context(tmp_path, corpus):
    """One step per character with carried state gives the logits of a full re-read."""
    train_char_lm(data=str(corpus), out=tmp_path / "run", model=TINY_MODEL, train=tiny_train(),
                  progress_bar=False, log=quiet)
    model = CharLM.from_pretrained(tmp_path / "run")
    text = model.generate("the ", 30, SamplingOptions(greedy=True))
    ids = torch.as_tensor(model.vocab.encode("the " + text)).unsqueeze(0)
    with torch.no_grad():
        logits, _ = model(ids[:, :-1])
    # Greedy: each generated character is the argmax of the full-context logits before it.
    assert torch.equal(logits[0, 3:].argmax(-1), ids[0, 4:])


def test_japanese_text_trains_saves_loads_and_samples(tmp_path):
    text = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。\n" * 30
    path = tmp_path / "neko.txt"
    path.write_text(text, encoding="utf-8")
    train_char_lm(data=str(path), out=tmp_path / "ja", model=TINY_MODEL, train=tiny_train(),
                  progress_bar=False, log=quiet)
    model = CharLM.from_pretrained(tmp_path / "ja")
    assert set(model.vocab.chars) == set(text)
    sample = model.generate("吾輩は", 40, SamplingOptions(temperature=0.5), seed=0)
    assert len(sample) == 40 and set(sample) <= set(text)
    model.save_pretrained(tmp_path / "copy")
    again = CharLM.from_pretrained(tmp_path / "copy")
    assert again.generate("吾輩は", 40, SamplingOptions(temperature=0.5), seed=0) == sample


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path, corpus,
                                                                          monkeypatch):
    from rnnlab.tasks.lm import LMTask
    from rnnlab.train.trainer import TrainingDiverged

    train_char_lm(data=str(corpus), out=tmp_path / "run", model=TINY_MODEL,
                  train={**tiny_train(), "max_steps": 4, "eval_interval": 2},
                  progress_bar=False, log=quiet)
    saved = (tmp_path / "run" / "model.safetensors").read_bytes()
    real_loss = LMTask.loss

    def poisoned(self, model, batch):      # the resumed run's next loss is NaN
        loss, count = real_loss(self, model, batch)
        return loss * float("nan"), count

    monkeypatch.setattr(LMTask, "loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 5.*--lr"):
        train_char_lm(resume=tmp_path / "run", overrides={"max_steps": 8}, progress_bar=False,
                      log=quiet)
    monkeypatch.setattr(LMTask, "loss", real_loss)
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == saved
    # The kept checkpoint still resumes.
    assert train_char_lm(resume=tmp_path / "run", overrides={"max_steps": 6},
                         progress_bar=False, log=quiet).step == 6
