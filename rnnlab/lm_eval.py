"""Held-out evaluation of a character language model over a whole text.

The loss is the mean negative log-likelihood per predicted character (nats/char), over every
character of the split but the first (which has no context); bits/char and perplexity follow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from rnnlab.data.streams import eval_windows
from rnnlab.models.lm import CharLM, select_rows
from rnnlab.train.precision import autocast


@dataclass(frozen=True)
class LMScore:
    nats_per_char: float
    num_chars: int

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_char)

    def as_dict(self) -> dict:
        return {"nats_per_char": self.nats_per_char, "bits_per_char": self.bits_per_char,
                "perplexity": self.perplexity, "num_chars": self.num_chars}

    def summary(self) -> str:
        return (f"{self.nats_per_char:.4f} nats/char, {self.bits_per_char:.4f} bits/char, "
                f"perplexity {self.perplexity:.3f} over {self.num_chars:,} characters")


@torch.no_grad()
def evaluate_lm(model: CharLM, ids: np.ndarray, batch_size: int = 64, bptt: int = 256,
                precision: str = "fp32", device: torch.device | None = None) -> LMScore:
    """Mean loss over every target of `ids` (N,), carrying state along each stream."""
    device = device or torch.device("cpu")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    state = None
    try:
        for window in eval_windows(ids, batch_size, bptt):
            if window.reset_state:
                state = None
            x, y = window.x.to(device), window.y.to(device)
            with autocast(precision, device):
                logits, state = model(x, state)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1),
                                   reduction="sum")
            total += loss.item()
            count += y.numel()
    finally:
        model.train(was_training)
    return LMScore(total / count, count)
