"""Training in the one trainer: the reverse task is learned to 100% exact match, and an
interrupted run resumes to exactly the weights of an uninterrupted one."""

import json

import pytest
import torch

from rnnlab.models.seq2seq import Translator
from rnnlab.tasks.translate import evaluate_run, train_translator, translate_texts
from rnnlab.train import checkpoint


def test_reverse_task_is_learned_to_exact_match(reverse_run, reverse_data):
    model = Translator.from_pretrained(reverse_run)
    source, target = reverse_data["dev"]
    sources = source.read_text(encoding="utf-8").splitlines()
    targets = target.read_text(encoding="utf-8").splitlines()
    for beam in (1, 5):
        outputs = [t.text for t in translate_texts(model, sources, beam=beam)]
        wrong = [(s, o, t) for s, o, t in zip(sources, outputs, targets) if o != t]
        assert wrong == [], f"beam {beam}: {len(wrong)} of {len(sources)} wrong, e.g. {wrong[:3]}"
    report = evaluate_run(reverse_run, source=str(source), reference=str(target), beam=5)
    assert report.scores.bleu == pytest.approx(100.0)
    # the run directory holds what the trainer promises, and dev BLEU was the metric
    records = [json.loads(line) for line in (reverse_run / "metrics.jsonl").open()]
    assert any("dev_bleu" in r and "dev_chrf" in r and "dev_loss" in r for r in records)
    for name in ("config.json", "vocab.json", "model.safetensors", "best.safetensors",
                 "loss.png", "metric.png"):
        assert (reverse_run / name).is_file(), name


def train(reverse_data, out, **budget):
    (source_train, target_train), (source_dev, target_dev) = reverse_data["train"], reverse_data["dev"]
    options = dict(batch_size=16, lr=5e-3, warmup_steps=5, eval_interval=20, seed=7)
    return dict(source_train=str(source_train), target_train=str(target_train),
                source_dev=str(source_dev), target_dev=str(target_dev), out=out,
                model=dict(embedding_size=16, hidden_size=16, dropout=0.3),
                subword_options=dict(source_size=300, target_size=300),
                train_options={**options, **budget}, progress_bar=False, log=lambda _: None)


def test_resume_is_exact(reverse_data, tmp_path):
    """40 steps in one go == 20 steps, stop, resume for the rest (dropout on, so the restored
    random state matters too). The cosine follows decay_steps, the same in both runs."""
    whole = train_translator(**train(reverse_data, tmp_path / "whole", max_steps=40,
                                     decay_steps=40))
    train_translator(**train(reverse_data, tmp_path / "split", max_steps=20, decay_steps=40))
    resumed = train_translator(resume=tmp_path / "split", overrides={"max_steps": 40},
                               progress_bar=False, log=lambda _: None)
    assert whole.step == resumed.step == 40
    a = checkpoint.load_weights(tmp_path / "whole" / "model.safetensors")
    b = checkpoint.load_weights(tmp_path / "split" / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert whole.scores == resumed.scores
