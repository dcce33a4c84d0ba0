"""What every PyTorch training loop of rnnlab shares: AdamW with decay on matrices only, and the
update step (loss check, backward, clipping, step)."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from rnnlab.errors import TrainingDiverged


def make_adamw(model: nn.Module, lr: float, weight_decay: float,
               betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.AdamW:
    """AdamW whose weight decay shrinks weight matrices only.

    Biases, norm gains and embedding tables are left alone: decaying them pulls rare tokens'
    vectors toward zero and fights the normalisation, with no regularising benefit.
    """
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        is_matrix = parameter.ndim >= 2 and "embedding" not in name
        (decay if is_matrix else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    try:
        # The fused kernel is several times faster on CPU (measured 6x for a 4.4M-parameter
        # embedding table on one thread), which matters with large vocabularies.
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, lr=lr, betas=betas)


def apply_update(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, *,
                 lr: float, clip_norm: float | None, step: int, run_dir,
                 all_finite: Callable[[bool], bool] = bool) -> float:
    """One optimisation step from a scalar loss: check it, backpropagate, clip, update.

    A NaN or infinite loss raises TrainingDiverged before anything changes, so the last saved
    checkpoint stays the last good one. `step` is the number of the step being taken (1-based).
    `all_finite` turns this process's verdict into all processes' (a NaN on one rank of a
    distributed run stops every rank, rather than leaving the others waiting in backward).
    Returns the loss as a float.
    """
    loss_value = loss.item()
    if not all_finite(math.isfinite(loss_value)):
        where = loss_value if not math.isfinite(loss_value) else "non-finite on another process"
        raise TrainingDiverged(
            f"loss became {where} at step {step} (lr {lr:.3g}); the last saved checkpoint "
            f"in {run_dir} is kept — resume it with a lower --lr or a smaller --clip-norm")
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return loss_value
