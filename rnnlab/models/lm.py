"""Character-level language model (one-to-many generation, section 1.6 of the chapter).

    ids (B, T) ──Embedding──► (B, T, E) ──RNN/LSTM/GRU × L──► (B, T, H) ──Linear──► logits (B, T, V)

The recurrent state is returned so that training can carry it (detached) from one window of a
stream to the next, and so that sampling runs statefully: one step per new character, never
re-reading the context.

Hyper-parameters live in `CharLMConfig`, a dataclass written to `config.json` next to the
weights, so `CharLM.from_pretrained(run_dir)` rebuilds the model without guessing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterator, Union

import torch
from torch import nn

from rnnlab.errors import RnnlabError
from rnnlab.nn.fused_gru import can_fuse, fused_gru

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")

# LSTM state is (h, c); the others carry h alone. Each tensor is (num_layers, B, H).
State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]


@dataclass
class CharLMConfig:
    vocab_size: int
    # Defaults: the best of a small sweep for an 80-s CPU budget on tinyshakespeare (GRU beat
    # LSTM per second at equal width; see BENCHMARKS.md).
    cell: str = "gru"
    embedding_size: int = 64
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    tie_weights: bool = False

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise RnnlabError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise RnnlabError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise RnnlabError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise RnnlabError(
                "tied input/output weights need embedding_size == hidden_size, got "
                f"{self.embedding_size} and {self.hidden_size}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CharLMConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RnnlabError(f"unknown model config keys {unknown}; known keys: {sorted(known)}")
        return cls(**data)


def make_recurrent_layer(cell: str, input_size: int, hidden_size: int, num_layers: int,
                         dropout: float) -> nn.Module:
    """The torch recurrent module for a cell name (batch-first)."""
    # nn.RNN/LSTM/GRU apply dropout only between layers; warn-free for one layer.
    between = dropout if num_layers > 1 else 0.0
    common = dict(num_layers=num_layers, batch_first=True, dropout=between)
    if cell == "lstm":
        return nn.LSTM(input_size, hidden_size, **common)
    if cell == "gru":
        return nn.GRU(input_size, hidden_size, **common)
    nonlinearity = "tanh" if cell == "rnn_tanh" else "relu"
    return nn.RNN(input_size, hidden_size, nonlinearity=nonlinearity, **common)


class CharLM(nn.Module):
    # Opt-in: run a GRU through rnnlab.nn.fused_gru (the same numbers as nn.GRU). Measured on 2
    # AVX2 cores it trains ~10% faster at batch 32 × BPTT 64 but the same, within run-to-run
    # noise, at the default 64 × 32 and for 2×512 at 64 × 128 (0.97× and 1.08× in two runs), so
    # nn.GRU stays the default.
    use_fused_gru: bool = False

    def __init__(self, config: CharLMConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.rnn = make_recurrent_layer(config.cell, config.embedding_size, config.hidden_size,
                                        config.num_layers, config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        if config.tie_weights:
            # One (V, H) matrix both embeds characters and scores them (Press & Wolf, 2017).
            self.head.weight = self.embedding.weight

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) int64 -> logits (B, T, V) and the final state (each (L, B, H))."""
        x = self.dropout(self.embedding(ids))        # (B, T, E)
        if self.use_fused_gru and can_fuse(self.rnn, x):
            out, state = fused_gru(self.rnn, x, state)  # (B, T, H)
        else:
            out, state = self.rnn(x, state)            # (B, T, H)
        logits = self.head(self.dropout(out))          # (B, T, V)
        return logits, state

    def initial_state(self, batch_size: int, device=None) -> State:
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        h = torch.zeros(shape, device=device)
        if self.config.cell == "lstm":
            return (h, torch.zeros_like(h))
        return h

    def num_parameters(self) -> int:
        # parameters() yields a tied tensor once, so this counts it once.
        return sum(p.numel() for p in self.parameters())

    # -- persistence ---------------------------------------------------------------------------
    def load_weights_checked(self, weights: dict[str, torch.Tensor], source) -> None:
        """Load a state dict after checking every key and shape (clear error otherwise)."""
        from rnnlab.train import checkpoint

        expected = {k: tuple(v.shape) for k, v in self.state_dict().items()}
        checkpoint.check_state_dict(weights, expected, source)
        self.load_state_dict(weights)

    def save_pretrained(self, run_dir: str | Path) -> Path:
        """Write config.json, vocab.json and model.safetensors (enough for from_pretrained)."""
        from rnnlab.train import checkpoint

        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        if getattr(self, "vocab", None) is None:
            raise RnnlabError("this model has no vocabulary attached; set model.vocab first")
        self.vocab.save(run_dir / "vocab.json")
        checkpoint.save_weights(run_dir / "model.safetensors", self.state_dict())
        config_path = run_dir / "config.json"
        config = checkpoint.read_config(run_dir) if config_path.exists() else {
            "format_version": 1, "kind": "char_lm"}
        checkpoint.write_config(run_dir, {**config, "model": self.config.to_dict()})
        return run_dir

    @classmethod
    def from_pretrained(cls, run_dir: str | Path, weights: str = "best") -> "CharLM":
        """Rebuild a trained model from a run directory; `weights` is "best" or "last"."""
        from rnnlab.train import checkpoint
        from rnnlab.data.vocab import CharVocab

        run_dir = Path(run_dir)
        config = checkpoint.read_config(run_dir, expected_kind="char_lm")
        if weights not in ("best", "last"):
            raise RnnlabError(f"weights must be 'best' or 'last', got {weights!r}")
        path = run_dir / ("best.safetensors" if weights == "best" else "model.safetensors")
        if not path.exists():  # a model saved by save_pretrained has one weights file
            path = run_dir / "model.safetensors"
        if not path.exists():
            raise RnnlabError(f"{run_dir} has no checkpoint: neither best.safetensors nor "
                              "model.safetensors exists")
        model = cls(CharLMConfig.from_dict(config["model"]))
        model.vocab = CharVocab.load(run_dir / "vocab.json")
        if len(model.vocab) != model.config.vocab_size:
            raise RnnlabError(f"{run_dir}/vocab.json has {len(model.vocab)} characters but "
                              f"config.json says vocab_size {model.config.vocab_size}")
        model.load_weights_checked(checkpoint.load_weights(path), source=path)
        model.eval()
        return model

    # -- generation ----------------------------------------------------------------------------
    @torch.no_grad()
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
        from rnnlab.sample import SamplingOptions, choose_next

        if getattr(self, "vocab", None) is None:
            raise RnnlabError("this model has no vocabulary attached; load it with from_pretrained")
        if length < 0:
            raise RnnlabError(f"length must be >= 0, got {length}")
        options = options or SamplingOptions()
        prime_ids = self.vocab.encode(prime, unknown=unknown) if prime else []
        if len(prime_ids) == 0:
            # No context: start as if after a line break, the most neutral character.
            start = "\n" if "\n" in self.vocab.chars else self.vocab.chars[0]
            prime_ids = self.vocab.encode(start)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        try:
            ids = torch.as_tensor(prime_ids, dtype=torch.long, device=device).unsqueeze(0)
            # no_grad around each call, not around the loop: grad mode is thread-local, and a
            # generator suspended inside a `with` block would leak it into the caller's code.
            with torch.no_grad():
                logits, state = self(ids)                   # (1, P, V)
            last = logits[:, -1]                            # (1, V)
            for _ in range(length):
                next_id = choose_next(last, options, generator)        # (1,)
                yield self.vocab.decode([int(next_id)])
                with torch.no_grad():
                    logits, state = self(next_id.view(1, 1), state)
                last = logits[:, -1]
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
