"""`rnnlab classify train|predict|eval`: text classification (many-to-one)."""

from __future__ import annotations

import argparse
import sys

from rnnlab.commands.options import (CELL_HELP, Formatter, add_action_group, add_options,
                                     add_run_options, add_saved_run_options, add_training_options,
                                     given_options, print_training_result, refuse_with_resume,
                                     resume_overrides, training_options)
from rnnlab.data.sst_trees import LABEL_SCHEMES
from rnnlab.data.wordvocab import VocabOptions
from rnnlab.errors import RnnlabError
from rnnlab.models.configs import ClassifierConfig
from rnnlab.train.config import ClassifierTrainConfig

SELECTION_OPTION = (("--select-metric", "select_metric", str,
                     "the dev score that picks best.safetensors: accuracy or macro_f1"),)
FORMAT_HELP = ("tsv (label<TAB>text, or a header with label and text columns), csv (the same "
               "with commas), jsonl ({\"text\": ..., \"label\": ...} per line), sst (label, "
               "space, text), sst-trees (the Stanford Sentiment Treebank's labelled trees, "
               "'(3 (2 A) (4 fine) (2 film))' per line; scored and predicted on whole "
               "sentences), text (one unlabelled text per line; predict only), or auto: by "
               "extension, else from the first line")
DATASET_HELP = ("a named public dataset, downloaded into the cache with a checksum: sst2 (SST "
                "trees, binary, trained on phrases), sst5 (SST trees, five labels, trained on "
                "phrases), sst2-sentences (the sentence-level stsa.binary files; called sst2 "
                "before rnnlab read the trees)")
LABELS_HELP = ("SST trees: binary (drop neutral 2; 0-1 -> 0 negative, 3-4 -> 1 positive) or "
               "fine (the five labels 0-4)")

TRAIN_DESCRIPTION = """\
Train a recurrent text classifier: embedding -> RNN/LSTM/GRU encoder -> pooling over time ->
dropout -> linear layer. Batches are padded and packed, so padding never changes a result.
AdamW with warm-up and cosine decay; the defaults are shown with each option. The dev set is evaluated every
--eval-interval steps and at the end (accuracy, macro-F1, loss). The run directory receives
config.json, vocab.json, model.safetensors (last weights), best.safetensors (best dev
accuracy), the trainer state, metrics.jsonl, loss.png and metric.png. Ctrl-C saves and exits;
--resume RUN continues exactly. The Stanford Sentiment Treebank's labelled trees (--format
sst-trees, or --dataset sst2 / sst5) can train on every labelled phrase (--phrases, binary or
fine --labels); dev is always scored on whole sentences (docs/sst.md).
"""

PREDICT_DESCRIPTION = """\
Predict labels for texts with a trained classifier. Output: one line per input text (blank
lines skipped), tab-separated: predicted label, its probability, the text. Written to --output
or printed. Words never seen in training are mapped to <unk>; labels in the input, if any, are
ignored.
"""

EVAL_DESCRIPTION = """\
Evaluate a trained classifier, or an ensemble of several (the mean of their probabilities),
on labelled data. Prints accuracy, macro-F1 (mean F1 over the
labels), mean cross-entropy loss in nats, the share of tokens unknown to the vocabulary, and
the confusion matrix (rows: gold label, columns: predicted label). A label that never occurred
in training is an error.
"""


def register(subparsers) -> None:
    actions = add_action_group(subparsers, "classify", "text classification: train, predict, eval",
                               "Text classification with recurrent networks (many-to-one).")
    _register_train(actions)
    _register_predict(actions)
    _register_eval(actions)


MODEL_OPTIONS = (
    ("--cell", "cell", str, CELL_HELP),
    ("--layers", "num_layers", int, "recurrent layers"),
    ("--hidden", "hidden_size", int, "hidden size per direction"),
    ("--embedding", "embedding_size", int, "embedding size"),
    ("--pooling", "pooling", str, "last, mean, max or attention"),
    ("--dropout", "dropout", float, "dropout before the output layer and between recurrent layers"),
    ("--embedding-dropout", "embedding_dropout", float, "dropout on the embeddings"),
    ("--word-dropout", "word_dropout", float, "probability of replacing a training word by <unk>"),
)


def _register_train(actions) -> None:
    p = actions.add_parser("train", help="train a classifier (or --resume one)",
                            description=TRAIN_DESCRIPTION, formatter_class=Formatter)
    data = p.add_argument_group("data")
    data.add_argument("--train", metavar="FILE", help="labelled training data")
    data.add_argument("--dev", metavar="FILE",
                      help="labelled dev data (default: hold out --dev-fraction of --train)")
    data.add_argument("--dataset", metavar="NAME", help=DATASET_HELP)
    data.add_argument("--format", default="auto", help=FORMAT_HELP)
    data.add_argument("--labels", choices=LABEL_SCHEMES,
                      help=LABELS_HELP + " (default: the dataset's, else fine)")
    data.add_argument("--phrases", action=argparse.BooleanOptionalAction, default=None,
                      help="SST trees: train on every labelled phrase, each distinct (label, "
                           "text) once, instead of the sentences only; dev is still scored on "
                           "sentences (default: on for --dataset sst2/sst5, off for files)")
    data.add_argument("--dev-fraction", type=float, default=0.1, help="(default: 0.1)")
    add_run_options(p, "runs/classify-TIME")
    model = p.add_argument_group("model")
    add_options(model, MODEL_OPTIONS, ClassifierConfig)
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                       help="(default: True)")
    model.add_argument("--residual", action="store_true",
                       help="residual connections between recurrent layers")
    model.add_argument("--layer-norm", action="store_true",
                       help="layer norm on each recurrent layer's outputs")
    vocab = p.add_argument_group("vocabulary")
    vocab.add_argument("--level", choices=("word", "char"), default=VocabOptions.level,
                       help=f"tokens are words (lower-cased regex tokens) or characters "
                            f"(default: {VocabOptions.level})")
    vocab.add_argument("--min-freq", type=int, default=VocabOptions.min_freq,
                       help=f"keep tokens seen at least this often in training; for SST "
                            f"trees, counted in the training sentences, not the phrases "
                            f"(default: {VocabOptions.min_freq})")
    vocab.add_argument("--max-vocab", type=int, help="keep at most this many tokens")
    vocab.add_argument("--no-lowercase", action="store_true", help="keep the case of the text")
    add_training_options(p, ClassifierTrainConfig, SELECTION_OPTION)
    p.set_defaults(func=run_train)


def _register_predict(actions) -> None:
    p = actions.add_parser("predict", help="predict labels for texts",
                           description=PREDICT_DESCRIPTION, formatter_class=Formatter)
    add_saved_run_options(p, "classifier", several=True)
    p.add_argument("--input", required=True, metavar="FILE", help="texts to classify")
    p.add_argument("--output", metavar="FILE", help="write the predictions to this file instead of printing them")
    p.add_argument("--format", default="auto", help=FORMAT_HELP)
    p.set_defaults(func=run_predict)


def _register_eval(actions) -> None:
    p = actions.add_parser("eval", help="accuracy, macro-F1 and confusion matrix on labelled data",
                           description=EVAL_DESCRIPTION, formatter_class=Formatter)
    add_saved_run_options(p, "classifier", several=True)
    p.add_argument("--data", metavar="FILE", help="labelled data")
    p.add_argument("--dataset", metavar="NAME", help=DATASET_HELP)
    p.add_argument("--split", default="dev", help="the split of --dataset (default: dev)")
    p.add_argument("--format", default="auto", help=FORMAT_HELP)
    p.add_argument("--labels", choices=LABEL_SCHEMES,
                   help=LABELS_HELP + " (default: the dataset's, else the one matching the "
                                      "model's labels)")
    p.set_defaults(func=run_eval)


def run_train(args) -> int:
    from rnnlab.tasks.classify import train_classifier

    common = dict(device=args.device, progress_bar=not args.no_progress)
    if args.resume:
        refuse_with_resume(args, "--train", "--dev", "--dataset", "--out", "--labels",
                           "--phrases")
        result = train_classifier(resume=args.resume, overrides=resume_overrides(args), **common)
    else:
        flags = {name: True for name in ("residual", "layer_norm") if getattr(args, name)}
        if args.bidirectional is not None:
            flags["bidirectional"] = args.bidirectional
        result = train_classifier(
            train=args.train, dev=args.dev, dataset=args.dataset, data_format=args.format,
            dev_fraction=args.dev_fraction, tree_labels=args.labels, phrases=args.phrases,
            out=args.out,
            model={**given_options(args, MODEL_OPTIONS), **flags},
            vocab_options=dict(level=args.level, min_freq=args.min_freq,
                               max_size=args.max_vocab, lowercase=not args.no_lowercase),
            train_options=training_options(args, SELECTION_OPTION), **common)
    return print_training_result(result, lambda scores: "dev (last weights): " + ", ".join(
        f"{key} {value:.4f}" for key, value in scores.items()))


def run_predict(args) -> int:
    from rnnlab.data.textfile import write_text_atomic
    from rnnlab.tasks.classify import predict_file
    from pathlib import Path

    rows = predict_file(args.run, args.input, data_format=args.format, weights=args.weights,
                        batch_size=args.batch_size)
    # Tabs and line breaks inside a text would break the TSV layout; show them as spaces.
    lines = [f"{label}\t{probability:.4f}\t{' '.join(example.text.split())}"
             for example, label, probability in rows]
    text = "\n".join(lines) + "\n"
    if args.output:
        output = Path(args.output)
        if output.resolve() == Path(args.input).resolve():
            raise RnnlabError(f"--output {output} is the input file; choose another path")
        try:
            write_text_atomic(output, text)
        except OSError as err:
            raise RnnlabError(f"cannot write {output}: {err.strerror or err}") from None
        print(f"wrote {len(rows):,} predictions to {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def run_eval(args) -> int:
    from rnnlab.tasks.classify import evaluate_run
    from rnnlab.tasks.scores import format_confusion

    report = evaluate_run(args.run, data=args.data, dataset=args.dataset, split=args.split,
                          data_format=args.format, tree_labels=args.labels, weights=args.weights,
                          batch_size=args.batch_size)
    print(report.summary())
    print()
    print(format_confusion(report.confusion, report.labels))
    return 0
