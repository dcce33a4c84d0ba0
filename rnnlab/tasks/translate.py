"""Translation as a task: parallel files -> subword pairs -> padded batches, the token loss,
BLEU/chrF evaluation with sacreBLEU, translation of texts, and `train_translator`, which runs
it in the one trainer.

A run directory (`train_translator`):

    RUN/config.json        {"kind": "translator", "model": ..., "train": ..., "data": ..., "vocab": ...}
    RUN/vocab.json         the source and target SentencePiece models (rnnlab.data.subwords)
    RUN/model.safetensors  last weights;  RUN/best.safetensors  best dev BLEU
    RUN/trainer_state.*    for --resume (rnnlab.train)
    RUN/metrics.jsonl, loss.png, metric.png (dev BLEU against steps)

Scores. BLEU and chrF are sacreBLEU's (Post 2018): computed on the model's DETOKENISED output
(SentencePiece decoding, i.e. plain text) against the RAW reference lines, with sacreBLEU's own
tokenisation (13a) — the figure other papers' sacreBLEU numbers can be compared with. Every
report carries sacreBLEU's signature string, which records those settings. During training the
dev set is translated greedily (`eval_beam` 1, the default) because beam search costs about
`beam` times more; `rnnlab translate eval` scores with any beam.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from rnnlab.data.corpus import file_sha256
from rnnlab.data.padding import BucketBatchSampler, pad_sequences
from rnnlab.data.parallel import ParallelText, dataset_paths, normalize_whitespace, read_parallel
from rnnlab.data.subwords import BOS_ID, EOS_ID, SubwordOptions, TranslationVocab
from rnnlab.decoding import Hypothesis, SearchOptions, beam_search, greedy_search
from rnnlab.errors import RnnlabError
from rnnlab.models.configs import Seq2SeqConfig
from rnnlab.models.seq2seq import Translator
from rnnlab.tasks.padded import PaddedTask
from rnnlab.train import checkpoint
from rnnlab.train.config import TranslateTrainConfig
from rnnlab.train.run import check_unchanged, launch, open_run
from rnnlab.train.trainer import TrainResult

IGNORE_INDEX = -100           # cross-entropy's ignore_index: target positions past the end


# --------------------------------------------------------------------------------------------
# Scores


@dataclass
class TranslationScores:
    """Corpus BLEU and chrF (sacreBLEU) with their signatures."""
    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str
    bleu_detail: str               # sacreBLEU's own line: n-gram precisions, brevity penalty
    sentences: int

    def summary(self) -> str:
        return (f"BLEU {self.bleu:.2f}  chrF {self.chrf:.2f}  ({self.sentences:,} sentences)\n"
                f"{self.bleu_detail}\n"
                f"BLEU signature: {self.bleu_signature}\nchrF signature: {self.chrf_signature}")


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> TranslationScores:
    """sacreBLEU's corpus BLEU and chrF of detokenised hypotheses against raw references."""
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise RnnlabError(f"{len(hypotheses)} translations but {len(references)} references")
    bleu, chrf = BLEU(), CHRF()
    bleu_score = bleu.corpus_score(list(hypotheses), [list(references)])
    chrf_score = chrf.corpus_score(list(hypotheses), [list(references)])
    return TranslationScores(bleu_score.score, chrf_score.score, str(bleu.get_signature()),
                             str(chrf.get_signature()), str(bleu_score), len(hypotheses))


# --------------------------------------------------------------------------------------------
# Batches and loss


@dataclass
class EncodedPairs:
    """Sentence pairs as subword ids (no <s> or </s>)."""
    source: list[list[int]]
    target: list[list[int]]

    def __len__(self) -> int:
        return len(self.source)


def encode_pairs(vocab: TranslationVocab, text: ParallelText, max_length: int | None = None
                 ) -> tuple[EncodedPairs, int]:
    """(encoded pairs, how many were dropped for having a side longer than max_length)."""
    source = vocab.source.encode_lines(text.source)
    target = vocab.target.encode_lines(text.target)
    if max_length is None:
        return EncodedPairs(source, target), 0
    kept = [i for i in range(len(source))
            if len(source[i]) <= max_length and len(target[i]) <= max_length]
    return (EncodedPairs([source[i] for i in kept], [target[i] for i in kept]),
            len(source) - len(kept))


def collate(pairs: EncodedPairs, indices: list[int]) -> dict[str, torch.Tensor]:
    """{"source" (B, S), "source_lengths" (B,), "target_in" (B, T) = <s> y,
    "target_out" (B, T) = y </s>, IGNORE_INDEX past the end}."""
    source, source_lengths = pad_sequences([pairs.source[i] for i in indices])
    target_in, _ = pad_sequences([[BOS_ID] + pairs.target[i] for i in indices])
    target_out, _ = pad_sequences([pairs.target[i] + [EOS_ID] for i in indices], IGNORE_INDEX)
    return {"source": source, "source_lengths": source_lengths, "target_in": target_in,
            "target_out": target_out}


def token_loss(model: nn.Module, batch: dict, label_smoothing: float = 0.0,
               reduction: str = "mean") -> tuple[torch.Tensor, int]:
    """(cross-entropy per target token (or summed), number of target tokens with </s>)."""
    logits = model(batch["source"], batch["source_lengths"], batch["target_in"])   # (B, T, V)
    targets = batch["target_out"]
    loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(),
                           ignore_index=IGNORE_INDEX, label_smoothing=label_smoothing,
                           reduction=reduction)
    return loss, int((targets != IGNORE_INDEX).sum())


# --------------------------------------------------------------------------------------------
# Translating texts


@dataclass
class Translation:
    source: str                  # the input as the model read it (whitespace normalised)
    text: str                    # the detokenised output
    ids: list[int] = field(repr=False, default_factory=list)
    hypothesis: Hypothesis | None = field(repr=False, default=None)   # None: empty input


def search_options(beam: int = 5, **search) -> SearchOptions:
    return SearchOptions(beam_size=beam, **search)


@torch.no_grad()
def translate_texts(model: Translator, texts: Sequence[str], beam: int = 5,
                    batch_size: int = 64, **search) -> list[Translation]:
    """Translate each text (beam 1: greedy). Batches are formed by source length (less
    padding; a sentence gets the same output alone or in any batch). An empty or blank text
    gives an empty translation without running the model."""
    options = search_options(beam, **search)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise RnnlabError(f"batch size must be a positive integer, got {batch_size!r}")
    vocab = model.require_vocab()
    sources = [normalize_whitespace(text) for text in texts]
    ids = [vocab.source.encode(text) if text else [] for text in sources]
    results = [Translation(source, "") for source in sources]
    order = sorted((i for i in range(len(ids)) if ids[i]), key=lambda i: len(ids[i]))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            for row, hypothesis in zip(rows, search_batch(model, [ids[i] for i in rows],
                                                          options, device)):
                results[row] = Translation(sources[row], vocab.target.decode(hypothesis.ids),
                                           hypothesis.ids, hypothesis)
    finally:
        model.train(was_training)
    return results


def search_batch(model: Translator, source_ids: list[list[int]], options: SearchOptions,
                 device) -> list[Hypothesis]:
    """Greedy (beam_size 1) or beam search for one batch of source id lists."""
    source, lengths = pad_sequences(source_ids)
    state = model.encode(source.to(device), lengths)
    max_lengths = torch.tensor([options.max_length(int(n)) for n in lengths])   # (B,)
    if options.beam_size == 1:
        return greedy_search(model, state, max_lengths, BOS_ID, EOS_ID, options.length_penalty)
    return beam_search(model, state, max_lengths, BOS_ID, EOS_ID, options)


@torch.no_grad()
def attention_matrix(model: Translator, text: str, beam: int = 5, **search
                     ) -> tuple[list[str], list[str], torch.Tensor, str]:
    """(source pieces, output pieces with </s>, weights (T_out, S), the translation).

    The weights are those the decoder computes for its own output: the output is fed back
    with teacher forcing, which gives the same numbers as the step-by-step search."""
    if model.attention is None:
        raise RnnlabError("this translator has no attention (it was trained with --attention "
                          "none); there is no attention matrix to draw")
    translation = translate_texts(model, [text], beam=beam, **search)[0]
    if translation.hypothesis is None:
        raise RnnlabError("the text is empty; give a sentence to translate")
    vocab = model.require_vocab()
    device = next(model.parameters()).device
    source_ids = vocab.source.encode(translation.source)
    source = torch.tensor([source_ids], device=device)
    target_in = torch.tensor([[BOS_ID] + translation.ids], device=device)
    _, weights = model(source, torch.tensor([len(source_ids)]), target_in, return_attention=True)
    return (vocab.source.pieces(source_ids), vocab.target.pieces(translation.ids) + ["</s>"],
            weights[0].float().cpu(), translation.text)


# --------------------------------------------------------------------------------------------
# Training


@dataclass
class TranslationData:
    """Where a run's pairs came from, recorded in config.json so --resume re-reads them."""
    source_train: str | None = None
    target_train: str | None = None
    source_dev: str | None = None
    target_dev: str | None = None
    dataset: str | None = None
    skip_empty: bool = False
    sha256: dict = field(default_factory=dict)

    FLAGS = ("--src-train", "--tgt-train", "--src-dev", "--tgt-dev")

    def paths(self) -> tuple[Path, Path, Path, Path]:
        files = (self.source_train, self.target_train, self.source_dev, self.target_dev)
        if self.dataset is not None:
            if any(files):
                raise RnnlabError(f"give either --dataset {self.dataset} or the "
                                  f"{'/'.join(self.FLAGS)} files, not both")
            return (*dataset_paths(self.dataset, "train"), *dataset_paths(self.dataset, "val"))
        missing = [flag for flag, path in zip(self.FLAGS, files) if path is None]
        if missing:
            raise RnnlabError(f"{', '.join(missing)} FILE missing: training needs source and "
                              "target files for training and for dev (one sentence a line), or "
                              "--dataset multi30k")
        return tuple(Path(path) for path in files)

    def load(self) -> tuple[ParallelText, ParallelText, tuple[str, ...]]:
        """(train pairs, dev pairs, the four paths); records the files' sha256."""
        paths = self.paths()
        train = read_parallel(paths[0], paths[1], self.skip_empty)
        dev = read_parallel(paths[2], paths[3], self.skip_empty)
        self.sha256 = {name: file_sha256(path) for name, path in
                       zip(("source_train", "target_train", "source_dev", "target_dev"), paths)}
        return train, dev, tuple(str(path) for path in paths)


def make_translation_task(model: Translator, train: EncodedPairs, dev: ParallelText,
                          config: TranslateTrainConfig) -> PaddedTask:
    """The translation task: bucketed training pairs, label-smoothed token loss, dev loss
    (per token, no smoothing), BLEU and chrF (greedy unless eval_beam > 1)."""
    vocab = model.require_vocab()
    sampler = BucketBatchSampler([len(t) for t in train.target], config.batch_size,
                                 shuffle=True, seed=config.seed)
    dev_pairs, _ = encode_pairs(vocab, dev)

    def loss(current: nn.Module, batch: dict) -> tuple[torch.Tensor, int]:
        return token_loss(current, batch, config.label_smoothing)

    def evaluate(current: Translator) -> dict[str, float]:
        device = next(current.parameters()).device
        total, tokens = 0.0, 0
        order = sorted(range(len(dev_pairs)), key=lambda i: len(dev_pairs.source[i]))
        for start in range(0, len(order), config.eval_batch_size):
            batch = collate(dev_pairs, order[start:start + config.eval_batch_size])
            batch = {k: (v if k == "source_lengths" else v.to(device)) for k, v in batch.items()}
            summed, count = token_loss(current, batch, reduction="sum")
            total, tokens = total + float(summed), tokens + count
        outputs = translate_texts(current, dev.source, beam=config.eval_beam,
                                  batch_size=config.eval_batch_size)
        scores = corpus_scores([o.text for o in outputs], dev.references)
        return {"bleu": scores.bleu, "chrf": scores.chrf, "loss": total / tokens}

    task = PaddedTask(model, sampler, lambda indices: collate(train, indices), loss, evaluate,
                      metric="bleu", higher_is_better=True)
    task.count_name = "tokens"
    return task


def train_translator(*, source_train: str | None = None, target_train: str | None = None,
                     source_dev: str | None = None, target_dev: str | None = None,
                     dataset: str | None = None, skip_empty: bool = False,
                     out: str | Path | None = None, model: dict | None = None,
                     train_options: dict | None = None, subword_options: dict | None = None,
                     resume: str | Path | None = None, overrides: dict | None = None,
                     device: str = "cpu", progress_bar: bool = True,
                     log: Callable[[str], None] = print) -> TrainResult:
    """Train a translator into `out`, or continue the run in `resume`.

    `model`: Seq2SeqConfig fields (the vocabulary sizes come from the tokenizers);
    `train_options`: TranslateTrainConfig fields; `subword_options`: SubwordOptions fields.
    On resume the saved configuration is used and `overrides` may change only
    rnnlab.train.config.RESUMABLE_OPTIONS. Everything is read and checked before the run
    directory is created, so a bad input leaves nothing behind.
    """
    run = open_run(Translator.kind, TranslateTrainConfig, resume=resume,
                   out=out or time.strftime("runs/translate-%Y%m%d-%H%M%S"),
                   train_options=train_options, overrides=overrides)
    config = run.train_config
    if run.resuming:
        source = TranslationData(**run.saved["data"])
        recorded = dict(source.sha256)
        train_text, dev_text, _ = source.load()
        check_unchanged(tuple(sorted(recorded.items())), tuple(sorted(source.sha256.items())),
                        run.run_dir, "training or dev data")
        vocab = TranslationVocab.load(run.run_dir / checkpoint.VOCAB_FILE)
        subwords = SubwordOptions.from_dict(run.saved.get("vocab", {}).get("options", {}))
        model_config = Seq2SeqConfig.from_dict(run.saved["model"])
    else:
        forbidden = {"source_vocab_size", "target_vocab_size"} & set(model or {})
        if forbidden:
            raise RnnlabError(f"{', '.join(sorted(forbidden))} come from the tokenizers; set "
                              "--src-vocab-size/--tgt-vocab-size instead")
        subwords = SubwordOptions.from_dict(subword_options or {})
        absolute = lambda path: None if path is None else str(Path(path).resolve())
        source = TranslationData(absolute(source_train), absolute(target_train),
                                 absolute(source_dev), absolute(target_dev), dataset, skip_empty)
        train_text, dev_text, _ = source.load()
        # Validate the model options on a placeholder size before spending time on subwords.
        Seq2SeqConfig.from_dict({**(model or {}), "source_vocab_size": 1, "target_vocab_size": 1})
        vocab = TranslationVocab.train(train_text.source, train_text.target, subwords.source_size,
                                       subwords.target_size, subwords.model_type)
        model_config = Seq2SeqConfig.from_dict({**(model or {}),
                                                "source_vocab_size": len(vocab.source),
                                                "target_vocab_size": len(vocab.target)})
    train_pairs, too_long = encode_pairs(vocab, train_text, config.max_length)
    if not len(train_pairs):
        raise RnnlabError(f"every training pair is longer than --max-length {config.max_length} "
                          "subwords; raise it")
    log(f"data: {len(train_pairs):,} training pairs ({sum(map(len, train_pairs.target)):,} "
        f"target subwords), {len(dev_text):,} dev pairs"
        + (f"; {train_text.skipped + dev_text.skipped:,} pairs with an empty side skipped"
           if source.skip_empty else "")
        + (f"; {too_long:,} training pairs longer than {config.max_length} subwords left out"
           if too_long else "")
        + f"; subwords: {len(vocab.source):,} source, {len(vocab.target):,} target "
          f"({subwords.model_type})")

    def make_task() -> PaddedTask:
        return make_translation_task(Translator(model_config, vocab), train_pairs, dev_text,
                                     config)

    c = model_config
    return launch(run, make_task, vocab=vocab, device=device, progress_bar=progress_bar, log=log,
                  config={"kind": Translator.kind, "model": c.to_dict(), "data": asdict(source),
                          "vocab": {"options": asdict(subwords),
                                    "source_size": len(vocab.source),
                                    "target_size": len(vocab.target)}},
                  describe=lambda task, trainer: (
                      f"{'bidirectional ' if c.bidirectional else ''}{c.cell} encoder "
                      f"{c.num_layers}×{c.hidden_size}, decoder {c.decoder_layers}×"
                      f"{c.decoder_size}, attention {c.attention}"))


# --------------------------------------------------------------------------------------------
# A saved run: evaluation and prediction


@dataclass
class EvaluationReport:
    scores: TranslationScores
    beam: int
    seconds: float
    translations: list[str]

    def summary(self) -> str:
        search = "greedy search" if self.beam == 1 else f"beam search, beam {self.beam}"
        return (f"{self.scores.summary()}\n{search}: {self.scores.sentences:,} sentences in "
                f"{self.seconds:.1f} s ({self.scores.sentences / max(self.seconds, 1e-9):.1f} "
                "sentences/s)")


def evaluate_run(run_dir: str | Path, *, source: str | None = None,
                 reference: str | None = None, dataset: str | None = None,
                 split: str = "val", beam: int = 5, weights: str = "best",
                 batch_size: int = 64, skip_empty: bool = False, device: str = "cpu",
                 **search) -> EvaluationReport:
    """BLEU and chrF of a saved translator on a source file and its reference file."""
    from rnnlab.train.run import resolve_device

    search_options(beam, **search)                 # a bad --beam fails before any loading
    model = Translator.from_pretrained(run_dir, weights=weights).to(resolve_device(device))
    if dataset is not None:
        if source is not None or reference is not None:
            raise RnnlabError("give either --dataset or --src/--ref files, not both")
        source_path, reference_path = dataset_paths(dataset, split)
    elif source is None or reference is None:
        raise RnnlabError("give --src FILE and --ref FILE (one sentence a line), or --dataset "
                          "multi30k")
    else:
        source_path, reference_path = Path(source), Path(reference)
    text = read_parallel(source_path, reference_path, skip_empty)
    started = time.perf_counter()
    outputs = translate_texts(model, text.source, beam=beam, batch_size=batch_size, **search)
    seconds = time.perf_counter() - started
    hypotheses = [output.text for output in outputs]
    return EvaluationReport(corpus_scores(hypotheses, text.references), beam, seconds, hypotheses)


def draw_attention(path: str | Path, source: list[str], output: list[str],
                   weights: torch.Tensor, title: str = "") -> Path:
    """A heat map of weights (T_out, S): output pieces down the side, source pieces along the
    top; written atomically as a PNG."""
    import io

    import matplotlib
    matplotlib.use("Agg")                      # files only: never needs a display
    import matplotlib.pyplot as plt

    from rnnlab.atomic import atomic_write_bytes

    rows, columns = weights.shape
    if (rows, columns) != (len(output), len(source)):
        raise RnnlabError(f"weights are {rows}×{columns} but there are {len(output)} output and "
                          f"{len(source)} source pieces")
    figure, axes = plt.subplots(figsize=(max(4.0, 0.45 * columns + 2), max(3.0, 0.4 * rows + 1.5)))
    image = axes.imshow(weights.numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(columns), source, rotation=60, ha="right")
    axes.set_yticks(range(rows), output)
    axes.set_xlabel("source subwords")
    axes.set_ylabel("output subwords")
    if title:
        axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.04, label="attention weight")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
