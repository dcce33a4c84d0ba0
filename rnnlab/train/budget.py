"""When a training run is finished: the first of its step, epoch and time budgets to run out.

Torch-free and import-free, so the NumPy engine and the torch trainer stop by the same rule.
"""

from __future__ import annotations


def stop_reason(step: int, train_time: float, *, max_steps: int | None = None, max_time: float | None = None,
                step_budget: int | None = None) -> str:
    """"max_steps", "max_epochs" or "max_time" once that budget is spent; "" while training goes on.

    step: optimizer steps taken so far. train_time: seconds spent in training steps (evaluation
    excluded, so evaluating never eats into the budget). step_budget: the steps that max_epochs
    allows (None: no epoch budget). None means no such budget. When several run out on the same
    step, the first in the order above is named.
    """
    if max_steps is not None and step >= max_steps:
        return "max_steps"
    if step_budget is not None and step >= step_budget:
        return "max_epochs"
    if max_time is not None and train_time >= max_time:
        return "max_time"
    return ""
