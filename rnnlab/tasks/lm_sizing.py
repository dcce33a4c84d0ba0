"""Budget-aware char-LM defaults: model size, dropout and learning rate chosen from the training
budget, the corpus size and this machine's measured speed, so that more time (or more text)
gives a better model without the user knowing what to change.

The rule works with *passes*: how many times a model can read the training text within the
budget. With a time budget each candidate size has its own passes,

    passes(size) = seconds × tokens_per_second(size) / training characters,

where each candidate's speed is measured at start-up (`calibrate`, `measure_speed`: a few
real training steps at the run's batch × BPTT and precision, 2-5 s per size, not counted in the
budget), from the ladder's calibration rung (CALIBRATION_RUNG) up while a size could still
qualify. A size not measured is estimated from the calibration rung's speed scaled by matrix
work per character (`rung_weights`: the recurrent and output weights, each used once per
character) — right within ~10% in fp32, but not under bf16 autocast, which speeds the larger
sizes up more than the small ones (on an AVX-512 BF16 CPU, GRU 2×512 ran 1.6× its fp32 speed,
2×256 1.1×), so sizes are measured wherever the choice depends on them. A step budget gives
passes = steps × batch × BPTT / characters, and an epoch budget the passes themselves, the
same for every size (the user fixed how much text is read, not the time).

The choice (`choose`, a pure function of those numbers and the run's precision): the ladder of
the precision (LADDERS: a GRU ladder swept on an fp32 machine, an LSTM ladder swept on a bf16
one — there oneDNN's bf16 LSTM runs far faster than the GRU), then its largest size whose own
passes reach its `min_passes`, with at most MAX_PARAMETERS_PER_CHAR weights per training
character; its learning rate, and its dropout once it reads the text DROPOUT_FROM_PASSES times
or more (raised by DROPOUT_FLOOR_BY_PASSES when it reads the text far more often than the
sweep saw). The ladders come from the sweeps in benchmarks/sweep_budget.py (BENCHMARKS.md,
"Char LM: the sweep behind the budget rule", one section per kind of machine); the result of
the rule, budget by budget, is in "Char LM: budget-aware defaults". Explicit options (--cell,
--hidden, --layers, --dropout, --lr, ...) always win over the rule, field by field; what it
chose, and why, is printed at start-up and written to config.json ("sizing").
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from rnnlab.errors import RnnlabError

@dataclass(frozen=True)
class Rung:
    """One model size of a ladder: a `cell` `layers` × `hidden` (embedding 64), the learning
    rate it trained best with in the sweep, the fewest passes over the text it needs to beat
    the rung below it at the same budget, and its dropout once it reads the text at least
    DROPOUT_FROM_PASSES times (none before)."""
    cell: str
    hidden: int
    layers: int
    lr: float
    min_passes: float
    dropout: float

    @property
    def name(self) -> str:
        return f"{self.cell.upper()} {self.layers}×{self.hidden}"


# fp32 (AVX2 and other CPUs without bf16), from benchmarks/sweep_budget.py on tinyshakespeare
# (BENCHMARKS.md, "Char LM: the sweep behind the budget rule", AMD EPYC; REF = 98 s, GRU 2×256
# at ~19,000 characters/s). Passes below are the rule's estimates (rung_weights), which put
# 2×384 ~10% slower than it ran:
# * 2·REF: 2×384 without dropout 1.4811, against 2×256 1.4953 (and 2×384 with dropout 0.1,
#   1.4995); there 2×384 reads the text ~1.7 times: switch to it at 1.5 passes.
# * 4·REF: 2×384 with dropout 0.15 1.4754 (0.25: 1.4950), ~3.4 passes; 2×512 at ~2 passes
#   1.4972; 2×256 (the old default) 1.4850.
# * 8·REF: 2×512 with dropout 0.2, ~3.9 passes, 1.4637: switch to it at 3 passes.
# * Dropout only between the layers and before the output: with dropout on the character
#   embeddings too (the CharLM's old default) 2×384 and 2×512 at 8·REF reached only 1.5143 and
#   1.4870. Below ~3 passes no dropout was best (2×256 and 2×384 at 2·REF).
# * The 1×128 rung serves texts too small for the others (MAX_PARAMETERS_PER_CHAR), unmeasured.
FP32_LADDER = (
    Rung("gru", hidden=128, layers=1, lr=7e-3, min_passes=0.0, dropout=0.0),
    Rung("gru", hidden=256, layers=2, lr=7e-3, min_passes=0.0, dropout=0.0),
    Rung("gru", hidden=384, layers=2, lr=5e-3, min_passes=1.5, dropout=0.15),
    Rung("gru", hidden=512, layers=2, lr=4e-3, min_passes=3.0, dropout=0.2),
)
# bf16 autocast (CPUs where bf16 measured faster, rnnlab/train/precision.py; GPUs with bf16),
# from the same sweep on an Intel Xeon with AMX (BENCHMARKS.md, "Char LM: the sweep behind the
# budget rule, bf16"; REF = 78.6 s).
# There oneDNN's bf16 LSTM ran 1.4-3× the GRU of the same width (2×384: 28,700 against 16,600
# characters/s; 2×256: 43,000-63,000), and at equal time the LSTM won at every budget tried
# (REF: 2×384 1.5171 against the GRU's 1.5251; 4·REF: 2×512 1.4526 against 1.4637), so the
# ladder is an LSTM one. Passes are the sweep's (measured speeds):
# * REF: 2×256 (4.9 passes) 1.4999; 2×384 (2.2) 1.5171; 2×512 (1.4) 1.5558, all without dropout.
# * 2·REF: 2×384 with dropout 0.15 (3.1 passes) 1.4931; 2×512 with 0.1 (2.3) 1.5014; 2×256
#   without (6.7) 1.5034, no better than at REF: switch to 2×384 at 3 passes.
# * 4·REF: 2×512 with dropout 0.2 (5.0 passes) 1.4526 (0.3: 1.4756); 2×768 with 0.3 (2.1)
#   1.4719: switch to 2×512 at 4 passes.
# * 8·REF: 2×768 with dropout 0.3 (4.4 passes) 1.4316; 2×512 with 0.3 (8.6) 1.4597: switch to
#   2×768 at 3.5 passes (between the 2.1 where it lost and the 4.4 where it won).
# * Windows stay at BPTT 32: BPTT 128 lost clearly at REF (2×256: 1.5900) and 2·REF (2×384 with
#   dropout 0.15: 1.5439; batch 32 × 128, lr 2e-3, no dropout: 1.5705) — a quarter of the updates.
BF16_LADDER = (
    Rung("lstm", hidden=128, layers=1, lr=7e-3, min_passes=0.0, dropout=0.0),
    Rung("lstm", hidden=256, layers=2, lr=7e-3, min_passes=0.0, dropout=0.0),
    Rung("lstm", hidden=384, layers=2, lr=5e-3, min_passes=3.0, dropout=0.15),
    Rung("lstm", hidden=512, layers=2, lr=4e-3, min_passes=4.0, dropout=0.2),
    Rung("lstm", hidden=768, layers=2, lr=3e-3, min_passes=3.5, dropout=0.3),
)
LADDERS = {"fp32": FP32_LADDER, "bf16": BF16_LADDER}
# The ladder's rung whose speed is measured first (rung 0 only serves tiny texts).
CALIBRATION_RUNG = 1
DROPOUT_FROM_PASSES = 3.0
# A floor under the rung's dropout when a size reads the text many more times than the sweep
# saw (the top rung on a long budget, a small text capped to a small size): (fewest passes,
# dropout), the last row reached applies. A guard, not a measurement.
DROPOUT_FLOOR_BY_PASSES = ((0.0, 0.0), (8.0, 0.25), (16.0, 0.3))
# A guard for small corpora: no size with more weights than this many per training character.
# The most the sweeps saw do best: LSTM 2×768 (7.3 M weights, dropout 0.3) on tinyshakespeare's
# 1.0 M training characters at 8·REF on the bf16 machine; beyond that, unmeasured.
MAX_PARAMETERS_PER_CHAR = 7.5
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
    tokens_per_second: float | None = None  # of the calibration rung at batch_that_fits(...)
    precision: str = "fp32"                # the run's: it picks the ladder (LADDERS)
    cell: str | None = None                # a cell the user fixed (--cell), else None
    # Sizes measured on this machine, as ((rung name, tokens/s), ...); they replace the
    # estimate scaled from tokens_per_second.
    measured: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Sizing:
    """The rule's choice, as written to config.json."""
    model: dict            # CharLMConfig fields
    train: dict            # CharLMTrainConfig fields
    passes: float          # passes over the training text the chosen size makes
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def ladder_for(budget: "Budget") -> tuple[Rung, ...]:
    """The precision's ladder; with a cell fixed by the user, the ladder swept with that cell
    (GRU: the fp32 one, LSTM: the bf16 one), else the precision's ladder in that cell (its
    speeds are measured in that cell; its pass thresholds are the GRU's or LSTM's, untested
    for other cells)."""
    if budget.precision not in LADDERS:
        raise ValueError(f"no ladder for precision {budget.precision!r}")
    if budget.cell is None:
        return LADDERS[budget.precision]
    for ladder in (LADDERS[budget.precision], *LADDERS.values()):
        if ladder[0].cell == budget.cell:
            return ladder
    return tuple(replace(rung, cell=budget.cell) for rung in LADDERS[budget.precision])


def rung_weights(vocab_size: int, rung: Rung, embedding: int = EMBEDDING) -> int:
    """Weights used once per character: the recurrent layers (exact, from the cell registry's
    parameter formula, as `rnnlab params` counts them) and the output layer (not the
    embedding, a lookup)."""
    from rnnlab.diagnostics.params import recurrent_parameters

    return (recurrent_parameters(rung.cell, embedding, rung.hidden, rung.layers)
            + vocab_size * (rung.hidden + 1))


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
        candidates.append(budget.max_time * speed_of(rung, budget, vocab_size)
                          / budget.train_chars)
    if not candidates:
        raise ValueError("no budget given")
    return min(candidates)


def speed_of(rung: Rung, budget: Budget, vocab_size: int) -> float:
    """Training characters per second of `rung`: measured, or else the calibration model's
    speed scaled by work per character."""
    measured = dict(budget.measured)
    if rung.name in measured:
        return measured[rung.name]
    reference = ladder_for(budget)[CALIBRATION_RUNG]
    return (budget.tokens_per_second * rung_weights(vocab_size, reference)
            / rung_weights(vocab_size, rung))


def calibrate(budget: Budget, vocab_size: int, measure) -> Budget:
    """`budget` with the speeds the time-budget choice needs: `measure(rung)` → tokens/s,
    called for the calibration rung, then for each larger rung that fits the corpus and could
    still qualify. A rung runs no faster than the last one measured below it, so a rung that
    misses its min_passes even at that speed is skipped unmeasured (and `choose` leaves it
    out); the ladder's minimum passes need not grow with size."""
    ladder = ladder_for(budget)
    speed = measure(ladder[CALIBRATION_RUNG])
    measured = [(ladder[CALIBRATION_RUNG].name, speed)]
    for rung in ladder[CALIBRATION_RUNG + 1:]:
        if rung_weights(vocab_size, rung) > MAX_PARAMETERS_PER_CHAR * budget.train_chars:
            break                      # larger rungs do not fit either
        if budget.max_time * speed / budget.train_chars < rung.min_passes:
            continue                   # cannot qualify, even at the speed bound
        speed = measure(rung)
        measured.append((rung.name, speed))
    return replace(budget, tokens_per_second=measured[0][1], measured=tuple(measured))


def dropout_for(rung: Rung, passes: float) -> float:
    floor = [dropout for least, dropout in DROPOUT_FLOOR_BY_PASSES if passes >= least][-1]
    return max(rung.dropout if passes >= DROPOUT_FROM_PASSES else 0.0, floor)


def choose(budget: Budget, vocab_size: int) -> Sizing:
    """The configuration for this budget, corpus and speed (pure: same numbers, same choice)."""
    ladder = ladder_for(budget)
    fitting = [rung for rung in ladder
               if rung_weights(vocab_size, rung) <= MAX_PARAMETERS_PER_CHAR * budget.train_chars]
    if not fitting:
        fitting = [ladder[0]]
    # After `calibrate`, a rung above the calibration rung that was not measured could not
    # qualify; without measurements (tests, step and epoch budgets) every rung is considered.
    measured = dict(budget.measured)
    considered = [rung for rung in fitting if not measured or rung.name in measured
                  or ladder.index(rung) <= CALIBRATION_RUNG]
    chosen = considered[0]
    for rung in considered[1:]:
        if passes_for(rung, budget, vocab_size) >= rung.min_passes:
            chosen = rung
    passes = passes_for(chosen, budget, vocab_size)
    dropout = dropout_for(chosen, passes)
    batch = batch_that_fits(budget.train_chars, budget.batch_size, budget.bptt)
    limited = " (the corpus is too small for a larger one)" if len(fitting) < len(ladder) else ""
    reason = (f"{_describe_budget(budget)} → {chosen.name}{limited} reads the "
              f"{budget.train_chars:,} training characters {passes:.1f} times: dropout "
              f"{dropout:g}, lr {chosen.lr:g}")
    if batch != budget.batch_size:
        reason += f", batch {batch} (a batch of {budget.batch_size} does not fit the text)"
    return Sizing(model={"cell": chosen.cell, "embedding_size": EMBEDDING,
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
        speeds = ", ".join(f"{name} {speed:,.0f}" for name, speed in budget.measured) or \
            f"{ladder_for(budget)[CALIBRATION_RUNG].name} {budget.tokens_per_second:,.0f}"
        parts.append(f"{budget.max_time:g} s at measured characters/s ({budget.precision}): "
                     f"{speeds}")
    if budget.max_steps is not None:
        parts.append(f"{budget.max_steps:,} steps")
    if budget.max_epochs is not None:
        parts.append(f"{budget.max_epochs:g} epochs")
    return " or ".join(parts)


# --------------------------------------------------------------------------------------------
# Calibration


def measure_speed(model_config, batch_size: int, bptt: int, train_ids: np.ndarray,
                  steps: int = 20, warmup: int = 5, device=None, precision: str = "fp32") -> float:
    """Training characters per second of `model_config` on this machine: `warmup` + `steps`
    real training steps (forward and loss under the run's `precision`, backward, clipping,
    AdamW) on windows of the text, timed one by one; the median step decides (the first steps
    of a process run slower while memory and kernels are set up, and a busy moment should not
    pick the model). The random state is restored afterwards, so a run's numbers do not depend
    on the calibration."""
    import torch
    from torch.nn import functional as F

    from rnnlab.data.streams import StreamBatcher
    from rnnlab.models.lm import CharLM, detach_state
    from rnnlab.train.precision import autocast
    from rnnlab.train.run import synchronize

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
            synchronize(device)
            started = time.perf_counter()
            window = batcher.next_window()
            x, y = window.x, window.y
            if device is not None:
                x, y = x.to(device), y.to(device)
            with autocast(precision, torch.device(device or "cpu")):
                logits, state = model(x, None if window.reset_state else state)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            state = detach_state(state)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            synchronize(device)
            if step >= warmup:
                seconds.append(time.perf_counter() - started)
        return batch_size * bptt / float(np.median(seconds))
