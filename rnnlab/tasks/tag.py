"""Part-of-speech tagging as a task: CoNLL-U files -> padded batches, token loss, accuracy
(overall and on words unseen in training), and `train_tagger`, which runs it in the one trainer.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from rnnlab.data.conllu_io import (
    TAG_COLUMNS, check_known_tags, fetch_tagging_dataset, read_conllu, tagged_sentences,
)
from rnnlab.data.corpus import file_sha256
from rnnlab.data.padding import BucketBatchSampler
from rnnlab.data.tagging import IGNORE_INDEX, TaggerBatch, TaggerVocab, make_batch
from rnnlab.errors import RnnlabError
from rnnlab.models.tagger import Tagger, TaggerConfig, config_for
from rnnlab.tasks.padded import PaddedTask
from rnnlab.train import checkpoint
from rnnlab.train.config import TrainConfig
from rnnlab.train.run import check_unchanged, launch, open_run


@dataclass
class TagScore:
    """Token-level tagging accuracy, overall and on words never seen in training (OOV)."""
    correct: int
    total: int
    oov_correct: int
    oov_total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")

    @property
    def oov_accuracy(self) -> float:
        return self.oov_correct / self.oov_total if self.oov_total else float("nan")

    def summary(self) -> str:
        oov = (f"{100 * self.oov_accuracy:.2f}%" if self.oov_total else "n/a")
        return (f"accuracy {100 * self.accuracy:.2f}% of {self.total:,} tokens; "
                f"OOV {oov} of {self.oov_total:,} tokens unseen in training")

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "tokens": self.total, "correct": self.correct,
                "oov_accuracy": self.oov_accuracy if self.oov_total else None,
                "oov_tokens": self.oov_total, "oov_correct": self.oov_correct}


def score_tags(vocab: TaggerVocab, sentences: Sequence[Sequence[str]],
               gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> TagScore:
    """Count correct tags overall and on OOV words (forms absent from the training data)."""
    correct = total = oov_correct = oov_total = 0
    for forms, gold_tags, predicted_tags in zip(sentences, gold, predicted):
        for form, g, p in zip(forms, gold_tags, predicted_tags):
            hit = g == p
            total += 1
            correct += hit
            if vocab.is_oov(form):
                oov_total += 1
                oov_correct += hit
    return TagScore(correct, total, oov_correct, oov_total)


def evaluate_tagger(model: Tagger, sentences: Sequence[Sequence[str]],
                    gold: Sequence[Sequence[str]], batch_size: int = 64) -> TagScore:
    """Tag `sentences` with `model` and score against `gold` (one tag list per sentence)."""
    predicted = model.predict(sentences, batch_size=batch_size)
    return score_tags(model.require_vocab(), sentences, gold, predicted)


# --------------------------------------------------------------------------------------------
# Training: the tagging task in the one trainer


@dataclass
class TaggingData:
    """Where a run's sentences came from, recorded in config.json so --resume re-reads them."""
    train: str | None = None
    dev: str | None = None
    dataset: str | None = None
    column: str = "upos"
    train_sha256: str = ""
    dev_sha256: str = ""

    def paths(self) -> tuple[Path, Path]:
        if self.dataset is not None:
            if self.train is not None or self.dev is not None:
                raise RnnlabError(f"give either --dataset {self.dataset} or --train/--dev files, "
                                  "not both")
            return (fetch_tagging_dataset(self.dataset, "train"),
                    fetch_tagging_dataset(self.dataset, "dev"))
        if self.train is None or self.dev is None:
            missing = "--train" if self.train is None else "--dev"
            raise RnnlabError(f"{missing} FILE is missing: training needs a training treebank and "
                              "a dev treebank (CoNLL-U), or --dataset ud_english_ewt")
        return Path(self.train), Path(self.dev)


def load_tagging_data(source: TaggingData, vocab: TaggerVocab | None = None,
                      min_count: int = 1, lowercase: bool = False):
    """Read train and dev; returns (train pairs, dev pairs, vocab).

    Builds the vocabulary from train (with `min_count`, `lowercase`) unless one is given, and
    records the files' sha256 in `source`. Every dev tag must occur in the training data.
    """
    train_path, dev_path = source.paths()
    train_bank, dev_bank = read_conllu(train_path), read_conllu(dev_path)
    train_pairs = tagged_sentences(train_bank, source.column)
    dev_pairs = tagged_sentences(dev_bank, source.column)
    if vocab is None:
        vocab = TaggerVocab.build(train_pairs, min_count=min_count, lowercase=lowercase)
    check_known_tags(dev_bank, vocab.tags, source.column)
    source.train_sha256, source.dev_sha256 = file_sha256(train_path), file_sha256(dev_path)
    return train_pairs, dev_pairs, vocab


def tagging_loss(model: Tagger, batch: dict) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy per real token; the count returned is the number of sentences."""
    batch = TaggerBatch(**batch)
    logits = model(batch)                                              # (B, T, K)
    loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch.tags.flatten(),
                                       ignore_index=IGNORE_INDEX)
    return loss, int(batch.lengths.shape[0])


def make_tagging_task(model: Tagger, train_pairs, dev_pairs, batch_size: int,
                      eval_batch_size: int, seed: int):
    """The tagging task: bucketed train batches, token loss, dev accuracy/OOV."""
    vocab = model.require_vocab()
    sampler = BucketBatchSampler([len(forms) for forms, _ in train_pairs], batch_size,
                                 shuffle=True, seed=seed)

    def collate(indices: list[int]) -> dict:
        chosen = [train_pairs[i] for i in indices]
        batch = make_batch(vocab, [f for f, _ in chosen], [t for _, t in chosen])
        return batch.as_dict()

    dev_forms = [forms for forms, _ in dev_pairs]
    dev_tags = [tags for _, tags in dev_pairs]

    def evaluate(model: Tagger) -> dict[str, float]:
        loss_sum, predicted = 0.0, [[] for _ in dev_pairs]
        for chunk, batch, logits in model.logits_by_length(dev_forms, eval_batch_size, dev_tags):
            logits = logits.float()                                    # (B, T, K)
            loss_sum += nn.functional.cross_entropy(
                logits.flatten(0, 1), batch.tags.flatten(), ignore_index=IGNORE_INDEX,
                reduction="sum").item()
            model.decode_into(predicted, chunk, logits, dev_forms)
        score = score_tags(vocab, dev_forms, dev_tags, predicted)
        result = {"accuracy": score.accuracy, "loss": loss_sum / score.total}
        if score.oov_total:
            result["oov_accuracy"] = score.oov_accuracy
        return result

    return PaddedTask(model, sampler, collate, tagging_loss, evaluate, metric="accuracy")


def train_tagger(*, train: str | None = None, dev: str | None = None,
                 dataset: str | None = None, column: str = "upos", out: str | Path | None = None,
                 model: dict | None = None, training: dict | None = None,
                 resume: str | Path | None = None, overrides: dict | None = None,
                 device: str = "cpu", progress_bar: bool = True, log=print):
    """Train a tagger into `out` (or continue the run in `resume`); returns a TrainResult.

    `model` holds TaggerConfig fields other than the sizes taken from the data, plus
    "min_count" and "lowercase" for the word vocabulary; `training` holds TrainConfig fields.
    On resume the saved configuration is used and `overrides` may change only the budgets and
    the evaluation interval (rnnlab.train.config.RESUMABLE_OPTIONS).
    """
    run = open_run(Tagger.kind, TrainConfig, resume=resume,
                   out=out or time.strftime("runs/tagger-%Y%m%d-%H%M%S"),
                   train_options=training, overrides=overrides)
    if run.resuming:
        source = TaggingData(**run.saved["data"])
        recorded = (source.train_sha256, source.dev_sha256)
        vocab = TaggerVocab.load(run.run_dir / checkpoint.VOCAB_FILE)
        train_pairs, dev_pairs, vocab = load_tagging_data(source, vocab)
        check_unchanged(recorded, (source.train_sha256, source.dev_sha256), run.run_dir,
                        "training or dev treebank")
        model_config = TaggerConfig.from_dict(run.saved["model"])
        min_count = (run.saved.get("vocab") or {}).get("min_count", 1)
    else:
        if column not in TAG_COLUMNS:
            raise RnnlabError(f"unknown tag column {column!r}; choose one of {', '.join(TAG_COLUMNS)}")
        options = dict(model or {})
        min_count = options.pop("min_count", 1)
        lowercase = options.pop("lowercase", False)
        # Absolute paths, so that --resume works from any working directory.
        source = TaggingData(train=None if train is None else str(Path(train).resolve()),
                             dev=None if dev is None else str(Path(dev).resolve()),
                             dataset=dataset, column=column)
        train_pairs, dev_pairs, vocab = load_tagging_data(source, min_count=min_count,
                                                          lowercase=lowercase)
        model_config = config_for(vocab, **options)
    train_tokens = sum(len(f) for f, _ in train_pairs)
    dev_tokens = sum(len(f) for f, _ in dev_pairs)
    log(f"data: {len(train_pairs):,} training sentences ({train_tokens:,} tokens), "
        f"{len(dev_pairs):,} dev sentences ({dev_tokens:,} tokens); {len(vocab.words):,} words, "
        f"{len(vocab.chars):,} characters, {len(vocab.tags)} {source.column.upper()} tags")
    config = run.train_config

    def make_task() -> PaddedTask:
        tagger = Tagger(model_config, vocab)
        return make_tagging_task(tagger, train_pairs, dev_pairs, config.batch_size,
                                 config.eval_batch_size, config.seed)

    c = model_config
    return launch(run, make_task, vocab=vocab, device=device, progress_bar=progress_bar, log=log,
                  config={"kind": Tagger.kind, "model": c.to_dict(), "data": asdict(source),
                          "vocab": {"min_count": min_count, "lowercase": vocab.lowercase,
                                    "words": len(vocab.words), "chars": len(vocab.chars)}},
                  describe=lambda task, trainer: f"{c.num_layers}×{c.hidden_size} bidirectional {c.cell}")


def run_column(run_dir: str | Path) -> str:
    """The tag column ("upos" or "xpos") a run was trained on."""
    config = checkpoint.read_config(run_dir, expected_kind=Tagger.kind)
    return (config.get("data") or {}).get("column", "upos")


def evaluate_file(run_dir: str | Path, path: str | Path, weights: str = "best",
                  batch_size: int = 64) -> tuple[TagScore, str]:
    """Score the tagger in `run_dir` on a tagged CoNLL-U file; returns (score, column).

    Raises RnnlabError if a word has no gold tag or a gold tag never occurred in training.
    """
    model = Tagger.from_pretrained(run_dir, weights=weights)
    column = run_column(run_dir)
    bank = read_conllu(path)
    pairs = tagged_sentences(bank, column)
    check_known_tags(bank, model.vocab.tags, column)
    score = evaluate_tagger(model, [f for f, _ in pairs], [t for _, t in pairs], batch_size)
    return score, column
