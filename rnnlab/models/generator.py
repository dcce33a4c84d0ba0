"""Conditional generator (one-to-many, the first task type of the chapter's section 1.1): one
input in — a category, or a fixed vector of floats — and a sequence out, ended by an end symbol.

    category c ─Embedding─► cond (B, K)        or   vector v (B, D) ─Linear─► cond (B, K)
                                │
        "init":  h_0 = tanh(Linear(cond))   (L, B, H)   (and c_0 for LSTM-like cells)
        "input": every step reads [character embedding ; cond]  (B, T, E + K)
        "both":  the two together;  "none": cond is unused (the unconditional baseline)
                                │
    <s> S a t o ─Embedding─► (B, T, E) ─RecurrentEncoder (any registered cell) × L─► (B, T, H)
                ─Linear─► logits (B, T, V)            trained to predict   S a t o </s>

The recurrent stack is the shared `RecurrentEncoder`, so a name alone and the same name in a
padded batch give the same numbers. The start symbol <s> and the other reserved ids <pad> and
<unk> are never a next character: their logits are -inf, so every distribution the model gives
(training loss, sampling, `next_distribution`) is over the real characters and </s> only.

Sampling goes through the shared decoder (rnnlab.decoding.sample_ids, with stop_id = </s>):
temperature, top-k, top-p, greedy, a seed, a count, and `novel=True` for N distinct names that
do not occur in the training split (rejection sampling, with a limit on the draws):

    model = Generator.from_pretrained("runs/names")
    model.sample("Japanese", n=10, options=SamplingOptions(temperature=0.8), seed=0)

Hyper-parameters are a `GeneratorConfig` (rnnlab.models.configs), saved in config.json with the
weights; the vocabulary is a character-level WordVocab (rnnlab.data.names.build_name_vocab).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import nn

from rnnlab.data.names import (BOS_ID, EOS_ID, SPECIAL_TOKENS, check_name_vocab,
                               encode_name, list_known, read_splits)
from rnnlab.data.wordvocab import WordVocab
from rnnlab.errors import RnnlabError
from rnnlab.models.configs import GENERATOR_MAX_LENGTH, GeneratorConfig
from rnnlab.models.pretrained import Pretrained
from rnnlab.nn.encoder import RecurrentEncoder, State

MAX_LENGTH = GENERATOR_MAX_LENGTH   # characters a sample may have before it is cut
SPLITS_FOLDER = "splits"   # RUN/splits/{train,dev,test}.tsv, written by rnnlab.tasks.generate


class Generator(Pretrained, nn.Module):
    """forward(ids (B, T), categories (B,) or None, lengths (B,) or None, state, vectors (B, D)
    or None) -> logits (B, T, V), final state."""
    kind = "generator"
    config_class = GeneratorConfig
    vocab_class = WordVocab

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.vocab: WordVocab | None = None
        self.training_names: set[str] | None = None      # set by from_pretrained
        c = config
        self.feeds_input = c.conditioning in ("input", "both")
        self.sets_initial_state = c.conditioning in ("init", "both")
        self.char_embedding = nn.Embedding(c.vocab_size, c.embedding_size, padding_idx=0)
        self.condition: nn.Module | None = None
        if c.conditioning != "none":
            if c.vector_size is None:
                self.condition = nn.Embedding(len(c.categories), c.condition_size)
            else:
                self.condition = nn.Linear(c.vector_size, c.condition_size)
                # Each category's fixed input vector, saved with the weights (not trained).
                self.register_buffer("category_vectors",
                                     torch.zeros(len(c.categories), c.vector_size))
        self.decoder = RecurrentEncoder(
            c.embedding_size + (c.condition_size if self.feeds_input else 0), c.hidden_size,
            cell=c.cell, num_layers=c.num_layers, dropout=c.dropout)
        if self.sets_initial_state:
            parts = 2 if self.decoder.has_cell_state else 1
            self.initial = nn.Linear(c.condition_size, parts * c.num_layers * c.hidden_size)
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)
        never = torch.zeros(c.vocab_size, dtype=torch.bool)
        never[[i for i in range(len(SPECIAL_TOKENS)) if i != EOS_ID]] = True
        self.register_buffer("never_emitted", never, persistent=False)

    # -- the network --------------------------------------------------------------------------
    def encode_condition(self, categories: torch.Tensor | None = None,
                         vectors: torch.Tensor | None = None) -> torch.Tensor | None:
        """cond (B, K) from category ids (B,) or fixed vectors (B, D); None when unconditional."""
        if self.condition is None:
            return None
        if vectors is None:
            if categories is None:
                raise RnnlabError("this generator is conditional: give categories (or vectors)")
            if self.config.vector_size is None:
                return self.condition(categories)                               # (B, K)
            vectors = self.category_vectors[categories]                         # (B, D)
        elif self.config.vector_size is None:
            raise RnnlabError("this generator was trained on categories, not on vectors")
        return self.condition(vectors.to(self.head.weight.dtype))               # (B, K)

    def start_state(self, cond: torch.Tensor) -> State:
        """The initial state set by the condition: tanh(Linear(cond)) as (L, B, H) (and an
        (h, c) pair for LSTM-like cells, c_0 without the tanh)."""
        c = self.config
        batch = cond.shape[0]
        out = self.initial(cond).view(batch, -1, c.num_layers, c.hidden_size)   # (B, parts, L, H)
        out = out.permute(1, 2, 0, 3).contiguous()                              # (parts, L, B, H)
        if self.decoder.has_cell_state:
            return torch.tanh(out[0]), out[1]
        return torch.tanh(out[0])

    def forward(self, ids: torch.Tensor, categories: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None, state: State | None = None,
                vectors: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) start with <s>; `state` None starts a sequence (from the condition in
        "init"/"both" mode, from zeros otherwise), a returned state continues it."""
        cond = self.encode_condition(categories, vectors)                       # (B, K) or None
        if state is None and self.sets_initial_state:
            state = self.start_state(cond)
        x = self.dropout(self.char_embedding(ids))                              # (B, T, E)
        if self.feeds_input:
            x = torch.cat([x, cond.unsqueeze(1).expand(-1, ids.shape[1], -1).to(x.dtype)],
                          dim=2)                                                # (B, T, E + K)
        out, state = self.decoder(x, lengths, state)                            # (B, T, H)
        logits = self.head(self.dropout(out))                                   # (B, T, V)
        return logits.masked_fill(self.never_emitted, float("-inf")), state

    # -- conditions by name -------------------------------------------------------------------
    def category_index(self, category: str) -> int:
        try:
            return self.config.categories.index(category)
        except ValueError:
            raise RnnlabError(f"unknown category {category!r}; known categories: "
                              f"{list_known(self.config.categories)}") from None

    def set_category_vectors(self, vectors: torch.Tensor) -> None:
        """Each category's fixed input vector (C, D), in the order of config.categories."""
        expected = (len(self.config.categories), self.config.vector_size)
        if self.config.vector_size is None or tuple(vectors.shape) != expected:
            raise RnnlabError(f"category vectors have shape {tuple(vectors.shape)}, expected "
                              f"{expected}")
        with torch.no_grad():
            self.category_vectors.copy_(vectors)

    def _condition_inputs(self, category: str | None, vector) -> dict:
        """{"categories": (1,)} or {"vectors": (1, D)} for one requested condition."""
        device = self.head.weight.device
        if vector is not None:
            if category is not None:
                raise RnnlabError("give a category or a vector, not both")
            if self.config.vector_size is None:
                raise RnnlabError("this generator was trained on categories, not on vectors; "
                                  f"give one of: {list_known(self.config.categories)}")
            values = torch.as_tensor(vector, dtype=torch.float32, device=device).reshape(1, -1)
            if values.shape[1] != self.config.vector_size:
                raise RnnlabError(f"the vector has {values.shape[1]} values; this generator "
                                  f"expects {self.config.vector_size}")
            if not bool(torch.isfinite(values).all()):
                raise RnnlabError("the vector holds NaN or infinite values")
            return {"vectors": values}
        if category is None:
            if self.condition is None:          # unconditional: any category id will do
                return {"categories": torch.zeros(1, dtype=torch.long, device=device)}
            raise RnnlabError("this generator is conditional: give a category; known "
                              f"categories: {list_known(self.config.categories)}")
        index = self.category_index(category)
        return {"categories": torch.tensor([index], dtype=torch.long, device=device)}

    # -- generation ---------------------------------------------------------------------------
    def sample(self, category: str | None = None, n: int = 1, options=None,
               seed: int | None = None, max_length: int = MAX_LENGTH,
               vector: Sequence[float] | None = None, novel: bool = False,
               exclude: Iterable[str] | None = None, max_draws: int | None = None) -> list[str]:
        """`n` sequences for one condition (a category name, or `vector` for a generator trained
        on vectors). `options`: rnnlab.decoding.SamplingOptions (default: temperature 1).

        A sample ends at </s> or after `max_length` characters. With the same seed the same
        samples come back. `novel=True` returns n DISTINCT samples that are neither in the
        training split (`training_names`, read by from_pretrained) nor in `exclude`, drawing at
        most `max_draws` (default 100·n) samples; it raises RnnlabError if that is not enough.
        """
        from rnnlab.decoding import SamplingOptions

        _require_positive("count", n)
        _require_positive("max length", max_length)
        options = options or SamplingOptions()
        condition = self._condition_inputs(category, vector)
        device = self.head.weight.device
        generator = (torch.Generator(device=device).manual_seed(seed) if seed is not None
                     else None)
        if not novel:
            return self._draw(condition, n, options, generator, max_length)
        avoid = set(exclude or ())
        if self.training_names is None and exclude is None:
            raise RnnlabError("novel samples need the training names: load the model with "
                              "from_pretrained (it reads RUN/splits/train.tsv) or pass exclude")
        avoid |= self.training_names or set()
        limit = max_draws if max_draws is not None else 100 * n
        _require_positive("max draws", limit)
        found: list[str] = []
        draws = 0
        while len(found) < n and draws < limit:
            batch = min(max(2 * (n - len(found)), 32), limit - draws)
            for name in self._draw(condition, batch, options, generator, max_length):
                draws += 1
                if name and name not in avoid:
                    avoid.add(name)
                    found.append(name)
                    if len(found) == n:
                        break
        if len(found) < n:
            what = category if category is not None else "the vector"
            raise RnnlabError(f"only {len(found)} of {n} distinct new samples for {what} in "
                              f"{draws} draws; ask for fewer or sample more freely (a higher "
                              "temperature)")
        return found

    def _draw(self, condition: dict, batch: int, options, generator, max_length: int
              ) -> list[str]:
        """`batch` samples in parallel, each cut at its first </s>."""
        from rnnlab.decoding import sample_ids

        vocab = self.require_vocab()
        expanded = {key: value.expand(batch, *value.shape[1:]) for key, value in
                    condition.items()}
        device = self.head.weight.device
        prompt = torch.full((batch, 1), BOS_ID, dtype=torch.long, device=device)   # (B, 1)

        def step(ids: torch.Tensor, state):
            return self(ids, state=state, **expanded)

        rows: list[list[int]] = [[] for _ in range(batch)]
        ended = [False] * batch
        was_training = self.training
        self.eval()
        try:
            for next_ids in sample_ids(step, prompt, max_length, options, generator,
                                       stop_id=EOS_ID):
                for row, token in enumerate(next_ids.tolist()):
                    if ended[row]:
                        continue
                    if token == EOS_ID:
                        ended[row] = True
                    else:
                        rows[row].append(token)
        finally:
            self.train(was_training)
        return ["".join(vocab.decode(ids)) for ids in rows]

    @torch.no_grad()
    def next_distribution(self, category: str | None = None, prefix: str = "",
                          vector: Sequence[float] | None = None) -> dict[str, float]:
        """P(next symbol | condition, prefix) over the characters and </s> (the other reserved
        symbols have probability 0 and are left out)."""
        vocab = self.require_vocab()
        condition = self._condition_inputs(category, vector)
        ids = [BOS_ID, *encode_name(vocab, prefix, "prefix")] if prefix else [BOS_ID]
        was_training = self.training
        self.eval()
        try:
            tokens = torch.tensor([ids], dtype=torch.long, device=self.head.weight.device)
            logits, _ = self(tokens, **condition)                               # (1, T, V)
        finally:
            self.train(was_training)
        probabilities = torch.softmax(logits[0, -1].float(), dim=-1).cpu()
        return {token: float(probabilities[i]) for i, token in enumerate(vocab.tokens)
                if not bool(self.never_emitted[i])}

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def check_vocab(cls, vocab, config, source: str) -> None:
        super().check_vocab(vocab, config, source)
        check_name_vocab(vocab, source)

    @classmethod
    def from_pretrained(cls, run_dir: str | Path, weights: str = "best") -> "Generator":
        """The trained generator of a run directory, with the names of its training split (for
        `sample(..., novel=True)`) when the run holds RUN/splits/train.tsv."""
        model = super().from_pretrained(run_dir, weights)
        split = Path(run_dir) / SPLITS_FOLDER
        if (split / "train.tsv").is_file():
            model.training_names = read_splits(split).names("train")
        return model


def _require_positive(what: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RnnlabError(f"{what} must be a positive integer, got {value!r}")


__all__ = ["Generator", "GeneratorConfig", "MAX_LENGTH"]
