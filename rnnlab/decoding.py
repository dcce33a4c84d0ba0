"""Decoding: turn next-token logits into a choice, and run any recurrent generator with it.

Temperature divides the logits (T → 0 approaches greedy; T > 1 flattens), top-k keeps the k most
likely characters, top-p (nucleus) keeps the smallest set whose probability reaches p. The filters
compose in that order, as in most samplers users know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

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


Step = Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]


def sample_ids(step: Step, prompt: torch.Tensor, length: int, options: SamplingOptions,
               generator: torch.Generator | None = None, state: Any = None,
               stop_id: int | None = None) -> Iterator[torch.Tensor]:
    """Generate up to `length` ids from any recurrent generator, one step at a time.

    step(ids (B, t) int64, state) -> (logits (B, t, V), new state): the model's own forward
    call, whatever its state is (a tensor, an (h, c) pair, a decoder's attention context).
    `prompt` (B, P) is read once; each new id is fed back alone with the carried state, so the
    context is never re-read. Yields the chosen ids (B,) as they are produced; with `stop_id`,
    generation ends once every row has produced it.

    Each model call runs under no_grad on its own (not around the loop): grad mode is
    thread-local, and a generator suspended inside a `with` block would leak it into the
    caller's code.
    """
    with torch.no_grad():
        logits, state = step(prompt, state)
    finished = torch.zeros(prompt.shape[0], dtype=torch.bool, device=prompt.device)
    for _ in range(length):
        next_ids = choose_next(logits[:, -1], options, generator)        # (B,)
        yield next_ids
        if stop_id is not None:
            finished |= next_ids == stop_id
            if bool(finished.all()):
                return
        with torch.no_grad():
            logits, state = step(next_ids.unsqueeze(1), state)
