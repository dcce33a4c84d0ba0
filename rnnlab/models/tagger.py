"""Part-of-speech tagger: many-to-many synchronous, one tag per input word (exercise 4).

Each word becomes the concatenation of a word embedding and a character-level vector; a
bidirectional recurrent encoder reads the sentence; a linear layer scores the tags at every
position:

    words  w_1 … w_T ──Embedding──────────────────────────────► (B, T, E_w) ─┐
    chars  of each distinct word ──Embedding──► BiLSTM ──► [h_fwd ; h_bwd]    │ concat
                                   (U, C, E_c)            (U, 2·H_c) ─gather─► (B, T, 2·H_c)
                                                                             ▼
        dropout ──► BiLSTM × L (RecurrentEncoder) ──► (B, T, 2·H) ──► dropout ──► Linear ──► (B, T, K)

The character vector is what lets the tagger handle words it never saw: "unfriendliness" gets
its "un-" and "-ness" from the characters even though its word embedding is the <unk> row.
(Plank, Søgaard & Goldberg 2016 report 94.6 UPOS accuracy on UD 1.3 English for this design
without pre-trained embeddings.) The characters are encoded once per *distinct* word of the
batch (U of them), not once per token, then gathered back to (B, T).

Exact under padding: both encoders take true lengths (words per sentence, characters per word)
and never read padding, so a sentence tagged alone or inside a padded batch gets the same logits.

Word dropout: while training, each word id is replaced by <unk> with probability
`word_dropout`, so the <unk> row and the character path learn to carry the prediction for the
words a test set will bring that the training set did not.

`TaggerConfig` (rnnlab.models.configs) is written to config.json and `TaggerVocab`
(rnnlab.data.tagging: words, characters, tags and the training words' counts) to vocab.json, so
`Tagger.from_pretrained(run_dir)` rebuilds the model. Training and evaluation on CoNLL-U files
are in rnnlab.tasks.tag.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from rnnlab.data.tagging import PAD_ID, UNK_ID, TaggerBatch, TaggerVocab, make_batch
from rnnlab.errors import RnnlabError
from rnnlab.models.configs import TaggerConfig
from rnnlab.models.pretrained import Pretrained
from rnnlab.nn.encoder import RecurrentEncoder



class Tagger(Pretrained, nn.Module):
    """forward(TaggerBatch) -> tag logits (B, T, K)."""
    kind = "tagger"
    config_class = TaggerConfig
    vocab_class = TaggerVocab

    def __init__(self, config: TaggerConfig, vocab: TaggerVocab | None = None):
        super().__init__()
        self.config = config
        self.vocab = vocab
        if vocab is not None:
            self.check_vocab(vocab, config, "the vocabulary")
        c = config
        self.word_embedding = nn.Embedding(c.word_vocab_size, c.word_embedding_size,
                                           padding_idx=PAD_ID)
        self.char_embedding = nn.Embedding(c.char_vocab_size, c.char_embedding_size,
                                           padding_idx=PAD_ID)
        self.char_encoder = RecurrentEncoder(c.char_embedding_size, c.char_hidden_size,
                                             cell=c.cell, bidirectional=True)
        self.encoder = RecurrentEncoder(c.word_embedding_size + 2 * c.char_hidden_size,
                                        c.hidden_size, cell=c.cell, num_layers=c.num_layers,
                                        dropout=c.dropout, bidirectional=True)
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(self.encoder.output_size, c.num_tags)

    def char_vectors(self, char_ids: torch.Tensor, char_lengths: torch.Tensor) -> torch.Tensor:
        """char_ids (U, C), char_lengths (U,) -> (U, 2·H_c): [forward state at the word's last
        character ; backward state at its first character]."""
        chars = self.char_embedding(char_ids)                          # (U, C, E_c)
        _, state = self.char_encoder(chars, char_lengths)
        h = state[0] if isinstance(state, tuple) else state            # (2, U, H_c)
        return torch.cat([h[0], h[1]], dim=-1)                         # (U, 2·H_c)

    def forward(self, batch: TaggerBatch) -> torch.Tensor:
        """A TaggerBatch -> tag logits (B, T, K); rows past a sentence's length are padding."""
        word_ids = batch.word_ids                                      # (B, T)
        if self.training and self.config.word_dropout > 0:
            drop = torch.rand(word_ids.shape, device=word_ids.device) < self.config.word_dropout
            word_ids = word_ids.masked_fill(drop & (word_ids != PAD_ID), UNK_ID)
        words = self.word_embedding(word_ids)                          # (B, T, E_w)
        chars = self.char_vectors(batch.char_ids, batch.char_lengths)  # (U, 2·H_c)
        chars = chars[batch.word_index]                                # (B, T, 2·H_c)
        x = self.dropout(torch.cat([words, chars], dim=-1))            # (B, T, E_w + 2·H_c)
        out, _ = self.encoder(x, batch.lengths)                        # (B, T, 2·H)
        return self.head(self.dropout(out))                            # (B, T, K)

    # -- prediction ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> list[list[str]]:
        """Tag lists of word forms; returns one list of tag names per sentence.

        Unknown words and characters are fine (they map to <unk>); an empty sentence gets [].
        Sentences are batched by length internally; the result is in input order.
        """
        results: list[list[str]] = [[] for _ in sentences]
        was_training = self.training
        self.eval()
        try:
            for chunk, _, logits in self.logits_by_length(sentences, batch_size):
                self.decode_into(results, chunk, logits, sentences)
        finally:
            self.train(was_training)
        return results

    def logits_by_length(self, sentences: Sequence[Sequence[str]], batch_size: int,
                         tags: Sequence[Sequence[str]] | None = None):
        """Yields (indices, batch, logits (B, T, K)) for the non-empty sentences, in batches of
        similar length (less padding; padding never changes a result)."""
        vocab = self.require_vocab()
        device = next(self.parameters()).device
        order = sorted((i for i, s in enumerate(sentences) if len(s)),
                       key=lambda i: len(sentences[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = make_batch(vocab, [sentences[i] for i in chunk],
                               None if tags is None else [tags[i] for i in chunk]).to(device)
            yield chunk, batch, self(batch)

    def decode_into(self, results: list, chunk: list[int], logits: torch.Tensor,
                    sentences: Sequence[Sequence[str]]) -> None:
        """results[i] = the best tag names of sentence i, for the rows of `chunk`."""
        best = logits.argmax(dim=-1).cpu()                               # (B, T)
        for row, index in enumerate(chunk):
            results[index] = [self.vocab.tags[k] for k in best[row, :len(sentences[index])].tolist()]

    @classmethod
    def check_vocab(cls, vocab: TaggerVocab, config: TaggerConfig, source: str) -> None:
        sizes = (("words", len(vocab.words), config.word_vocab_size),
                 ("characters", len(vocab.chars), config.char_vocab_size),
                 ("tags", len(vocab.tags), config.num_tags))
        for name, actual, expected in sizes:
            if actual != expected:
                raise RnnlabError(f"{source} has {actual} {name} but the model config expects "
                                  f"{expected}")


def config_for(vocab: TaggerVocab, **options) -> TaggerConfig:
    """A TaggerConfig sized for `vocab`, with other fields from `options` (or defaults)."""
    return TaggerConfig(word_vocab_size=len(vocab.words), char_vocab_size=len(vocab.chars),
                        num_tags=len(vocab.tags), **options)
