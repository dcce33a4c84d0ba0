"""Decoding: turn next-character logits into a choice.

Temperature divides the logits (T → 0 approaches greedy; T > 1 flattens), top-k keeps the k most
likely characters, top-p (nucleus) keeps the smallest set whose probability reaches p. The filters
compose in that order, as in most samplers users know.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnlab.errors import RnnlabError

# Below this temperature, dividing float32 logits risks overflow and the distribution is a
# point mass anyway, so we decode greedily.
GREEDY_TEMPERATURE = 1e-6


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise RnnlabError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise RnnlabError(f"top-k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise RnnlabError(f"top-p must be in (0, 1], got {self.top_p}")

    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature <= GREEDY_TEMPERATURE


def filtered_logits(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """logits (..., V) -> logits with excluded characters set to -inf (temperature applied)."""
    logits = logits.float() / max(options.temperature, GREEDY_TEMPERATURE)
    if options.top_k is not None and options.top_k < logits.shape[-1]:
        kth = torch.topk(logits, options.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p is not None and options.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Mass strictly before each entry: an entry is kept while that mass is still < p, so
        # the most likely character is always kept.
        mass_before = torch.cumsum(probs, dim=-1) - probs
        drop_sorted = mass_before >= options.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def choose_next(logits: torch.Tensor, options: SamplingOptions,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """logits (B, V) -> chosen ids (B,)."""
    if options.is_greedy:
        return logits.argmax(dim=-1)
    probs = torch.softmax(filtered_logits(logits, options), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
