"""Long-range memory benchmark: the adding problem and the copy-memory task at growing lags.

Both tasks can only be solved by carrying information across `lag` time steps, so they show the
vanishing gradient of section 1.4 as a result, not a formula: a plain tanh RNN solves short lags
and fails long ones, where LSTM and GRU keep going.

Adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015), sequence length T = lag
    input  (B, T, 2): channel 0 a value ~ U(0, 1) at every step; channel 1 a marker, 1 at exactly
           two steps (one in the first half, one in the second half), 0 elsewhere
    target (B,): the sum of the two marked values, read from the output after the last step
    metric mean squared error. Predicting the constant 1 (the target's mean) scores the
           target's variance, 2/12 = 0.167: the trivial baseline.
    solved MSE < 0.01 (17 times better than the baseline).

Copy memory (Arjovsky et al. 2016), k symbols from an alphabet of n (symbols 1..n, blank 0,
marker n+1), sequence length k + lag + k; default k = 5, n = 8
    input  s_1..s_k, then lag-1 blanks, then the marker, then k blanks (one-hot, (B, T, n+2))
    target blank for the first k + lag steps, then s_1..s_k
    loss   cross-entropy on the k recall steps (the blanks carry no information; averaging over
           all 2k + lag steps only dilutes the signal and slows learning)
    metric accuracy on the k recalled symbols. Chance (the trivial baseline) is 1/n.
    solved accuracy >= 0.99.

Each (task, cell, lag) trains from scratch with Adam and gradient clipping for a fixed budget
(steps and/or seconds; by default 2000 steps at lr 3e-3 for adding, 4000 at lr 1e-2 for copy),
evaluating on a fixed held-out set every `eval_every` steps and stopping early once solved.
Models are rnnlab's own (`build_model`: a recurrent encoder of any registered cell and a linear
head), batch-first throughout.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rnnlab.errors import RnnlabError
from rnnlab.nn.cells import get_cell

TASKS = ("adding", "copy")
ADDING_SOLVED_MSE = 0.01
COPY_SOLVED_ACCURACY = 0.99
# Budget and learning rate per task where the caller leaves them out: copy memory learns slowly
# (a plateau at chance first), so it gets a higher rate and twice the steps.
TASK_DEFAULTS = {"adding": {"lr": 3e-3, "max_steps": 2000},
                 "copy": {"lr": 1e-2, "max_steps": 4000}}


@dataclass
class LongRangeConfig:
    task: str = "adding"
    cell: str = "lstm"
    lag: int = 50
    hidden_size: int = 64
    num_layers: int = 1
    copy_symbols: int = 5             # k
    copy_alphabet: int = 8            # n
    batch_size: int = 64
    lr: float | None = None           # None: the task's default (TASK_DEFAULTS)
    clip_norm: float = 1.0
    max_steps: int | None = None      # None: the task's default (TASK_DEFAULTS)
    max_seconds: float | None = None
    eval_every: int = 50
    eval_size: int = 1000
    seed: int = 0
    num_threads: int | None = None    # torch threads while training (None: leave as is)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise RnnlabError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}")
        for name, value in TASK_DEFAULTS[self.task].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        get_cell(self.cell)        # any registered cell; an unknown name lists them
        for name in ("lag", "hidden_size", "num_layers", "copy_symbols", "batch_size",
                     "eval_every", "eval_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RnnlabError(f"{name} must be a positive integer, got {value!r}")
        if self.task == "adding" and self.lag < 2:
            raise RnnlabError(f"the adding problem needs lag >= 2 (one marker per half), "
                              f"got {self.lag}")
        if not isinstance(self.copy_alphabet, int) or self.copy_alphabet < 2:
            raise RnnlabError(f"copy_alphabet must be an integer >= 2, got {self.copy_alphabet!r}")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) \
                or self.max_steps < 1:
            raise RnnlabError(f"max_steps must be a positive integer, got {self.max_steps!r}")
        if not self.lr > 0:
            raise RnnlabError(f"lr must be > 0, got {self.lr}")
        if not self.clip_norm > 0:
            raise RnnlabError(f"clip_norm must be > 0, got {self.clip_norm}")
        if self.num_threads is not None and (not isinstance(self.num_threads, int)
                                             or self.num_threads < 1):
            raise RnnlabError(f"num_threads must be a positive integer, got {self.num_threads!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise RnnlabError(f"max_seconds must be > 0, got {self.max_seconds}")

    @property
    def seq_len(self) -> int:
        if self.task == "adding":
            return self.lag
        return 2 * self.copy_symbols + self.lag

    @property
    def higher_is_better(self) -> bool:
        return self.task == "copy"

    @property
    def threshold(self) -> float:
        return ADDING_SOLVED_MSE if self.task == "adding" else COPY_SOLVED_ACCURACY

    @property
    def metric_name(self) -> str:
        return "mse" if self.task == "adding" else "accuracy"

    def solved(self, metric: float) -> bool:
        if self.task == "adding":
            return metric < self.threshold
        return metric >= self.threshold


# -- data ----------------------------------------------------------------------------------------
def adding_batch(batch_size: int, lag: int, generator):
    """inputs (B, lag, 2) float32, targets (B,) float32: the sum of the two marked values."""
    import torch

    values = torch.rand(batch_size, lag, generator=generator)                       # (B, T)
    half = lag // 2
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, lag, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, lag)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]                            # (B,)
    return torch.stack([values, markers], dim=2), targets


def copy_batch(batch_size: int, lag: int, symbols: int, alphabet: int, generator):
    """inputs (B, T, alphabet+2) one-hot float32, targets (B, T) int64, T = 2·symbols + lag.

    Token ids: 0 blank, 1..alphabet the symbols, alphabet+1 the marker ("recall now").
    """
    import torch
    from torch.nn import functional as F

    length = 2 * symbols + lag
    data = torch.randint(1, alphabet + 1, (batch_size, symbols), generator=generator)
    ids = torch.zeros(batch_size, length, dtype=torch.long)
    ids[:, :symbols] = data
    ids[:, symbols + lag - 1] = alphabet + 1
    targets = torch.zeros(batch_size, length, dtype=torch.long)
    targets[:, symbols + lag:] = data
    return F.one_hot(ids, alphabet + 2).float(), targets


def make_batch(config: LongRangeConfig, batch_size: int, generator):
    if config.task == "adding":
        return adding_batch(batch_size, config.lag, generator)
    return copy_batch(batch_size, config.lag, config.copy_symbols, config.copy_alphabet,
                      generator)


# -- model and metrics ---------------------------------------------------------------------------
def build_task_model(config: LongRangeConfig):
    """Adding: encoder → last step → Linear(F, 1). Copy: encoder → Linear(F, n+2) per step."""
    from rnnlab.diagnostics.params import ModelSpec, build_model

    if config.task == "adding":
        spec = ModelSpec(cell=config.cell, input_size=2, hidden_size=config.hidden_size,
                         num_layers=config.num_layers, head="classifier", output_size=1)
    else:
        classes = config.copy_alphabet + 2
        spec = ModelSpec(cell=config.cell, input_size=classes, hidden_size=config.hidden_size,
                         num_layers=config.num_layers, head="tagger", output_size=classes)
    return build_model(spec)


def task_loss(config: LongRangeConfig, outputs, targets):
    from torch.nn import functional as F

    if config.task == "adding":
        return F.mse_loss(outputs.squeeze(-1), targets)
    # Only the recall steps carry information (every other target is a blank); averaging over
    # them alone keeps the signal from being diluted by 2k + lag - k trivial positions.
    recall = slice(config.copy_symbols + config.lag, None)
    outputs, targets = outputs[:, recall], targets[:, recall]
    return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))


def task_metric(config: LongRangeConfig, outputs, targets) -> float:
    """Adding: MSE. Copy: accuracy over the recalled symbols only."""
    if config.task == "adding":
        return float(((outputs.squeeze(-1) - targets) ** 2).mean())
    recall = slice(config.copy_symbols + config.lag, None)
    predicted = outputs[:, recall].argmax(dim=-1)
    return float((predicted == targets[:, recall]).float().mean())


def trivial_metric(config: LongRangeConfig, targets) -> float:
    """The best input-blind predictor: the constant 1 (adding), the most frequent symbol (copy)."""
    import torch

    if config.task == "adding":
        return float(((torch.ones_like(targets) - targets) ** 2).mean())
    recall = targets[:, config.copy_symbols + config.lag:]
    counts = torch.bincount(recall.reshape(-1), minlength=config.copy_alphabet + 1)
    return float(counts.max()) / recall.numel()


# -- training ------------------------------------------------------------------------------------
@dataclass
class LongRangeResult:
    task: str
    cell: str
    lag: int
    metric_name: str
    metric: float                     # best evaluated value
    trivial: float                    # the input-blind baseline on the same evaluation set
    threshold: float
    solved: bool
    steps: int                        # steps run (early stop when solved)
    seconds: float
    solved_at_step: int | None
    history: list[tuple[int, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def train_long_range(config: LongRangeConfig, progress=None) -> LongRangeResult:
    """Train one model on one task at one lag; stop when solved or the budget is spent.

    With `num_threads` set, torch uses that many threads for the run (restored afterwards):
    these models are small, and one thread avoids oversubscribing a shared machine.
    """
    import torch

    if config.num_threads is None:
        return _train(config, progress)
    previous = torch.get_num_threads()
    torch.set_num_threads(config.num_threads)
    try:
        return _train(config, progress)
    finally:
        torch.set_num_threads(previous)


def _train(config: LongRangeConfig, progress) -> LongRangeResult:
    import torch

    torch.manual_seed(config.seed)
    train_gen = torch.Generator().manual_seed(config.seed)
    eval_gen = torch.Generator().manual_seed(10_000 + config.seed)   # disjoint stream
    eval_inputs, eval_targets = make_batch(config, config.eval_size, eval_gen)
    model = build_task_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    trivial = trivial_metric(config, eval_targets)
    best = -math.inf if config.higher_is_better else math.inf
    history: list[tuple[int, float]] = []
    solved_at = None
    start = time.perf_counter()
    step = 0
    while step < config.max_steps:
        if config.max_seconds is not None and time.perf_counter() - start >= config.max_seconds:
            break
        model.train()
        inputs, targets = make_batch(config, config.batch_size, train_gen)
        loss = task_loss(config, model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
        optimizer.step()
        step += 1
        if step % config.eval_every == 0 or step == config.max_steps:
            metric = _evaluate(model, config, eval_inputs, eval_targets)
            history.append((step, metric))
            best = max(best, metric) if config.higher_is_better else min(best, metric)
            if progress is not None:
                progress(config, step, metric)
            if config.solved(metric):
                solved_at = step
                break
    if not history or history[-1][0] != step:     # the time budget ended between evaluations
        metric = _evaluate(model, config, eval_inputs, eval_targets)
        history.append((step, metric))
        best = max(best, metric) if config.higher_is_better else min(best, metric)
    return LongRangeResult(config.task, config.cell, config.lag, config.metric_name, best,
                           trivial, config.threshold, config.solved(best), step,
                           time.perf_counter() - start, solved_at, history)


def _evaluate(model, config: LongRangeConfig, inputs, targets) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        outputs = model(inputs)
    return task_metric(config, outputs, targets)


def run_sweep(base: LongRangeConfig, cells, lags, progress=None) -> list[LongRangeResult]:
    """Every cell at every lag, each trained from scratch with the same budget and seed."""
    results = []
    for cell in cells:
        for lag in lags:
            config = LongRangeConfig(**{**asdict(base), "cell": cell, "lag": lag})
            results.append(train_long_range(config, progress))
    return results


# -- reporting -----------------------------------------------------------------------------------
def format_results(results: list[LongRangeResult]) -> str:
    """A table: one row per (cell, lag): metric, baseline, solved, steps, seconds."""
    if not results:
        return "(no results)\n"
    name = results[0].metric_name
    lines = [f"{'task':<7} {'cell':<9} {'lag':>5}  {name:>9}  {'trivial':>8}  {'solved':<6} "
             f"{'steps':>6}  {'seconds':>8}"]
    lines.append("-" * len(lines[0]))
    for r in results:
        lines.append(f"{r.task:<7} {r.cell:<9} {r.lag:>5}  {r.metric:>9.4f}  {r.trivial:>8.4f}  "
                     f"{'yes' if r.solved else 'no':<6} {r.steps:>6}  {r.seconds:>8.1f}")
    first = results[0]
    rule = "MSE < " if first.task == "adding" else "accuracy >= "
    lines.append(f"solved: {rule}{first.threshold}; trivial = the best input-blind predictor "
                 "on the same evaluation set")
    return "\n".join(lines) + "\n"


def plot_results(results: list[LongRangeResult], path: str | Path) -> Path:
    """PNG: the metric against the lag, one line per cell, with threshold and baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for cell in dict.fromkeys(r.cell for r in results):
        rows = sorted((r.lag, r.metric) for r in results if r.cell == cell)
        ax.plot([lag for lag, _ in rows], [m for _, m in rows], marker="o", label=cell)
    first = results[0]
    ax.axhline(first.threshold, color="black", linestyle="--", linewidth=1,
               label=f"solved ({'<' if first.task == 'adding' else '≥'} {first.threshold})")
    trivial = sum(r.trivial for r in results) / len(results)
    ax.axhline(trivial, color="grey", linestyle=":", linewidth=1,
               label=f"trivial predictor ({trivial:.3f})")
    ax.set_xscale("log")
    lags = sorted({r.lag for r in results})
    ax.set_xticks(lags)
    ax.set_xticklabels([str(lag) for lag in lags])
    ax.minorticks_off()
    if first.task == "adding":
        ax.set_yscale("log")
    ax.set_xlabel("lag (time steps to remember across)")
    ax.set_ylabel("test MSE" if first.task == "adding" else "recall accuracy")
    ax.set_title(f"{first.task} task: best {first.metric_name} within the budget")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


def save_results(results: list[LongRangeResult], path: str | Path) -> Path:
    """Write the results as JSON (atomically)."""
    from rnnlab.train import checkpoint

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_write_json(path, {"results": [r.to_dict() for r in results]})
    return path
