"""Attention of a decoder over encoder outputs: additive (Bahdanau) and multiplicative (Luong).

Each decoder position t (a query q_t) gets a distribution a_t over the source positions s (the
keys k_s, the encoder outputs) and a context vector c_t = Σ_s a_ts k_s:

    additive  (Bahdanau et al. 2015)   score(q, k) = vᵀ tanh(W_q q + W_k k + b)
    dot       (Luong et al. 2015)      score(q, k) = qᵀ k          (needs |q| = |k|)
    general   (Luong et al. 2015)      score(q, k) = qᵀ W_a k
    a_t = softmax over the REAL source positions of score(q_t, k_s)

Padding never receives weight: the scores of padded source positions are set to -inf before
the softmax, so their weights are exactly 0 (exp(-inf) = 0, not a small number) and the
weights over the real positions sum to 1. A source sentence attended alone or inside a padded
batch therefore gets the same context.

The key side of every score (W_k k for additive, W_a k for general) depends on the source only,
so `project_keys` computes it once per source batch and the decoder reuses it at every step of
greedy or beam search instead of re-projecting the whole source each time.

Shapes: B batch, Tq query positions (all target positions in training, 1 per search step),
S source positions, Dq query features, Dk key features, A the additive attention size.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.errors import RnnlabError

ATTENTION_KINDS = ("additive", "dot", "general")


class Attention(nn.Module):
    """forward(query (B, Tq, Dq), keys (B, S, Dk), mask (B, S) bool, projected=None)
        -> context (B, Tq, Dk), weights (B, Tq, S)  (see the module docstring)."""

    def __init__(self, kind: str, query_size: int, key_size: int,
                 attention_size: int | None = None):
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise RnnlabError(f"unknown attention {kind!r}; choose one of "
                              f"{', '.join(ATTENTION_KINDS)}")
        if kind == "dot" and query_size != key_size:
            raise RnnlabError(f"dot attention needs queries and keys of one size, got "
                              f"{query_size} (decoder) and {key_size} (encoder outputs); use "
                              "general or additive attention, or make them equal")
        self.kind = kind
        self.query_size = query_size
        self.key_size = key_size
        if kind == "additive":
            size = attention_size or query_size
            self.query_proj = nn.Linear(query_size, size, bias=True)
            self.key_proj = nn.Linear(key_size, size, bias=False)
            self.score = nn.Linear(size, 1, bias=False)
        elif kind == "general":
            # W_a maps keys into query space once per source: qᵀ (W_a k).
            self.key_proj = nn.Linear(key_size, query_size, bias=False)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, query_size={self.query_size}, key_size={self.key_size}"

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """The source-only part of the score, computed once per source batch.

        keys (B, S, Dk) -> additive (B, S, A), general (B, S, Dq), dot: keys itself."""
        return keys if self.kind == "dot" else self.key_proj(keys)

    def scores(self, query: torch.Tensor, projected: torch.Tensor) -> torch.Tensor:
        """query (B, Tq, Dq), projected keys -> unnormalised scores (B, Tq, S)."""
        if self.kind == "additive":
            hidden = torch.tanh(self.query_proj(query).unsqueeze(2)          # (B, Tq, 1, A)
                                + projected.unsqueeze(1))                     # (B, 1, S, A)
            return self.score(hidden).squeeze(-1)                             # (B, Tq, S)
        return torch.bmm(query, projected.transpose(1, 2))                   # (B, Tq, S)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor,
                projected: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if query.dim() != 3 or keys.dim() != 3 or mask.shape != keys.shape[:2]:
            raise RnnlabError(f"attention expects query (B, Tq, {self.query_size}), keys "
                              f"(B, S, {self.key_size}) and mask (B, S); got "
                              f"{tuple(query.shape)}, {tuple(keys.shape)}, {tuple(mask.shape)}")
        if projected is None:
            projected = self.project_keys(keys)
        scores = self.scores(query, projected).float()                        # (B, Tq, S)
        # -inf, not a large negative number: the padded weights are then exactly zero.
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)                               # (B, Tq, S)
        context = torch.bmm(weights.to(keys.dtype), keys)                    # (B, Tq, Dk)
        return context, weights
