"""Text classification as a task: files -> examples -> padded batches, loss, evaluation,
prediction, and `train_classifier`, which runs it in the one trainer.

A run directory (`train_classifier`):

    RUN/config.json            {"kind": "classifier", "model": ..., "train": ..., "data": ..., "vocab": ...}
    RUN/vocab.json             the token vocabulary (rnnlab.data.wordvocab)
    RUN/model.safetensors      last weights;  RUN/best.safetensors  best dev accuracy
    RUN/trainer_state.*        for --resume (rnnlab.train)
    RUN/metrics.jsonl, loss.png, metric.png
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rnnlab.data.classification import (LEGACY_DATASET_NAMES, TREES, Example, check_known_labels,
                                        examples_from_text, fetch_classification_dataset,
                                        label_set, lookup_dataset, read_data_file, read_examples)
from rnnlab.data.corpus import file_sha256
from rnnlab.data.padding import BucketBatchSampler, pad_sequences
from rnnlab.data.sst_trees import (TreeOptions, check_scheme, parse_trees, scheme_labels,
                                   scheme_of_labels, tree_examples)
from rnnlab.data.wordvocab import VocabOptions, WordVocab
from rnnlab.errors import RnnlabError
from rnnlab.models.classifier import ClassifierConfig, RNNClassifier
from rnnlab.tasks.padded import PaddedTask
from rnnlab.tasks.scores import confusion_matrix, scores_from_confusion
from rnnlab.train.config import ClassifierTrainConfig
from rnnlab.train.run import check_unchanged, launch, open_run
from rnnlab.train.trainer import TrainResult


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


# --------------------------------------------------------------------------------------------
# Where the data comes from (recorded in config.json so --resume reads the same)


@dataclass
class DataSource:
    """Where the data comes from, as config.json records it so that --resume reads the same.

    tree_labels, phrases: what SST trees give (rnnlab.data.sst_trees): the label scheme
    (fine | binary) and whether training uses every labelled phrase or the sentences only.
    None means the default — a named dataset's own (sst2: binary, sst5: fine, both phrases),
    else fine labels and sentences; `load` records what it used. Dev data is always scored on
    sentences (root labels), as in the literature.
    """
    train: str | None = None
    dev: str | None = None
    dataset: str | None = None
    format: str = "auto"
    dev_fraction: float = 0.1           # used only without a dev file
    train_sha256: str = ""
    dev_sha256: str = ""
    tree_labels: str | None = None
    phrases: bool | None = None

    @classmethod
    def from_saved(cls, saved: dict) -> "DataSource":
        """The source a run recorded. Runs written before the treebank was added have no
        "phrases" key; their dataset "sst2" was the sentence-level files (now sst2-sentences)."""
        saved = dict(saved)
        if "phrases" not in saved and saved.get("dataset") in LEGACY_DATASET_NAMES:
            saved["dataset"] = LEGACY_DATASET_NAMES[saved["dataset"]]
        return cls(**saved)

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

    def tree_options(self, lowercase: bool = True) -> TreeOptions:
        """The resolved tree options (the dataset's defaults where none were given)."""
        labels, phrases = self.tree_labels, self.phrases
        if self.dataset is not None:
            dataset = lookup_dataset(self.dataset)
            if dataset.tree_labels is None:
                if labels is not None or phrases is not None:
                    raise RnnlabError(f"--labels and --phrases apply to SST trees; dataset "
                                      f"{self.dataset!r} is not trees (use --dataset sst2 or sst5)")
            elif labels is not None and labels != dataset.tree_labels:
                other = "sst5" if labels == "fine" else "sst2"
                raise RnnlabError(f"dataset {self.dataset!r} has {dataset.tree_labels} labels, "
                                  f"not {labels}; use --dataset {other}")
            labels = dataset.tree_labels if labels is None else labels
            phrases = dataset.phrases if phrases is None else phrases
        if labels is not None:
            check_scheme(labels)
        return TreeOptions(labels=labels or "fine", phrases=bool(phrases), lowercase=lowercase)

    def load(self, seed: int, lowercase: bool = True) -> LoadedData:
        """The training and dev examples; records the files' sha256 so that --resume can check
        they did not change, and the tree options used. `lowercase`: the vocabulary's, so that
        phrases are de-duplicated as it sees them."""
        if not 0.0 < self.dev_fraction < 1.0:
            raise RnnlabError(f"dev fraction must be in (0, 1), got {self.dev_fraction}")
        train_path, train_format, dev_path, dev_format = self.paths()
        options = self.tree_options(lowercase)
        train_path, text, train_format = read_data_file(train_path, train_format)
        if dev_path is not None:
            dev_path, dev_text, dev_format = read_data_file(dev_path, dev_format)
        if TREES not in (train_format, dev_format) and (self.tree_labels is not None
                                                        or self.phrases is not None):
            raise RnnlabError(f"--labels and --phrases apply to SST trees (--format {TREES}); "
                              f"{train_path} was read as {train_format}")
        if self.phrases and train_format != TREES:
            raise RnnlabError(f"--phrases needs SST trees to train on; {train_path} was read as "
                              f"{train_format}")
        if TREES in (train_format, dev_format):
            self.tree_labels = options.labels
        if train_format == TREES:
            self.phrases = options.phrases
        self.train_sha256 = file_sha256(train_path)
        self.dev_sha256 = file_sha256(dev_path) if dev_path else ""
        # Dev is scored on whole sentences, whatever training uses.
        dev_options = replace(options, phrases=False)
        if train_format == TREES:
            trees = parse_trees(text, train_path)
            if dev_path is None:
                # Hold out whole trees: a held-out sentence's phrases must not be trained on.
                trees, held, note = _hold_out(trees, self.dev_fraction, seed, train_path)
                return LoadedData(tree_examples(trees, options), tree_examples(held, dev_options),
                                  _describe_trees(train_path, trees, options) + f" (minus "
                                  f"{len(held)} trees held out)", note, _sentences(trees))
            train = tree_examples(trees, options)
            train_name = _describe_trees(train_path, trees, options)
            vocab_texts = _sentences(trees)
        else:
            train = examples_from_text(train_path, text, train_format)
            train_name = str(train_path)
            vocab_texts = None
        if dev_path is not None:
            dev = examples_from_text(dev_path, dev_text, dev_format, trees=dev_options)
            return LoadedData(train, dev, train_name, str(dev_path), vocab_texts)
        kept, held, note = _hold_out(train, self.dev_fraction, seed, train_path)
        return LoadedData(kept, held, f"{train_path} (minus {len(held)} held out)", note)


@dataclass
class LoadedData:
    train: list[Example]
    dev: list[Example]
    train_name: str                 # descriptions for the log and for messages
    dev_name: str
    # The texts the vocabulary counts its words in (None: the training examples' texts). Trees
    # give their sentences: a word of one sentence is in every phrase above it, so counting
    # phrases would make --min-freq 2 keep nearly every word seen once.
    vocab_texts: list[str] | None = None


def _sentences(trees: list) -> list[str]:
    return [tree.text for tree in trees]


def _hold_out(items: list, fraction: float, seed: int, path: Path) -> tuple[list, list, str]:
    """(kept, held out, description): a seeded split, so that --resume holds out the very
    same items."""
    if len(items) < 4:
        raise RnnlabError(f"{path}: {len(items)} examples are too few to hold out a dev set; "
                          "pass --dev FILE")
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed)).tolist()
    held = max(1, round(fraction * len(items)))
    return ([items[i] for i in sorted(order[held:])], [items[i] for i in sorted(order[:held])],
            f"{held} examples held out of {path} (--dev-fraction {fraction})")


def _describe_trees(path: Path, trees: list, options: TreeOptions) -> str:
    what = "distinct labelled phrases" if options.phrases else "sentences"
    return f"{path} ({what} of {len(trees):,} trees, {options.labels} labels)"


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


def build_task(model: RNNClassifier, train: EncodedData, dev: EncodedData,
               config: ClassifierTrainConfig) -> PaddedTask:
    """The classification task in the form rnnlab.train trains."""
    sampler = BucketBatchSampler(train.lengths, config.batch_size, shuffle=True, seed=config.seed)
    num_classes = model.config.num_classes

    def evaluate(current: nn.Module) -> dict:
        scores = score_logits(predict_logits(current, dev.ids, config.eval_batch_size),
                              dev.labels, num_classes)
        return {key: value for key, value in scores.items() if key != "confusion"}

    return PaddedTask(model, sampler, lambda indices: collate(train, indices),
                      classification_loss, evaluate, metric=config.select_metric)


def train_classifier(*, train: str | None = None, dev: str | None = None,
                     dataset: str | None = None, data_format: str = "auto",
                     dev_fraction: float = 0.1, tree_labels: str | None = None,
                     phrases: bool | None = None, out: str | Path | None = None,
                     model: dict | None = None, train_options: dict | None = None,
                     vocab_options: dict | None = None, resume: str | Path | None = None,
                     overrides: dict | None = None, device: str = "cpu",
                     progress_bar: bool = True, log: Callable[[str], None] = print
                     ) -> TrainResult:
    """Train a classifier into `out`, or continue the run in `resume`.

    `tree_labels`, `phrases`: for SST trees (see `DataSource`): the label scheme (fine |
    binary) and whether to train on every labelled phrase (default: the dataset's own).
    `model`: ClassifierConfig fields (vocab_size and labels come from the data);
    `train_options`: ClassifierTrainConfig fields; `vocab_options`: VocabOptions fields.
    When resuming, the saved configuration is used and `overrides` may change only
    rnnlab.train.config.RESUMABLE_OPTIONS.
    """
    run = open_run(RNNClassifier.kind, ClassifierTrainConfig, resume=resume,
                   out=out or time.strftime("runs/classify-%Y%m%d-%H%M%S"),
                   train_options=train_options, overrides=overrides)
    seed = run.train_config.seed
    if run.resuming:
        model_config = ClassifierConfig.from_dict(run.saved["model"])
        vocab_config = VocabOptions(**run.saved.get("vocab", {}))
        source = DataSource.from_saved(run.saved["data"])
        recorded = (source.train_sha256, source.dev_sha256)
        vocab = WordVocab.load(run.run_dir / "vocab.json")
        _, _, train_data, dev_data = _prepare(source, seed, vocab, model_config.labels, log)
        check_unchanged(recorded, (source.train_sha256, source.dev_sha256), run.run_dir,
                        "training or dev data")
    else:
        forbidden = {"vocab_size", "labels"} & set(model or {})
        if forbidden:
            raise RnnlabError(f"{', '.join(sorted(forbidden))} come from the data and cannot be set")
        vocab_config = VocabOptions(**(vocab_options or {}))
        source = DataSource(train=train, dev=dev, dataset=dataset, format=data_format,
                            dev_fraction=dev_fraction, tree_labels=tree_labels, phrases=phrases)
        vocab, labels, train_data, dev_data = _prepare(source, seed, vocab_config, None, log)
        # Validate the model options before anything is written.
        model_config = ClassifierConfig.from_dict({**(model or {}), "vocab_size": len(vocab),
                                                   "labels": labels})

    def make_task() -> PaddedTask:
        network = RNNClassifier(model_config)
        network.vocab = vocab
        return build_task(network, train_data, dev_data, run.train_config)

    c = model_config
    return launch(run, make_task, vocab=vocab, device=device, progress_bar=progress_bar, log=log,
                  config={"kind": RNNClassifier.kind, "model": c.to_dict(),
                          "data": asdict(source), "vocab": asdict(vocab_config)},
                  describe=lambda task, trainer: (
                      f"{'bidirectional ' if c.bidirectional else ''}{c.cell} "
                      f"{c.num_layers}×{c.hidden_size}, pooling {c.pooling}"))


def _prepare(source: DataSource, seed: int, vocab: WordVocab | VocabOptions,
             labels: list[str] | None, log
             ) -> tuple[WordVocab, list[str], EncodedData, EncodedData]:
    """Read the data; build the vocabulary (from VocabOptions) and labels unless given."""
    data = source.load(seed, vocab.lowercase)
    train_examples, dev_examples = data.train, data.dev
    train_name, dev_name = data.train_name, data.dev_name
    if labels is None:
        labels = label_set(train_examples)
        _check_training_labels(labels, train_examples, train_name)
    check_known_labels(train_examples, labels, train_name)
    check_known_labels(dev_examples, labels, dev_name)
    if isinstance(vocab, VocabOptions):
        texts = data.vocab_texts or [e.text for e in train_examples]
        vocab = WordVocab.build(texts, level=vocab.level,
                                lowercase=vocab.lowercase, min_freq=vocab.min_freq,
                                max_size=vocab.max_size)
    train_data = encode_examples(train_examples, vocab, labels)
    dev_data = encode_examples(dev_examples, vocab, labels)
    log(f"data: {len(train_data):,} training examples from {train_name}, {len(dev_data):,} dev "
        f"examples from {dev_name}; {len(labels)} labels; vocabulary {len(vocab):,} "
        f"{vocab.level}s ({100 * vocab.unknown_share(e.text for e in dev_examples):.1f}% of dev "
        "tokens unknown)")
    return vocab, labels, train_data, dev_data


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


def load_labelled(data: str | None, dataset: str | None, split: str, data_format: str,
                  tree_labels: str | None = None, model_labels: list[str] | None = None
                  ) -> tuple[list[Example], str]:
    """Labelled examples to score: a file or a named dataset's split. SST trees give their
    sentences (root labels) under `tree_labels`; without it, the dataset's scheme, else the one
    matching `model_labels` (["0", "1"]: binary, ["0" ... "4"]: fine)."""
    if (data is None) == (dataset is None):
        raise RnnlabError("give exactly one of --data FILE and --dataset NAME")
    if dataset is not None:
        path, data_format = fetch_classification_dataset(dataset, split)
        source = DataSource(dataset=dataset, tree_labels=tree_labels)
        tree_labels = source.tree_options().labels if data_format == TREES else tree_labels
    else:
        path = Path(data)
    path, text, data_format = read_data_file(path, data_format)
    if data_format != TREES:
        if tree_labels is not None:
            raise RnnlabError(f"--labels applies to SST trees (--format {TREES}); {path} was "
                              f"read as {data_format}")
        return examples_from_text(path, text, data_format), str(path)
    if tree_labels is None:
        tree_labels = scheme_of_labels(model_labels or [])
        if tree_labels is None:
            raise RnnlabError(f"{path} holds SST trees, and the model's labels {model_labels} "
                              "are neither binary ['0', '1'] nor fine ['0' ... '4']; pass "
                              "--labels binary|fine")
    elif model_labels is not None and scheme_labels(tree_labels) != list(model_labels):
        # Binary "1" (positive) is a fine label too (negative): refuse rather than mis-score.
        raise RnnlabError(f"{path} is scored with {tree_labels} labels "
                          f"{scheme_labels(tree_labels)}, but the model has labels "
                          f"{list(model_labels)}; use a model trained on {tree_labels} labels")
    return (examples_from_text(path, text, TREES, trees=TreeOptions(labels=tree_labels)),
            str(path))


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
                 split: str = "dev", data_format: str = "auto", tree_labels: str | None = None,
                 weights: str = "best", batch_size: int = 256) -> ClassificationReport:
    """Accuracy, macro-F1, loss and confusion matrix of a saved classifier, or of the ensemble of
    several (mean of their probabilities), on labelled data. SST trees are scored on their
    sentences (root labels; `tree_labels` as in `load_labelled`)."""
    models = load_ensemble(run_dir, weights)
    labels = models[0].config.labels
    examples, where = load_labelled(data, dataset, split, data_format, tree_labels, labels)
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
