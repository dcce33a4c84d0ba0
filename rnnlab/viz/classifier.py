"""A classifier's reading of each text: pooling weights and each token's contribution.

The classifier computes logits = W·pool(o_1 … o_T) + b from its encoder outputs o_t (B, T, F).
Every pooling mode is a sum over tokens, so each logit splits exactly into one term per token
(the terms add up to the logit minus its bias, tested):

    mean       contribution_t = W_c · o_t / T
    attention  contribution_t = a_t · (W_c · o_t), a_t the attention weight (also shown)
    max        contribution_t = Σ over the features f whose maximum sits at token t of W_cf · o_tf
    last       the whole sum sits on the last token (and, bidirectional, the backward half on
               the first token, where the backward direction has read everything)

A contribution is what the token's encoder output adds to the class's score given the
context the encoder read — not what the token would add alone.
"""

from __future__ import annotations

import numpy as np
import torch

from rnnlab.data.wordvocab import UNK_ID


@torch.no_grad()
def explain_text(model, text: str) -> dict:
    """One text -> tokens, known flags, probabilities (C,), attention (T,) or None,
    contributions (C, T) and bias (C,)."""
    vocab = model.require_vocab()
    tokens = vocab.split(text)
    ids = vocab.encode(text)                      # [<unk>] for a text without tokens
    if not tokens:
        tokens = ["<unk>"]
    ids_t = torch.as_tensor(ids, dtype=torch.long).unsqueeze(0)          # (1, T)
    x = model.embedding(ids_t)                                            # (1, T, E)
    outputs, _ = model.encoder(x)                                         # (1, T, F)
    raw = outputs[0]                                                      # (T, F)
    outputs = raw.double()
    pooling = model.pooling
    weight = model.head.weight.double()                                   # (C, F)
    per_feature = outputs.unsqueeze(0) * weight.unsqueeze(1)              # (C, T, F)
    steps, features = outputs.shape
    attention = None
    if pooling.mode == "mean":
        contributions = per_feature.sum(-1) / steps
    elif pooling.mode == "attention":
        attention = pooling.attention_weights(raw.unsqueeze(0),
                                              torch.tensor([steps]))[0].double()   # (T,)
        contributions = per_feature.sum(-1) * attention
    elif pooling.mode == "max":
        winner = outputs.argmax(dim=0)                                    # (F,)
        chosen = torch.nn.functional.one_hot(winner, steps).t().double()  # (T, F)
        contributions = (per_feature * chosen).sum(-1)
    else:                                                                 # last
        contributions = torch.zeros(weight.shape[0], steps, dtype=torch.float64)
        half = features // pooling.num_directions
        contributions[:, -1] = per_feature[:, -1, :half].sum(-1)
        if pooling.num_directions == 2:
            contributions[:, 0] += per_feature[:, 0, half:].sum(-1)
    logits = model(ids_t)[0].double()                                     # (C,)
    return {"tokens": tokens, "known": [i != UNK_ID for i in ids],
            "probs": torch.softmax(logits, 0).numpy(),
            "logits": logits.numpy(),
            "attention": None if attention is None else attention.numpy(),
            "contributions": contributions.numpy(), "bias": model.head.bias.double().numpy()}


def classifier_payload(model, texts: list[str], run: str = "") -> dict:
    config = model.config
    examples = []
    biggest = 0.0
    for text in texts:
        e = explain_text(model, text)
        best = int(np.argmax(e["probs"]))
        biggest = max(biggest, float(np.abs(e["contributions"]).max()))
        examples.append({
            "text": text, "tokens": e["tokens"], "known": e["known"],
            "predicted": best, "probs": [round(float(p), 6) for p in e["probs"]],
            "logits": [round(float(v), 6) for v in e["logits"]],
            "attention": None if e["attention"] is None
            else [round(float(a), 6) for a in e["attention"]],
            "contributions": [[round(float(v), 6) for v in row] for row in e["contributions"]],
        })
    direction = "bidirectional " if config.bidirectional else ""
    return {
        "kind": "classifier",
        "title": f"classifier: {direction}{config.cell} {config.num_layers}×{config.hidden_size}, "
                 f"{config.pooling} pooling",
        "run": run,
        "labels": list(config.labels),
        "pooling": config.pooling,
        "bias": [round(float(b), 6) for b in model.head.bias.detach().double()],
        "contribution_range": [-(biggest or 1.0), biggest or 1.0],
        "examples": examples,
    }
