"""The classifier and the one trainer on padded batches: learning, exact resume, Ctrl-C, NaN,
padding invariance of whole-model predictions, saving and loading, metrics."""

import json
import os
import random
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.train.checkpoint import load_weights
from rnnlab.data.classification import Example
from rnnlab.data.padding import pad_sequences
from rnnlab.data.wordvocab import WordVocab
from rnnlab.errors import RnnlabError
from rnnlab.models.classifier import ClassifierConfig, RNNClassifier
from rnnlab.models.configs import POOLINGS
from rnnlab.tasks.classify import build_task, encode_examples, train_classifier
from rnnlab.tasks.padded import PaddedTask
from rnnlab.tasks.scores import confusion_matrix, format_confusion, scores_from_confusion
from rnnlab.train.config import ClassifierTrainConfig, TrainConfig
from rnnlab.train.runstate import seed_everything
from rnnlab.train.trainer import Trainer, TrainingDiverged

LABELS = ["no", "yes"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def quiet(message):
    pass


def contains_token_task(count: int, seed: int) -> list[Example]:
    """Label "yes" iff the sequence holds the word w3 (about half do, for lengths 3..12)."""
    rng = random.Random(seed)
    examples = []
    for line in range(1, count + 1):
        words = [f"w{rng.randrange(10)}" for _ in range(rng.randint(3, 12))]
        examples.append(Example(" ".join(words), "yes" if "w3" in words else "no", line))
    return examples


def in_memory_trainer(run_dir, model_options, train_options, train_count=2000, dev_count=400):
    train, dev = contains_token_task(train_count, 0), contains_token_task(dev_count, 1)
    vocab = WordVocab.build(e.text for e in train)
    train_data = encode_examples(train, vocab, LABELS)
    dev_data = encode_examples(dev, vocab, LABELS)
    config = ClassifierTrainConfig(**train_options)
    seed_everything(config.seed)
    model = RNNClassifier(ClassifierConfig(vocab_size=len(vocab), labels=LABELS, **model_options))
    model.vocab = vocab
    task = build_task(model, train_data, dev_data, config)
    return Trainer(run_dir, task, config, log=quiet), task


@pytest.mark.parametrize("cell,pooling,bidirectional", [("gru", "max", True),
                                                        ("lstm", "last", False)])
def test_learns_a_synthetic_task(tmp_path, cell, pooling, bidirectional):
    trainer, _ = in_memory_trainer(
        tmp_path / "run",
        dict(cell=cell, pooling=pooling, bidirectional=bidirectional, embedding_size=16,
             hidden_size=16, dropout=0.0, embedding_dropout=0.0),
        dict(batch_size=32, lr=1e-2, warmup_steps=10, weight_decay=0.0, max_steps=120,
             eval_interval=60))
    result = trainer.run(progress_bar=False)
    # Chance is about 0.5 (the dev set is balanced to within a few percent).
    assert result.scores["accuracy"] >= 0.95, result.scores
    assert result.best_metric >= 0.95 and result.stopped_by == "max_steps"
    history = [record["dev_accuracy"] for record in result.history]
    assert len(history) == 2
    for name in ("model.safetensors", "best.safetensors", "metrics.jsonl", "loss.png",
                 "metric.png", "trainer_state.json", "trainer_state.safetensors"):
        assert (tmp_path / "run" / name).is_file(), name


@pytest.mark.parametrize("select_metric,best_step", [("accuracy", 3), ("macro_f1", 6)])
def test_select_metric_picks_the_kept_weights(tmp_path, select_metric, best_step):
    # Scripted dev scores whose accuracy and macro-F1 peak at different evaluations (as on
    # imbalanced data, where predicting the majority class scores a high accuracy).
    scripted = iter([dict(accuracy=0.90, macro_f1=0.47, loss=0.5),
                     dict(accuracy=0.85, macro_f1=0.70, loss=0.4),
                     dict(accuracy=0.80, macro_f1=0.60, loss=0.3)])
    trainer, task = in_memory_trainer(
        tmp_path / "run", dict(embedding_size=8, hidden_size=8),
        dict(batch_size=32, max_steps=9, eval_interval=3, select_metric=select_metric),
        train_count=300, dev_count=30)
    assert task.metric == select_metric
    task.evaluate = lambda model: next(scripted)
    result = trainer.run(progress_bar=False)
    assert (result.best_step, result.best_metric) == (best_step, 0.90 if best_step == 3 else 0.70)


def write_tiny_dataset(folder: Path) -> tuple[Path, Path]:
    train = folder / "train.tsv"
    dev = folder / "dev.jsonl"
    lines = [f"{e.label}\t{e.text}" for e in contains_token_task(60, 2)]
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dev.write_text("".join(f'{{"text": "{e.text}", "label": "{e.label}"}}\n'
                           for e in contains_token_task(20, 3)), encoding="utf-8")
    return train, dev


TINY_MODEL = dict(cell="lstm", embedding_size=8, hidden_size=8, num_layers=2, dropout=0.2,
                  embedding_dropout=0.1, pooling="attention")


def tiny_train(**extra):
    # 60 examples in batches of 8: 8 batches per epoch, so 12 steps cross an epoch boundary.
    # decay_steps fixes the schedule, so a shorter first leg follows the same learning rates.
    options = dict(batch_size=8, lr=5e-3, warmup_steps=3, max_steps=12, decay_steps=12,
                   eval_interval=5, seed=11)
    options.update(extra)
    return options


def test_n_steps_equal_half_plus_resume(tmp_path):
    train, dev = write_tiny_dataset(tmp_path)
    common = dict(train=str(train), dev=str(dev), model=TINY_MODEL, progress_bar=False, log=quiet)
    full = train_classifier(out=tmp_path / "full", train_options=tiny_train(), **common)
    half = train_classifier(out=tmp_path / "half", train_options=tiny_train(max_steps=6), **common)
    assert (full.step, half.step) == (12, 6)
    resumed = train_classifier(resume=tmp_path / "half", overrides={"max_steps": 12},
                               progress_bar=False, log=quiet)
    assert resumed.step == 12
    a = load_weights(tmp_path / "full" / "model.safetensors")
    b = load_weights(tmp_path / "half" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.scores == full.scores
    # The first leg really stopped early: its step-6 dev scores differ from the final ones.
    assert half.scores != full.scores


def test_resume_refuses_changed_data_and_fixed_options(tmp_path):
    train, dev = write_tiny_dataset(tmp_path)
    train_classifier(train=str(train), dev=str(dev), out=tmp_path / "run", model=TINY_MODEL,
                     train_options=tiny_train(max_steps=2), progress_bar=False, log=quiet)
    with pytest.raises(RnnlabError, match="already holds a run"):
        train_classifier(train=str(train), dev=str(dev), out=tmp_path / "run", log=quiet)
    with pytest.raises(RnnlabError, match="--lr cannot change on --resume"):
        train_classifier(resume=tmp_path / "run", overrides={"lr": 1.0}, log=quiet)
    train.write_text(train.read_text() + "yes\tw3\n", encoding="utf-8")
    with pytest.raises(RnnlabError, match="changed since it started"):
        train_classifier(resume=tmp_path / "run", overrides={"max_steps": 4}, log=quiet)


def test_ctrl_c_finishes_the_step_saves_and_resumes_exactly(tmp_path):
    options = dict(cell="gru", embedding_size=8, hidden_size=8, dropout=0.3)
    steps = dict(batch_size=16, lr=5e-3, warmup_steps=2, max_steps=10, decay_steps=10,
                 eval_interval=100, seed=5)
    full, _ = in_memory_trainer(tmp_path / "full", options, steps, 200, 40)
    full.run(progress_bar=False)

    interrupted, task = in_memory_trainer(tmp_path / "cut", options, steps, 200, 40)
    original_loss = task.loss

    def loss_with_ctrl_c(model, batch):
        if interrupted.step == 3:               # during step 4: as if the user pressed Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)
        return original_loss(model, batch)

    task.loss = loss_with_ctrl_c
    result = interrupted.run(progress_bar=False)
    assert result.stopped_by == "interrupted" and result.step == 4   # the step was finished

    again, task = in_memory_trainer(tmp_path / "cut", options, steps, 200, 40)
    again.restore()
    assert again.step == 4
    again.run(progress_bar=False)
    a = full.model.state_dict()
    b = again.model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    trainer, task = in_memory_trainer(
        tmp_path / "run", dict(embedding_size=4, hidden_size=4),
        dict(batch_size=8, max_steps=20, eval_interval=2), 100, 20)
    real_loss = task.loss

    def poisoned(model, batch):
        loss, count = real_loss(model, batch)
        return (loss * float("nan") if trainer.step == 4 else loss), count

    task.loss = poisoned
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 5 .*checkpoint"):
        trainer.run(progress_bar=False)
    # The checkpoint from step 4 is intact and resumable.
    assert load_weights(tmp_path / "run" / "model.safetensors")
    again, _ = in_memory_trainer(tmp_path / "run", dict(embedding_size=4, hidden_size=4),
                                 dict(batch_size=8, max_steps=20, eval_interval=2), 100, 20)
    again.restore()
    assert again.step == 4


@pytest.mark.parametrize("pooling", POOLINGS)
def test_predictions_do_not_depend_on_batch_padding(pooling):
    torch.manual_seed(0)
    model = RNNClassifier(ClassifierConfig(vocab_size=30, labels=LABELS, pooling=pooling,
                                           embedding_size=6, hidden_size=5, num_layers=2,
                                           residual=True, layer_norm=True)).eval()
    sequences = [[3, 4, 5, 6, 7], [8], [9, 10, 11]]
    ids, lengths = pad_sequences(sequences)
    together = model(ids, lengths)
    for row, sequence in enumerate(sequences):
        alone = model(torch.tensor([sequence]), torch.tensor([len(sequence)]))
        torch.testing.assert_close(together[row], alone[0], rtol=0, atol=1e-6)


def test_save_load_and_predict_unseen_words(tmp_path):
    train, dev = write_tiny_dataset(tmp_path)
    train_classifier(train=str(train), dev=str(dev), out=tmp_path / "run", model=TINY_MODEL,
                     train_options=tiny_train(max_steps=3), progress_bar=False, log=quiet)
    model = RNNClassifier.from_pretrained(tmp_path / "run", weights="last")
    assert model.config.labels == LABELS and not model.training
    predictions = model.predict(["w3 w1", "entirely unseen vocabulary here", ""])
    assert all(label in LABELS and 0.5 <= probability <= 1.0 for label, probability in predictions)
    # Unseen words are all <unk>: texts of as many unseen words get the same prediction, and an
    # empty text is one <unk> (the documented decision), like a single unseen word.
    assert predictions[1] == model.predict(["aaa bbb ccc ddd"])[0]
    assert predictions[2] == model.predict(["zzz"])[0]
    assert model.predict(["w3 w1"])[0] == predictions[0]
    with pytest.raises(RnnlabError, match="weights must be one of best, last"):
        RNNClassifier.from_pretrained(tmp_path / "run", weights="first")
    with pytest.raises(RnnlabError, match="does not exist"):
        RNNClassifier.from_pretrained(tmp_path / "nothing")


def test_config_errors():
    with pytest.raises(RnnlabError, match="at least 2 labels"):
        ClassifierConfig(vocab_size=5, labels=["only"])
    with pytest.raises(RnnlabError, match="unknown pooling 'sum'"):
        ClassifierConfig(vocab_size=5, labels=LABELS, pooling="sum")
    with pytest.raises(RnnlabError, match="unknown classifier config keys"):
        ClassifierConfig.from_dict({"vocab_size": 5, "labels": LABELS, "colour": "red"})
    with pytest.raises(RnnlabError, match="max-steps must be a positive integer"):
        TrainConfig(max_steps=0)
    assert TrainConfig().max_epochs == 10      # the default budget
    with pytest.raises(RnnlabError, match="select metric must be one of accuracy, macro_f1, "
                                          "got 'loss'"):
        ClassifierTrainConfig(select_metric="loss")


def test_budget_overrides_on_resume_replace_the_saved_budgets():
    config = TrainConfig(max_epochs=3, max_time=60.0)
    resumed = config.with_overrides({"max_steps": 50, "lr": None})
    assert (resumed.max_steps, resumed.max_epochs, resumed.max_time) == (50, None, None)
    assert config.with_overrides({"eval_interval": 7}).max_epochs == 3


def test_max_epochs_budget_counts_batches(tmp_path):
    trainer, _ = in_memory_trainer(tmp_path / "run", dict(embedding_size=4, hidden_size=4),
                                   dict(batch_size=32, max_epochs=1.5, eval_interval=1000),
                                   100, 10)
    result = trainer.run(progress_bar=False)
    # 100 examples / 32 = 4 batches per epoch; 1.5 epochs = 6 steps.
    assert result.step == 6 and result.stopped_by == "max_epochs" and result.epochs == 1.5


def test_metrics_by_hand():
    gold = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 2, 2]
    confusion = confusion_matrix(gold, predicted, 3)
    assert confusion.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    scores = scores_from_confusion(confusion)
    # F1 per class: 2·tp / (gold + predicted) = 4/5, 2/4, 2/3.
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    # A class absent from both gold and predictions is left out of the macro mean.
    assert scores_from_confusion(confusion_matrix([0, 1], [0, 1], 3))["macro_f1"] == 1.0
    table = format_confusion(confusion, ["neg", "neu", "pos"])
    assert table.splitlines()[0].split() == ["gold", "\\", "predicted", "neg", "neu", "pos"]
    assert table.splitlines()[1].split() == ["neg", "2", "1", "0"]
    assert np.array_equal(confusion.sum(1), [3, 2, 1])


def test_task_without_its_metric_is_a_programming_error(tmp_path):
    model = torch.nn.Linear(2, 2)

    class OneBatch:
        def next_batch(self):
            return [0]

        def __len__(self):
            return 1

        epochs_done = 0.0

        def state_dict(self):
            return {}

    task = PaddedTask(model=model, sampler=OneBatch(),
                          collate=lambda _: torch.ones(1, 2),
                          loss=lambda m, x: (m(x).sum(), 1), evaluate=lambda m: {"loss": 1.0})
    trainer = Trainer(tmp_path, task, TrainConfig(max_steps=1), log=quiet)
    with pytest.raises(KeyError, match="accuracy"):
        trainer.run(progress_bar=False)


def test_time_budget_stops_the_run(tmp_path):
    trainer, _ = in_memory_trainer(tmp_path / "run", dict(embedding_size=4, hidden_size=4),
                                   dict(batch_size=8, max_time=0.3, eval_interval=10_000,
                                        warmup_steps=0),
                                   200, 10)
    result = trainer.run(progress_bar=False)
    assert result.stopped_by == "max_time" and result.train_time >= 0.3
    # The schedule followed the clock: with the time spent, the rate is at its floor.
    assert trainer.learning_rate() == pytest.approx(trainer.config.lr * trainer.config.min_lr_ratio)


def test_an_ensemble_averages_its_members_probabilities(tmp_path):
    from rnnlab.tasks.classify import evaluate_run, predict_file
    from rnnlab.tasks.classify import predict_probabilities as _probabilities

    train, dev = write_tiny_dataset(tmp_path)
    runs = []
    for seed in (1, 2):
        run = tmp_path / f"run{seed}"
        # Different vocabulary options too: each member must read the texts with its own.
        train_classifier(train=str(train), dev=str(dev), out=run, model=TINY_MODEL,
                         vocab_options=dict(min_freq=seed),
                         train_options=tiny_train(max_steps=6, seed=seed), progress_bar=False,
                         log=quiet)
        runs.append(run)
    members = [RNNClassifier.from_pretrained(run) for run in runs]
    texts = [json.loads(line)["text"] for line in dev.read_text().splitlines()]
    gold = [json.loads(line)["label"] for line in dev.read_text().splitlines()]
    each = [_probabilities(m, [m.vocab.encode(t) for t in texts]) for m in members]
    mean = (each[0] + each[1]) / 2
    expected_labels = [LABELS[int(i)] for i in mean.argmax(dim=1)]

    rows = predict_file(runs, dev)
    assert [label for _, label, _ in rows] == expected_labels
    for row, (_, label, probability) in enumerate(rows):
        assert probability == pytest.approx(float(mean[row, LABELS.index(label)]), abs=1e-6)

    report = evaluate_run(runs, data=str(dev))
    accuracy = sum(p == g for p, g in zip(expected_labels, gold)) / len(gold)
    assert report.accuracy == pytest.approx(accuracy)
    loss = -sum(float(mean[i, LABELS.index(g)].log()) for i, g in enumerate(gold)) / len(gold)
    assert report.loss == pytest.approx(loss, rel=1e-5)
    # One run given as a list is that run alone.
    assert evaluate_run([runs[0]], data=str(dev)).accuracy == evaluate_run(runs[0], data=str(dev)).accuracy


def test_an_ensemble_needs_one_label_set(tmp_path):
    from rnnlab.tasks.classify import load_ensemble

    train, dev = write_tiny_dataset(tmp_path)
    train_classifier(train=str(train), dev=str(dev), out=tmp_path / "a", model=TINY_MODEL,
                     train_options=tiny_train(max_steps=2), progress_bar=False, log=quiet)
    other = tmp_path / "other.tsv"
    other.write_text("x\tw1 w2\ny\tw3\nz\tw2\n", encoding="utf-8")
    train_classifier(train=str(other), dev=str(other), out=tmp_path / "b", model=TINY_MODEL,
                     train_options=tiny_train(max_steps=2, batch_size=2), progress_bar=False,
                     log=quiet)
    with pytest.raises(RnnlabError, match="an ensemble needs the same labels"):
        load_ensemble([tmp_path / "a", tmp_path / "b"])
