"""A tagger's reading of sentences: gold vs predicted tags, the errors, the model's confidence."""

from __future__ import annotations

from pathlib import Path

import torch

from rnnlab.errors import RnnlabError


def read_sentences(text: str, path: str | None, column: str):
    """[(forms, gold tags or None)]: a CoNLL-U file (gold tags from `column`), else one sentence
    per non-blank line, split on whitespace (no gold)."""
    from rnnlab.data.conllu_io import read_conllu, tagged_sentences

    first = next((line for line in text.splitlines() if line.strip()
                  and not line.startswith("#")), "")
    if path is not None and (Path(path).suffix == ".conllu" or first.count("\t") == 9):
        bank = read_conllu(path)
        return [(forms, tags) for forms, tags in tagged_sentences(bank, column)]
    return [(line.split(), None) for line in text.splitlines() if line.strip()]


@torch.no_grad()
def tagger_payload(model, sentences, run: str = "", column: str = "upos") -> dict:
    vocab = model.require_vocab()
    forms = [f for f, _ in sentences]
    if not any(forms):
        raise RnnlabError("the input holds no words to tag")
    predicted: list = [None] * len(forms)
    confidence: list = [None] * len(forms)
    model.eval()
    for chunk, _, logits in model.logits_by_length(forms, 64):
        probs = torch.softmax(logits.double(), dim=-1)                  # (B, T, K)
        best = probs.max(dim=-1)
        for row, index in enumerate(chunk):
            n = len(forms[index])
            predicted[index] = [vocab.tags[k] for k in best.indices[row, :n].tolist()]
            confidence[index] = [round(float(p), 6) for p in best.values[row, :n]]
    out = []
    errors = total = 0
    for (words, gold), tags, conf in zip(sentences, predicted, confidence):
        if not words:
            continue
        out.append({"words": words, "gold": gold, "predicted": tags, "confidence": conf,
                    "oov": [vocab.is_oov(w) for w in words]})
        if gold is not None:
            errors += sum(g != p for g, p in zip(gold, tags))
            total += len(words)
    c = model.config
    return {"kind": "tagger",
            "title": f"tagger: bidirectional {c.cell} {c.num_layers}×{c.hidden_size}, "
                     f"{column.upper()} tags",
            "run": run, "column": column, "tags": list(vocab.tags), "sentences": out,
            "errors": errors, "scored": total}
