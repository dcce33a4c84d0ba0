"""Sequence-to-sequence translator (many-to-many, asynchronous): encoder, attention, decoder.

    source ids (B, S) ─Embedding─► dropout ─► RecurrentEncoder (bidirectional) ─► keys (B, S, K)
                                                    │ final states of the top layer
                                                    ▼
                                   bridge: tanh(Linear) ─► decoder initial state
    target ids <s> y1 … (B, T) ─Embedding─► dropout ─► RecurrentEncoder (decoder, one way)
                                                    ─► s (B, T, Hd)
    s ─attention over keys (source padding masked)─► context c (B, T, K)
    h̃ = tanh(W_c [s ; c]) (B, T, E) ─dropout─► Linear (tied to the target embedding) ─► logits (B, T, V)

How the context enters: context CONCATENATION (Luong et al. 2015, without input feeding). The
decoder's recurrent state s_t does not read the previous step's context, so during training
(teacher forcing) the whole target runs through the recurrent layer as one fused call and the
attention for all T positions is one batched matrix product. Input feeding (h̃_{t-1} as an
extra decoder input) is reported to add ~1 BLEU, but it forces a Python loop over time steps
in training, which on 2 CPU cores costs far more than that in a fixed time budget.

`attention="none"` is the contrast without attention (Cho et al. 2014): the context is the
same vector at every step, the encoder's final states [forward ; backward], so the decoder
sees the source only through one fixed-size summary.

Decoding runs one step at a time with the same weights (`RecurrentEncoder.step` equals its
full-sequence call), through rnnlab.decoding's greedy and beam search; `SearchState` is what
they carry. A source sentence decoded alone or inside a padded batch gives the same result: the
encoder never reads padding and the attention gives padded positions weight exactly 0.

Hyper-parameters: `Seq2SeqConfig` (rnnlab.models.configs), written to config.json; the two
SentencePiece tokenizers: `TranslationVocab` (rnnlab.data.subwords), in vocab.json. So

    Translator.from_pretrained("runs/de-en").translate(["Ein Hund läuft."], beam=5)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from rnnlab.data.subwords import PAD_ID, TranslationVocab
from rnnlab.errors import RnnlabError
from rnnlab.models.configs import Seq2SeqConfig
from rnnlab.models.pretrained import Pretrained
from rnnlab.nn.attention import Attention
from rnnlab.nn.encoder import RecurrentEncoder, State
from rnnlab.nn.pooling import length_mask


@dataclass
class SearchState:
    """What a search carries per hypothesis row N: the decoder's recurrent state ((L, N, Hd), or
    an (h, c) pair) and the source memory (keys (N, S, K), their projection, mask (N, S), and
    the fixed summary (N, K) used without attention). `weights` (N, S): the last step's
    attention (None without attention)."""
    rnn: State
    keys: torch.Tensor
    projected: torch.Tensor | None
    mask: torch.Tensor
    summary: torch.Tensor
    weights: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        return self.keys.device

    def select(self, index: torch.Tensor) -> "SearchState":
        """The rows `index` of everything (expanding a batch into beams, for instance)."""
        return SearchState(_rows(self.rnn, index), self.keys[index],
                           None if self.projected is None else self.projected[index],
                           self.mask[index], self.summary[index],
                           None if self.weights is None else self.weights[index])

    def reorder(self, index: torch.Tensor) -> "SearchState":
        """Rows `index` of the recurrent state only. Beam search moves hypotheses only within a
        sentence's block of rows, where the source memory is the same, so it stays put."""
        return SearchState(_rows(self.rnn, index), self.keys, self.projected, self.mask,
                           self.summary, None if self.weights is None else self.weights[index])


def _rows(state: State, index: torch.Tensor) -> State:
    if isinstance(state, tuple):
        return tuple(part.index_select(1, index) for part in state)
    return state.index_select(1, index)


class Translator(Pretrained, nn.Module):
    """forward(source (B, S), source_lengths (B,), target_in (B, T)) -> logits (B, T, V)."""
    kind = "translator"
    config_class = Seq2SeqConfig
    vocab_class = TranslationVocab

    def __init__(self, config: Seq2SeqConfig, vocab: TranslationVocab | None = None):
        super().__init__()
        self.config = c = config
        self.vocab = vocab
        if vocab is not None:
            self.check_vocab(vocab, config, "the vocabulary")
        keys, hidden = c.encoder_output_size, c.decoder_size
        self.source_embedding = nn.Embedding(c.source_vocab_size, c.embedding_size,
                                             padding_idx=PAD_ID)
        self.target_embedding = nn.Embedding(c.target_vocab_size, c.embedding_size,
                                             padding_idx=PAD_ID)
        for embedding in (self.source_embedding, self.target_embedding):
            with torch.no_grad():   # see Seq2SeqConfig.embedding_init_std
                embedding.weight.normal_(0.0, c.embedding_init_std)
                embedding.weight[PAD_ID].zero_()
        self.dropout = nn.Dropout(c.dropout)
        self.encoder = RecurrentEncoder(c.embedding_size, c.hidden_size, cell=c.cell,
                                        num_layers=c.num_layers, dropout=c.dropout,
                                        bidirectional=c.bidirectional)
        self.decoder = RecurrentEncoder(c.embedding_size, hidden, cell=c.cell,
                                        num_layers=c.decoder_layers, dropout=c.dropout)
        states = 2 if self.decoder.has_cell_state else 1
        self.bridge = nn.Linear(keys, states * c.decoder_layers * hidden)
        self.attention = (None if c.attention == "none" else
                          Attention(c.attention, hidden, keys, c.attention_size))
        self.combine = nn.Linear(hidden + keys, c.embedding_size, bias=False)   # W_c
        self.output = nn.Linear(c.embedding_size, c.target_vocab_size)
        if c.tie_embeddings:
            self.output.weight = self.target_embedding.weight      # Press & Wolf (2017)

    @classmethod
    def check_vocab(cls, vocab: TranslationVocab, config: Seq2SeqConfig, source: str) -> None:
        for side, expected in (("source", config.source_vocab_size),
                               ("target", config.target_vocab_size)):
            actual = len(getattr(vocab, side))
            if actual != expected:
                raise RnnlabError(f"{source}: the {side} tokenizer has {actual} pieces but the "
                                  f"model config says {expected}")

    # -- encoder -------------------------------------------------------------------------------
    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> SearchState:
        """source (B, S) ids, lengths (B,) -> the memory and the decoder's initial state."""
        x = self.dropout(self.source_embedding(source))                # (B, S, E)
        keys, final = self.encoder(x, lengths)                         # (B, S, K)
        h = final[0] if isinstance(final, tuple) else final            # (L·dirs, B, H)
        top = h[-self.encoder.num_directions:]                         # (dirs, B, H)
        summary = torch.cat(list(top), dim=-1)                         # (B, K)
        mask = length_mask(lengths, source.shape[1], device=source.device)   # (B, S)
        projected = None if self.attention is None else self.attention.project_keys(keys)
        return SearchState(self._initial_state(summary), keys, projected, mask, summary)

    def _initial_state(self, summary: torch.Tensor) -> State:
        """(B, K) -> the decoder's state (L, B, Hd) (an (h, c) pair for LSTM-like cells)."""
        c = self.config
        parts = torch.tanh(self.bridge(summary))                       # (B, states·L·Hd)
        parts = parts.view(summary.shape[0], -1, c.decoder_layers, c.decoder_size)
        parts = parts.permute(1, 2, 0, 3).contiguous()                 # (states, L, B, Hd)
        return (parts[0], parts[1]) if self.decoder.has_cell_state else parts[0]

    # -- decoder -------------------------------------------------------------------------------
    def _readout(self, s: torch.Tensor, state: SearchState
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decoder outputs s (B, T, Hd) -> logits (B, T, V) and attention weights (B, T, S)."""
        if self.attention is None:
            context = state.summary.unsqueeze(1).expand(-1, s.shape[1], -1)   # (B, T, K)
            weights = None
        else:
            context, weights = self.attention(s, state.keys, state.mask, state.projected)
        attentional = torch.tanh(self.combine(torch.cat([s, context], dim=-1)))  # (B, T, E)
        return self.output(self.dropout(attentional)), weights

    def forward(self, source: torch.Tensor, source_lengths: torch.Tensor,
                target_in: torch.Tensor, return_attention: bool = False):
        """Teacher forcing: target_in (B, T) = <s> y_1 … y_{T-1} -> logits (B, T, V) for
        y_1 … y_T (positions past a target's end are padding; the loss ignores them)."""
        state = self.encode(source, source_lengths)
        y = self.dropout(self.target_embedding(target_in))             # (B, T, E)
        s, _ = self.decoder(y, state=state.rnn)                        # (B, T, Hd)
        logits, weights = self._readout(s, state)
        return (logits, weights) if return_attention else logits

    def step(self, ids: torch.Tensor, state: SearchState) -> tuple[torch.Tensor, SearchState]:
        """One decoding step: ids (N,) the previous tokens -> log-probabilities (N, V) of the
        next, and the new state (with this step's attention weights (N, S))."""
        y = self.target_embedding(ids)                                 # (N, E)
        s, rnn = self.decoder.step(y, state.rnn)                       # (N, Hd)
        new = SearchState(rnn, state.keys, state.projected, state.mask, state.summary)
        logits, weights = self._readout(s.unsqueeze(1), new)           # (N, 1, V)
        new.weights = None if weights is None else weights[:, 0]
        return F.log_softmax(logits[:, 0].float(), dim=-1), new

    # the interface rnnlab.decoding's searches use -----------------------------------------
    def expand(self, state: SearchState, beam_size: int) -> SearchState:
        rows = torch.arange(state.keys.shape[0], device=state.keys.device)
        return state.select(rows.repeat_interleave(beam_size))

    def reorder(self, state: SearchState, index: torch.Tensor) -> SearchState:
        return state.reorder(index)

    # -- translation ---------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, texts: Sequence[str], beam: int = 5, batch_size: int = 64,
                  **search) -> list[str]:
        """Translate source texts (one sentence each); an empty text gives "".

        beam 1 is greedy search. Other search options (length_penalty, max_length_ratio,
        max_length_extra): rnnlab.decoding.SearchOptions."""
        from rnnlab.tasks.translate import translate_texts

        return [h.text for h in translate_texts(self, texts, beam=beam, batch_size=batch_size,
                                                **search)]
