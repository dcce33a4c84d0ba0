"""`rnnlab classify train|predict|eval`: text classification (many-to-one)."""

from __future__ import annotations

import argparse
import sys

from rnnlab.errors import RnnlabError

FORMAT_HELP = ("tsv (label<TAB>text, or a header with label and text columns), csv (the same "
               "with commas), jsonl ({\"text\": ..., \"label\": ...} per line), sst (label, "
               "space, text), text (one unlabelled text per line; predict only), or auto: by "
               "extension, else from the first line")

TRAIN_DESCRIPTION = """\
Train a recurrent text classifier: embedding -> RNN/LSTM/GRU encoder -> pooling over time ->
dropout -> linear layer. Batches are padded and packed, so padding never changes a result.
Defaults: bidirectional GRU, 1 layer, embedding 300, hidden 256, max pooling, dropout 0.5
(embedding dropout 0.3), words seen at least twice, AdamW lr 4e-3 with warm-up and cosine
decay, clip 5.0, 3 epochs when no budget is given. The dev set is evaluated every
--eval-interval steps and at the end (accuracy, macro-F1, loss). The run directory receives
config.json, vocab.json, model.safetensors (last weights), best.safetensors (best dev
accuracy), the trainer state, metrics.jsonl, loss.png and metric.png. Ctrl-C saves and exits;
--resume RUN continues exactly.
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
    parser = subparsers.add_parser(
        "classify", help="text classification: train, predict, eval",
        description="Text classification with recurrent networks (many-to-one).")
    commands = parser.add_subparsers(dest="classify_command", metavar="ACTION")
    _register_train(commands)
    _register_predict(commands)
    _register_eval(commands)
    parser.set_defaults(func=lambda args: _missing_action(parser))


def _missing_action(parser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _register_train(commands) -> None:
    p = commands.add_parser("train", help="train a classifier (or --resume one)",
                            description=TRAIN_DESCRIPTION,
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--train", metavar="FILE", help="labelled training data")
    data.add_argument("--dev", metavar="FILE",
                      help="labelled dev data (default: hold out --dev-fraction of --train)")
    data.add_argument("--dataset", metavar="NAME",
                      help="a named public dataset, downloaded into the cache with a checksum "
                           "(sst2)")
    data.add_argument("--format", default="auto", help=FORMAT_HELP)
    data.add_argument("--dev-fraction", type=float, default=0.1)
    run = p.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", help="run directory (default: runs/classify-TIME)")
    run.add_argument("--resume", metavar="RUN", help="continue the run in this directory")
    run.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    model = p.add_argument_group("model")
    model.add_argument("--cell", help="rnn_tanh, rnn_relu, lstm or gru")
    model.add_argument("--layers", type=int)
    model.add_argument("--hidden", type=int, help="hidden size per direction")
    model.add_argument("--embedding", type=int, help="embedding size")
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None)
    model.add_argument("--pooling", help="last, mean, max or attention")
    model.add_argument("--dropout", type=float,
                       help="dropout before the output layer and between recurrent layers")
    model.add_argument("--embedding-dropout", type=float)
    model.add_argument("--residual", action="store_true",
                       help="residual connections between recurrent layers")
    model.add_argument("--layer-norm", action="store_true",
                       help="layer norm on each recurrent layer's outputs")
    vocab = p.add_argument_group("vocabulary")
    vocab.add_argument("--level", choices=("word", "char"), default="word",
                       help="tokens are words (lower-cased regex tokens) or characters")
    vocab.add_argument("--min-freq", type=int, default=2,
                       help="keep tokens seen at least this often in training")
    vocab.add_argument("--max-vocab", type=int, help="keep at most this many tokens")
    vocab.add_argument("--no-lowercase", action="store_true", help="keep the case of the text")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--batch-size", type=int)
    opt.add_argument("--lr", type=float, help="peak learning rate (AdamW)")
    opt.add_argument("--weight-decay", type=float)
    opt.add_argument("--warmup", type=int, help="warm-up steps")
    opt.add_argument("--min-lr-ratio", type=float, help="the cosine ends at lr × this")
    opt.add_argument("--clip-norm", type=float, help="global gradient-norm clip")
    opt.add_argument("--max-steps", type=int, help="stop after this many steps")
    opt.add_argument("--max-epochs", type=float, help="stop after this many epochs")
    opt.add_argument("--max-time", type=float,
                     help="stop after this many seconds of training (evaluation excluded)")
    opt.add_argument("--decay-steps", type=int, help="length of the cosine (default: the budget)")
    opt.add_argument("--eval-interval", type=int, help="steps between dev evaluations")
    opt.add_argument("--precision", help="fp32, bf16 (autocast) or auto")
    opt.add_argument("--seed", type=int)
    p.set_defaults(func=run_train)


def _register_predict(commands) -> None:
    p = commands.add_parser("predict", help="predict labels for texts",
                            description=PREDICT_DESCRIPTION,
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", metavar="RUN", nargs="+",
                   help="run directory of a trained classifier; several average their "
                        "probabilities (an ensemble)")
    p.add_argument("--input", required=True, metavar="FILE", help="texts to classify")
    p.add_argument("--output", metavar="FILE", help="write the predictions to this file instead of printing them")
    p.add_argument("--format", default="auto", help=FORMAT_HELP)
    p.add_argument("--weights", choices=("best", "last"), default="best")
    p.add_argument("--batch-size", type=int, default=256)
    p.set_defaults(func=run_predict)


def _register_eval(commands) -> None:
    p = commands.add_parser("eval", help="accuracy, macro-F1 and confusion matrix on labelled data",
                            description=EVAL_DESCRIPTION,
                            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", metavar="RUN", nargs="+",
                   help="run directory of a trained classifier; several average their "
                        "probabilities (an ensemble)")
    p.add_argument("--data", metavar="FILE", help="labelled data")
    p.add_argument("--dataset", metavar="NAME", help="a named public dataset (sst2)")
    p.add_argument("--split", default="dev", help="the split of --dataset")
    p.add_argument("--format", default="auto", help=FORMAT_HELP)
    p.add_argument("--weights", choices=("best", "last"), default="best")
    p.add_argument("--batch-size", type=int, default=256)
    p.set_defaults(func=run_eval)


def _given(**values) -> dict:
    """The options the user gave; the rest take the library's defaults."""
    return {key: value for key, value in values.items() if value is not None}


def run_train(args) -> int:
    from rnnlab.models.classifier import train_classifier

    budget = dict(max_steps=args.max_steps, max_epochs=args.max_epochs, max_time=args.max_time,
                  decay_steps=args.decay_steps, eval_interval=args.eval_interval)
    if args.resume:
        result = train_classifier(resume=args.resume, overrides=budget, device=args.device,
                                  progress_bar=not args.no_progress)
    else:
        result = train_classifier(
            train=args.train, dev=args.dev, dataset=args.dataset, data_format=args.format,
            dev_fraction=args.dev_fraction, out=args.out, device=args.device,
            progress_bar=not args.no_progress,
            model=_given(cell=args.cell, num_layers=args.layers, hidden_size=args.hidden,
                         embedding_size=args.embedding, bidirectional=args.bidirectional,
                         pooling=args.pooling, dropout=args.dropout,
                         embedding_dropout=args.embedding_dropout,
                         residual=args.residual or None, layer_norm=args.layer_norm or None),
            vocab_options=dict(level=args.level, min_freq=args.min_freq,
                               max_size=args.max_vocab, lowercase=not args.no_lowercase),
            train_options=_given(batch_size=args.batch_size, lr=args.lr,
                                 weight_decay=args.weight_decay, warmup_steps=args.warmup,
                                 min_lr_ratio=args.min_lr_ratio, clip_norm=args.clip_norm,
                                 precision=args.precision, seed=args.seed, **budget))
    if result.stopped_by == "interrupted":
        return 130
    if result.dev is not None:
        summary = ", ".join(f"{key} {value:.4f}" for key, value in result.dev.items())
        print(f"dev (last weights): {summary}")
        print(f"best dev accuracy {result.best_metric:.4f} at step {result.best_step} "
              "(saved as best.safetensors)")
    print(f"stopped by {result.stopped_by} at step {result.step} (epoch {result.epochs:.2f}) "
          f"after {result.train_time:.1f} s of training; run saved in {result.run_dir}")
    return 0


def run_predict(args) -> int:
    from rnnlab.data.textfile import write_text_atomic
    from rnnlab.models.classifier import predict_file
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
    from rnnlab.models.classifier import evaluate_run
    from rnnlab.supervised import format_confusion

    report = evaluate_run(args.run, data=args.data, dataset=args.dataset, split=args.split,
                          data_format=args.format, weights=args.weights,
                          batch_size=args.batch_size)
    print(report.summary())
    print()
    print(format_confusion(report.confusion, report.labels))
    return 0
