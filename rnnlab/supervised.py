"""One training loop for supervised tasks on padded batches (classification, tagging, ...).

The loop knows nothing about the task. A task hands it a `SupervisedTask`:

    model       an nn.Module (already built; moved to the device by the trainer)
    sampler     the batch order: an object with `next_batch() -> list[int]` (example indices),
                `state_dict()`, `load_state_dict(state)`, `__len__()` (batches per epoch) and
                `epochs_done` (float). `rnnlab.data.padding.BucketBatchSampler` is one.
    collate     indices -> batch: any nest of dicts/tuples/lists of tensors (moved to the device
                by the trainer), typically {"ids": (B, T), "lengths": (B,), "labels": ...}
    loss        (model, batch) -> (mean loss, a 0-dim tensor; number of examples in the batch)
    evaluate    model -> {"accuracy": ..., "loss": ..., ...} on the dev set; called with the
                model in eval mode, under torch.no_grad() and the run's autocast
    metric      the key of `evaluate`'s dict that picks the best checkpoint ("accuracy")
    higher_is_better

and a `SupervisedConfig` (AdamW, warm-up + cosine from rnnlab.train.schedule, clipping, budgets,
evaluation interval, precision, seed). The task writes config.json and its vocabularies itself
(see rnnlab.train.checkpoint for the run layout); the trainer writes, in the run directory:

    model.safetensors            weights after the last save
    best.safetensors             weights with the best dev metric so far
    trainer_state.{json,safetensors}
                                 optimizer, step, clock, sampler position, RNG states, best
                                 metric — pickle-free, and tied to model.safetensors by its sha256
    metrics.jsonl                a record every `log_interval` steps and at every evaluation
    loss.png, metric.png         training/dev loss and the dev metric against step (at the end)

Budgets: `max_steps`, `max_epochs` (may be fractional) and `max_time` (seconds of training,
evaluation excluded); the first reached stops the run. With none given, the run lasts
`DEFAULT_MAX_EPOCHS` epochs. The cosine decays over `decay_steps` (default: the step budget,
from max_steps or max_epochs), or over `max_time` when the time budget is the only one.

Resume: build the same task again, then `SupervisedTrainer.restore()` before `run()`. Since the
sampler's order is a function of (seed, epoch) and the RNG states are restored, N steps in one
go and N/2 + resume give the same weights (for a step-based schedule; a time-based one follows
the clock).

Ctrl-C: the first press lets the current step finish, saves weights and trainer state, and
returns with `stopped_by="interrupted"`; a second press interrupts at once (still saving).
A NaN or infinite loss raises `TrainingDiverged` naming the step; the last saved checkpoint
stays as it was.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from rnnlab.train import checkpoint
from rnnlab.errors import RnnlabError, TrainingDiverged  # noqa: F401 (re-exported)
from rnnlab.train.metrics import MetricsLog, plot_loss_curves
from rnnlab.train.optim import apply_update, make_adamw
from rnnlab.train.precision import autocast, resolve_precision
from rnnlab.train.runstate import InterruptFlag, restore_rng, rng_state, seed_everything  # noqa: F401 (seed_everything is re-exported)
from rnnlab.train.schedule import run_progress, warmup_cosine

DEFAULT_MAX_EPOCHS = 10
# The options that may change when a run is resumed; everything else is fixed by the run.
RESUMABLE_OPTIONS = ("max_steps", "max_epochs", "max_time", "decay_steps", "eval_interval")
_BUDGETS = ("max_steps", "max_epochs", "max_time")


@dataclass
class SupervisedConfig:
    batch_size: int = 32
    eval_batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    clip_norm: float | None = 5.0
    max_steps: int | None = None
    max_epochs: float | None = None
    max_time: float | None = None        # seconds of training (evaluation excluded)
    decay_steps: int | None = None       # length of the cosine; default: the step budget
    eval_interval: int = 200             # steps between dev evaluations (and saves)
    log_interval: int = 10               # steps between metrics.jsonl records
    precision: str = "fp32"              # "fp32", "bf16" or "auto" (rnnlab.train.precision)
    seed: int = 1234

    def __post_init__(self) -> None:
        for name in ("batch_size", "eval_batch_size", "eval_interval", "log_interval"):
            _require_positive_int(name, getattr(self, name))
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise RnnlabError(f"learning rate must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise RnnlabError(f"weight decay must be >= 0, got {self.weight_decay!r}")
        if self.warmup_steps < 0:
            raise RnnlabError(f"warm-up steps must be >= 0, got {self.warmup_steps!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise RnnlabError(f"min lr ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise RnnlabError(f"clip norm must be > 0 (or None for no clipping), got {self.clip_norm!r}")
        if self.max_steps is not None:
            _require_positive_int("max-steps", self.max_steps)
        if self.decay_steps is not None:
            _require_positive_int("decay-steps", self.decay_steps)
        for name in ("max_epochs", "max_time"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise RnnlabError(f"{name.replace('_', '-')} must be > 0, got {value!r}")
        if all(getattr(self, name) is None for name in _BUDGETS):
            self.max_epochs = DEFAULT_MAX_EPOCHS

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SupervisedConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RnnlabError(f"unknown training options {unknown}; known: {sorted(known)}")
        return cls(**data)

    def with_overrides(self, overrides: dict) -> "SupervisedConfig":
        """A resumed run's config: only RESUMABLE_OPTIONS may change.

        A new budget (any of max_steps, max_epochs, max_time) replaces all the saved budgets.
        """
        given = {key: value for key, value in overrides.items() if value is not None}
        refused = sorted(set(given) - set(RESUMABLE_OPTIONS))
        if refused:
            raise RnnlabError(f"--{refused[0].replace('_', '-')} cannot change on --resume; only "
                              f"{', '.join('--' + o.replace('_', '-') for o in RESUMABLE_OPTIONS)} can")
        data = self.to_dict()
        if any(key in given for key in _BUDGETS):
            data.update({key: None for key in _BUDGETS})
        data.update(given)
        return SupervisedConfig.from_dict(data)


def _require_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RnnlabError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")


@dataclass
class SupervisedTask:
    """What a task plugs into the trainer (see the module docstring)."""
    model: nn.Module
    sampler: Any
    collate: Callable[[list[int]], Any]
    loss: Callable[[nn.Module, Any], tuple[torch.Tensor, int]]
    evaluate: Callable[[nn.Module], dict[str, float]]
    metric: str = "accuracy"
    higher_is_better: bool = True


@dataclass
class SupervisedResult:
    run_dir: Path
    step: int
    epochs: float
    train_time: float
    dev: dict[str, float] | None          # metrics of the last evaluation
    best_metric: float | None
    best_step: int | None
    stopped_by: str                        # "max_steps", "max_epochs", "max_time", "interrupted"
    metric: str = "accuracy"
    history: list = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# RNG state (saved with the trainer state so that dropout masks continue exactly)


def move_to(batch: Any, device: torch.device) -> Any:
    """The batch with every tensor moved to `device` (dicts, tuples and lists are walked)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: move_to(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(value, device) for value in batch)
    return batch


# --------------------------------------------------------------------------------------------
# Ctrl-C: finish the step, then stop


# --------------------------------------------------------------------------------------------
# The trainer


class SupervisedTrainer:
    """Trains `task.model` on `task`'s batches; see the module docstring."""

    def __init__(self, run_dir: str | Path, task: SupervisedTask, config: SupervisedConfig,
                 device: torch.device | str = "cpu", log: Callable[[str], None] = print):
        self.run_dir = Path(run_dir)
        self.task = task
        self.config = config
        self.device = torch.device(device)
        self.log = log
        self.precision = resolve_precision(config.precision, self.device)
        self.model = task.model.to(self.device)
        self.optimizer = self._make_optimizer()
        self.step = 0
        self.train_time = 0.0
        self.examples_seen = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.last_dev: dict[str, float] | None = None
        self.last_eval_step = -1
        self.history: list[dict] = []

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return make_adamw(self.model, self.config.lr, self.config.weight_decay)

    # -- budgets and schedule -----------------------------------------------------------------
    def step_budget(self) -> int | None:
        """The number of steps the run lasts, from max_steps and max_epochs (None: time only)."""
        c = self.config
        budgets = []
        if c.max_steps is not None:
            budgets.append(c.max_steps)
        if c.max_epochs is not None:
            budgets.append(max(1, round(c.max_epochs * len(self.task.sampler))))
        return min(budgets) if budgets else None

    def progress(self) -> float:
        c = self.config
        return run_progress(self.step, c.decay_steps or self.step_budget(), self.train_time, c.max_time)

    def learning_rate(self) -> float:
        c = self.config
        return warmup_cosine(self.progress(), self.step, base_lr=c.lr,
                             warmup_steps=c.warmup_steps, min_lr_ratio=c.min_lr_ratio)

    def finished(self) -> str:
        """Why the run should stop now ("" while it should go on)."""
        c = self.config
        if c.max_steps is not None and self.step >= c.max_steps:
            return "max_steps"
        if c.max_epochs is not None and self.step >= self.step_budget():
            return "max_epochs"
        if c.max_time is not None and self.train_time >= c.max_time:
            return "max_time"
        return ""

    # -- one step -----------------------------------------------------------------------------
    def train_step(self) -> tuple[float, int]:
        """One optimizer update; returns (loss, examples in the batch)."""
        self.model.train()
        batch = move_to(self.task.collate(self.task.sampler.next_batch()), self.device)
        with autocast(self.precision, self.device):
            loss, num_examples = self.task.loss(self.model, batch)
        loss_value = apply_update(self.model, self.optimizer, loss.float(),
                                  lr=self.learning_rate(), clip_norm=self.config.clip_norm,
                                  step=self.step + 1, run_dir=self.run_dir)
        self.step += 1
        self.examples_seen += int(num_examples)
        return loss_value, int(num_examples)

    def evaluate(self) -> dict[str, float]:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), autocast(self.precision, self.device):
                scores = self.task.evaluate(self.model)
        finally:
            self.model.train(was_training)
        if self.task.metric not in scores:
            raise KeyError(f"the task's evaluate() returned {sorted(scores)}, without its "
                           f"metric {self.task.metric!r}")
        return {key: float(value) for key, value in scores.items()}

    # -- checkpoints --------------------------------------------------------------------------
    def trainer_state(self) -> dict:
        return {
            "step": self.step,
            "train_time": self.train_time,
            "examples_seen": self.examples_seen,
            "best_metric": self.best_metric,
            "best_step": self.best_step,
            "last_dev": self.last_dev,
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.task.sampler.state_dict(),
            "rng": rng_state(),
        }

    def save(self, improved: bool) -> None:
        """Weights first, trainer state last: a crash in between leaves a pair resume refuses."""
        weights = self.model.state_dict()
        metadata = {"step": str(self.step)}
        checkpoint.save_weights(self.run_dir / checkpoint.WEIGHTS_FILE, weights, metadata)
        if improved:
            checkpoint.save_weights(self.run_dir / checkpoint.BEST_WEIGHTS_FILE, weights, metadata)
        digest = checkpoint.read_weights_metadata(self.run_dir / checkpoint.WEIGHTS_FILE)[
            checkpoint.DIGEST_METADATA_KEY]
        checkpoint.save_state(self.run_dir / checkpoint.TRAINER_STATE_NAME,
                              {**self.trainer_state(), "weights_sha256": digest})

    def restore(self) -> None:
        """Load model.safetensors and the trainer state of `run_dir` (for --resume)."""
        weights_path = self.run_dir / checkpoint.WEIGHTS_FILE
        state = checkpoint.load_state(self.run_dir / checkpoint.TRAINER_STATE_NAME)
        digest = checkpoint.read_weights_metadata(weights_path)[checkpoint.DIGEST_METADATA_KEY]
        if state.get("weights_sha256") != digest:
            raise RnnlabError(f"{weights_path} and the trainer state in {self.run_dir} come from "
                              "different saves (interrupted while saving?); cannot resume exactly")
        weights = checkpoint.load_weights(weights_path)
        checkpoint.check_state_dict(weights, checkpoint.expected_shapes(self.model), weights_path)
        self.model.load_state_dict(weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.task.sampler.load_state_dict(state["sampler"])
        self.step = int(state["step"])
        self.train_time = float(state["train_time"])
        self.examples_seen = int(state["examples_seen"])
        self.best_metric = state["best_metric"]
        self.best_step = state["best_step"]
        self.last_dev = state["last_dev"]
        self.last_eval_step = self.step if self.last_dev is not None else -1
        restore_rng(state["rng"])

    # -- the loop -----------------------------------------------------------------------------
    def run(self, progress_bar: bool = True) -> SupervisedResult:
        from tqdm.auto import tqdm

        self.run_dir.mkdir(parents=True, exist_ok=True)
        metrics = MetricsLog(self.run_dir)
        c = self.config
        total_steps = self.step_budget()
        by_steps = total_steps is not None
        bar = tqdm(total=total_steps if by_steps else c.max_time,
                   initial=self.step if by_steps else min(self.train_time, c.max_time),
                   disable=not progress_bar, dynamic_ncols=True,
                   unit="step" if by_steps else "s",
                   bar_format=None if by_steps else
                   "{l_bar}{bar}| {n:.0f}/{total:.0f}s [{elapsed}<{remaining}{postfix}]")
        stopped_by = "interrupted"
        smoothed = None
        window_examples, window_time = 0, 0.0
        interrupt = InterruptFlag()
        try:
            with interrupt.active():
                while not (stopped_by := self.finished()):
                    if interrupt.requested:
                        raise KeyboardInterrupt
                    started = time.perf_counter()
                    loss, num_examples = self.train_step()
                    elapsed = time.perf_counter() - started
                    self.train_time += elapsed
                    window_examples += num_examples
                    window_time += elapsed
                    smoothed = loss if smoothed is None else 0.95 * smoothed + 0.05 * loss
                    bar.update(1 if by_steps else elapsed)
                    if self.step % c.log_interval == 0 or self.step == 1:
                        rate = window_examples / max(window_time, 1e-9)
                        bar.set_postfix(step=self.step, loss=f"{smoothed:.4f}", ex_s=f"{rate:,.0f}")
                        metrics.log({"step": self.step, "epoch": self._epochs(),
                                     "train_loss": loss, "lr": self.learning_rate(),
                                     "examples_per_s": rate, "train_time": self.train_time})
                        window_examples, window_time = 0, 0.0
                    if self.step % c.eval_interval == 0:
                        self._evaluate_and_save(metrics, bar)
                if self.last_eval_step != self.step:
                    self._evaluate_and_save(metrics, bar)
        except KeyboardInterrupt:
            bar.close()
            self.log(f"interrupted at step {self.step}: saving to {self.run_dir} …")
            self.save(improved=False)
            self.log(f"saved; continue with --resume {self.run_dir}")
            stopped_by = "interrupted"
        finally:
            bar.close()
            metrics.close()
            self._plot()
        return SupervisedResult(self.run_dir, self.step, self._epochs(), self.train_time,
                                self.last_dev, self.best_metric, self.best_step, stopped_by,
                                self.task.metric, self.history)

    def _epochs(self) -> float:
        return round(float(self.task.sampler.epochs_done), 4)

    def _evaluate_and_save(self, metrics: MetricsLog, bar) -> None:
        scores = self.evaluate()
        self.last_dev = scores
        self.last_eval_step = self.step
        value = scores[self.task.metric]
        improved = self.best_metric is None or (
            value > self.best_metric if self.task.higher_is_better else value < self.best_metric)
        if improved:
            self.best_metric, self.best_step = value, self.step
        record = {"step": self.step, "epoch": self._epochs(), "train_time": self.train_time,
                  **{f"dev_{key}": value for key, value in scores.items()}}
        metrics.log(record)
        self.history.append(record)
        self.save(improved)
        summary = ", ".join(f"{key} {value:.4f}" for key, value in scores.items())
        message = (f"step {self.step} (epoch {self._epochs():.2f}): dev {summary}"
                   f"{'  (best)' if improved else ''}")
        bar.write(message) if getattr(bar, "disable", True) is False else self.log(message)

    def _plot(self) -> None:
        metrics_path = self.run_dir / "metrics.jsonl"
        try:
            plot_loss_curves(metrics_path, self.run_dir / "loss.png", train_key="train_loss",
                             val_key="dev_loss", ylabel="loss (nats/example)")
            plot_loss_curves(metrics_path, self.run_dir / "metric.png", train_key="",
                             val_key=f"dev_{self.task.metric}", ylabel=f"dev {self.task.metric}")
        except (OSError, ValueError) as err:  # a plot is a convenience; never fail the run
            self.log(f"could not draw the training curves: {err}")


# --------------------------------------------------------------------------------------------
# Metrics for labelled predictions (classification; tagging uses them per token)


def confusion_matrix(gold, predicted, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts; row = gold class, column = predicted class."""
    gold = np.asarray(gold, dtype=np.int64).ravel()
    predicted = np.asarray(predicted, dtype=np.int64).ravel()
    if gold.shape != predicted.shape:
        raise ValueError(f"{gold.size} gold labels but {predicted.size} predictions")
    counts = np.bincount(gold * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def scores_from_confusion(confusion: np.ndarray) -> dict[str, float]:
    """accuracy and macro-F1 (mean over classes that occur in gold or predictions).

    A class that never occurs in either has no defined F1 and is left out of the mean; a class
    that occurs but is never predicted right has F1 = 0.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    total = confusion.sum()
    accuracy = float(np.trace(confusion) / total) if total else 0.0
    true_positive = np.diag(confusion)
    gold_count = confusion.sum(axis=1)
    predicted_count = confusion.sum(axis=0)
    present = (gold_count + predicted_count) > 0
    f1 = np.divide(2 * true_positive, gold_count + predicted_count,
                   out=np.zeros_like(true_positive), where=present)
    macro_f1 = float(f1[present].mean()) if present.any() else 0.0
    return {"accuracy": accuracy, "macro_f1": macro_f1}


def format_confusion(confusion: np.ndarray, labels: list[str]) -> str:
    """A plain-text table: one row per gold label, one column per predicted label."""
    names = [str(label) for label in labels]
    corner = "gold \\ predicted"
    first = max([len(corner)] + [len(n) for n in names])
    width = max([len(n) for n in names] + [len(str(int(confusion.max(initial=0))))])
    lines = [corner.ljust(first) + "  " + "  ".join(n.rjust(width) for n in names)]
    for name, row in zip(names, confusion):
        lines.append(name.ljust(first) + "  " + "  ".join(str(int(v)).rjust(width) for v in row))
    return "\n".join(lines)
