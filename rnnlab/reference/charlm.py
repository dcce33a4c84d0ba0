"""A character-level language model trained with the NumPy reference engine.

The same job as min-char-rnn (hidden 100, windows of 25 characters, Adagrad lr 0.1), but on
`RecurrentNetwork`, so the loop over time runs once for a whole batch of B streams and the
input projection and weight gradients are single matrix products.

    text --CharVocab--> ids (N,)
         --last val_fraction held out--> train ids, validation ids
    train ids --cut into B contiguous streams--> windows x, y (B, T)
    x --embedding--> RNN/LSTM/GRU layers --linear head--> logits (B, T, V)

Truncated BPTT with carried state: row b of window k + 1 continues exactly where row b of
window k stopped, so the final state of window k is the initial state of window k + 1. Each
window is its own `forward`/`backward`; the carried state enters as a constant, which is what
stops gradients at window boundaries. At an epoch start the streams begin again from their first
character, so the state is reset to zeros. The windows and the train/validation split are
those of `rnnlab.data.streams` (its NumPy side), the same the torch engine reads.

Entry points:

    result = train_numpy_charlm(text, NumpyCharLMConfig(max_steps=2000), log=print)
    sample_text(result.network, result.vocab, 200, np.random.default_rng(0))
    save_numpy_charlm(result, "runs/numpy-charlm")        # run.json, vocab.json, weights.npz
    network, vocab, config = load_numpy_charlm("runs/numpy-charlm")

This module imports NumPy and rnnlab's torch-free modules only; it never imports torch.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from rnnlab.data.streams import NumpyStreamBatcher, numpy_eval_windows, split_train_val
from rnnlab.data.textfile import write_text_atomic
from rnnlab.data.vocab import CharVocab
from rnnlab.errors import RnnlabError
from rnnlab.reference.blas_threads import blas_thread_limit
from rnnlab.reference.clip import clip_grad_norm, clip_grad_value
from rnnlab.reference.losses import log_softmax, softmax_cross_entropy
from rnnlab.reference.network import RecurrentNetwork
from rnnlab.reference.optim import Adagrad, Adam
from rnnlab.settings import ConfigDict
from rnnlab.train.budget import stop_reason

# --cell name -> (cell_type, nonlinearity) of RecurrentNetwork.
CELLS = {"rnn_tanh": ("rnn", "tanh"), "rnn_relu": ("rnn", "relu"), "lstm": ("lstm", "tanh"),
         "gru": ("gru", "tanh"), "mingru": ("mingru", "tanh"), "minlstm": ("minlstm", "tanh")}
OPTIMIZERS = ("adagrad", "adam")
# Adagrad's 0.1 is min-char-rnn's; Adam's steps are already normalised, so it wants a smaller one.
DEFAULT_LR = {"adagrad": 0.1, "adam": 2e-3}
CLIP_MODES = ("norm", "value", "none")
DTYPES = ("float32", "float64")
# Used when neither max_steps nor max_time is given (as for the torch engine).
DEFAULT_MAX_TIME_S = 300.0
RUN_FORMAT_VERSION = 1


# ============================================================================== configuration


@dataclass
class NumpyCharLMConfig(ConfigDict):
    """Model and training settings. Defaults follow min-char-rnn, with a batch of 32 streams."""
    what = "numpy char-LM config"

    cell: str = "rnn_tanh"               # rnn_tanh, rnn_relu, lstm, gru, mingru or minlstm
    num_layers: int = 1
    hidden_size: int = 100
    embedding_size: int | None = None    # None: the hidden size
    batch_size: int = 32                 # B contiguous streams
    bptt: int = 25                       # T characters per window
    optimizer: str = "adagrad"           # adagrad or adam
    lr: float | None = None              # None: DEFAULT_LR[optimizer]
    weight_decay: float = 0.0            # L2 added to the gradient (Adagrad's/Adam's own option)
    clip: str = "norm"                   # norm (global L2 norm), value (each entry) or none
    clip_threshold: float = 5.0
    max_steps: int | None = None
    max_time: float | None = None        # seconds of training steps (evaluation not counted)
    log_interval: int = 100              # steps between progress lines
    eval_interval: int = 500             # steps between validation loss + sample
    eval_batch_size: int = 32
    loss_smoothing: float = 0.99         # smoothed = s * smoothed + (1 - s) * loss
    val_fraction: float = 0.1            # the last part of the text, when no validation text is given
    sample_length: int = 200             # characters sampled at each evaluation (0: none)
    temperature: float = 1.0             # sampling temperature (0: always the likeliest character)
    dtype: str = "float32"
    seed: int = 1337
    # BLAS threads while training (None: leave the BLAS default). The matrices here are small
    # (B*T x H), so extra threads barely help, and on a busy machine they wait on each other: on
    # a loaded 2-core machine the default OpenBLAS threads made training ~10x slower than 1 thread.
    blas_threads: int | None = 1

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise RnnlabError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.optimizer not in OPTIMIZERS:
            raise RnnlabError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.clip not in CLIP_MODES:
            raise RnnlabError(f"clip must be one of {', '.join(CLIP_MODES)}, got {self.clip!r}")
        if self.dtype not in DTYPES:
            raise RnnlabError(f"dtype must be float32 or float64, got {self.dtype!r}")
        for name in ("num_layers", "hidden_size", "batch_size", "bptt", "log_interval",
                     "eval_interval", "eval_batch_size"):
            _check_int(name, getattr(self, name), minimum=1)
        if self.embedding_size is not None:
            _check_int("embedding_size", self.embedding_size, minimum=1)
        if self.max_steps is not None:
            _check_int("max_steps", self.max_steps, minimum=1)
        _check_int("sample_length", self.sample_length, minimum=0)
        _check_int("seed", self.seed, minimum=0)
        if self.blas_threads is not None:
            _check_int("blas_threads", self.blas_threads, minimum=1)
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        _check_float("lr", self.lr, low=0.0)
        _check_float("clip_threshold", self.clip_threshold, low=0.0)
        _check_float("weight_decay", self.weight_decay, low=0.0, allow_low=True)
        _check_float("temperature", self.temperature, low=0.0, allow_low=True)
        if self.max_time is not None:
            _check_float("max_time", self.max_time, low=0.0)
        if not (_is_number(self.loss_smoothing) and 0.0 <= self.loss_smoothing < 1.0):
            raise RnnlabError(f"loss_smoothing must be in [0, 1), got {self.loss_smoothing!r}")
        if not (_is_number(self.val_fraction) and 0.0 < self.val_fraction < 1.0):
            raise RnnlabError(f"val_fraction must be between 0 and 1 (exclusive), got {self.val_fraction!r}")
        if self.max_steps is None and self.max_time is None:
            self.max_time = DEFAULT_MAX_TIME_S

    @property
    def embedding_dim(self) -> int:
        return self.embedding_size if self.embedding_size is not None else self.hidden_size



def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_int(name: str, value, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise RnnlabError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_float(name: str, value, low: float, allow_low: bool = False) -> None:
    ok = _is_number(value) and math.isfinite(value) and (value >= low if allow_low else value > low)
    if not ok:
        raise RnnlabError(f"{name} must be a finite number {'>=' if allow_low else '>'} {low:g}, got {value!r}")


def build_network(config: NumpyCharLMConfig, vocab_size: int) -> RecurrentNetwork:
    """Token embedding -> recurrent layers -> linear head over the vocabulary."""
    cell_type, nonlinearity = CELLS[config.cell]
    return RecurrentNetwork(
        cell_type, config.hidden_size, vocab_size=vocab_size, embedding_dim=config.embedding_dim,
        num_layers=config.num_layers, output_size=vocab_size, nonlinearity=nonlinearity,
        dtype=np.dtype(config.dtype), seed=config.seed)


def build_optimizer(config: NumpyCharLMConfig, network: RecurrentNetwork):
    """The optimizer updates `network.params` in place."""
    if config.optimizer == "adagrad":
        return Adagrad(network.params, lr=config.lr, weight_decay=config.weight_decay)
    return Adam(network.params, lr=config.lr, weight_decay=config.weight_decay)


# ================================================================================ evaluation


def evaluate_loss(network: RecurrentNetwork, ids: np.ndarray, batch_size: int = 32, bptt: int = 25) -> float:
    """Mean negative log-likelihood (nats/char) of every character of ids but the first.

    The state carries across windows, so each prediction sees its stream's whole past; the
    per-token losses are summed and divided by N - 1 because windows differ in size.
    """
    total, count, state = 0.0, 0, None
    for x, y, reset_state in numpy_eval_windows(ids, batch_size, bptt):
        if reset_state:
            state = None
        logits, state, _ = network.forward(x, state)  # (rows, t, V)
        log_probs = log_softmax(logits)
        total -= float(np.take_along_axis(log_probs, y[..., None], axis=-1).sum(dtype=np.float64))
        count += y.size
    return total / count


# ================================================================================== sampling


def sample_text(network: RecurrentNetwork, vocab: CharVocab, length: int, rng: np.random.Generator,
                temperature: float = 1.0, prime: str | None = None) -> str:
    """`length` characters drawn one at a time from softmax(logits / temperature).

    prime: text read first to set the state (default: a newline, or the first vocabulary
    character when the text has none); it is not part of the result. temperature 0 picks the
    likeliest character every time.
    """
    if prime is None:
        prime = "\n" if "\n" in vocab else vocab.chars[0]
    if not prime:
        raise RnnlabError("prime must be at least one character")
    prime_ids = vocab.encode(prime)[None, :]  # (1, P)
    logits, state, _ = network.forward(prime_ids)
    chosen = []
    for _ in range(length):
        next_id = _choose(logits[0, -1].astype(np.float64), rng, temperature)
        chosen.append(next_id)
        logits, state, _ = network.forward(np.array([[next_id]], dtype=np.int64), state)
    return vocab.decode(np.array(chosen, dtype=np.int64))


def _choose(logits: np.ndarray, rng: np.random.Generator, temperature: float) -> int:
    """One id from logits (V,): greedy at temperature 0, else sampled from the tempered softmax."""
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits / temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    return int(rng.choice(len(probs), p=probs))


# =================================================================================== training


@dataclass
class NumpyCharLMResult:
    network: RecurrentNetwork
    vocab: CharVocab
    config: NumpyCharLMConfig
    steps: int
    tokens_trained: int
    train_time: float                # seconds in training steps (evaluation not counted)
    stopped_by: str                  # max_steps, max_time or interrupted
    initial_val_loss: float          # nats/char before the first step
    val_loss: float | None           # nats/char at the end (None when interrupted)
    smoothed_loss: float | None      # smoothed training loss at the end
    history: list[dict] = field(default_factory=list)   # progress and validation records
    samples: list[str] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_trained / self.train_time if self.train_time > 0 else 0.0


def window_gradients(network: RecurrentNetwork, x: np.ndarray, y: np.ndarray, initial_state=None):
    """(mean loss, parameter gradients, final state) of one window x, y (B, t) from `initial_state`.

    The initial state enters as a constant, so no gradient flows back past the window's first
    step: that is the truncation of truncated BPTT. The final state is returned as values only,
    to become the next window's initial state.
    """
    logits, final_state, cache = network.forward(x, initial_state)  # (B, t, V)
    loss, d_logits = softmax_cross_entropy(logits, y)
    return loss, network.backward(d_logits, cache).params, final_state


class NumpyCharLMTrainer:
    """The network, optimizer, streams and counters of one run; `train_step` is one window."""

    def __init__(self, config: NumpyCharLMConfig, vocab: CharVocab, train_ids: np.ndarray,
                 val_ids: np.ndarray, log: Callable[[str], None] = print):
        self.config = config
        self.vocab = vocab
        self.val_ids = val_ids
        self.log = log
        self.network = build_network(config, len(vocab))
        self.optimizer = build_optimizer(config, self.network)
        self.streams = NumpyStreamBatcher(train_ids, config.batch_size, config.bptt)
        # Its own stream of random numbers, so sampling never changes the training run.
        self.sample_rng = np.random.default_rng([config.seed, 1])
        self.state = None  # carried recurrent state: h (L, B, H), or (h, c) for LSTM
        self.step = 0
        self.tokens_trained = 0
        self.train_time = 0.0
        self.smoothed_loss: float | None = None
        self.last_grad_norm = 0.0

    def train_step(self) -> float:
        """Forward, loss, backward, clip and update on the next window; returns its mean loss."""
        window = self.streams.next_window()
        if window.reset_state:
            self.state = None  # the streams start over: nothing from the end of the text carries
        loss, grads, final_state = window_gradients(self.network, window.x, window.y, self.state)
        if not math.isfinite(loss):
            raise RnnlabError(
                f"training diverged: loss became {loss} at step {self.step + 1}; "
                f"use a lower lr (now {self.config.lr:g}) or a smaller clip threshold")
        self._clip(grads)
        self.optimizer.step(grads)
        self.state = final_state  # values only: the next window starts where this one stopped
        self.step += 1
        self.tokens_trained += window.y.size
        return loss

    def _clip(self, grads: dict[str, np.ndarray]) -> None:
        if self.config.clip == "norm":
            self.last_grad_norm = clip_grad_norm(grads, self.config.clip_threshold)
        elif self.config.clip == "value":
            clip_grad_value(grads, self.config.clip_threshold)

    def evaluate(self) -> float:
        return evaluate_loss(self.network, self.val_ids, self.config.eval_batch_size, self.config.bptt)

    def sample(self) -> str:
        return sample_text(self.network, self.vocab, self.config.sample_length, self.sample_rng,
                           self.config.temperature)

    def finished(self) -> str:
        """Why the run should stop now ("" while it should go on)."""
        return stop_reason(self.step, self.train_time, max_steps=self.config.max_steps, max_time=self.config.max_time)

    def run(self) -> NumpyCharLMResult:
        """Train until max_steps or max_time (or Ctrl-C), evaluating every eval_interval steps."""
        history: list[dict] = []
        samples: list[str] = []
        initial_val = self._evaluate_and_sample(history, samples, sample=False)
        final_val: float | None = initial_val
        interval_tokens, interval_time = 0, 0.0
        stopped_by = "interrupted"
        try:
            while (stopped_by := self.finished()) == "":
                start = time.perf_counter()
                loss = self.train_step()
                elapsed = time.perf_counter() - start
                self.train_time += elapsed
                interval_tokens += self.config.batch_size * self.config.bptt
                interval_time += elapsed
                self._smooth(loss)
                if self.step % self.config.log_interval == 0 or self.step == 1:
                    history.append(self._progress_record(loss, interval_tokens / max(interval_time, 1e-9)))
                    self.log(_format_progress(history[-1]))
                    interval_tokens, interval_time = 0, 0.0
                if self.step % self.config.eval_interval == 0:
                    final_val = self._evaluate_and_sample(history, samples)
            if history[-1].get("val_loss") is None or history[-1]["step"] != self.step:
                final_val = self._evaluate_and_sample(history, samples)
        except KeyboardInterrupt:
            self.log(f"interrupted at step {self.step}")
            stopped_by, final_val = "interrupted", None
        return NumpyCharLMResult(
            network=self.network, vocab=self.vocab, config=self.config, steps=self.step,
            tokens_trained=self.tokens_trained, train_time=self.train_time, stopped_by=stopped_by,
            initial_val_loss=initial_val, val_loss=final_val, smoothed_loss=self.smoothed_loss,
            history=history, samples=samples)

    def _smooth(self, loss: float) -> None:
        # Starts at the first observed loss rather than at a guess such as ln(V).
        s = self.config.loss_smoothing
        self.smoothed_loss = loss if self.smoothed_loss is None else s * self.smoothed_loss + (1 - s) * loss

    def _progress_record(self, loss: float, tokens_per_second: float) -> dict:
        return {"step": self.step, "epoch": self.streams.epoch, "train_loss": loss,
                "smoothed_loss": self.smoothed_loss, "tokens_per_second": tokens_per_second,
                "grad_norm": self.last_grad_norm if self.config.clip == "norm" else None,
                "train_time": self.train_time}

    def _evaluate_and_sample(self, history: list[dict], samples: list[str], sample: bool = True) -> float:
        val_loss = self.evaluate()
        history.append({"step": self.step, "val_loss": val_loss, "val_bits_per_char": val_loss / math.log(2),
                        "train_time": self.train_time})
        self.log(f"step {self.step}: validation {val_loss:.4f} nats/char, {val_loss / math.log(2):.4f} bits/char, "
                 f"perplexity {math.exp(val_loss):.2f} over {len(self.val_ids) - 1:,} characters")
        if sample and self.config.sample_length > 0:
            samples.append(self.sample())
            self.log(f"----- sample at step {self.step} -----\n{samples[-1]}\n-----")
        return val_loss


def _format_progress(record: dict) -> str:
    parts = [f"step {record['step']}", f"epoch {record['epoch']}", f"loss {record['train_loss']:.4f}",
             f"smoothed {record['smoothed_loss']:.4f}", f"{record['tokens_per_second']:,.0f} tokens/s"]
    if record["grad_norm"] is not None:
        parts.append(f"grad norm {record['grad_norm']:.2f}")
    return " | ".join(parts)


def train_numpy_charlm(text: str, config: NumpyCharLMConfig | None = None, *, val_text: str | None = None,
                       log: Callable[[str], None] = print) -> NumpyCharLMResult:
    """Train a character LM on `text` and return the trained network with its record.

    The vocabulary covers the whole text (and `val_text`). Without `val_text`, the last
    `config.val_fraction` of the text is held out for validation.
    """
    config = config or NumpyCharLMConfig()
    if not text:
        raise RnnlabError("training text is empty; expected at least some characters")
    vocab = CharVocab.from_text(text + (val_text or ""))
    ids = vocab.encode(text)
    if val_text is None:
        train_ids, val_ids = split_train_val(ids, config.val_fraction)
    else:
        train_ids, val_ids = ids, vocab.encode(val_text)
    trainer = NumpyCharLMTrainer(config, vocab, train_ids, val_ids, log=log)
    log(f"numpy engine: {config.cell} {config.num_layers}x{config.hidden_size}, embedding {config.embedding_dim}, "
        f"vocabulary {len(vocab)}, {sum(p.size for p in trainer.network.params.values()):,} parameters, "
        f"{config.dtype}; {len(train_ids):,} training and {len(val_ids):,} validation characters; "
        f"batch {config.batch_size} x bptt {config.bptt}, {config.optimizer} lr {config.lr:g}, "
        f"clip {config.clip}" + (f" {config.clip_threshold:g}" if config.clip != "none" else ""))
    with blas_thread_limit(config.blas_threads):
        return trainer.run()


# ============================================================================ saving a run


def save_numpy_charlm(result: NumpyCharLMResult, directory: str | Path) -> Path:
    """Write run.json (config, summary, history), vocab.json and weights.npz; no pickle anywhere."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / "weights.npz", **result.network.state_dict())
    except OSError as err:
        raise RnnlabError(f"{directory}: cannot write the run ({err.strerror or err})") from None
    result.vocab.save(directory / "vocab.json")
    summary = {"format_version": RUN_FORMAT_VERSION, "engine": "numpy", "config": result.config.to_dict(),
               "steps": result.steps, "tokens_trained": result.tokens_trained, "train_time": result.train_time,
               "stopped_by": result.stopped_by, "initial_val_loss": result.initial_val_loss,
               "val_loss": result.val_loss, "smoothed_loss": result.smoothed_loss,
               "history": result.history, "samples": result.samples}
    write_text_atomic(directory / "run.json", json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    return directory


def load_numpy_charlm(directory: str | Path) -> tuple[RecurrentNetwork, CharVocab, NumpyCharLMConfig]:
    """The network, vocabulary and config of a run written by `save_numpy_charlm`."""
    directory = Path(directory)
    try:
        summary = json.loads((directory / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RnnlabError(f"{directory / 'run.json'}: cannot read the run summary ({err})") from None
    if not isinstance(summary, dict) or summary.get("format_version") != RUN_FORMAT_VERSION:
        raise RnnlabError(f"{directory / 'run.json'}: not a numpy char-LM run of format {RUN_FORMAT_VERSION}")
    config = NumpyCharLMConfig.from_dict(summary["config"])
    vocab = CharVocab.load(directory / "vocab.json")
    network = build_network(config, len(vocab))
    try:
        with np.load(directory / "weights.npz", allow_pickle=False) as weights:
            network.load_state_dict({name: weights[name] for name in weights.files})
    except (OSError, ValueError) as err:
        raise RnnlabError(f"{directory / 'weights.npz'}: cannot read the weights ({err})") from None
    return network, vocab, config
