"""Budget-aware char-LM defaults: model size, dropout and learning rate chosen from the training
budget, the corpus size and this machine's measured speed, so that more time (or more text)
gives a better model without the user knowing what to change.

The rule works with *passes*: how many times a model can read the training text within the
budget. With a time budget each candidate size has its own passes,

    passes(size) = seconds × tokens_per_second(size) / training characters,

where the calibration model's speed (CALIBRATION_MODEL, GRU 2×256, at the run's batch × BPTT)
is measured at start-up (`measure_speed`: a few real training steps, about 3 s, not counted in
the budget) and scaled to the other sizes by their matrix work per character
(`work_per_char`: the recurrent and output weights, each used once per character). A step
budget gives passes = steps × batch × BPTT / characters, and an epoch budget the passes
themselves, the same for every size (the user fixed how much text is read, not the time).

The choice (`choose`, a pure function of those numbers): the largest size of LADDER whose own
passes reach its `min_passes`, and with at most MAX_PARAMETERS_PER_CHAR weights per training
character; its learning rate, and its dropout once it reads the text DROPOUT_FROM_PASSES times
or more (raised by DROPOUT_FLOOR_BY_PASSES when it reads the text far more often than the
sweep saw). The ladder comes from the sweep in
benchmarks/sweep_budget.py (BENCHMARKS.md, "Char LM: the sweep behind the budget rule"); the
result of the rule, budget by budget, is in "Char LM: budget-aware defaults". Explicit options (--hidden, --layers, --dropout, --lr, ...) always win over the
rule; what it chose, and why, is printed at start-up and written to config.json ("sizing").
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from rnnlab.errors import RnnlabError

# The model whose speed is measured, and the size used when the rule is off.
CALIBRATION_MODEL = {"cell": "gru", "embedding_size": 64, "hidden_size": 256, "num_layers": 2}


@dataclass(frozen=True)
class Rung:
    """One model size of the ladder: a GRU `layers` × `hidden` (embedding 64), the learning
    rate it trained best with in the sweep, the fewest passes over the text it needs to beat
    the rung below it at the same budget, and its dropout once it reads the text at least
    DROPOUT_FROM_PASSES times (none before)."""
    hidden: int
    layers: int
    lr: float
    min_passes: float
    dropout: float

    @property
    def name(self) -> str:
        return f"{self.layers}×{self.hidden}"


# From benchmarks/sweep_budget.py on tinyshakespeare (BENCHMARKS.md, "Char LM: the sweep behind
# the budget rule"; REF = 98 s, GRU 2×256 at ~19,000 characters/s). Passes below are the rule's
# estimates (work_per_char), which put 2×384 ~10% slower than it ran:
# * 2·REF: 2×384 without dropout 1.4811, against 2×256 1.4953 (and 2×384 with dropout 0.1,
#   1.4995); there 2×384 reads the text ~1.7 times: switch to it at 1.5 passes.
# * 4·REF: 2×384 with dropout 0.15 1.4754 (0.25: 1.4950), ~3.4 passes; 2×512 at ~2 passes
#   1.4972; 2×256 (the old default) 1.4850.
# * 8·REF: 2×512 with dropout 0.2, ~3.9 passes, 1.4637: switch to it at 3 passes.
# * Dropout only between the layers and before the output: with dropout on the character
#   embeddings too (the CharLM's old default) 2×384 and 2×512 at 8·REF reached only 1.5143 and
#   1.4870. Below ~3 passes no dropout was best (2×256 and 2×384 at 2·REF).
# * The 1×128 rung serves texts too small for the others (MAX_PARAMETERS_PER_CHAR), unmeasured.
LADDER = (
    Rung(hidden=128, layers=1, lr=7e-3, min_passes=0.0, dropout=0.0),
    Rung(hidden=256, layers=2, lr=7e-3, min_passes=0.0, dropout=0.0),
    Rung(hidden=384, layers=2, lr=5e-3, min_passes=1.5, dropout=0.15),
    Rung(hidden=512, layers=2, lr=4e-3, min_passes=3.0, dropout=0.2),
)
DROPOUT_FROM_PASSES = 3.0
# A floor under the rung's dropout when a size reads the text many more times than the sweep
# saw (the top rung on a long budget, a small text capped to a small size): (fewest passes,
# dropout), the last row reached applies. A guard, not a measurement.
DROPOUT_FLOOR_BY_PASSES = ((0.0, 0.0), (8.0, 0.25), (16.0, 0.3))
# A guard for small corpora, not a measurement: no size with more weights than this many per
# training character (2×512, 2.5 M weights, needs 1 M characters).
MAX_PARAMETERS_PER_CHAR = 2.5
EMBEDDING = 64


@dataclass(frozen=True)
class Budget:
    """What the rule needs to know about the run."""
    train_chars: int
    batch_size: int
    bptt: int
    max_time: float | None = None          # seconds
    max_steps: int | None = None
    max_epochs: float | None = None
    tokens_per_second: float | None = None  # of CALIBRATION_MODEL at batch_that_fits(...)


@dataclass(frozen=True)
class Sizing:
    """The rule's choice, as written to config.json."""
    model: dict            # CharLMConfig fields
    train: dict            # CharLMTrainConfig fields
    passes: float          # passes over the training text the chosen size makes
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def gru_weights(vocab_size: int, hidden: int, layers: int, embedding: int = EMBEDDING) -> int:
    """Weights used once per character: the GRU layers and the output layer (not the
    embedding, a lookup)."""
    recurrent = sum(3 * hidden * ((embedding if layer == 0 else hidden) + hidden + 2)
                    for layer in range(layers))
    return recurrent + vocab_size * (hidden + 1)


def work_per_char(vocab_size: int, rung: Rung) -> int:
    return gru_weights(vocab_size, rung.hidden, rung.layers)


def passes_for(rung: Rung, budget: Budget, vocab_size: int) -> float:
    """How many times `rung` reads the training text within the budget (the least of the
    budgets given)."""
    candidates = []
    if budget.max_epochs is not None:
        candidates.append(float(budget.max_epochs))
    if budget.max_steps is not None:
        batch = batch_that_fits(budget.train_chars, budget.batch_size, budget.bptt)
        candidates.append(budget.max_steps * batch * budget.bptt / budget.train_chars)
    if budget.max_time is not None:
        if budget.tokens_per_second is None:
            raise ValueError("a time budget needs the measured tokens_per_second")
        reference = gru_weights(vocab_size, CALIBRATION_MODEL["hidden_size"],
                                CALIBRATION_MODEL["num_layers"])
        speed = budget.tokens_per_second * reference / work_per_char(vocab_size, rung)
        candidates.append(budget.max_time * speed / budget.train_chars)
    if not candidates:
        raise ValueError("no budget given")
    return min(candidates)


def dropout_for(rung: Rung, passes: float) -> float:
    floor = [dropout for least, dropout in DROPOUT_FLOOR_BY_PASSES if passes >= least][-1]
    return max(rung.dropout if passes >= DROPOUT_FROM_PASSES else 0.0, floor)


def choose(budget: Budget, vocab_size: int) -> Sizing:
    """The configuration for this budget, corpus and speed (pure: same numbers, same choice)."""
    fitting = [rung for rung in LADDER
               if gru_weights(vocab_size, rung.hidden, rung.layers)
               <= MAX_PARAMETERS_PER_CHAR * budget.train_chars]
    if not fitting:
        fitting = [LADDER[0]]
    chosen = fitting[0]
    for rung in fitting[1:]:
        if passes_for(rung, budget, vocab_size) >= rung.min_passes:
            chosen = rung
    passes = passes_for(chosen, budget, vocab_size)
    dropout = dropout_for(chosen, passes)
    batch = batch_that_fits(budget.train_chars, budget.batch_size, budget.bptt)
    limited = " (the corpus is too small for a larger one)" if len(fitting) < len(LADDER) else ""
    reason = (f"{_describe_budget(budget)} → GRU {chosen.name}{limited} reads the "
              f"{budget.train_chars:,} training characters {passes:.1f} times: dropout "
              f"{dropout:g}, lr {chosen.lr:g}")
    if batch != budget.batch_size:
        reason += f", batch {batch} (a batch of {budget.batch_size} does not fit the text)"
    return Sizing(model={"cell": "gru", "embedding_size": EMBEDDING,
                         "hidden_size": chosen.hidden, "num_layers": chosen.layers,
                         "dropout": dropout, "embedding_dropout": 0.0},
                  train={"lr": chosen.lr, "batch_size": batch},
                  passes=round(passes, 4), reason=reason)


def batch_that_fits(train_chars: int, batch_size: int, bptt: int) -> int:
    """`batch_size`, halved (never below 1) until every stream has at least 4 windows."""
    batch = batch_size
    while batch > 1 and train_chars < batch * bptt * 4 + 1:
        batch //= 2
    return batch


def _describe_budget(budget: Budget) -> str:
    parts = []
    if budget.max_time is not None:
        parts.append(f"{budget.max_time:g} s at {budget.tokens_per_second:,.0f} characters/s "
                     f"(GRU 2×256, measured)")
    if budget.max_steps is not None:
        parts.append(f"{budget.max_steps:,} steps")
    if budget.max_epochs is not None:
        parts.append(f"{budget.max_epochs:g} epochs")
    return " or ".join(parts)


# --------------------------------------------------------------------------------------------
# Calibration


def measure_speed(model_config, batch_size: int, bptt: int, train_ids: np.ndarray,
                  steps: int = 20, warmup: int = 5, device=None) -> float:
    """Training characters per second of `model_config` on this machine: `warmup` + `steps`
    real training steps (forward, backward, clipping, AdamW) on windows of the text, timed one
    by one; the median step decides (the first steps of a process run slower while memory
    and kernels are set up, and a busy moment should not pick the model). The random state
    is restored afterwards, so a run's numbers do not depend on the calibration."""
    import torch
    from torch.nn import functional as F

    from rnnlab.data.streams import StreamBatcher
    from rnnlab.models.lm import CharLM, detach_state

    if len(train_ids) < batch_size * bptt + 1:
        raise RnnlabError(f"cannot measure the speed: {len(train_ids):,} characters are fewer "
                          f"than one batch of {batch_size} × {bptt}")
    with torch.random.fork_rng(devices=[]):
        model = CharLM(model_config)
        if device is not None:
            model = model.to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        batcher = StreamBatcher(train_ids, batch_size, bptt)
        state, seconds = None, []
        for step in range(warmup + steps):
            _synchronize(device)
            started = time.perf_counter()
            window = batcher.next_window()
            x, y = window.x, window.y
            if device is not None:
                x, y = x.to(device), y.to(device)
            logits, state = model(x, None if window.reset_state else state)
            state = detach_state(state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            _synchronize(device)
            if step >= warmup:
                seconds.append(time.perf_counter() - started)
        return batch_size * bptt / float(np.median(seconds))


def _synchronize(device) -> None:
    import torch

    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()
