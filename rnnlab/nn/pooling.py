"""Sequence pooling: encoder outputs (B, T, F) -> one vector per sequence (B, F).

Every mode reads only the real time steps 0..length-1, so a sequence pooled alone or inside a
padded batch gives the same vector (padding is masked, never just assumed to be zero):

    last       the state after the whole sequence. Unidirectional: outputs[len-1].
               Bidirectional (F = 2H): the forward half at len-1 concatenated with the backward
               half at t=0, which is where the backward direction has read the whole sequence.
    mean       average over the real steps.
    max        element-wise maximum over the real steps (padding set to -inf first).
    attention  a learned weighted average: score_t = v·tanh(W o_t + b), softmax over the real
               steps only (padding scores are -inf, so their weights are exactly 0).
"""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.errors import RnnlabError
from rnnlab.models.configs import POOLINGS  # the names live with the (torch-free) configs

def length_mask(lengths: torch.Tensor, total_length: int, device=None) -> torch.Tensor:
    """(B, T) bool, True at real positions t < lengths[b]."""
    lengths = torch.as_tensor(lengths, device=device)
    steps = torch.arange(total_length, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)

class SequencePooling(nn.Module):
    """forward(outputs (B, T, F), lengths (B,) or None) -> (B, F). See the module docstring."""

    def __init__(self, mode: str, input_size: int, num_directions: int = 1,
                 attention_size: int | None = None):
        super().__init__()
        if mode not in POOLINGS:
            raise RnnlabError(f"unknown pooling {mode!r}; choose one of {', '.join(POOLINGS)}")
        if num_directions not in (1, 2) or input_size % num_directions:
            raise RnnlabError(f"input_size {input_size} must split into {num_directions} "
                              "equal direction halves")
        self.mode = mode
        self.input_size = input_size
        self.num_directions = num_directions
        if mode == "attention":
            size = attention_size or input_size
            self.attention_proj = nn.Linear(input_size, size)
            self.attention_score = nn.Linear(size, 1, bias=False)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, input_size={self.input_size}"

    def forward(self, outputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        batch, total_length, features = outputs.shape
        if features != self.input_size:
            raise RnnlabError(f"pooling expects {self.input_size} features, got {features}")
        if lengths is None:
            lengths = torch.full((batch,), total_length, dtype=torch.int64)
        lengths = torch.as_tensor(lengths).to(device=outputs.device, dtype=torch.int64)
        if self.mode == "last":
            return self._last(outputs, lengths)
        mask = length_mask(lengths, total_length)                       # (B, T)
        if self.mode == "mean":
            kept = outputs.masked_fill(~mask.unsqueeze(-1), 0.0)
            return kept.sum(dim=1) / lengths.unsqueeze(1).to(outputs.dtype)
        if self.mode == "max":
            return outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values
        weights = self.attention_weights(outputs, lengths)              # (B, T)
        return torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)      # (B, F)

    def attention_weights(self, outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) weights of attention pooling: sum to 1 over real steps, exactly 0 on padding."""
        if self.mode != "attention":
            raise RnnlabError(f"attention weights exist only for attention pooling, not {self.mode!r}")
        mask = length_mask(torch.as_tensor(lengths, device=outputs.device), outputs.shape[1])
        scores = self.attention_score(torch.tanh(self.attention_proj(outputs))).squeeze(-1)
        if scores.dtype in (torch.float16, torch.bfloat16):
            scores = scores.float()  # a softmax in 16-bit loses the small weights
        scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=1).to(outputs.dtype)

    def _last(self, outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(outputs.shape[0], device=outputs.device)
        at_end = outputs[rows, lengths - 1]                             # (B, F)
        if self.num_directions == 1:
            return at_end
        half = self.input_size // 2
        # Backward direction: its summary of the whole sequence sits at t = 0.
        return torch.cat([at_end[:, :half], outputs[:, 0, half:]], dim=1)
