"""Training loop of the character language model: train, evaluate, checkpoint, resume.

One call, `train_char_lm`, does what `rnnlab train` does. A run directory holds everything
needed to continue or to sample (see rnnlab.train.checkpoint):

    RUN/config.json              model + training hyper-parameters, data source and its hash
    RUN/vocab.json               the character vocabulary
    RUN/model.safetensors        weights after the last completed step that was saved
    RUN/best.safetensors         weights with the best validation loss so far
    RUN/trainer_state.*          optimizer, step, clock, data position, carried state, RNG
    RUN/metrics.jsonl            one record per log/eval; RUN/loss.png at the end

Resuming restores all of it, so N steps in one go and N/2 steps + resume to N give the same
weights (for a step-based schedule; a `--max-time` schedule depends on the clock).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from rnnlab.train import checkpoint
from rnnlab.data.corpus import load_corpus
from rnnlab.data.streams import StreamBatcher, split_train_val
from rnnlab.data.textfile import read_text
from rnnlab.data.vocab import CharVocab
from rnnlab.errors import RnnlabError, TrainingDiverged  # noqa: F401 (re-exported)
from rnnlab.lm_eval import LMScore, evaluate_lm
from rnnlab.train.metrics import MetricsLog, plot_loss_curves
from rnnlab.models.lm import CharLM, CharLMConfig, detach_state
from rnnlab.train.optim import apply_update, make_adamw
from rnnlab.train.precision import autocast, resolve_precision
from rnnlab.sample import SamplingOptions
from rnnlab.train.runstate import InterruptFlag, restore_rng, rng_state, seed_everything
from rnnlab.train.schedule import run_progress, warmup_cosine

CONFIG_KIND = "char_lm"
# Used when neither --max-steps nor --max-time is given.
DEFAULT_MAX_TIME_S = 300.0


@dataclass
class TrainConfig:
    # batch 64 × BPTT 32 and lr 7e-3: the best of 80-s trials on tinyshakespeare (2 threads,
    # GRU 2×256, validation nats/char): 64×32 lr 7e-3 1.548, 128×16 lr 7e-3 1.549, 64×32 lr 1e-2
    # 1.571, 128×16 lr 1e-2 1.566, 32×64 lr 1e-2 1.588, 256×8 1.568, 128×32 1.596, 32×32 1.620,
    # 16×64 1.626, 64×16 1.622. The same tokens per step in fewer time steps make each step
    # cheaper (larger matrix products, half the sequential steps), and the carried state still
    # gives the model context beyond the window.
    batch_size: int = 64
    bptt: int = 32
    lr: float = 7e-3
    warmup_steps: int = 30
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    clip_norm: float = 1.0
    max_steps: int | None = None
    max_time: float | None = None        # seconds of training (evaluation time excluded)
    decay_steps: int | None = None       # length of the cosine; default: max_steps
    eval_interval: int = 200
    eval_batch_size: int = 64
    val_fraction: float = 0.1
    precision: str = "auto"
    seed: int = 1337
    sample_length: int = 200             # characters printed at each evaluation (0: none)

    def __post_init__(self) -> None:
        positive = ("batch_size", "bptt", "eval_interval", "eval_batch_size")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise RnnlabError(f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise RnnlabError(f"learning rate must be > 0, got {self.lr}")
        if self.max_steps is not None and self.max_steps < 1:
            raise RnnlabError(f"max-steps must be >= 1, got {self.max_steps}")
        if self.max_time is not None and not self.max_time > 0:
            raise RnnlabError(f"max-time must be > 0 seconds, got {self.max_time}")
        if not 0.0 < self.val_fraction < 1.0:
            raise RnnlabError(f"val fraction must be in (0, 1), got {self.val_fraction}")
        if self.clip_norm is not None and self.clip_norm <= 0:
            raise RnnlabError(f"clip norm must be > 0 (or None), got {self.clip_norm}")
        if self.max_steps is None and self.max_time is None:
            self.max_time = DEFAULT_MAX_TIME_S

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    train_time: float
    val: LMScore | None
    best_val: float | None
    stopped_by: str           # "max_steps", "max_time", "interrupted"


class CharLMTrainer:
    """Holds the model, optimizer, data stream and counters of one run."""

    def __init__(self, run_dir: Path, model_config: CharLMConfig, train_config: TrainConfig,
                 vocab: CharVocab, train_ids: np.ndarray, val_ids: np.ndarray,
                 device: torch.device, log: Callable[[str], None] = print):
        self.run_dir = Path(run_dir)
        self.model_config = model_config
        self.config = train_config
        self.vocab = vocab
        self.val_ids = val_ids
        self.device = device
        self.log = log
        self.precision = resolve_precision(train_config.precision, device)
        seed_everything(train_config.seed)
        self.model = CharLM(model_config).to(device)
        self.model.vocab = vocab
        self.optimizer = self._make_optimizer()
        self.batcher = StreamBatcher(train_ids, train_config.batch_size, train_config.bptt)
        self.state = None               # carried recurrent state, detached
        self.step = 0
        self.train_time = 0.0           # seconds spent in training steps (not evaluation)
        self.tokens_seen = 0
        self.best_val: float | None = None
        self.last_val: LMScore | None = None
        self.last_eval_step = -1

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return make_adamw(self.model, self.config.lr, self.config.weight_decay, betas=(0.9, 0.99))

    # -- schedule ------------------------------------------------------------------------------
    def progress(self) -> float:
        c = self.config
        return run_progress(self.step, c.decay_steps or c.max_steps, self.train_time, c.max_time)

    def learning_rate(self) -> float:
        c = self.config
        return warmup_cosine(self.progress(), self.step, base_lr=c.lr,
                             warmup_steps=c.warmup_steps, min_lr_ratio=c.min_lr_ratio)

    def finished(self) -> str | None:
        c = self.config
        if c.max_steps is not None and self.step >= c.max_steps:
            return "max_steps"
        if c.max_time is not None and self.train_time >= c.max_time:
            return "max_time"
        return None

    # -- one step ------------------------------------------------------------------------------
    def train_step(self) -> float:
        window = self.batcher.next_window()
        if window.reset_state:
            self.state = None     # a new pass over the text: nothing to carry from its end
        x, y = window.x.to(self.device), window.y.to(self.device)
        with autocast(self.precision, self.device):
            logits, state = self.model(x, self.state)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        loss_value = apply_update(self.model, self.optimizer, loss, lr=self.learning_rate(),
                                  clip_norm=self.config.clip_norm, step=self.step + 1,
                                  run_dir=self.run_dir)
        self.state = detach_state(state)
        self.step += 1
        self.tokens_seen += y.numel()
        return loss_value

    def evaluate(self) -> LMScore:
        return evaluate_lm(self.model, self.val_ids, self.config.eval_batch_size,
                           max(self.config.bptt, 256), self.precision, self.device)

    # -- checkpoints ---------------------------------------------------------------------------
    def trainer_state(self) -> dict:
        return {
            "step": self.step,
            "train_time": self.train_time,
            "tokens_seen": self.tokens_seen,
            "best_val": self.best_val,
            "optimizer": self.optimizer.state_dict(),
            "batcher": self.batcher.state_dict(),
            "carried_state": self._carried_state_list(),
            "rng": rng_state(),
        }

    def _carried_state_list(self) -> list:
        if self.state is None:
            return []
        return [t.cpu() for t in (self.state if isinstance(self.state, tuple) else (self.state,))]

    def load_trainer_state(self, state: dict) -> None:
        self.step = int(state["step"])
        self.train_time = float(state["train_time"])
        self.tokens_seen = int(state["tokens_seen"])
        self.best_val = state["best_val"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.batcher.load_state_dict(state["batcher"])
        carried = [t.to(self.device) for t in state["carried_state"]]
        if not carried:
            self.state = None
        elif self.model_config.cell == "lstm":
            self.state = (carried[0], carried[1])
        else:
            self.state = carried[0]
        restore_rng(state["rng"])

    def save(self, improved: bool) -> None:
        """Weights first, trainer state last: a crash in between leaves a loadable pair."""
        weights = self.model.state_dict()
        meta = {"step": str(self.step)}
        checkpoint.save_weights(self.run_dir / "model.safetensors", weights, meta)
        if improved:
            checkpoint.save_weights(self.run_dir / "best.safetensors", weights, meta)
        # The trainer state names the weights it belongs to, so a crash between the two writes
        # is caught on resume instead of pairing new weights with an old optimizer.
        digest = checkpoint.read_weights_metadata(self.run_dir / "model.safetensors")[
            checkpoint.DIGEST_METADATA_KEY]
        checkpoint.save_state(self.run_dir / "trainer_state",
                              {**self.trainer_state(), "weights_sha256": digest})

    # -- the loop ------------------------------------------------------------------------------
    def run(self, progress_bar: bool = True) -> TrainResult:
        from tqdm.auto import tqdm

        metrics = MetricsLog(self.run_dir)
        c = self.config
        by_steps = c.max_steps is not None
        bar = tqdm(total=c.max_steps if by_steps else c.max_time, initial=self.step if by_steps
                   else min(self.train_time, c.max_time), disable=not progress_bar,
                   unit="step" if by_steps else "s", dynamic_ncols=True,
                   bar_format=None if by_steps else "{l_bar}{bar}| {n:.0f}/{total:.0f}s [{elapsed}<{remaining}{postfix}]")
        interrupt = InterruptFlag()
        try:
            with interrupt.active():
                stopped_by = self._train_until_done(interrupt, metrics, bar)
            if stopped_by == "interrupted":
                bar.close()
                self.log(f"interrupted at step {self.step}: saving to {self.run_dir} …")
                self.save(improved=False)
                self.log(f"saved; continue with: rnnlab train --resume {self.run_dir}")
            elif self.last_eval_step != self.step:
                self._evaluate_and_save(metrics, bar)
        finally:
            bar.close()
            metrics.close()
            plot_loss_curves(self.run_dir / "metrics.jsonl", self.run_dir / "loss.png")
        return TrainResult(self.run_dir, self.step, self.train_time, self.last_val,
                           self.best_val, stopped_by)

    def _train_until_done(self, interrupt: InterruptFlag, metrics: MetricsLog, bar) -> str:
        """Train step by step until a budget is spent or Ctrl-C; returns why it stopped."""
        c = self.config
        by_steps = c.max_steps is not None
        smoothed = None
        window_tokens, window_time = 0, 0.0
        while not (stopped_by := self.finished()):
            if interrupt.requested:
                return "interrupted"
            t0 = time.perf_counter()
            loss = self.train_step()
            dt = time.perf_counter() - t0
            self.train_time += dt
            window_tokens += c.batch_size * c.bptt
            window_time += dt
            smoothed = loss if smoothed is None else 0.95 * smoothed + 0.05 * loss
            # A time bar must not pass its total (the last step overshoots the budget).
            bar.update(1 if by_steps else min(dt, max(c.max_time - bar.n, 0.0)))
            if self.step % 10 == 0 or self.step == 1:
                tok_s = window_tokens / max(window_time, 1e-9)
                bar.set_postfix(step=self.step, loss=f"{smoothed:.3f}", tok_s=f"{tok_s:,.0f}")
                metrics.log({"step": self.step, "train_loss": loss, "lr": self.learning_rate(),
                             "tokens_per_s": tok_s, "train_time": self.train_time})
                window_tokens, window_time = 0, 0.0
            if self.step % c.eval_interval == 0:
                self._evaluate_and_save(metrics, bar)
        return stopped_by

    def _evaluate_and_save(self, metrics: MetricsLog, bar) -> None:
        score = self.evaluate()
        self.last_val = score
        self.last_eval_step = self.step
        improved = self.best_val is None or score.nats_per_char < self.best_val
        if improved:
            self.best_val = score.nats_per_char
        metrics.log({"step": self.step, "val_loss": score.nats_per_char,
                     "val_bpc": score.bits_per_char, "train_time": self.train_time})
        self.save(improved)
        message = f"step {self.step}: val {score.summary()}"
        if self.config.sample_length:
            text = "".join(self.model.generate("", self.config.sample_length,
                                               SamplingOptions(temperature=0.8),
                                               seed=self.step, stream=True))
            message += "\n" + text + "\n" + "-" * 40
        bar.write(message) if hasattr(bar, "write") else self.log(message)


def train_char_lm(*, data: str | None = None, dataset: str | None = None, val: str | None = None,
                  out: str | Path = "runs/charlm", model: dict | None = None,
                  train: dict | None = None, resume: str | Path | None = None,
                  overrides: dict | None = None, progress_bar: bool = True,
                  log: Callable[[str], None] = print) -> TrainResult:
    """Train a new run in `out`, or continue the run in `resume`.

    `model` and `train` are CharLMConfig / TrainConfig fields (missing ones take defaults).
    When resuming, the saved configuration is used; `overrides` may extend `max_steps`,
    `max_time`, `decay_steps` or `eval_interval`.
    """
    device = torch.device("cpu")
    if resume is not None:
        trainer = _resume_trainer(Path(resume), overrides or {}, device, log)
    else:
        trainer = _new_trainer(data, dataset, val, Path(out), model or {}, train or {}, device, log)
    log(f"run directory: {trainer.run_dir}  |  {trainer.model.num_parameters():,} parameters, "
        f"cell {trainer.model_config.cell}, {trainer.model_config.num_layers}×"
        f"{trainer.model_config.hidden_size}, precision {trainer.precision}")
    return trainer.run(progress_bar=progress_bar)


def _encode_splits(vocab: CharVocab, text: str, val_text: str | None,
                   val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    if val_text is None:
        return split_train_val(vocab.encode(text), val_fraction)
    return vocab.encode(text), vocab.encode(val_text, unknown="skip")


def _check_corpus_length(num_chars: int, separate_val: bool, config: TrainConfig,
                         description: str) -> None:
    """Refuse, before anything is written, a text too short for one full training batch."""
    needed = config.batch_size * config.bptt + 1
    num_train = num_chars if separate_val else num_chars - int(num_chars * config.val_fraction)
    if num_train < needed:
        raise RnnlabError(
            f"{description}: the training split has {num_train:,} characters, but batch size "
            f"{config.batch_size} × BPTT {config.bptt} needs at least {needed:,}; use more text "
            "or lower --batch-size / --bptt")


def _new_trainer(data, dataset, val, out: Path, model: dict, train: dict,
                 device: torch.device, log) -> CharLMTrainer:
    train_config = TrainConfig(**train)
    source = DataSource(data=data, dataset=dataset, val=val)
    text, val_text, description = source.load()
    source.sha256 = text_digest(text, val_text)
    # The vocabulary covers the training text; with a separate --val file its unseen
    # characters are skipped (and counted) rather than failing the run.
    vocab = CharVocab.from_text(text)
    model_config = CharLMConfig(vocab_size=len(vocab), **model)
    _check_corpus_length(len(text), val_text is not None, train_config, description)
    train_ids, val_ids = _encode_splits(vocab, text, val_text, train_config.val_fraction)
    if out.exists() and (out / "config.json").exists():
        raise RnnlabError(f"{out} already holds a run; continue it with --resume {out} "
                          "or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    log(f"data: {description}: {len(train_ids):,} training and {len(val_ids):,} validation "
        f"characters, vocabulary {len(vocab)}")
    trainer = CharLMTrainer(out, model_config, train_config, vocab, train_ids, val_ids,
                            device, log)
    vocab.save(out / "vocab.json")
    checkpoint.write_config(out, {
        "format_version": 1, "kind": CONFIG_KIND, "model": model_config.to_dict(),
        "train": asdict(train_config), "data": asdict(source),
    })
    return trainer


def _resume_trainer(run_dir: Path, overrides: dict, device, log) -> CharLMTrainer:
    config = checkpoint.read_config(run_dir, expected_kind=CONFIG_KIND)
    state_prefix = run_dir / "trainer_state"
    state = checkpoint.load_state(state_prefix)
    train_dict = dict(config["train"])
    allowed = {"max_steps", "max_time", "decay_steps", "eval_interval"}
    for key, value in overrides.items():
        if key not in allowed:
            raise RnnlabError(f"--{key.replace('_', '-')} cannot change on --resume; "
                              f"only {', '.join(sorted(allowed))} can")
        if value is not None:
            train_dict[key] = value
    if overrides.get("max_steps") is not None and overrides.get("max_time") is None:
        train_dict["max_time"] = None  # a new step budget replaces the old time budget
    train_config = TrainConfig.from_dict(train_dict)
    model_config = CharLMConfig.from_dict(config["model"])
    vocab = CharVocab.load(run_dir / "vocab.json")
    source = DataSource(**config["data"])
    text, val_text, _ = source.load()
    if text_digest(text, val_text) != source.sha256:
        raise RnnlabError(f"the training text of {run_dir} has changed since the run started "
                          "(its sha256 differs); resume needs the same data")
    train_ids, val_ids = _encode_splits(vocab, text, val_text, train_config.val_fraction)
    trainer = CharLMTrainer(run_dir, model_config, train_config, vocab, train_ids, val_ids,
                            device, log)
    weights_path = run_dir / "model.safetensors"
    digest = checkpoint.read_weights_metadata(weights_path)[checkpoint.DIGEST_METADATA_KEY]
    if state.get("weights_sha256") != digest:
        raise RnnlabError(f"{weights_path} and the trainer state in {run_dir} come from "
                          "different saves (interrupted while saving?); cannot resume exactly")
    weights = checkpoint.load_weights(weights_path)
    trainer.model.load_weights_checked(weights, source=weights_path)
    trainer.load_trainer_state(state)
    checkpoint.write_config(run_dir, {**config, "train": asdict(train_config)})
    log(f"resuming {run_dir} at step {trainer.step}")
    return trainer
