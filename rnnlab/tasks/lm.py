"""The character language model as a task: text in, stream batches, loss, evaluation, training.

One call, `train_char_lm`, does what `rnnlab train` does. The run directory (rnnlab.train) holds
everything needed to continue or to sample:

    RUN/config.json      {"kind": "char_lm", "model": CharLMConfig, "train": CharLMTrainConfig,
                          "data": DataSource}
    RUN/vocab.json       the character vocabulary
    RUN/model.safetensors, best.safetensors, trainer_state.*, metrics.jsonl, loss.png

What makes the LM different from the padded-batch tasks is only its data: contiguous streams
read window by window (rnnlab.data.streams), with the recurrent state carried, detached, from
one window to the next. `LMTask` keeps that state; it is part of the task state, so a resumed
run carries on exactly where it stopped.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from rnnlab.data.corpus import load_corpus
from rnnlab.data.streams import StreamBatcher, eval_windows, split_train_val
from rnnlab.data.textfile import read_text
from rnnlab.data.vocab import CharVocab
from rnnlab.errors import RnnlabError
from rnnlab.models.lm import CharLM, CharLMConfig, detach_state
from rnnlab.train.config import CharLMTrainConfig
from rnnlab.train.distributed import Distributed
from rnnlab.train.precision import autocast, resolve_precision
from rnnlab.train.run import check_unchanged, launch, open_run, resolve_device
from rnnlab.train.trainer import Task, TrainResult


@dataclass
class DataSource:
    """Where the text came from, so a resumed run reads the same text (checked by hash)."""
    data: str | None = None
    dataset: str | None = None
    val: str | None = None
    sha256: str = ""

    def load(self) -> tuple[str, str | None, str]:
        """(train-or-full text, separate validation text or None, description)."""
        text, description = load_corpus(data=self.data, dataset=self.dataset)
        val_text = read_text(self.val) if self.val else None
        return text, val_text, description


def text_digest(text: str, val_text: str | None) -> str:
    digest = hashlib.sha256(text.encode("utf-8"))
    if val_text is not None:
        digest.update(b"\0validation\0" + val_text.encode("utf-8"))
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Evaluation over a whole held-out text


@dataclass(frozen=True)
class LMScore:
    nats_per_char: float
    num_chars: int | None            # None: not counted

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.nats_per_char, 700.0))     # finite even for a diverged model

    def as_dict(self) -> dict:
        return {"nats_per_char": self.nats_per_char, "bits_per_char": self.bits_per_char,
                "perplexity": self.perplexity, "num_chars": self.num_chars}

    def summary(self) -> str:
        counted = f" over {self.num_chars:,} characters" if self.num_chars is not None else ""
        return (f"{self.nats_per_char:.4f} nats/char, {self.bits_per_char:.4f} bits/char, "
                f"perplexity {self.perplexity:.3f}{counted}")


@torch.no_grad()
def evaluate_lm(model: CharLM, ids: np.ndarray, batch_size: int = 64, bptt: int = 256,
                precision: str = "fp32", device: torch.device | None = None) -> LMScore:
    """Mean loss over every target of `ids` (N,) — every character but the first, which has no
    context — carrying state along each stream."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        for window in eval_windows(ids, batch_size, bptt):
            if window.reset_state:
                state = None
            x, y = window.x.to(device), window.y.to(device)
            with autocast(precision, device):
                logits, state = model(x, state)
            total += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1),
                                     reduction="sum").item()
            count += y.numel()
    finally:
        model.train(was_training)
    return LMScore(total / count, count)


def lm_summary_line(scores: dict) -> str:
    """A trainer's LM scores ({"loss": nats/char, ...}) as one line, like LMScore.summary()."""
    return LMScore(scores["loss"], None).summary()


# --------------------------------------------------------------------------------------------
# The task


class LMTask(Task):
    """Stream windows with a carried, detached recurrent state (truncated BPTT)."""
    metric = "loss"
    higher_is_better = False
    eval_prefix = "val"
    count_name = "tokens"

    def __init__(self, model: CharLM, train_ids: np.ndarray, val_ids: np.ndarray,
                 config: CharLMTrainConfig):
        self.model = model
        self.train_ids, self.val_ids = train_ids, val_ids
        self.config = config
        self.distributed = Distributed()
        self.batcher = StreamBatcher(train_ids, config.batch_size, config.bptt)
        self.state = None            # carried recurrent state, detached

    def shard(self, distributed: Distributed) -> None:
        """This rank's B/W of the B global streams (rnnlab.data.streams draws the layout)."""
        self.distributed = distributed
        self.batcher = StreamBatcher(self.train_ids, distributed.per_rank(self.config.batch_size),
                                     self.config.bptt, rank=distributed.rank,
                                     world_size=distributed.world_size)

    def steps_per_epoch(self) -> int:
        return self.batcher.windows_per_epoch

    def epochs_done(self) -> float:
        return self.batcher.epoch + self.batcher.position / self.batcher.windows_per_epoch

    def next_batch(self) -> dict:
        window = self.batcher.next_window()
        if window.reset_state:
            self.state = None        # a new pass over the text: nothing to carry from its end
        return {"x": window.x, "y": window.y}

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, int]:
        logits, state = model(batch["x"], self.state)                  # (B, t, V)
        self.state = detach_state(state)
        y = batch["y"]
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1)), y.numel()

    def evaluate(self, model) -> dict[str, float]:
        # Called inside the trainer's autocast: no precision of its own here.
        score = evaluate_lm(model, self.val_ids, self.config.eval_batch_size,
                            max(self.config.bptt, 256))
        return {"loss": score.nats_per_char, "bpc": score.bits_per_char}

    def state_dict(self) -> dict:
        """The data position and the carried state of ALL B global streams: every rank's rows,
        gathered in rank order, so the state is the one a single process would carry."""
        state = self.state if isinstance(self.state, tuple) else (
            () if self.state is None else (self.state,))
        by_rank = self.distributed.gather([t.cpu() for t in state])           # W × [(L, B/W, H)]
        return {"batcher": self.batcher.state_dict(),
                "carried_state": [torch.cat(parts, dim=1) for parts in zip(*by_rank)]}

    def load_state_dict(self, state: dict) -> None:
        self.batcher.load_state_dict(state["batcher"])
        device = next(self.model.parameters()).device
        rows = slice(self.distributed.rank * self.batcher.batch_size,
                     (self.distributed.rank + 1) * self.batcher.batch_size)   # this rank's streams
        carried = [t[:, rows].to(device) for t in state["carried_state"]]
        self.state = None if not carried else (tuple(carried) if len(carried) > 1 else carried[0])

    def after_evaluation(self, model, step: int) -> str:
        from rnnlab.decoding import SamplingOptions

        if not self.config.sample_length:
            return ""
        text = model.generate("", self.config.sample_length, SamplingOptions(temperature=0.8),
                              seed=step)
        return text + "\n" + "-" * 40


# --------------------------------------------------------------------------------------------
# Training


def train_char_lm(*, data: str | None = None, dataset: str | None = None, val: str | None = None,
                  out: str | Path | None = None, model: dict | None = None,
                  train: dict | None = None, resume: str | Path | None = None,
                  overrides: dict | None = None, device: str = "cpu", progress_bar: bool = True,
                  log: Callable[[str], None] = print) -> TrainResult:
    """Train a new run in `out`, or continue the run in `resume`.

    `model` and `train` are CharLMConfig / CharLMTrainConfig fields (missing ones take
    defaults). When resuming, the saved configuration is used; `overrides` may change the
    budgets (max_steps, max_epochs, max_time), decay_steps and eval_interval.
    """
    run = open_run(CharLM.kind, CharLMTrainConfig, resume=resume,
                   out=out or time.strftime("runs/charlm-%Y%m%d-%H%M%S"), train_options=train,
                   overrides=overrides)
    config = run.train_config
    if run.resuming:
        source = DataSource(**run.saved["data"])
        vocab = CharVocab.load(run.run_dir / "vocab.json")
        model_config = CharLMConfig.from_dict(run.saved["model"])
        text, val_text, description = source.load()
        check_unchanged((source.sha256,), (text_digest(text, val_text),), run.run_dir,
                        "training text")
    else:
        source = DataSource(data=data, dataset=dataset, val=val)
        text, val_text, description = source.load()
        source.sha256 = text_digest(text, val_text)
        # The vocabulary covers the training text; with a separate --val file its unseen
        # characters are skipped (and counted) rather than failing the run.
        vocab = CharVocab.from_text(text)
        # Before splitting, with the smallest batch the budget rule could still choose.
        rule_sets_batch = config.auto_size and "batch_size" not in (train or {})
        _check_corpus_length(len(text), val_text is not None, config, description,
                             batch_size=1 if rule_sets_batch else config.batch_size)
    if val_text is None:
        train_ids, val_ids = split_train_val(vocab.encode(text), config.val_fraction)
    else:   # a separate --val file: characters the training text lacks are skipped (counted)
        train_ids, val_ids = vocab.encode(text), vocab.encode(val_text, unknown="skip")
    log(f"data: {description}: {len(train_ids):,} training and {len(val_ids):,} validation "
        f"characters, vocabulary {len(vocab)}")
    sizing = None
    if not run.resuming:
        if config.auto_size:
            sizing = size_for_budget(train_ids, len(vocab), config, model or {}, train or {},
                                     device, log)
        if sizing is not None:
            config = run.train_config = CharLMTrainConfig.from_dict(
                {**config.to_dict(), **sizing["train"]})
            model = sizing["model"]
        model_config = CharLMConfig(vocab_size=len(vocab), **(model or {}))
        _check_corpus_length(len(text), val_text is not None, config, description)

    def make_task() -> LMTask:
        network = CharLM(model_config)
        network.vocab = vocab
        return LMTask(network, train_ids, val_ids, config)

    return launch(run, make_task, vocab=vocab, device=device, progress_bar=progress_bar, log=log,
                  config={"kind": CharLM.kind, "model": model_config.to_dict(),
                          "data": asdict(source), **({"sizing": sizing["sizing"]} if sizing else {})},
                  describe=lambda task, trainer: (f"cell {model_config.cell}, "
                                                  f"{model_config.num_layers}×{model_config.hidden_size}"))


def size_for_budget(train_ids: np.ndarray, vocab_size: int, config: CharLMTrainConfig,
                    model: dict, train: dict, device, log: Callable[[str], None]) -> dict | None:
    """The budget rule (rnnlab.tasks.lm_sizing) applied to a new run: {"model": options,
    "train": options, "sizing": what config.json records}, the user's explicit options
    winning; None where the rule cannot apply (said in the log)."""
    from rnnlab.tasks import lm_sizing

    if config.max_time is not None and Distributed.launched_by_torchrun():
        log("auto-size: off under torchrun with a time budget (the ranks would measure "
            "different speeds); the fixed defaults apply unless options are given")
        return None
    speed = None
    batch = train.get("batch_size") or lm_sizing.batch_that_fits(
        len(train_ids), config.batch_size, config.bptt)          # the batch the run will use
    run_device = resolve_device(device)
    precision = resolve_precision(config.precision, run_device)     # picks the ladder
    budget = lm_sizing.Budget(train_chars=len(train_ids), batch_size=config.batch_size,
                              bptt=config.bptt, max_time=config.max_time,
                              max_steps=config.max_steps, max_epochs=config.max_epochs,
                              precision=precision,
                              cell=model.get("cell"))
    if config.max_time is not None:      # measured at that batch and the run's precision
        if len(train_ids) < batch * config.bptt + 1:
            return None        # too short for one batch: _check_corpus_length says so

        def measure(rung: lm_sizing.Rung) -> float:
            sized = CharLMConfig(vocab_size=vocab_size, cell=rung.cell,
                                 embedding_size=lm_sizing.EMBEDDING, hidden_size=rung.hidden,
                                 num_layers=rung.layers)
            return lm_sizing.measure_speed(sized, batch, config.bptt, train_ids,
                                           device=run_device, precision=precision)

        budget = lm_sizing.calibrate(budget, vocab_size, measure)
        speed = budget.tokens_per_second
    choice = lm_sizing.choose(budget, vocab_size)
    explicit = sorted(set(model) | set(train))
    overridden = sorted((set(choice.model) & set(model)) | (set(choice.train) & set(train)))
    log(f"auto-size: {choice.reason}"
        + (f"; given explicitly: {', '.join(overridden)}" if overridden else "")
        + " (--no-auto-size: the fixed defaults)")
    return {"model": {**choice.model, **model}, "train": {**choice.train, **train},
            "sizing": {**choice.to_dict(), "measured_tokens_per_second": speed,
                       "measured_by_size": dict(budget.measured),
                       "explicit": explicit}}


def _check_corpus_length(num_chars: int, separate_val: bool, config: CharLMTrainConfig,
                         description: str, batch_size: int | None = None) -> None:
    """Refuse, before anything is written, a text too short for one full training batch."""
    batch_size = batch_size or config.batch_size
    needed = batch_size * config.bptt + 1
    num_train = num_chars if separate_val else num_chars - int(num_chars * config.val_fraction)
    if num_train < needed:
        raise RnnlabError(
            f"{description}: the training split has {num_train:,} characters, but batch size "
            f"{batch_size} × BPTT {config.bptt} needs at least {needed:,}; use more text "
            "or lower --batch-size / --bptt")
