"""`rnnlab translate train|eval|predict|attention`: sequence-to-sequence translation."""

from __future__ import annotations

import argparse
import sys

from rnnlab.commands.options import (CELL_HELP, Formatter, add_action_group, add_options,
                                     add_run_options, add_training_options, given_options,
                                     print_training_result, refuse_with_resume,
                                     resume_overrides, training_options, with_default)
from rnnlab.data.subwords import SubwordOptions
from rnnlab.errors import RnnlabError
from rnnlab.models.configs import SearchOptions, Seq2SeqConfig
from rnnlab.train.config import TranslateTrainConfig

DESCRIPTION = """\
Translation with a recurrent encoder-decoder and attention (many-to-many, asynchronous).

  rnnlab translate train --dataset multi30k --out runs/de-en          # German -> English
  rnnlab translate train --src-train train.de --tgt-train train.en --src-dev dev.de --tgt-dev dev.en
  rnnlab translate eval runs/de-en --src test.de --ref test.en --beam 5
  rnnlab translate predict runs/de-en --input text.de --beam 5 > text.en
  echo "Ein Hund läuft im Park." | rnnlab translate predict runs/de-en
  rnnlab translate attention runs/de-en --text "Ein Hund läuft." --out heat.png
"""

TRAIN_DESCRIPTION = """\
Train a translator on two aligned plain-text files per split (one sentence a line, line i of
the target file the translation of line i of the source file; .gz files are read as they
are). Subwords: one SentencePiece model per language, learned on the training side (stored in
vocab.json). Model: a bidirectional recurrent encoder, a recurrent decoder whose output is
combined with an attention context over the encoder outputs (source padding masked), an output
layer tied to the target embedding; teacher forcing with label smoothing.

Every --eval-interval steps and at the end the dev set is scored: loss (nats per target
subword, teacher forced), and sacreBLEU BLEU and chrF of the greedy translations (detokenised,
against the raw reference lines). The best dev BLEU is kept as best.safetensors. The run
directory receives config.json, vocab.json, model.safetensors, best.safetensors, the trainer
state, metrics.jsonl, loss.png and metric.png (dev BLEU). Ctrl-C saves and exits; --resume RUN
continues exactly. --dataset multi30k downloads Multi30k (German -> English, 29,000 training
and 1,014 validation pairs) into the cache ($RNNLAB_CACHE or ~/.cache/rnnlab) and checks
its sha256.

Bad input stops before anything is written, with one line naming the problem: files with
different line counts, an empty file, bytes that are not UTF-8 (file and line), or a pair with
an empty side (refused unless --skip-empty-pairs drops such pairs).
"""

EVAL_DESCRIPTION = """\
Translate a source file with a trained run and score it against a reference file (one
sentence a line each, .gz accepted). Prints sacreBLEU's BLEU (with its n-gram precisions and
brevity penalty) and chrF, both signatures, and the decoding speed. The scores use the
detokenised translations and the raw reference lines, as sacreBLEU intends.
"""

PREDICT_DESCRIPTION = """\
Translate text with a trained run: one output line per input line, in order, to --output or
standard output. Without --input (or with --input -) the text is read from standard input.
An empty input line gives an empty output line.
"""

ATTENTION_DESCRIPTION = """\
Translate one sentence and draw the attention matrix as a heat map: one row per output
subword (with </s>), one column per source subword, darker = more weight; each row sums to 1.
The matrix is the one the decoder computed while producing its output.
"""

MODEL_OPTIONS = (
    ("--cell", "cell", str, CELL_HELP + " (encoder and decoder)"),
    ("--embedding", "embedding_size", int, "embedding size (both languages)"),
    ("--hidden", "hidden_size", int, "encoder hidden size per direction"),
    ("--layers", "num_layers", int, "encoder layers"),
    ("--decoder-hidden", "decoder_hidden_size", int,
     "decoder hidden size (default: encoder hidden × directions)"),
    ("--decoder-layers", "decoder_layers", int, "decoder layers"),
    ("--attention", "attention", str, "additive (Bahdanau), dot or general (Luong), or none"),
    ("--attention-size", "attention_size", int, "additive attention's hidden size"),
    ("--dropout", "dropout", float, "dropout on embeddings, between layers, before the output"),
)
TASK_TRAINING_OPTIONS = (
    ("--label-smoothing", "label_smoothing", float, "label smoothing of the training loss"),
    ("--max-length", "max_length", int,
     "training pairs with a side longer than this many subwords are left out"),
    ("--eval-beam", "eval_beam", int, "beam of the dev evaluations during training (1: greedy)"),
    ("--eval-batch-size", "eval_batch_size", int, "sentences per batch when evaluating"),
)
SUBWORD_OPTIONS = (
    ("--src-vocab-size", "source_size", int, "source subword vocabulary size"),
    ("--tgt-vocab-size", "target_size", int, "target subword vocabulary size"),
    ("--subword-model", "model_type", str, "SentencePiece algorithm: unigram or bpe"),
)


def register(subparsers) -> None:
    actions = add_action_group(subparsers, "translate",
                               "translation: train, eval (BLEU), predict, attention",
                               DESCRIPTION)
    _register_train(actions)
    _register_eval(actions)
    _register_predict(actions)
    _register_attention(actions)


def _add_search_options(parser, beam: int = 5) -> None:
    group = parser.add_argument_group("search")
    group.add_argument("--beam", type=int, default=beam,
                       help=f"beam size; 1 is greedy search (default: {beam})")
    defaults = SearchOptions()
    group.add_argument("--length-penalty", type=float, default=defaults.length_penalty,
                       help=with_default("alpha of GNMT's length penalty ((5+n)/6)^alpha; 0 "
                                         "ranks by raw log-probability", defaults.length_penalty))
    group.add_argument("--max-length-ratio", type=float, default=defaults.max_length_ratio,
                       help=with_default("an output has at most ratio × source subwords + extra",
                                         defaults.max_length_ratio))
    group.add_argument("--max-length-extra", type=int, default=defaults.max_length_extra,
                       help=with_default("(see --max-length-ratio)", defaults.max_length_extra))


def _search(args) -> dict:
    return dict(beam=args.beam, length_penalty=args.length_penalty,
                max_length_ratio=args.max_length_ratio, max_length_extra=args.max_length_extra)


def _add_run_argument(parser, batch_size: int = 64) -> None:
    parser.add_argument("run", metavar="RUN", help="run directory of a trained translator")
    parser.add_argument("--weights", choices=("best", "last"), default="best",
                        help="best (by dev BLEU) or last weights (default: best)")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help=f"sentences translated together (default: {batch_size})")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")


def _register_train(actions) -> None:
    p = actions.add_parser("train", help="train a translator (or --resume one)",
                           description=TRAIN_DESCRIPTION, formatter_class=Formatter)
    data = p.add_argument_group("data")
    data.add_argument("--src-train", metavar="FILE", help="training source sentences")
    data.add_argument("--tgt-train", metavar="FILE", help="training target sentences")
    data.add_argument("--src-dev", metavar="FILE", help="dev source sentences")
    data.add_argument("--tgt-dev", metavar="FILE", help="dev target sentences")
    data.add_argument("--dataset", metavar="NAME",
                      help="a named public dataset instead of files: multi30k (German -> English)")
    data.add_argument("--skip-empty-pairs", action="store_true",
                      help="drop pairs with an empty side (counted in the log) instead of "
                           "stopping with an error")
    add_run_options(p, "runs/translate-TIME")
    model = p.add_argument_group("model")
    add_options(model, MODEL_OPTIONS, Seq2SeqConfig)
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                       help="bidirectional encoder (default: True)")
    model.add_argument("--tie-embeddings", action=argparse.BooleanOptionalAction, default=None,
                       help="target embedding = output layer weights (default: True)")
    add_options(p.add_argument_group("subwords"), SUBWORD_OPTIONS, SubwordOptions)
    add_training_options(p, TranslateTrainConfig, TASK_TRAINING_OPTIONS)
    p.set_defaults(func=run_train)


def _register_eval(actions) -> None:
    p = actions.add_parser("eval", help="BLEU and chrF (sacreBLEU) against reference translations",
                           description=EVAL_DESCRIPTION, formatter_class=Formatter)
    _add_run_argument(p)
    p.add_argument("--src", metavar="FILE", help="source sentences")
    p.add_argument("--ref", metavar="FILE", help="reference translations, line by line")
    p.add_argument("--dataset", metavar="NAME", help="a named dataset instead: multi30k")
    p.add_argument("--split", default="val", help="the split of --dataset (default: val)")
    p.add_argument("--output", metavar="FILE", help="also write the translations to this file")
    p.add_argument("--skip-empty-pairs", action="store_true",
                   help="leave out pairs with an empty side instead of stopping with an error")
    _add_search_options(p)
    p.set_defaults(func=run_eval)


def _register_predict(actions) -> None:
    p = actions.add_parser("predict", help="translate a file or standard input, line by line",
                           description=PREDICT_DESCRIPTION, formatter_class=Formatter)
    _add_run_argument(p)
    p.add_argument("--input", metavar="FILE", help="sentences to translate (default: stdin)")
    p.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    _add_search_options(p)
    p.set_defaults(func=run_predict)


def _register_attention(actions) -> None:
    p = actions.add_parser("attention", help="draw the attention matrix of one translation",
                           description=ATTENTION_DESCRIPTION, formatter_class=Formatter)
    _add_run_argument(p)
    p.add_argument("--text", required=True, help="the source sentence")
    p.add_argument("--out", required=True, metavar="PNG", help="where to write the heat map")
    _add_search_options(p)
    p.set_defaults(func=run_attention)


# --------------------------------------------------------------------------------------------


def run_train(args) -> int:
    from rnnlab.tasks.translate import train_translator

    common = dict(device=args.device, progress_bar=not args.no_progress)
    if args.resume:
        refuse_with_resume(args, "--src-train", "--tgt-train", "--src-dev", "--tgt-dev",
                           "--dataset", "--out")
        result = train_translator(resume=args.resume, overrides=resume_overrides(args), **common)
    else:
        flags = {name: getattr(args, name) for name in ("bidirectional", "tie_embeddings")
                 if getattr(args, name) is not None}
        result = train_translator(
            source_train=args.src_train, target_train=args.tgt_train, source_dev=args.src_dev,
            target_dev=args.tgt_dev, dataset=args.dataset, skip_empty=args.skip_empty_pairs,
            out=args.out, model={**given_options(args, MODEL_OPTIONS), **flags},
            subword_options=given_options(args, SUBWORD_OPTIONS),
            train_options=training_options(args, TASK_TRAINING_OPTIONS), **common)
    return print_training_result(result, lambda scores: (
        f"dev (last weights, greedy): BLEU {scores['bleu']:.2f}, chrF {scores['chrf']:.2f}, "
        f"loss {scores['loss']:.4f} nats/subword"))


def _load(args):
    from rnnlab.models.seq2seq import Translator
    from rnnlab.train.run import resolve_device

    SearchOptions(beam_size=args.beam, length_penalty=args.length_penalty,
                  max_length_ratio=args.max_length_ratio, max_length_extra=args.max_length_extra)
    if args.batch_size < 1:
        raise RnnlabError(f"--batch-size must be a positive integer, got {args.batch_size}")
    device = resolve_device(args.device)
    return Translator.from_pretrained(args.run, weights=args.weights).to(device)


def _write(path: str, text: str) -> None:
    from rnnlab.data.textfile import write_text_atomic

    try:
        write_text_atomic(path, text)
    except OSError as err:
        raise RnnlabError(f"cannot write {path}: {err.strerror or err}") from None


def run_eval(args) -> int:
    from rnnlab.tasks.translate import evaluate_run

    if args.output and args.src and _same_file(args.output, args.src):
        raise RnnlabError(f"--output {args.output} is the source file; choose another path")
    report = evaluate_run(args.run, source=args.src, reference=args.ref, dataset=args.dataset,
                          split=args.split, weights=args.weights, batch_size=args.batch_size,
                          skip_empty=args.skip_empty_pairs, device=args.device,
                          **_search(args))
    if args.output:
        _write(args.output, "".join(line + "\n" for line in report.translations))
    print(report.summary())
    return 0


def run_predict(args) -> int:
    from rnnlab.data.parallel import read_lines
    from rnnlab.tasks.translate import translate_texts

    model = _load(args)
    if args.input in (None, "-"):
        data = sys.stdin.buffer.read()
        lines = _stdin_lines(data)
    else:
        if args.output and _same_file(args.output, args.input):
            raise RnnlabError(f"--output {args.output} is the input file; choose another path")
        lines = read_lines(args.input)
    outputs = translate_texts(model, lines, batch_size=args.batch_size, **_search(args))
    # One output line per input line: a line break inside a translation cannot happen
    # (SentencePiece pieces hold none), but guard the layout anyway.
    text = "".join(" ".join(o.text.split("\n")) + "\n" for o in outputs)
    if args.output:
        _write(args.output, text)
        print(f"wrote {len(outputs):,} translations to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _stdin_lines(data: bytes) -> list[str]:
    """Lines of standard input (UTF-8, or gzip), checked like a file's."""
    from rnnlab.data.parallel import decode_lines

    if not data:
        raise RnnlabError("standard input is empty; give sentences to translate, one a line")
    return decode_lines(data, "standard input")


def run_attention(args) -> int:
    from rnnlab.tasks.translate import attention_matrix, draw_attention

    if not args.out.lower().endswith(".png"):
        raise RnnlabError(f"--out {args.out}: the heat map is a PNG file; name it *.png")
    model = _load(args)
    source, output, weights, translation = attention_matrix(model, args.text, **_search(args))
    draw_attention(args.out, source, output, weights, title=translation)
    print(translation)
    print(f"attention matrix ({len(output)} output × {len(source)} source subwords) written "
          f"to {args.out}")
    return 0


def _same_file(a: str, b: str) -> bool:
    from pathlib import Path

    return Path(a).resolve() == Path(b).resolve()
