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


# --------------------------------------------------------------------------------------------
# Search: greedy and beam search over a sequence-to-sequence decoder
#
# The decoder is any object with
#     step(ids (N,), state) -> (log-probabilities (N, V), new state)
#     expand(state, k)      -> each row repeated k times, consecutively (B rows -> B·k)
#     reorder(state, index) -> the rows `index` (N,) of the state; beam search only ever
#                              permutes rows within one sentence's block of k rows
# (rnnlab.models.seq2seq.Translator is one). All sentences of a batch are searched together;
# each row's result depends only on its own source, so a sentence searched alone or inside a
# batch gets the same hypothesis.
#
# Scores. A hypothesis's log-probability is the sum of its tokens' log-probabilities, the end
# token </s> included. Beam search ranks finished hypotheses by
#     score = log P(y | x) / lp(y),   lp(y) = ((5 + |y|) / 6) ** alpha     (Wu et al. 2016, GNMT)
# with |y| counting </s>; alpha = 0 is the raw log-probability, larger alpha favours longer
# output (the raw sum always prefers short hypotheses). Greedy output is scored the same way.
#
# Length. A hypothesis for a source of n tokens holds at most floor(ratio · n) + extra tokens
# before </s>; at that length </s> is the only token allowed (its real log-probability counts).
# The options (beam size, alpha, ratio, extra) are `SearchOptions`, kept torch-free with the
# model configs so that the CLI reads its defaults without importing torch.

from rnnlab.models.configs import SearchOptions  # noqa: E402  (re-exported)


@dataclass
class Hypothesis:
    ids: list[int]            # output tokens, without <s> and </s>
    log_prob: float           # log P(ids </s> | source) under the model
    score: float              # log_prob / lp (see above)
    truncated: bool           # True: it reached its maximum length (</s> was then forced)


def length_penalty(length: torch.Tensor | int, alpha: float):
    """GNMT's lp = ((5 + length) / 6) ** alpha (length counts </s>)."""
    return ((5.0 + length) / 6.0) ** alpha


def greedy_search(decoder: Any, state: Any, max_lengths: torch.Tensor, bos_id: int,
                  eos_id: int, alpha: float = 0.0) -> list[Hypothesis]:
    """The most likely next token at every step, for every row of `state` (B rows).

    max_lengths (B,): tokens allowed before </s>. Stops when every row has produced </s>."""
    batch = max_lengths.shape[0]
    device = _device_of(state)
    limits = max_lengths.to(device)
    ids = torch.full((batch,), bos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    log_prob = torch.zeros(batch, dtype=torch.float32, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    tokens = []
    for t in range(int(limits.max()) + 1):
        with torch.no_grad():
            logp, state = decoder.step(ids, state)                     # (B, V)
        logp = _force_end(logp, t >= limits, eos_id)
        best_logp, ids = logp.max(dim=-1)                              # (B,), (B,)
        log_prob += torch.where(finished, 0.0, best_logp)
        lengths += (~finished).long()
        ids = torch.where(finished, eos_id, ids)
        tokens.append(ids)
        finished |= ids == eos_id
        if bool(finished.all()):
            break
    steps = torch.stack(tokens, dim=1).tolist()                       # (B, t)
    return [_hypothesis(steps[row], float(log_prob[row]), int(lengths[row]),
                        int(max_lengths[row]), alpha) for row in range(batch)]


def beam_search(decoder: Any, state: Any, max_lengths: torch.Tensor, bos_id: int, eos_id: int,
                options: SearchOptions) -> list[Hypothesis]:
    """The best hypothesis of a beam of `options.beam_size` for every row of `state` (B rows).

    All B·K hypotheses advance together. A hypothesis that produced </s> is finished: it stays
    in the beam with its score frozen (its only continuation costs nothing and changes
    nothing) until better ones push it out. The search stops when every hypothesis of every
    sentence has finished (or reached its maximum length); the final pick is by
    length-penalised score. With beam_size 1 this is greedy search, step for step."""
    k = options.beam_size
    batch = max_lengths.shape[0]
    device = _device_of(state)
    limits = max_lengths.to(device).unsqueeze(1)                       # (B, 1)
    initial = state
    state = decoder.expand(state, k)
    ids = torch.full((batch * k,), bos_id, dtype=torch.long, device=device)
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0                      # one live hypothesis per sentence at the start
    finished = torch.zeros(batch, k, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, k, dtype=torch.long, device=device)
    block = (torch.arange(batch, device=device) * k).unsqueeze(1)     # (B, 1) first row
    tokens, origins = [], []
    frozen = None
    for t in range(int(limits.max()) + 1):
        with torch.no_grad():
            logp, state = decoder.step(ids, state)                     # (B·K, V)
        vocab = logp.shape[-1]
        logp = logp.view(batch, k, vocab)
        logp = _force_end(logp, (t >= limits).expand(batch, k), eos_id)
        if frozen is None:
            # A finished hypothesis continues with </s> at no cost, and with nothing else.
            frozen = torch.full((vocab,), float("-inf"), device=device)
            frozen[eos_id] = 0.0
        logp = torch.where(finished.unsqueeze(-1), frozen, logp)
        total = scores.unsqueeze(-1) + logp                            # (B, K, V)
        scores, flat = total.view(batch, k * vocab).topk(k, dim=-1)   # (B, K)
        origin = torch.div(flat, vocab, rounding_mode="floor")         # (B, K) beam it came from
        token = flat % vocab
        was_finished = finished.gather(1, origin)
        finished = was_finished | (token == eos_id)
        lengths = lengths.gather(1, origin) + (~was_finished).long()
        tokens.append(token)
        origins.append(origin)
        state = decoder.reorder(state, (origin + block).view(-1))
        ids = token.view(-1)
        if bool(finished.all()):
            break
    best = _backtrack(tokens, origins, scores, lengths, max_lengths, options.length_penalty)
    if options.keep_greedy and k > 1:
        greedy = greedy_search(decoder, initial, max_lengths, bos_id, eos_id,
                               options.length_penalty)
        best = [g if g.score > b.score else b for b, g in zip(best, greedy)]
    return best


def _force_end(logp: torch.Tensor, at_limit: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Rows at their maximum length may only produce </s> (with its real log-probability)."""
    if not bool(at_limit.any()):
        return logp
    only_end = torch.full_like(logp, float("-inf"))
    only_end[..., eos_id] = logp[..., eos_id]
    return torch.where(at_limit.unsqueeze(-1), only_end, logp)


def _backtrack(tokens: list, origins: list, scores: torch.Tensor, lengths: torch.Tensor,
               max_lengths: torch.Tensor, alpha: float) -> list[Hypothesis]:
    """Follow the back-pointers of each sentence's best-scoring beam (after the penalty)."""
    penalised = scores / length_penalty(lengths.float(), alpha)       # (B, K)
    penalised = torch.where(torch.isfinite(scores), penalised, float("-inf"))
    best = penalised.argmax(dim=1)                                     # (B,)
    beam = best.clone()
    steps = []
    for token, origin in zip(reversed(tokens), reversed(origins)):
        steps.append(token.gather(1, beam.unsqueeze(1)).squeeze(1))
        beam = origin.gather(1, beam.unsqueeze(1)).squeeze(1)
    path = torch.stack(steps[::-1], dim=1).tolist()                   # (B, t)
    rows = range(scores.shape[0])
    return [_hypothesis(path[row], float(scores[row, best[row]]), int(lengths[row, best[row]]),
                        int(max_lengths[row]), alpha) for row in rows]


def _hypothesis(path: list[int], log_prob: float, length: int, limit: int,
                alpha: float) -> Hypothesis:
    """The tokens of a path before its </s>; `length` counts them with the </s>."""
    return Hypothesis(path[:length - 1], log_prob,
                      log_prob / float(length_penalty(length, alpha)), length > limit)


def _device_of(state: Any) -> torch.device:
    """Where the search runs: the state's `device` attribute (the CPU when it has none)."""
    return getattr(state, "device", torch.device("cpu"))
