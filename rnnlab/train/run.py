"""Start a new run or resume one: the steps every task takes around the one trainer.

    new run                                       --resume RUN
    -------                                       ------------
    TrainConfig from defaults + given options     TrainConfig from RUN/config.json + overrides
    refuse an --out that already holds a run      (only budgets and eval interval may change)
    read the data, record its sha256              read the data, refuse it if its sha256 changed
    build the vocabulary                          load RUN/vocab.json
          └──────────── seed, build model and task, Trainer ────────────┘
    write vocab.json and config.json              restore weights + trainer state, rewrite
                                                  config.json with the new budgets

A task module does the middle part (its data and vocabulary) and calls `open_run` first and
`launch` last.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from rnnlab.errors import RnnlabError
from rnnlab.train import checkpoint
from rnnlab.train.config import TrainConfig
from rnnlab.train.runstate import seed_everything
from rnnlab.train.distributed import Distributed
from rnnlab.train.trainer import Task, Trainer, TrainResult, unwrap


@dataclass
class OpenedRun:
    run_dir: Path
    train_config: TrainConfig
    saved: dict | None          # config.json of the run being resumed; None for a new run

    @property
    def resuming(self) -> bool:
        return self.saved is not None


def open_run(kind: str, config_class: type[TrainConfig], *, resume: str | Path | None,
             out: str | Path | None, train_options: dict | None,
             overrides: dict | None) -> OpenedRun:
    """The run directory and training config of a new run (`out`) or a resumed one (`resume`)."""
    if resume is not None:
        run_dir = Path(resume)
        saved = checkpoint.read_config(run_dir, expected_kind=kind)
        train_config = config_class.from_dict(saved["train"]).with_overrides(overrides or {})
        return OpenedRun(run_dir, train_config, saved)
    train_config = config_class.from_dict(train_options or {})
    run_dir = Path(out)
    if (run_dir / checkpoint.CONFIG_FILE).exists():
        raise RnnlabError(f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                          "or choose another --out")
    return OpenedRun(run_dir, train_config, None)


def launch(run: OpenedRun, make_task: Callable[[], Task], *, config: dict, vocab: Any,
           device: torch.device | str = "cpu", progress_bar: bool = True,
           log: Callable[[str], None] = print, describe: Callable[[Task, Trainer], str] | None = None
           ) -> TrainResult:
    """Seed, build the task, restore (when resuming) or write the new run's files, train.

    `config` is the config.json document without its training section (kind, model, data, ...).
    Under torchrun every rank calls this; they join the process group here, each reads its share
    of the data, and only rank 0 writes or logs (rnnlab.train.distributed).
    """
    device = resolve_device(device)
    distributed = Distributed.from_environment(device)
    device = distributed.device(device)
    if not distributed.is_main:
        log = _silent
    try:
        seed_everything(run.train_config.seed)   # the initial weights depend on the seed only
        task = make_task()
        if distributed.enabled:
            task.shard(distributed)
        task.model = distributed.wrap(task.model.to(device), device)
        trainer = Trainer(run.run_dir, task, run.train_config, device=device, log=log,
                          distributed=distributed)
        if run.resuming:
            trainer.restore()
            log(f"resuming {run.run_dir} at step {trainer.step}")
        elif distributed.is_main:
            run.run_dir.mkdir(parents=True, exist_ok=True)
            vocab.save(run.run_dir / checkpoint.VOCAB_FILE)
        if distributed.is_main:
            checkpoint.write_config(run.run_dir, {**(run.saved or {}), **config,
                                                  "train": run.train_config.to_dict()})
        summary = describe(task, trainer) if describe else ""
        ranks = f", {distributed.world_size} processes" if distributed.enabled else ""
        log(f"run directory: {run.run_dir}  |  {unwrap(task.model).num_parameters():,} parameters"
            f"{', ' + summary if summary else ''}, precision {trainer.precision}, "
            f"device {trainer.device}{ranks}")
        return trainer.run(progress_bar=progress_bar)
    finally:
        distributed.close()


def _silent(message: str) -> None:
    """The log of ranks other than 0: one process speaks for the run."""


def check_unchanged(recorded: tuple, actual: tuple, run_dir: Path, what: str) -> None:
    """Refuse to resume on data whose digests differ from the ones the run recorded."""
    if recorded != actual:
        raise RnnlabError(f"the {what} of {run_dir} has changed since it started (its "
                          "sha256 differs); resume needs the same data")


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' → cuda where available, else cpu; an unavailable device is one clear error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise RnnlabError(f"unknown device {device!r}; expected cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RnnlabError(f"device {device!r} requested but no CUDA GPU is available; use cpu")
    return resolved


def synchronize(device: str | torch.device | None) -> None:
    """Wait for a GPU's queued work, so that a timing covers it (nothing to wait for on a CPU
    or for None, the default device of a CPU run)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
