"""Character-level language model (generation, section 1.6 of the chapter).

    ids (B, T) ──Embedding──► (B, T, E) ──RecurrentEncoder (any registered cell) × L──► (B, T, H)
               ──Linear──► logits (B, T, V)

The recurrent state is returned so that training can carry it (detached) from one window of a
stream to the next, and so that sampling runs statefully: one step per new character, never
re-reading the context.

Hyper-parameters live in `CharLMConfig` (rnnlab.models.configs), written to config.json next to
the weights, so `CharLM.from_pretrained(run_dir)` rebuilds the model without guessing.
"""

from __future__ import annotations

from typing import Iterator, Union

import torch
from torch import nn

from rnnlab.data.vocab import CharVocab
from rnnlab.errors import RnnlabError
from rnnlab.models.configs import CharLMConfig
from rnnlab.models.pretrained import Pretrained
from rnnlab.nn.encoder import RecurrentEncoder

# LSTM-like cells carry (h, c); the others h alone. Each tensor is (num_layers, B, H).
State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]



class CharLM(Pretrained, nn.Module):
    kind = "char_lm"
    config_class = CharLMConfig
    vocab_class = CharVocab

    def __init__(self, config: CharLMConfig):
        super().__init__()
        self.config = config
        self.vocab: CharVocab | None = None
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.encoder = RecurrentEncoder(config.embedding_size, config.hidden_size,
                                        cell=config.cell, num_layers=config.num_layers,
                                        dropout=config.dropout, residual=config.residual,
                                        layer_norm=config.layer_norm)
        self.dropout = nn.Dropout(config.dropout)
        self.embedding_dropout = nn.Dropout(config.dropout if config.embedding_dropout is None
                                            else config.embedding_dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            # One (V, H) matrix both embeds characters and scores them (Press & Wolf, 2017).
            self.head.weight = self.embedding.weight

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) int64 -> logits (B, T, V) and the final state (each (L, B, H))."""
        x = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        out, state = self.encoder(x, state=state)      # (B, T, H)
        return self.head(self.dropout(out)), state     # (B, T, V)

    def initial_state(self, batch_size: int, device=None) -> State:
        return self.encoder.initial_state(batch_size, device=device)

    @classmethod
    def upgrade_state_dict(cls, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Runs written before the char LM was built on RecurrentEncoder (rnnlab 0.1, session
        2 and earlier) named its recurrent weights `rnn.*`; they are now `encoder.rnn.*`."""
        return {("encoder." + name if name.startswith("rnn.") else name): tensor
                for name, tensor in weights.items()}

    # -- generation ----------------------------------------------------------------------------
    def generate(self, prime: str = "", length: int = 200, options=None, seed: int | None = None,
                 unknown: str = "error", stream: bool = False):
        """Sample `length` characters after `prime`.

        The network reads the prime once, then runs one step per new character, carrying its
        state (never re-reading the context). With `stream=True` this returns an iterator of
        characters as they are produced; otherwise the whole string.
        """
        chars = self._generate_chars(prime, length, options, seed, unknown)
        return chars if stream else "".join(chars)

    def _generate_chars(self, prime, length, options, seed, unknown) -> Iterator[str]:
        from rnnlab.decoding import SamplingOptions, sample_ids

        vocab = self.require_vocab()
        if length < 0:
            raise RnnlabError(f"length must be >= 0, got {length}")
        prime_ids = vocab.encode(prime, unknown=unknown) if prime else []
        if len(prime_ids) == 0:
            # No context: start as if after a line break, the most neutral character.
            prime_ids = vocab.encode("\n" if "\n" in vocab.chars else vocab.chars[0])
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        # On the model's device: a CUDA model samples with a CUDA generator (same seed, same text
        # on the same device; CPU and GPU streams differ).
        generator = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
        try:
            prompt = torch.as_tensor(prime_ids, dtype=torch.long, device=device).unsqueeze(0)
            for next_id in sample_ids(self, prompt, length, options or SamplingOptions(),
                                      generator):
                yield vocab.decode([int(next_id)])
        finally:
            self.train(was_training)


def detach_state(state: State | None) -> State | None:
    """Cut the graph at a window boundary: the value carries on, the gradient stops here."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def select_rows(state: State, keep: torch.Tensor) -> State:
    """The state of batch rows `keep` (a bool or index tensor over B)."""
    if isinstance(state, tuple):
        return tuple(s[:, keep] for s in state)
    return state[:, keep]
