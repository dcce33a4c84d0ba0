"""Conditional generation as a task: names by category -> splits -> padded batches, loss,
evaluation, `train_generator` (the one trainer), and the honest checks of a generator: held-out
loss per character, and how recognisable and how new its samples are to a classifier.

A run directory (`train_generator`):

    RUN/config.json          {"kind": "generator", "model": GeneratorConfig, "train": ...,
                              "data": NamesSource}
    RUN/vocab.json           characters + <pad> <unk> <s> </s> (rnnlab.data.names)
    RUN/splits/{train,dev,test}.tsv
                             the split over distinct names (label<TAB>text), written once when
                             the run starts; `rnnlab classify train --train RUN/splits/train.tsv
                             --dev RUN/splits/dev.tsv --level char` trains a classifier on it
    RUN/model.safetensors, best.safetensors (best dev loss), trainer_state.*, metrics.jsonl,
    loss.png

Training data are the DISTINCT (category, name) pairs of the train split, each once per epoch:
the held-out loss is measured over distinct names, so repeats in the files (Arabic.txt: 2,000
lines, 108 names) would only tilt training towards a few names.

Loss per character: a name of n characters is n + 1 predictions (its characters, then </s>),
each from the start symbol and the characters before it; nats/char is the mean over all of them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rnnlab.data.names import (BOS_ID, EOS_ID, SPLITS, NameSplits,
                               build_name_vocab, check_balance, encode_name, list_known,
                               oversample_categories, read_categories,
                               read_category_vectors, read_splits, split_names,
                               unknown_characters, write_splits)
from rnnlab.data.padding import BucketBatchSampler, pad_sequences
from rnnlab.data.wordvocab import PAD_ID, WordVocab
from rnnlab.errors import RnnlabError
from rnnlab.models.generator import SPLITS_FOLDER, Generator, GeneratorConfig
from rnnlab.tasks.lm import LMScore
from rnnlab.tasks.padded import PaddedTask
from rnnlab.train.config import GeneratorTrainConfig, TrainConfig
from rnnlab.train.run import check_unchanged, launch, open_run
from rnnlab.train.trainer import TrainResult

UNKNOWN_POLICIES = ("error", "skip")


# --------------------------------------------------------------------------------------------
# Examples and batches


@dataclass
class EncodedNames:
    """(category, name) pairs as ids: `chars[i]` are the name's character ids (no <s>, </s>)."""
    pairs: list[tuple[str, str]]
    categories: list[int]
    chars: list[list[int]]
    skipped: list[tuple[str, str]] = field(default_factory=list)   # unseen characters

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def lengths(self) -> list[int]:
        """Steps per example: <s> and the characters (the targets are the characters and </s>)."""
        return [len(ids) + 1 for ids in self.chars]


def encode_pairs(pairs: Iterable[tuple[str, str]], vocab: WordVocab, categories: list[str],
                 unknown: str = "error", where: str = "") -> EncodedNames:
    """Ids of every pair; a category the model does not know is an error, a name with a
    character it never saw is an error (unknown="error") or left out (unknown="skip")."""
    if unknown not in UNKNOWN_POLICIES:
        raise RnnlabError(f"unknown-character policy {unknown!r}; expected one of "
                          f"{', '.join(UNKNOWN_POLICIES)}")
    index = {category: i for i, category in enumerate(categories)}
    encoded = EncodedNames([], [], [])
    for category, name in pairs:
        if category not in index:
            raise RnnlabError(f"{where + ': ' if where else ''}unknown category {category!r}; "
                              f"known categories: {list_known(categories)}")
        if unknown == "skip" and unknown_characters(vocab, name):
            encoded.skipped.append((category, name))
            continue
        encoded.chars.append(encode_name(vocab, name, f"{where + ': ' if where else ''}"
                                                      f"{category}"))
        encoded.pairs.append((category, name))
        encoded.categories.append(index[category])
    return encoded


def collate(data: EncodedNames, indices: list[int]) -> dict[str, torch.Tensor]:
    """{"inputs": <s> + name (B, T), "targets": name + </s> (B, T), padded with <pad> (0),
    "lengths": (B,), "categories": (B,)}."""
    inputs, lengths = pad_sequences([[BOS_ID, *data.chars[i]] for i in indices], pad_id=PAD_ID)
    targets, _ = pad_sequences([[*data.chars[i], EOS_ID] for i in indices], pad_id=PAD_ID)
    categories = torch.tensor([data.categories[i] for i in indices], dtype=torch.int64)
    return {"inputs": inputs, "targets": targets, "lengths": lengths, "categories": categories}


def symbol_losses(model: nn.Module, batch: dict) -> torch.Tensor:
    """(B, T) nats of each target symbol, 0 at padding."""
    logits, _ = model(batch["inputs"], batch["categories"], batch["lengths"])   # (B, T, V)
    return F.cross_entropy(logits.float().transpose(1, 2), batch["targets"],
                           ignore_index=PAD_ID, reduction="none")               # (B, T)


def generation_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, int]:
    """(mean nats per target symbol, number of target symbols)."""
    count = int((batch["targets"] != PAD_ID).sum())
    return symbol_losses(model, batch).sum() / count, count


# --------------------------------------------------------------------------------------------
# Held-out loss


@dataclass
class NameScores:
    """Held-out loss: overall (micro over symbols) and per category."""
    overall: LMScore
    num_names: int
    per_category: dict[str, LMScore]
    names_per_category: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        skipped = (f"; {len(self.skipped)} names left out for characters never seen in "
                   "training" if self.skipped else "")
        return f"{self.overall.summary()} ({self.num_names:,} names{skipped})"

    def table(self) -> str:
        width = max([len("category")] + [len(c) for c in self.per_category])
        lines = [f"{'category'.ljust(width)}  names  nats/char  bits/char"]
        for category, score in self.per_category.items():
            lines.append(f"{category.ljust(width)}  {self.names_per_category[category]:5d}  "
                         f"{score.nats_per_char:9.4f}  {score.bits_per_char:9.4f}")
        return "\n".join(lines)


@torch.no_grad()
def score_names(model: Generator, data: EncodedNames, batch_size: int = 256) -> NameScores:
    """Nats per symbol of every name (its characters and </s>), overall and per category."""
    if len(data) == 0:
        raise RnnlabError("no names to score")
    device = model.head.weight.device
    was_training = model.training
    model.eval()
    per_name = np.zeros(len(data))
    try:
        order = sorted(range(len(data)), key=lambda i: data.lengths[i])
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = {key: value.to(device) for key, value in collate(data, rows).items()}
            per_name[rows] = symbol_losses(model, batch).sum(dim=1).double().cpu().numpy()
    finally:
        model.train(was_training)
    symbols = np.array(data.lengths)            # n characters + </s> = n + 1 = the steps
    categories = model.config.categories
    per_category, counts = {}, {}
    for index, category in enumerate(categories):
        rows = [i for i, c in enumerate(data.categories) if c == index]
        if rows:
            per_category[category] = LMScore(float(per_name[rows].sum() / symbols[rows].sum()),
                                             int(symbols[rows].sum()))
            counts[category] = len(rows)
    overall = LMScore(float(per_name.sum() / symbols.sum()), int(symbols.sum()))
    return NameScores(overall, len(data), per_category, counts, list(data.skipped))


# --------------------------------------------------------------------------------------------
# Where the data comes from (recorded in config.json so --resume reads the same)


@dataclass
class NamesSource:
    data: str = ""
    sha256: str = ""
    split_seed: int = 0
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    vectors: str | None = None
    vectors_sha256: str = ""
    balance: int = 0          # rnnlab.data.names.oversample_categories (0: each pair once)


def _file_digest(path: str | None) -> str:
    from rnnlab.data.corpus import file_sha256

    return file_sha256(Path(path)) if path else ""


# --------------------------------------------------------------------------------------------
# Training


class GenerationTask(PaddedTask):
    """Padded batches of names; throughput and the loss curve count characters."""
    count_name = "chars"

    def __init__(self, model: Generator, train: EncodedNames, dev: EncodedNames,
                 config: TrainConfig):
        sampler = BucketBatchSampler(train.lengths, config.batch_size, shuffle=True,
                                     seed=config.seed)

        def evaluate(current: nn.Module) -> dict:
            return {"loss": score_names(current, dev, config.eval_batch_size)
                    .overall.nats_per_char}

        super().__init__(model, sampler, lambda indices: collate(train, indices),
                         generation_loss, evaluate, metric="loss", higher_is_better=False)

    def after_evaluation(self, model: nn.Module, step: int) -> str:
        """One sample for each of the first few categories, to watch training."""
        from rnnlab.decoding import SamplingOptions

        if model.condition is None:
            names = model.sample(None, n=4, options=SamplingOptions(temperature=0.8), seed=step)
            return "  samples: " + ", ".join(names)
        shown = []
        for category in model.config.categories[:6]:
            name = model.sample(category, n=1, options=SamplingOptions(temperature=0.8),
                                seed=step)[0]
            shown.append(f"{category}: {name}")
        return "  samples: " + ", ".join(shown)


def train_generator(*, data: str | Path | None = None, out: str | Path | None = None,
                    model: dict | None = None, train_options: dict | None = None,
                    split_seed: int = 0, dev_fraction: float = 0.1, test_fraction: float = 0.1,
                    balance: int = 0, vectors: str | Path | None = None,
                    resume: str | Path | None = None,
                    overrides: dict | None = None, device: str = "cpu",
                    progress_bar: bool = True, log: Callable[[str], None] = print
                    ) -> TrainResult:
    """Train a generator on a folder of `<category>.txt` files (or a category<TAB>name TSV)
    into `out`, or continue the run in `resume`.

    `model`: GeneratorConfig fields (vocab_size and categories come from the data);
    `train_options`: GeneratorTrainConfig fields; `vectors`: a category<TAB>floats file to
    condition on fixed vectors instead of learned category embeddings; `balance`: repeat each
    category's training pairs round(balance / count) times per epoch (at least once; 0: once).
    """
    run = open_run(Generator.kind, GeneratorTrainConfig, resume=resume,
                   out=out or time.strftime("runs/generate-%Y%m%d-%H%M%S"),
                   train_options=train_options, overrides=overrides)
    if run.resuming:
        source = NamesSource(**run.saved["data"])
        names = read_categories(source.data)
        check_unchanged((source.sha256, source.vectors_sha256),
                        (names.sha256, _file_digest(source.vectors)), run.run_dir, "data")
        model_config = GeneratorConfig.from_dict(run.saved["model"])
        vocab = WordVocab.load(run.run_dir / "vocab.json")
        splits = read_splits(run.run_dir / SPLITS_FOLDER)
    else:
        if data is None:
            raise RnnlabError("no training data: pass --data (a folder of <category>.txt files "
                              "or a category<TAB>name TSV file)")
        forbidden = {"vocab_size", "categories"} & set(model or {})
        if forbidden:
            raise RnnlabError(f"{', '.join(sorted(forbidden))} come from the data and cannot be set")
        check_balance(balance)                         # before any file is read
        names = read_categories(data)
        source = NamesSource(data=str(data), sha256=names.sha256, split_seed=split_seed,
                             dev_fraction=dev_fraction, test_fraction=test_fraction,
                             balance=balance,
                             vectors=str(vectors) if vectors else None,
                             vectors_sha256=_file_digest(vectors))
        splits = split_names(names, split_seed, dev_fraction, test_fraction)
        if not splits.pairs["train"]:
            raise RnnlabError(f"{data}: no names left for training after the split")
        vocab = build_name_vocab(name for _, name in splits.pairs["train"])
        vector_size = (len(read_category_vectors(vectors, names.categories)[0]) if vectors
                       else None)
        model_config = GeneratorConfig.from_dict({**(model or {}), "vocab_size": len(vocab),
                                                  "categories": names.categories,
                                                  **({"vector_size": vector_size}
                                                     if vector_size else {})})
        write_splits(splits, run.run_dir / SPLITS_FOLDER)
    category_vectors = (read_category_vectors(source.vectors, model_config.categories)
                        if source.vectors else None)
    train_data = encode_pairs(oversample_categories(splits.pairs["train"], source.balance), vocab,
                              model_config.categories)
    dev_data = encode_pairs(splits.pairs["dev"] or splits.pairs["train"], vocab,
                            model_config.categories, unknown="skip")
    log(f"data: {names.summary()} from {source.data}")
    log(f"{splits.summary()} (seed {source.split_seed}); "
        + (f"each category's training pairs repeated to about {source.balance} per epoch "
           f"({len(train_data):,} in all); " if source.balance else "")
        + f"vocabulary {len(vocab) - 4} "
        f"characters + 4 reserved symbols"
        + (f"; {len(dev_data.skipped)} dev names left out for characters unseen in training"
           if dev_data.skipped else "")
        + ("" if splits.pairs["dev"] else "; no dev names, so training names are scored"))

    def make_task() -> GenerationTask:
        network = Generator(model_config)
        network.vocab = vocab
        if category_vectors is not None:
            network.set_category_vectors(torch.tensor(category_vectors))
        return GenerationTask(network, train_data, dev_data, run.train_config)

    c = model_config
    return launch(run, make_task, vocab=vocab, device=device, progress_bar=progress_bar, log=log,
                  config={"kind": Generator.kind, "model": c.to_dict(), "data": asdict(source)},
                  describe=lambda task, trainer: (
                      f"{c.cell} {c.num_layers}×{c.hidden_size}, conditioning {c.conditioning}"
                      f"{' on vectors of ' + str(c.vector_size) if c.vector_size else ''}"))


# --------------------------------------------------------------------------------------------
# Evaluation of a saved run


def run_splits(run_dir: str | Path) -> NameSplits:
    return read_splits(Path(run_dir) / SPLITS_FOLDER)


def evaluate_run(run_dir: str | Path, *, data: str | Path | None = None, split: str = "test",
                 unknown: str = "error", weights: str = "best", batch_size: int = 256
                 ) -> NameScores:
    """Held-out nats per character of a saved generator, on a split of its own run (default:
    test) or on other data (a folder of <category>.txt files or a TSV)."""
    model = Generator.from_pretrained(run_dir, weights)
    if data is not None:
        pairs, where = read_categories(data).pairs(), str(data)
    else:
        if split not in SPLITS:
            raise RnnlabError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        pairs = run_splits(run_dir).pairs[split]
        where = str(Path(run_dir) / SPLITS_FOLDER / f"{split}.tsv")
        if not pairs:
            raise RnnlabError(f"{where} holds no names")
    encoded = encode_pairs(pairs, model.vocab, model.config.categories, unknown, where)
    if len(encoded) == 0:
        raise RnnlabError(f"{where}: every name has characters the model never saw")
    return score_names(model, encoded, batch_size)


# --------------------------------------------------------------------------------------------
# Recognisability and novelty of samples, judged by a classifier


@dataclass
class RecognitionRow:
    category: str
    samples: list[str]
    recognised: float          # share classified as the requested category
    new: float                 # share not among the training names (any category)
    new_distinct: float        # distinct samples not among the training names / samples
    outside_data: float        # share in no split at all (nan when not asked for)
    recognised_new: float      # recognised, among the new samples only (nan when none)
    predicted: dict[str, int]  # what the classifier called them


@dataclass
class RecognitionReport:
    rows: list[RecognitionRow]
    temperature: float
    samples_per_category: int

    def macro(self, attribute: str) -> float:
        values = [getattr(row, attribute) for row in self.rows]
        values = [v for v in values if v == v]                # nan: no value for that row
        return float(np.mean(values)) if values else float("nan")

    def table(self) -> str:
        width = max([len("category")] + [len(row.category) for row in self.rows])
        lines = [f"{'category'.ljust(width)}  recognised  new  new+distinct  outside data  "
                 "recognised (new only)  most often called  examples"]
        for row in self.rows:
            called = ", ".join(f"{label} {count}" for label, count in
                               sorted(row.predicted.items(), key=lambda kv: -kv[1])[:2])
            lines.append(f"{row.category.ljust(width)}  {row.recognised:10.2f}  {row.new:3.2f}  "
                         f"{row.new_distinct:12.2f}  {row.outside_data:12.2f}  "
                         f"{row.recognised_new:21.2f}  {called}  {', '.join(row.samples[:4])}")
        lines.append(f"{'macro'.ljust(width)}  {self.macro('recognised'):10.2f}  "
                     f"{self.macro('new'):3.2f}  {self.macro('new_distinct'):12.2f}  "
                     f"{self.macro('outside_data'):12.2f}  {self.macro('recognised_new'):21.2f}")
        return "\n".join(lines)


def recognisability(generator: Generator, classifier_runs, *, samples: int = 100,
                    options=None, seed: int = 0, weights: str = "best",
                    all_names: set[str] | None = None) -> RecognitionReport:
    """For every category: `samples` names drawn from the generator (not filtered), classified
    by the classifier (or the mean of several); the share classified as the requested category
    and the share that is new. Training names: `generator.training_names` (from_pretrained)."""
    from rnnlab.decoding import SamplingOptions
    from rnnlab.tasks.classify import ensemble_probabilities, load_ensemble

    options = options or SamplingOptions(temperature=0.8)
    classifiers = load_ensemble(classifier_runs, weights)
    labels = classifiers[0].config.labels
    missing = [c for c in generator.config.categories if c not in labels]
    if missing:
        raise RnnlabError(f"the classifier does not know the categories {list_known(missing)}; "
                          f"its labels: {list_known(labels)}")
    training = generator.training_names
    if training is None:
        raise RnnlabError("the generator has no record of its training names; load it with "
                          "Generator.from_pretrained(RUN)")
    rows = []
    for index, category in enumerate(generator.config.categories):
        names = generator.sample(category, n=samples, options=options, seed=seed + index)
        probabilities = ensemble_probabilities(classifiers, names)
        predicted = [labels[int(i)] for i in probabilities.argmax(dim=1)]
        hits = [p == category for p in predicted]
        new = [name not in training for name in names]
        new_hits = [hit for hit, fresh in zip(hits, new) if fresh]
        counts: dict[str, int] = {}
        for label in predicted:
            counts[label] = counts.get(label, 0) + 1
        rows.append(RecognitionRow(
            category, names, float(np.mean(hits)), float(np.mean(new)),
            len({n for n, fresh in zip(names, new) if fresh}) / len(names),
            float(np.mean([n not in all_names for n in names])) if all_names is not None
            else float("nan"),
            float(np.mean(new_hits)) if new_hits else float("nan"), counts))
    return RecognitionReport(rows, options.temperature, samples)


# --------------------------------------------------------------------------------------------
# The classifier's confusion matrix as a picture


def plot_confusion(confusion: np.ndarray, labels: list[str], path: str | Path,
                   title: str = "") -> Path:
    """A PNG of the confusion matrix, each row normalised to the share of its gold names
    (colour) with the counts written in the cells."""
    from rnnlab.diagnostics.plots import new_figure, save_figure

    confusion = np.asarray(confusion)
    totals = confusion.sum(axis=1, keepdims=True)
    shares = np.divide(confusion, totals, out=np.zeros(confusion.shape), where=totals > 0)
    size = max(6.0, 0.45 * len(labels) + 2)
    fig, (ax,) = new_figure(1, width=size + 1.5, height=size)
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the gold row")
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    if title:
        ax.set_title(title)
    for row in range(len(labels)):
        for column in range(len(labels)):
            if confusion[row, column]:
                ax.text(column, row, str(int(confusion[row, column])), ha="center",
                        va="center", fontsize=7,
                        color="white" if shares[row, column] > 0.5 else "black")
    return save_figure(fig, path)
