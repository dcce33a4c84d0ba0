"""Learning-rate schedule: linear warm-up, then cosine decay to a floor.

Progress can be measured in steps or in wall-clock time (for `--max-time` budgets), so a run
with a time budget still ends its decay when its time is up.
"""

from __future__ import annotations

import math


def warmup_cosine(progress: float, step: int, *, base_lr: float, warmup_steps: int,
                  min_lr_ratio: float) -> float:
    """The learning rate at `step` (0-based) given `progress` in [0, 1] through the run.

    Warm-up is counted in steps (it guards the first updates, whatever the budget); after it the
    rate follows half a cosine from base_lr down to base_lr * min_lr_ratio as progress goes 0 → 1.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = min(max(progress, 0.0), 1.0)
    floor = base_lr * min_lr_ratio
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def run_progress(step: int, decay_steps: int | None, train_time: float,
                 max_time: float | None) -> float:
    """How far through its budget a run is, in [0, ∞): the further of steps and time.

    A run with both a step and a time budget ends its decay at whichever it reaches first.
    """
    parts = []
    if decay_steps:
        parts.append(step / decay_steps)
    if max_time:
        parts.append(train_time / max_time)
    return max(parts) if parts else 0.0
