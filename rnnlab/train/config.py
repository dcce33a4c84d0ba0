"""Training options of every task: one dataclass, with per-task defaults as subclasses.

Torch-free on purpose: the CLI reads its defaults from these classes, and `--help` must not pay
for importing torch. A task whose best defaults differ (found by the sweeps in BENCHMARKS.md)
subclasses `TrainConfig` and redeclares those fields; the fields, their meaning and the checks
stay in one place.

Budgets: `max_steps`, `max_epochs` (may be fractional) and `max_time` (seconds of training,
evaluation excluded); the first reached stops the run. With none given, the class's
`DEFAULT_BUDGET` applies. The cosine decays over `decay_steps` (default: the step budget), or
over `max_time` when time is the only budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rnnlab.errors import RnnlabError
from rnnlab.settings import ConfigDict, require_positive_ints

BUDGETS = ("max_steps", "max_epochs", "max_time")
# The options that may change when a run is resumed; everything else is fixed by the run.
RESUMABLE_OPTIONS = BUDGETS + ("decay_steps", "eval_interval")


@dataclass
class TrainConfig(ConfigDict):
    """AdamW with warm-up and cosine decay, clipping, budgets, evaluation, precision, seed."""
    batch_size: int = 32
    eval_batch_size: int = 256
    lr: float = 2e-3
    beta2: float = 0.999
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    clip_norm: float | None = 5.0
    max_steps: int | None = None
    max_epochs: float | None = None
    max_time: float | None = None        # seconds of training (evaluation excluded)
    decay_steps: int | None = None       # length of the cosine; default: the step budget
    eval_interval: int = 200             # steps between evaluations (and saves)
    log_interval: int = 10               # steps between metrics.jsonl records
    precision: str = "fp32"              # "fp32", "bf16" or "auto" (rnnlab.train.precision)
    seed: int = 1234

    DEFAULT_BUDGET: ClassVar[dict] = {"max_epochs": 10}
    what: ClassVar[str] = "training option"

    def __post_init__(self) -> None:
        counts = ("batch_size", "eval_batch_size", "eval_interval", "log_interval", "max_steps",
                  "decay_steps")    # named as the CLI spells them
        require_positive_ints(**{name.replace("_", "-"): getattr(self, name) for name in counts
                                 if getattr(self, name) is not None})
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise RnnlabError(f"learning rate must be > 0, got {self.lr!r}")
        if not 0.0 <= self.beta2 < 1.0:
            raise RnnlabError(f"beta2 must be in [0, 1), got {self.beta2!r}")
        if self.weight_decay < 0:
            raise RnnlabError(f"weight decay must be >= 0, got {self.weight_decay!r}")
        if self.warmup_steps < 0:
            raise RnnlabError(f"warm-up steps must be >= 0, got {self.warmup_steps!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise RnnlabError(f"min lr ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise RnnlabError(f"clip norm must be > 0 (or None for no clipping), got {self.clip_norm!r}")
        for name in ("max_epochs", "max_time"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise RnnlabError(f"{name.replace('_', '-')} must be > 0, got {value!r}")
        if all(getattr(self, name) is None for name in BUDGETS):
            for name, value in self.DEFAULT_BUDGET.items():
                setattr(self, name, value)

    def with_overrides(self, overrides: dict):
        """A resumed run's config: only RESUMABLE_OPTIONS may change.

        A new budget (any of max_steps, max_epochs, max_time) replaces all the saved budgets.
        """
        given = {key: value for key, value in overrides.items() if value is not None}
        refused = sorted(set(given) - set(RESUMABLE_OPTIONS))
        if refused:
            raise RnnlabError(f"--{refused[0].replace('_', '-')} cannot change on --resume; only "
                              f"{', '.join('--' + o.replace('_', '-') for o in RESUMABLE_OPTIONS)} can")
        data = self.to_dict()
        if any(key in given for key in BUDGETS):
            data.update({key: None for key in BUDGETS})
        data.update(given)
        return type(self).from_dict(data)


@dataclass
class CharLMTrainConfig(TrainConfig):
    """The char LM's defaults (see BENCHMARKS.md, "Char-LM defaults", for the sweep behind them):
    batch 64 × BPTT 32, lr 7e-3, short warm-up, no weight decay, clip 1.0, 300 s by default."""
    batch_size: int = 64
    eval_batch_size: int = 64
    lr: float = 7e-3
    beta2: float = 0.99
    weight_decay: float = 0.0
    warmup_steps: int = 30
    min_lr_ratio: float = 0.1
    clip_norm: float | None = 1.0
    precision: str = "auto"
    seed: int = 1337
    bptt: int = 32                       # characters per training window
    val_fraction: float = 0.1            # the last share of the text, unless a --val file is given
    sample_length: int = 200             # characters printed at each evaluation (0: none)
    # Choose size, dropout, lr and batch from the budget (rnnlab.tasks.lm_sizing) where not
    # given; False: the fixed defaults of CharLMConfig and this class.
    auto_size: bool = True

    DEFAULT_BUDGET: ClassVar[dict] = {"max_time": 300.0}

    def __post_init__(self) -> None:
        require_positive_ints(bptt=self.bptt)
        if not 0.0 < self.val_fraction < 1.0:
            raise RnnlabError(f"val fraction must be in (0, 1), got {self.val_fraction}")
        if isinstance(self.sample_length, bool) or not isinstance(self.sample_length, int) \
                or self.sample_length < 0:
            raise RnnlabError(f"sample length must be >= 0, got {self.sample_length!r}")
        super().__post_init__()


@dataclass
class ClassifierTrainConfig(TrainConfig):
    """Classification defaults from SST-2 trials (BENCHMARKS.md): lr 4e-3 learned faster than
    2e-3 per step, and a BiGRU peaks after 2-3 epochs, so 3 epochs when no budget is given."""
    lr: float = 4e-3
    # The dev score that picks best.safetensors: accuracy, or macro_f1 where every class
    # should count alike (names by language: Russian is half the data).
    select_metric: str = "accuracy"

    DEFAULT_BUDGET: ClassVar[dict] = {"max_epochs": 3}
    SELECT_METRICS: ClassVar[tuple] = ("accuracy", "macro_f1")

    def __post_init__(self) -> None:
        if self.select_metric not in self.SELECT_METRICS:
            raise RnnlabError(f"select metric must be one of {', '.join(self.SELECT_METRICS)}, "
                              f"got {self.select_metric!r}")
        super().__post_init__()


@dataclass
class GeneratorTrainConfig(TrainConfig):
    """The name generator's defaults (benchmarks/bench_names.py): batches of 64 names, lr 3e-3.
    Without a budget: 12 epochs or 300 s, whichever ends first. In the conditioning sweep the
    dev loss still fell at the end of 11-epoch runs, while a 38-epoch run (240 s, cosine over
    the time) was best at epoch 13 and over-fitted after it."""
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup_steps: int = 50
    eval_interval: int = 250

    DEFAULT_BUDGET: ClassVar[dict] = {"max_epochs": 12, "max_time": 300.0}


@dataclass
class TranslateTrainConfig(TrainConfig):
    """The translator's defaults (BENCHMARKS.md, "Translation"): 20 minutes of training when no
    budget is given (the issue's budget for Multi30k on 2 cores), label smoothing 0.1,
    evaluation by greedy BLEU on the dev set. Batches of 128 pairs: in a short measurement (one
    thread, busy machine) they trained 2.3x more target tokens per second than batches of 64."""
    batch_size: int = 128
    eval_batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    clip_norm: float | None = 1.0
    eval_interval: int = 200
    label_smoothing: float = 0.1
    max_length: int = 100                # training pairs with a longer side (subwords) are left out
    eval_beam: int = 1                   # beam of the dev evaluations during training (1: greedy)

    DEFAULT_BUDGET: ClassVar[dict] = {"max_time": 1200.0}

    def __post_init__(self) -> None:
        require_positive_ints(max_length=self.max_length, eval_beam=self.eval_beam)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise RnnlabError(f"label smoothing must be in [0, 1), got {self.label_smoothing!r}")
        super().__post_init__()
