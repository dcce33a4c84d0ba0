"""Text classification (many-to-one): the model, and training / evaluation / prediction on files.

    ids (B, T) ─Embedding─► (B, T, E) ─dropout─► RecurrentEncoder ─► (B, T, H·dirs)
               ─pooling (last | mean | max | attention)─► (B, H·dirs) ─dropout─► Linear ─► logits (B, C)

Padding never changes a prediction: the encoder packs the batch and every pooling mode masks
the padded steps (rnnlab.nn). The embedding row of <pad> (id 0) is fixed at zero.

Hyper-parameters live in `ClassifierConfig` (the label names included), written to config.json
next to the weights, so `RNNClassifier.from_pretrained(run_dir)` rebuilds the model, its
vocabulary and its labels without guessing.

A run directory (`train_classifier`):

    RUN/config.json            {"kind": "classifier", "model": ..., "train": ..., "data": ..., "vocab": ...}
    RUN/vocab.json             the token vocabulary (rnnlab.data.wordvocab)
    RUN/model.safetensors      last weights;  RUN/best.safetensors  best dev accuracy
    RUN/trainer_state.*        for --resume (rnnlab.supervised)
    RUN/metrics.jsonl, loss.png, metric.png

From Python:

    model = RNNClassifier.from_pretrained("runs/sst2")
    model.predict(["a gorgeous, witty film", "tedious"])   # [("1", 0.97), ("0", 0.88)]
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rnnlab.train import checkpoint
from rnnlab.data.classification import (Example, check_known_labels, fetch_classification_dataset,
                                        label_set, read_examples)
from rnnlab.data.padding import BucketBatchSampler, pad_sequences
from rnnlab.data.wordvocab import LEVELS, PAD_ID, UNK_ID, WordVocab
from rnnlab.errors import RnnlabError
from rnnlab.nn.encoder import CELLS, RecurrentEncoder
from rnnlab.nn.pooling import POOLINGS, SequencePooling
from rnnlab.supervised import (SupervisedConfig, SupervisedResult, SupervisedTask,
                               SupervisedTrainer, confusion_matrix, scores_from_confusion)

CONFIG_KIND = "classifier"
WEIGHT_CHOICES = ("best", "last")
# Training defaults of classification where they differ from rnnlab.supervised's. Picked with
# short SST-2 trials (benchmarks/bench_sst2.py): lr 4e-3 learned faster than 2e-3 per step.
TRAIN_DEFAULTS = {"lr": 4e-3}
# With no budget given, train this many epochs (the cosine then ends with the run). On SST-2 a
# BiGRU peaks after 2-3 epochs and over-fits after: 3 epochs gave 80.7% dev accuracy with the
# last weights where a 300-s run (11.6 epochs) gave 78.2%.
DEFAULT_EPOCHS = 3


@dataclass
class ClassifierConfig:
    vocab_size: int
    labels: list[str]
    cell: str = "gru"
    embedding_size: int = 300
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.5              # before the output layer, and between recurrent layers
    embedding_dropout: float = 0.3
    # Training only: each word is replaced by <unk> with this probability, so the model cannot
    # lean on any single word (a strong regulariser on small data) and <unk> learns a meaning.
    word_dropout: float = 0.0
    pooling: str = "max"
    residual: bool = False
    layer_norm: bool = False
    attention_size: int | None = None   # attention pooling's hidden size (default: H·dirs)
    # Embeddings start as N(0, std²). PyTorch's default std 1 makes Adam, whose steps are about
    # lr per element, take hundreds of steps to move a vector noticeably; 0.1 learns faster.
    embedding_init_std: float = 0.1

    def __post_init__(self) -> None:
        self.labels = [str(label) for label in self.labels]
        if len(self.labels) < 2:
            raise RnnlabError(f"a classifier needs at least 2 labels, got {self.labels!r}")
        if len(set(self.labels)) != len(self.labels):
            raise RnnlabError(f"labels must be distinct, got {self.labels!r}")
        if self.cell not in CELLS:
            raise RnnlabError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if self.pooling not in POOLINGS:
            raise RnnlabError(f"unknown pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}")
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RnnlabError(f"{name} must be a positive integer, got {value!r}")
        if not self.embedding_init_std > 0:
            raise RnnlabError(f"embedding_init_std must be > 0, got {self.embedding_init_std!r}")
        for name in ("dropout", "embedding_dropout", "word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise RnnlabError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ClassifierConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RnnlabError(f"unknown classifier config keys {unknown}; known: {sorted(known)}")
        return cls(**data)


class RNNClassifier(nn.Module):
    """forward(ids (B, T) int64, lengths (B,) or None) -> logits (B, C)."""

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

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def predict(self, texts: list[str], batch_size: int = 256) -> list[tuple[str, float]]:
        """(label, probability) for each text; unseen words map to <unk>."""
        if self.vocab is None:
            raise RnnlabError("this model has no vocabulary attached; load it with from_pretrained")
        return predict_texts([self], texts, batch_size)

    # -- persistence ---------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, run_dir: str | Path, weights: str = "best") -> "RNNClassifier":
        """Rebuild a trained classifier from a run directory; `weights` is "best" or "last"."""
        run_dir = Path(run_dir)
        if weights not in WEIGHT_CHOICES:
            raise RnnlabError(f"weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
        config = checkpoint.read_config(run_dir, expected_kind=CONFIG_KIND)
        path = run_dir / (checkpoint.BEST_WEIGHTS_FILE if weights == "best"
                          else checkpoint.WEIGHTS_FILE)
        if not path.exists():
            path = run_dir / checkpoint.WEIGHTS_FILE
        model = cls(ClassifierConfig.from_dict(config["model"]))
        model.vocab = WordVocab.load(run_dir / checkpoint.VOCAB_FILE)
        if len(model.vocab) != model.config.vocab_size:
            raise RnnlabError(f"{run_dir}/vocab.json has {len(model.vocab)} tokens but config.json "
                              f"says vocab_size {model.config.vocab_size}")
        loaded = checkpoint.load_weights(path)
        checkpoint.check_state_dict(loaded, checkpoint.expected_shapes(model), path)
        model.load_state_dict(loaded)
        model.eval()
        return model


# --------------------------------------------------------------------------------------------
# Batches, loss, prediction


@dataclass
class EncodedData:
    """Examples as token ids (+ label ids when labelled)."""
    ids: list[list[int]]
    labels: torch.Tensor | None          # (N,) int64
    examples: list[Example] = field(repr=False, default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.ids]


def encode_examples(examples: list[Example], vocab: WordVocab, labels: list[str] | None
                    ) -> EncodedData:
    ids = [vocab.encode(example.text) for example in examples]
    label_ids = None
    if labels is not None:
        index = {label: i for i, label in enumerate(labels)}
        label_ids = torch.tensor([index[example.label] for example in examples], dtype=torch.int64)
    return EncodedData(ids, label_ids, examples)


def collate(data: EncodedData, indices: list[int]) -> dict[str, torch.Tensor]:
    """{"ids": (B, T), "lengths": (B,), "labels": (B,)} for the examples at `indices`."""
    ids, lengths = pad_sequences([data.ids[i] for i in indices], pad_id=0)
    batch = {"ids": ids, "lengths": lengths}
    if data.labels is not None:
        batch["labels"] = data.labels[indices]
    return batch


def classification_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, int]:
    logits = model(batch["ids"], batch["lengths"])                         # (B, C)
    return F.cross_entropy(logits.float(), batch["labels"]), int(batch["labels"].shape[0])


@torch.no_grad()
def predict_logits(model: nn.Module, id_lists: list[list[int]], batch_size: int = 256
                   ) -> torch.Tensor:
    """(N, C) float32 logits, in input order. Batches are formed by length (less padding);
    since padding never changes a result, the grouping does not matter for the numbers."""
    device = next(model.parameters()).device
    order = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))
    logits = None
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        ids, lengths = pad_sequences([id_lists[i] for i in rows])
        out = model(ids.to(device), lengths).float().cpu()
        if logits is None:
            logits = torch.empty(len(id_lists), out.shape[1])
        logits[rows] = out
    return logits


def predict_probabilities(model: nn.Module, id_lists: list[list[int]], batch_size: int = 256
                          ) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return torch.softmax(predict_logits(model, id_lists, batch_size), dim=1)
    finally:
        model.train(was_training)


def score_logits(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """accuracy, macro_f1, loss (mean cross-entropy, nats) and the confusion matrix."""
    predicted = logits.argmax(dim=1)
    confusion = confusion_matrix(labels.numpy(), predicted.numpy(), num_classes)
    scores = scores_from_confusion(confusion)
    scores["loss"] = float(F.cross_entropy(logits, labels))
    return {**scores, "confusion": confusion}


def evaluate_encoded(model: nn.Module, data: EncodedData, num_classes: int,
                     batch_size: int = 256) -> dict:
    logits = predict_logits(model, data.ids, batch_size)
    return score_logits(logits, data.labels, num_classes)


# --------------------------------------------------------------------------------------------
# Where the data comes from (recorded in config.json so --resume reads the same)


@dataclass
class DataSource:
    train: str | None = None
    dev: str | None = None
    dataset: str | None = None
    format: str = "auto"
    dev_fraction: float = 0.1           # used only without a dev file
    train_sha256: str = ""
    dev_sha256: str = ""

    def paths(self) -> tuple[Path, str, Path | None, str]:
        """(train path, its format, dev path or None, its format)."""
        if self.dataset is not None:
            if self.train or self.dev:
                raise RnnlabError("give either --dataset or --train/--dev files, not both")
            train_path, train_format = fetch_classification_dataset(self.dataset, "train")
            dev_path, dev_format = fetch_classification_dataset(self.dataset, "dev")
            return train_path, train_format, dev_path, dev_format
        if not self.train:
            raise RnnlabError("no training data: pass --train FILE (and --dev FILE) or --dataset NAME")
        return (Path(self.train), self.format, Path(self.dev) if self.dev else None, self.format)

    def load(self, seed: int, check_digests: bool = False
             ) -> tuple[list[Example], list[Example], str, str]:
        """(train examples, dev examples, train description, dev description)."""
        if not 0.0 < self.dev_fraction < 1.0:
            raise RnnlabError(f"dev fraction must be in (0, 1), got {self.dev_fraction}")
        train_path, train_format, dev_path, dev_format = self.paths()
        digests = (_file_digest(train_path), _file_digest(dev_path) if dev_path else "")
        if check_digests and digests != (self.train_sha256, self.dev_sha256):
            raise RnnlabError("the training or dev data of this run changed since it started "
                              "(sha256 differs); resume needs the same files")
        self.train_sha256, self.dev_sha256 = digests
        train = read_examples(train_path, train_format)
        if dev_path is not None:
            return train, read_examples(dev_path, dev_format), str(train_path), str(dev_path)
        if len(train) < 4:
            raise RnnlabError(f"{train_path}: {len(train)} examples are too few to hold out a dev "
                              "set; pass --dev FILE")
        # A seeded split, so that --resume holds out the very same examples.
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist()
        held = max(1, round(self.dev_fraction * len(train)))
        dev = [train[i] for i in sorted(order[:held])]
        kept = [train[i] for i in sorted(order[held:])]
        return (kept, dev, f"{train_path} (minus {held} held out)",
                f"{held} examples held out of {train_path} (--dev-fraction {self.dev_fraction})")


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise RnnlabError(f"cannot read {path}: {err.strerror or err}") from None


def _check_training_labels(labels: list[str], examples: list[Example], where: str) -> None:
    if len(labels) < 2:
        raise RnnlabError(f"{where}: the training data has only the label {labels[0]!r}; a "
                          "classifier needs at least two")
    if len(examples) >= 20 and len(labels) > len(examples) // 2:
        raise RnnlabError(
            f"{where}: {len(labels)} distinct labels among {len(examples)} examples — is the "
            "file in the format it was read as? Pass --format tsv|csv|jsonl|sst")


# --------------------------------------------------------------------------------------------
# Training


@dataclass
class VocabOptions:
    level: str = "word"
    lowercase: bool = True
    # 2: a word seen once in training is <unk>, so <unk> is trained on real rare words, as it
    # will be used at test time (SST-2: 81.0% vs 80.7% dev accuracy with min_freq 1).
    min_freq: int = 2
    max_size: int | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise RnnlabError(f"unknown vocabulary level {self.level!r}; choose one of "
                              f"{', '.join(LEVELS)}")


def build_task(model: RNNClassifier, train: EncodedData, dev: EncodedData,
               config: SupervisedConfig) -> SupervisedTask:
    """The classification task in the form rnnlab.supervised trains."""
    sampler = BucketBatchSampler(train.lengths, config.batch_size, shuffle=True, seed=config.seed)
    num_classes = model.config.num_classes

    def evaluate(current: nn.Module) -> dict:
        scores = evaluate_encoded(current, dev, num_classes, config.eval_batch_size)
        return {key: value for key, value in scores.items() if key != "confusion"}

    return SupervisedTask(model=model, sampler=sampler,
                          collate=lambda indices: collate(train, indices),
                          loss=classification_loss, evaluate=evaluate, metric="accuracy")


def train_classifier(*, train: str | None = None, dev: str | None = None,
                     dataset: str | None = None, data_format: str = "auto",
                     dev_fraction: float = 0.1, out: str | Path | None = None,
                     model: dict | None = None, train_options: dict | None = None,
                     vocab_options: dict | None = None, resume: str | Path | None = None,
                     overrides: dict | None = None, device: str = "cpu",
                     progress_bar: bool = True, log: Callable[[str], None] = print
                     ) -> SupervisedResult:
    """Train a classifier into `out`, or continue the run in `resume`.

    `model`: ClassifierConfig fields (vocab_size and labels come from the data);
    `train_options`: SupervisedConfig fields; `vocab_options`: VocabOptions fields.
    When resuming, the saved configuration is used and `overrides` may change only
    rnnlab.supervised.RESUMABLE_OPTIONS.
    """
    device = _resolve_device(device)
    if resume is not None:
        trainer = _resume(Path(resume), overrides or {}, device, log)
    else:
        out = Path(out or time.strftime("runs/classify-%Y%m%d-%H%M%S"))
        trainer = _start(DataSource(train=train, dev=dev, dataset=dataset, format=data_format,
                                    dev_fraction=dev_fraction),
                         out, model or {}, train_options or {}, vocab_options or {}, device, log)
    config = trainer.model.config
    log(f"run directory: {trainer.run_dir}  |  {trainer.model.num_parameters():,} parameters, "
        f"{'bidirectional ' if config.bidirectional else ''}{config.cell} "
        f"{config.num_layers}×{config.hidden_size}, pooling {config.pooling}, "
        f"precision {trainer.precision}, device {device}")
    return trainer.run(progress_bar=progress_bar)


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise RnnlabError(f"unknown device {device!r}; expected cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RnnlabError(f"device {device!r} requested but no CUDA GPU is available; use cpu")
    return resolved


def _prepare(source: DataSource, seed: int, vocab: WordVocab | VocabOptions,
             labels: list[str] | None, check_digests: bool, log
             ) -> tuple[WordVocab, list[str], EncodedData, EncodedData]:
    """Read the data; build the vocabulary (from VocabOptions) and labels unless given."""
    train_examples, dev_examples, train_name, dev_name = source.load(seed, check_digests)
    if labels is None:
        labels = label_set(train_examples)
        _check_training_labels(labels, train_examples, train_name)
    check_known_labels(train_examples, labels, train_name)
    check_known_labels(dev_examples, labels, dev_name)
    if isinstance(vocab, VocabOptions):
        vocab = WordVocab.build((e.text for e in train_examples), level=vocab.level,
                                lowercase=vocab.lowercase, min_freq=vocab.min_freq,
                                max_size=vocab.max_size)
    train_data = encode_examples(train_examples, vocab, labels)
    dev_data = encode_examples(dev_examples, vocab, labels)
    log(f"data: {len(train_data):,} training examples from {train_name}, {len(dev_data):,} dev "
        f"examples from {dev_name}; {len(labels)} labels; vocabulary {len(vocab):,} "
        f"{vocab.level}s ({100 * vocab.unknown_share(e.text for e in dev_examples):.1f}% of dev "
        "tokens unknown)")
    return vocab, labels, train_data, dev_data


def _start(source: DataSource, out: Path, model: dict, train: dict, vocab_options: dict,
           device, log) -> SupervisedTrainer:
    if not any(train.get(name) is not None for name in ("max_steps", "max_epochs", "max_time")):
        train = {**train, "max_epochs": DEFAULT_EPOCHS}
    train_config = SupervisedConfig.from_dict({**TRAIN_DEFAULTS, **train})
    vocab_config = VocabOptions(**vocab_options)
    forbidden = {"vocab_size", "labels"} & set(model)
    if forbidden:
        raise RnnlabError(f"{', '.join(sorted(forbidden))} come from the data and cannot be set")
    if (out / checkpoint.CONFIG_FILE).exists():
        raise RnnlabError(f"{out} already holds a run; continue it with --resume {out} or choose "
                          "another --out")
    vocab, labels, train_data, dev_data = _prepare(source, train_config.seed, vocab_config, None,
                                                   False, log)
    # Validate the model options before anything is written.
    model_config = ClassifierConfig.from_dict({**model, "vocab_size": len(vocab), "labels": labels})
    out.mkdir(parents=True, exist_ok=True)
    vocab.save(out / checkpoint.VOCAB_FILE)
    checkpoint.write_config(out, {
        "kind": CONFIG_KIND, "model": model_config.to_dict(), "train": train_config.to_dict(),
        "data": asdict(source), "vocab": asdict(vocab_config)})
    return _make_trainer(out, model_config, vocab, train_data, dev_data, train_config, device, log)


def _make_trainer(run_dir: Path, model_config: ClassifierConfig, vocab: WordVocab,
                  train_data: EncodedData, dev_data: EncodedData, train_config: SupervisedConfig,
                  device, log) -> SupervisedTrainer:
    from rnnlab.supervised import seed_everything

    seed_everything(train_config.seed)        # the initial weights depend on the seed only
    network = RNNClassifier(model_config)
    network.vocab = vocab
    task = build_task(network, train_data, dev_data, train_config)
    return SupervisedTrainer(run_dir, task, train_config, device=device, log=log)


def _resume(run_dir: Path, overrides: dict, device, log) -> SupervisedTrainer:
    config = checkpoint.read_config(run_dir, expected_kind=CONFIG_KIND)
    train_config = SupervisedConfig.from_dict(config["train"]).with_overrides(overrides)
    model_config = ClassifierConfig.from_dict(config["model"])
    vocab = WordVocab.load(run_dir / checkpoint.VOCAB_FILE)
    source = DataSource(**config["data"])
    _, _, train_data, dev_data = _prepare(source, train_config.seed, vocab, model_config.labels,
                                          True, log)
    trainer = _make_trainer(run_dir, model_config, vocab, train_data, dev_data, train_config,
                            device, log)
    trainer.restore()
    checkpoint.write_config(run_dir, {**config, "train": train_config.to_dict()})
    log(f"resuming {run_dir} at step {trainer.step}")
    return trainer


# --------------------------------------------------------------------------------------------
# Evaluation and prediction of a saved run


@dataclass
class ClassificationReport:
    labels: list[str]
    num_examples: int
    accuracy: float
    macro_f1: float
    loss: float
    confusion: np.ndarray
    unknown_share: float          # fraction of tokens mapped to <unk>

    def summary(self) -> str:
        return (f"accuracy {self.accuracy:.4f}  macro-F1 {self.macro_f1:.4f}  loss "
                f"{self.loss:.4f} nats  ({self.num_examples:,} examples, "
                f"{100 * self.unknown_share:.1f}% unknown tokens)")


def load_labelled(data: str | None, dataset: str | None, split: str, data_format: str
                  ) -> tuple[list[Example], str]:
    if (data is None) == (dataset is None):
        raise RnnlabError("give exactly one of --data FILE and --dataset NAME")
    if dataset is not None:
        path, data_format = fetch_classification_dataset(dataset, split)
    else:
        path = Path(data)
    return read_examples(path, data_format), str(path)


RunDirs = str | Path | list[str | Path]   # one run directory, or several for an ensemble


def load_ensemble(run_dirs, weights: str = "best") -> list[RNNClassifier]:
    """One or more trained classifiers that share a label set (an ensemble averages them)."""
    if isinstance(run_dirs, (str, Path)):
        run_dirs = [run_dirs]
    if not run_dirs:
        raise RnnlabError("give at least one run directory")
    models = [RNNClassifier.from_pretrained(run_dir, weights) for run_dir in run_dirs]
    for run_dir, model in zip(run_dirs[1:], models[1:]):
        if model.config.labels != models[0].config.labels:
            raise RnnlabError(f"{run_dir} has labels {model.config.labels} but {run_dirs[0]} has "
                              f"{models[0].config.labels}; an ensemble needs the same labels in "
                              "the same order")
    return models


@torch.no_grad()
def ensemble_probabilities(models: list[RNNClassifier], texts: list[str],
                           batch_size: int = 256) -> torch.Tensor:
    """(N, C): the mean of the members' class probabilities. Each member reads the texts with
    its own vocabulary, so members trained with different vocabulary options mix freely."""
    total = None
    for model in models:
        probabilities = predict_probabilities(model, [model.vocab.encode(t) for t in texts],
                                              batch_size)
        total = probabilities if total is None else total + probabilities
    return total / len(models)


def predict_texts(models: list[RNNClassifier], texts: list[str], batch_size: int = 256
                  ) -> list[tuple[str, float]]:
    """(label, probability) for each text, from one classifier or the mean of several."""
    probabilities = ensemble_probabilities(models, texts, batch_size)
    labels = models[0].config.labels
    return [(labels[int(i)], float(probabilities[row, i]))
            for row, i in enumerate(probabilities.argmax(dim=1))]


def evaluate_run(run_dir: RunDirs, *, data: str | None = None, dataset: str | None = None,
                 split: str = "dev", data_format: str = "auto", weights: str = "best",
                 batch_size: int = 256) -> ClassificationReport:
    """Accuracy, macro-F1, loss and confusion matrix of a saved classifier, or of the ensemble of
    several (mean of their probabilities), on labelled data."""
    models = load_ensemble(run_dir, weights)
    labels = models[0].config.labels
    examples, where = load_labelled(data, dataset, split, data_format)
    check_known_labels(examples, labels, where)
    texts = [example.text for example in examples]
    probabilities = ensemble_probabilities(models, texts, batch_size)
    index = {label: i for i, label in enumerate(labels)}
    gold = torch.tensor([index[example.label] for example in examples], dtype=torch.int64)
    # log-probabilities as logits: argmax and cross-entropy are those of the averaged model.
    scores = score_logits(probabilities.clamp_min(1e-30).log(), gold, len(labels))
    unknown = sum(model.vocab.unknown_share(texts) for model in models) / len(models)
    return ClassificationReport(labels, len(examples), scores["accuracy"], scores["macro_f1"],
                                scores["loss"], scores["confusion"], unknown)


def predict_file(run_dir: RunDirs, input_path: str | Path, *, data_format: str = "auto",
                 weights: str = "best", batch_size: int = 256
                 ) -> list[tuple[Example, str, float]]:
    """(example, predicted label, its probability) for every text of `input_path`, from one
    classifier or the mean of several.

    The input may be unlabelled (one text per line) or any labelled format; labels, if present,
    are ignored. Words never seen in training map to <unk>.
    """
    models = load_ensemble(run_dir, weights)
    examples = read_examples(input_path, data_format, require_labels=False)
    predictions = predict_texts(models, [example.text for example in examples], batch_size)
    return [(example, label, probability)
            for example, (label, probability) in zip(examples, predictions)]
