"""The one training loop of rnnlab: every task (char LM, classifier, tagger, ...) runs in it.

The loop knows nothing about the task. A task hands it a `Task` (see the class below): the
model, where the next batch comes from, the loss of a batch, how to evaluate, and the state of
its data position. What differs between tasks lives there: the char LM's carried hidden state
is part of its task state (saved, restored, reset at an epoch start), so the loop needs no
special case for it.

The trainer writes, in the run directory (rank 0 only, see "Distributed" below):

    model.safetensors            weights after the last save
    best.safetensors             weights with the best evaluation metric so far
    trainer_state.{json,safetensors}
                                 optimizer, step, clock, the task's data position (and carried
                                 state), RNG states, best metric — pickle-free, and tied to
                                 model.safetensors by its sha256
    metrics.jsonl                a record every `log_interval` steps and at every evaluation
    loss.png (and metric.png)    the curves, drawn at the end

Budgets and schedule come from `TrainConfig` (rnnlab.train.config). Resume: build the same task
again, then `Trainer.restore()` before `run()`. Since samplers and stream batchers are functions
of (seed, epoch, position) and the RNG states are restored, N steps in one go and N/2 + resume
give the same weights (for a step-based schedule; a time-based one follows the clock).

Ctrl-C: the first press lets the current step finish, saves weights and trainer state and
returns with `stopped_by="interrupted"`; a second press raises KeyboardInterrupt at once (the
last checkpoint stays as it was). A NaN or infinite loss raises `TrainingDiverged` naming the
step; the last saved checkpoint stays as it was.

Distributed (rnnlab.train.distributed): the trainer takes the model as given, so a
`DistributedDataParallel` wrapper can be passed in; weights are saved from the unwrapped module
(no "module." prefix). The ranks decide together when to stop and whether a loss is finite;
only rank 0 evaluates, writes files, logs and shows progress; the trainer state holds what every
rank needs to resume (the task gathers its carried state, the RNG state of each rank is kept).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from rnnlab.errors import RnnlabError, TrainingDiverged  # noqa: F401 (re-exported)
from rnnlab.train import checkpoint
from rnnlab.train.budget import stop_reason
from rnnlab.train.config import TrainConfig
from rnnlab.train.distributed import Distributed
from rnnlab.train.metrics import MetricsLog, plot_loss_curves
from rnnlab.train.optim import apply_update, make_adamw
from rnnlab.train.precision import autocast, resolve_precision
from rnnlab.train.progress import Progress
from rnnlab.train.runstate import InterruptFlag, restore_rng, rng_state
from rnnlab.train.schedule import run_progress, warmup_cosine


class Task:
    """What a task plugs into the trainer: subclass it and implement every method.

    model              the nn.Module to train (the trainer moves it to the device)
    metric             the key of `evaluate()`'s dict that picks the best checkpoint
    higher_is_better   for `metric`
    eval_prefix        metrics.jsonl names evaluation values f"{eval_prefix}_{key}"
    count_name         what `loss()` counts ("examples", "tokens"): throughput is per second of it
    """
    model: nn.Module
    metric: str = "loss"
    higher_is_better: bool = False
    eval_prefix: str = "dev"
    count_name: str = "examples"

    def steps_per_epoch(self) -> int: ...

    def epochs_done(self) -> float: ...

    def next_batch(self) -> Any:
        """The next training batch: any nest of dicts/tuples/lists of tensors (the trainer
        moves the tensors to the device)."""

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, int]:
        """(mean loss, a 0-dim tensor; how many `count_name` the batch holds)."""

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Scores on the held-out data; called in eval mode, under no_grad and autocast."""

    def state_dict(self) -> dict:
        """The data position (and anything carried between steps), for exact resume."""

    def load_state_dict(self, state: dict) -> None: ...

    def shard(self, distributed: Distributed) -> None:
        """Read only this rank's share of each global batch from now on (before training)."""
        if distributed.enabled:
            raise RnnlabError(f"{type(self).__name__} cannot train across processes")

    def after_evaluation(self, model: nn.Module, step: int) -> str:
        """Extra text for the log after an evaluation (the char LM prints a sample)."""
        return ""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epochs: float
    train_time: float
    scores: dict[str, float] | None        # the last evaluation
    best_metric: float | None
    best_step: int | None
    stopped_by: str                        # "max_steps", "max_epochs", "max_time", "interrupted"
    metric: str = "loss"
    history: list = field(default_factory=list)


# Why a run stops on its budget (rnnlab.train.budget.stop_reason); "interrupted" is Ctrl-C.
STOP_REASONS = ("max_steps", "max_epochs", "max_time")


def move_to(batch: Any, device: torch.device) -> Any:
    """The batch with every tensor moved to `device` (dicts, tuples and lists are walked)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: move_to(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(value, device) for value in batch)
    return batch


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel (or similar) wrapper."""
    return getattr(model, "module", model)


class Trainer:
    """Trains `task.model` on `task`'s batches; see the module docstring."""

    def __init__(self, run_dir: str | Path, task: Task, config: TrainConfig,
                 device: torch.device | str = "cpu", log: Callable[[str], None] = print,
                 is_main: bool | None = None, distributed: Distributed = Distributed()):
        self.run_dir = Path(run_dir)
        self.task = task
        self.config = config
        self.device = torch.device(device)
        self.log = log
        self.distributed = distributed
        self.is_main = distributed.is_main if is_main is None else is_main
        self.precision = resolve_precision(config.precision, self.device)
        self.model = task.model.to(self.device)
        self.optimizer = make_adamw(unwrap(self.model), config.lr, config.weight_decay,
                                    betas=(0.9, config.beta2))
        self.step = 0
        self.train_time = 0.0             # seconds spent in training steps (not evaluation)
        self.items_seen = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.last_scores: dict[str, float] | None = None
        self.last_eval_step = -1
        self.history: list[dict] = []

    # -- budgets and schedule -----------------------------------------------------------------
    def step_budget(self) -> int | None:
        """The number of steps the run lasts, from max_steps and max_epochs (None: time only)."""
        c = self.config
        budgets = [c.max_steps] if c.max_steps is not None else []
        if c.max_epochs is not None:
            budgets.append(max(1, round(c.max_epochs * self.task.steps_per_epoch())))
        return min(budgets) if budgets else None

    def progress(self) -> float:
        c = self.config
        return run_progress(self.step, c.decay_steps or self.step_budget(), self.train_time,
                            c.max_time)

    def learning_rate(self) -> float:
        c = self.config
        return warmup_cosine(self.progress(), self.step, base_lr=c.lr,
                             warmup_steps=c.warmup_steps, min_lr_ratio=c.min_lr_ratio)

    def finished(self) -> str:
        """Why the run should stop now ("" while it should go on)."""
        c = self.config
        return stop_reason(self.step, self.train_time, max_steps=c.max_steps,
                           max_time=c.max_time,
                           step_budget=self.step_budget() if c.max_epochs is not None else None)

    # -- one step -----------------------------------------------------------------------------
    def train_step(self) -> tuple[float, int]:
        """One optimizer update; returns (loss, items in the batch)."""
        self.model.train()
        batch = move_to(self.task.next_batch(), self.device)
        with autocast(self.precision, self.device):
            loss, count = self.task.loss(self.model, batch)
        loss_value = apply_update(self.model, self.optimizer, loss.float(),
                                  lr=self.learning_rate(), clip_norm=self.config.clip_norm,
                                  step=self.step + 1, run_dir=self.run_dir,
                                  all_finite=self.distributed.all_finite)
        self.step += 1
        self.items_seen += int(count)
        return loss_value, int(count)

    def evaluate(self) -> dict[str, float]:
        model = unwrap(self.model)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), autocast(self.precision, self.device):
                scores = self.task.evaluate(model)
        finally:
            model.train(was_training)
        if self.task.metric not in scores:
            raise KeyError(f"the task's evaluate() returned {sorted(scores)}, without its "
                           f"metric {self.task.metric!r}")
        return {key: float(value) for key, value in scores.items()}

    # -- checkpoints --------------------------------------------------------------------------
    def trainer_state(self) -> dict:
        """Called on every rank together: the task and the RNG states are gathered."""
        rng_by_rank = self.distributed.gather(rng_state())
        return {"step": self.step, "train_time": self.train_time, "items_seen": self.items_seen,
                "best_metric": self.best_metric, "best_step": self.best_step,
                "last_eval": self.last_scores, "optimizer": self.optimizer.state_dict(),
                "task": self.task.state_dict(), "rng": rng_by_rank[0],
                **({"rng_by_rank": rng_by_rank} if len(rng_by_rank) > 1 else {})}

    def save(self, improved: bool) -> None:
        """Weights first, trainer state last: a crash in between leaves a pair resume refuses.
        Called on every rank together (the state is gathered); rank 0 writes."""
        state = self.trainer_state()
        if not self.is_main:
            return
        weights = unwrap(self.model).state_dict()
        metadata = {"step": str(self.step)}
        checkpoint.save_weights(self.run_dir / checkpoint.WEIGHTS_FILE, weights, metadata)
        if improved:
            checkpoint.save_weights(self.run_dir / checkpoint.BEST_WEIGHTS_FILE, weights, metadata)
        # The trainer state names the weights it belongs to, so a crash between the two writes
        # is caught on resume instead of pairing new weights with an old optimizer.
        digest = checkpoint.read_weights_metadata(self.run_dir / checkpoint.WEIGHTS_FILE)[
            checkpoint.DIGEST_METADATA_KEY]
        checkpoint.save_state(self.run_dir / checkpoint.TRAINER_STATE_NAME,
                              {**state, "weights_sha256": digest})

    def restore(self) -> None:
        """Load model.safetensors and the trainer state of `run_dir` (for --resume)."""
        weights_path = self.run_dir / checkpoint.WEIGHTS_FILE
        state = upgrade_trainer_state(
            checkpoint.load_state(self.run_dir / checkpoint.TRAINER_STATE_NAME))
        digest = checkpoint.read_weights_metadata(weights_path)[checkpoint.DIGEST_METADATA_KEY]
        if state.get("weights_sha256") != digest:
            raise RnnlabError(f"{weights_path} and the trainer state in {self.run_dir} come from "
                              "different saves (interrupted while saving?); cannot resume exactly")
        unwrap(self.model).load_weights_checked(checkpoint.load_weights(weights_path),
                                                source=weights_path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.task.load_state_dict(state["task"])
        self.step = int(state["step"])
        self.train_time = float(state["train_time"])
        self.items_seen = int(state["items_seen"])
        self.best_metric, self.best_step = state["best_metric"], state["best_step"]
        self.last_scores = state["last_eval"]
        self.last_eval_step = self.step if self.last_scores is not None else -1
        # Each rank continues its own random stream; with another number of ranks than the
        # run had, every rank takes rank 0's (dropout masks then differ from an unbroken run).
        by_rank = state.get("rng_by_rank", [])
        restore_rng(by_rank[self.distributed.rank] if len(by_rank) == self.distributed.world_size
                    else state["rng"])

    # -- the loop -----------------------------------------------------------------------------
    def run(self, progress_bar: bool = True) -> TrainResult:
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        metrics = MetricsLog(self.run_dir) if self.is_main else None
        total_steps = self.step_budget()
        by_time = total_steps is None
        progress = Progress(self.config.max_time if by_time else total_steps,
                            self.train_time if by_time else self.step, by_time=by_time,
                            rate_unit=f"{self.task.count_name}/s", enabled=progress_bar,
                            log=self.log, quiet=not self.is_main)
        interrupt = InterruptFlag()
        try:
            with interrupt.active():
                stopped_by = self._train_until_done(interrupt, metrics, progress)
            if stopped_by == "interrupted":
                progress.close()
                self.log(f"interrupted at step {self.step}: saving to {self.run_dir} …")
                self.save(improved=False)
                self.log(f"saved; continue with --resume {self.run_dir}")
            elif self.last_eval_step != self.step:
                self._evaluate_and_save(metrics, progress)
        finally:
            progress.close()
            if metrics is not None:
                metrics.close()
                self._plot()
        return TrainResult(self.run_dir, self.step, self._epochs(), self.train_time,
                           self.last_scores, self.best_metric, self.best_step, stopped_by,
                           self.task.metric, self.history)

    def _train_until_done(self, interrupt: InterruptFlag, metrics: MetricsLog | None,
                          progress: Progress) -> str:
        """Train step by step until a budget is spent or Ctrl-C; returns why it stopped."""
        c = self.config
        smoothed = None
        window_count, window_time = 0, 0.0
        while not (stopped_by := self.distributed.agree_to_stop(
                self.finished(), interrupt.requested, STOP_REASONS)):
            started = time.perf_counter()
            loss, count = self.train_step()
            elapsed = time.perf_counter() - started
            self.train_time += elapsed
            window_count += count
            window_time += elapsed
            smoothed = loss if smoothed is None else 0.95 * smoothed + 0.05 * loss
            rate = window_count / max(window_time, 1e-9)
            progress.update(self.train_time if progress.by_time else self.step, step=self.step,
                            loss=smoothed, rate=rate)
            if (self.step % c.log_interval == 0 or self.step == 1) and metrics is not None:
                metrics.log({"step": self.step, "epoch": self._epochs(), "train_loss": loss,
                             "lr": self.learning_rate(), f"{self.task.count_name}_per_s": rate,
                             "train_time": self.train_time})
                window_count, window_time = 0, 0.0
            if self.step % c.eval_interval == 0:
                self._evaluate_and_save(metrics, progress)
        return stopped_by

    def _epochs(self) -> float:
        return round(float(self.task.epochs_done()), 4)

    def _evaluate_and_save(self, metrics: MetricsLog | None, progress: Progress) -> None:
        """Evaluate (rank 0 only: the others would repeat the same work) and save."""
        self.last_eval_step = self.step
        if not self.is_main:
            self.save(improved=False)              # the other ranks' share of the gathering
            return
        scores = self.last_scores = self.evaluate()
        value = scores[self.task.metric]
        improved = self.best_metric is None or (
            value > self.best_metric if self.task.higher_is_better else value < self.best_metric)
        if improved:
            self.best_metric, self.best_step = value, self.step
        prefix = self.task.eval_prefix
        record = {"step": self.step, "epoch": self._epochs(), "train_time": self.train_time,
                  **{f"{prefix}_{key}": value for key, value in scores.items()}}
        self.history.append(record)
        if metrics is not None:
            metrics.log(record)
        self.save(improved)
        summary = ", ".join(f"{key} {value:.4f}" for key, value in scores.items())
        message = (f"step {self.step} (epoch {self._epochs():.2f}): {prefix} {summary}"
                   f"{'  (best)' if improved else ''}")
        extra = self.task.after_evaluation(unwrap(self.model), self.step)
        progress.write(message + (f"\n{extra}" if extra else ""))

    def _plot(self) -> None:
        metrics_path = self.run_dir / "metrics.jsonl"
        prefix, metric = self.task.eval_prefix, self.task.metric
        try:
            plot_loss_curves(metrics_path, self.run_dir / "loss.png", train_key="train_loss",
                             val_key=f"{prefix}_loss", ylabel=f"loss (nats per {self.task.count_name[:-1]})")
            if metric != "loss":
                plot_loss_curves(metrics_path, self.run_dir / "metric.png", train_key="",
                                 val_key=f"{prefix}_{metric}", ylabel=f"{prefix} {metric}")
        except (OSError, ValueError) as err:  # a plot is a convenience; never fail the run
            self.log(f"could not draw the training curves: {err}")


def upgrade_trainer_state(state: dict) -> dict:
    """Trainer states written before the one trainer (rnnlab 0.1, session 2 and earlier) had
    one layout per loop; bring either to today's keys so those runs still resume."""
    if "task" in state:
        return state
    upgraded = {key: state[key] for key in ("step", "train_time", "optimizer", "rng",
                                            "weights_sha256") if key in state}
    if "batcher" in state:                     # the char LM's loop
        upgraded.update(items_seen=state["tokens_seen"], best_metric=state["best_val"],
                        best_step=None, last_eval=None,
                        task={"batcher": state["batcher"],
                              "carried_state": state["carried_state"]})
    else:                                      # the supervised loop (classifier, tagger)
        upgraded.update(items_seen=state["examples_seen"], best_metric=state["best_metric"],
                        best_step=state["best_step"], last_eval=state["last_dev"],
                        task={"sampler": state["sampler"]})
    return upgraded
