"""The optimizer every PyTorch training loop of rnnlab uses: AdamW with decay on matrices only."""

from __future__ import annotations

import torch
from torch import nn


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
