"""Text classifier (many-to-one, section 1.5 of the chapter).

    ids (B, T) ─Embedding─► (B, T, E) ─dropout─► RecurrentEncoder ─► (B, T, H·dirs)
               ─pooling (last | mean | max | attention)─► (B, H·dirs) ─dropout─► Linear ─► logits (B, C)

Padding never changes a prediction: the encoder packs the batch and every pooling mode masks
the padded steps (rnnlab.nn). The embedding row of <pad> (id 0) is fixed at zero.

Hyper-parameters live in `ClassifierConfig` (rnnlab.models.configs; the label names included),
written to config.json next to the weights, so `RNNClassifier.from_pretrained(run_dir)` rebuilds
the model, its vocabulary and its labels without guessing. Training, evaluation and prediction
on files are in rnnlab.tasks.classify:

    model = RNNClassifier.from_pretrained("runs/sst2")
    model.predict(["a gorgeous, witty film", "tedious"])   # [("1", 0.97), ("0", 0.88)]
"""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.data.wordvocab import PAD_ID, UNK_ID, WordVocab
from rnnlab.models.configs import ClassifierConfig
from rnnlab.models.pretrained import Pretrained
from rnnlab.nn.encoder import RecurrentEncoder
from rnnlab.nn.pooling import SequencePooling



class RNNClassifier(Pretrained, nn.Module):
    """forward(ids (B, T) int64, lengths (B,) or None) -> logits (B, C)."""
    kind = "classifier"
    config_class = ClassifierConfig
    vocab_class = WordVocab

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.vocab: WordVocab | None = None
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=0)
        with torch.no_grad():
            self.embedding.weight.normal_(0.0, config.embedding_init_std)
            self.embedding.weight[0].zero_()                     # <pad> stays a zero vector
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.encoder = RecurrentEncoder(
            config.embedding_size, config.hidden_size, cell=config.cell,
            num_layers=config.num_layers, dropout=config.dropout,
            bidirectional=config.bidirectional, residual=config.residual,
            layer_norm=config.layer_norm)
        self.pooling = SequencePooling(config.pooling, self.encoder.output_size,
                                       self.encoder.num_directions, config.attention_size)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.encoder.output_size, config.num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if self.training and self.config.word_dropout > 0:
            drop = torch.rand(ids.shape, device=ids.device) < self.config.word_dropout
            ids = ids.masked_fill(drop & (ids != PAD_ID), UNK_ID)
        x = self.embedding_dropout(self.embedding(ids))          # (B, T, E)
        outputs, _ = self.encoder(x, lengths)                    # (B, T, H·dirs)
        pooled = self.pooling(outputs, lengths)                  # (B, H·dirs)
        return self.head(self.dropout(pooled))                   # (B, C)

    @torch.no_grad()
    def predict(self, texts: list[str], batch_size: int = 256) -> list[tuple[str, float]]:
        """(label, probability) for each text; unseen words map to <unk>."""
        from rnnlab.tasks.classify import predict_texts

        self.require_vocab()
        return predict_texts([self], texts, batch_size)
