"""`rnnlab tag`: train a part-of-speech tagger on CoNLL-U treebanks, tag files, score them."""

from __future__ import annotations

import json

from rnnlab.commands.options import (CELL_HELP, Formatter, add_action_group, add_options,
                                     add_run_options, add_saved_run_options, add_training_options,
                                     given_options, print_training_result, refuse_with_resume,
                                     resume_overrides, training_options)
from rnnlab.errors import RnnlabError
from rnnlab.models.configs import TaggerConfig
from rnnlab.train.config import TrainConfig

DESCRIPTION = """\
Part-of-speech tagging (many-to-many, one tag per word) on CoNLL-U treebanks such as
Universal Dependencies. The tagger reads each word as a word embedding plus a character-level
BiLSTM vector (so unseen words still get a useful representation), runs a bidirectional LSTM
over the sentence and predicts one tag per word.

  rnnlab tag train --train TRAIN.conllu --dev DEV.conllu --out RUN
  rnnlab tag predict RUN --input IN.conllu --output OUT.conllu
  rnnlab tag eval RUN --data TEST.conllu
"""

TRAIN_DESCRIPTION = """\
Train a tagger on the UPOS (or, with --column xpos, XPOS) column of a CoNLL-U training file,
choosing the best checkpoint by accuracy on the dev file. Multiword-token ranges (1-2) and empty
nodes (1.1) are not tagged. Every tag of the dev file must occur in the training file (otherwise
the error lists the known tags). --dataset ud_english_ewt downloads UD English EWT v2.16 train
and dev into the cache ($RNNLAB_CACHE or ~/.cache/rnnlab) and checks their sha256.

Output: the run directory gets config.json, vocab.json (words, characters, tags, training word
counts), model.safetensors (last), best.safetensors (best dev accuracy), trainer state,
metrics.jsonl, loss.png and metric.png. At each evaluation a line reports dev accuracy, dev loss
(nats per token) and the accuracy on dev words never seen in training (OOV). Ctrl-C saves and
stops; --resume RUN continues exactly.
"""

PREDICT_DESCRIPTION = """\
Tag a CoNLL-U file with a trained run and write it back with the predicted tags in the column
the run was trained on (UPOS or XPOS). Everything else (comments, other columns, multiword
tokens, empty nodes) is copied unchanged. The input's tag column may be empty ('_'). Words
never seen in training are fine: the character model handles them.
"""

EVAL_DESCRIPTION = """\
Score a trained run on a tagged CoNLL-U file. Output: accuracy over all words and the number of
words, then accuracy on OOV words (forms that never occur in the training data, compared
exactly, case included) and their number. --json prints the same as one JSON object.
"""


def register(subparsers) -> None:
    actions = add_action_group(subparsers, "tag", "part-of-speech tagging of CoNLL-U treebanks",
                               DESCRIPTION)
    _register_train(actions)
    _register_predict(actions)
    _register_eval(actions)


MODEL_OPTIONS = (
    ("--cell", "cell", str, CELL_HELP + " (both encoders)"),
    ("--layers", "num_layers", int, "sentence BiLSTM layers"),
    ("--hidden", "hidden_size", int, "sentence BiLSTM size per direction"),
    ("--word-dim", "word_embedding_size", int, "word embedding size"),
    ("--char-dim", "char_embedding_size", int, "character embedding size"),
    ("--char-hidden", "char_hidden_size", int, "character BiLSTM size per direction"),
    ("--dropout", "dropout", float, "dropout on the encoder's input and output"),
    ("--word-dropout", "word_dropout", float, "probability of replacing a training word by <unk>"),
)


def _register_train(actions) -> None:
    p = actions.add_parser("train", help="train a tagger", description=TRAIN_DESCRIPTION,
                           formatter_class=Formatter)
    data = p.add_argument_group("data")
    data.add_argument("--train", metavar="FILE", help="training treebank (CoNLL-U)")
    data.add_argument("--dev", metavar="FILE", help="dev treebank (CoNLL-U), for model selection")
    data.add_argument("--dataset", metavar="NAME",
                      help="download a named treebank instead: ud_english_ewt")
    data.add_argument("--column", choices=("upos", "xpos"), default="upos",
                      help="which tag column to learn (default: upos)")
    add_run_options(p, "runs/tagger-TIME")
    model = p.add_argument_group("model")
    add_options(model, MODEL_OPTIONS, TaggerConfig)
    model.add_argument("--min-count", type=int, default=1,
                       help="training words seen fewer times share the <unk> embedding (default: 1)")
    model.add_argument("--lowercase", action="store_true",
                       help="lowercase words for the word embedding (characters keep case)")
    add_training_options(p, TrainConfig)
    p.set_defaults(func=run_train)


def _register_predict(actions) -> None:
    p = actions.add_parser("predict", help="tag a CoNLL-U file", description=PREDICT_DESCRIPTION,
                           formatter_class=Formatter)
    add_saved_run_options(p, "tagger", batch_size=64)
    p.add_argument("--input", required=True, metavar="FILE", help="CoNLL-U file to tag")
    p.add_argument("--output", required=True, metavar="FILE", help="where to write the result")
    p.set_defaults(func=run_predict)


def _register_eval(actions) -> None:
    p = actions.add_parser("eval", help="accuracy (overall and OOV) on a tagged CoNLL-U file",
                           description=EVAL_DESCRIPTION, formatter_class=Formatter)
    add_saved_run_options(p, "tagger", batch_size=64)
    p.add_argument("--data", metavar="FILE", help="tagged CoNLL-U file")
    p.add_argument("--dataset", metavar="NAME", help="named treebank instead (ud_english_ewt)")
    p.add_argument("--split", default="dev", help="split of --dataset (default: dev)")
    p.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    p.set_defaults(func=run_eval)


# --------------------------------------------------------------------------------------------


def run_train(args) -> int:
    from rnnlab.tasks.tag import train_tagger

    common = dict(device=args.device, progress_bar=not args.no_progress)
    if args.resume:
        refuse_with_resume(args, "--train", "--dev", "--dataset", "--out")
        result = train_tagger(resume=args.resume, overrides=resume_overrides(args), **common)
    else:
        if args.dataset is None and (args.train is None or args.dev is None):
            raise RnnlabError("give --train FILE and --dev FILE (CoNLL-U), or --dataset "
                              "ud_english_ewt")
        model = {**given_options(args, MODEL_OPTIONS), "min_count": args.min_count,
                 "lowercase": args.lowercase}
        result = train_tagger(train=args.train, dev=args.dev, dataset=args.dataset,
                              column=args.column, out=args.out, model=model,
                              training=training_options(args), **common)
    return print_training_result(result, lambda scores: f"dev (last): {_format_dev(scores)}")


def _format_dev(dev: dict) -> str:
    parts = [f"accuracy {100 * dev['accuracy']:.2f}%"]
    if "oov_accuracy" in dev:
        parts.append(f"OOV accuracy {100 * dev['oov_accuracy']:.2f}%")
    if "loss" in dev:
        parts.append(f"loss {dev['loss']:.4f} nats/token")
    return ", ".join(parts)


def run_predict(args) -> int:
    from rnnlab.data.conllu_io import read_conllu, write_conllu
    from rnnlab.models.tagger import Tagger
    from rnnlab.tasks.tag import run_column

    model = Tagger.from_pretrained(args.run, weights=args.weights)
    column = run_column(args.run)
    bank = read_conllu(args.input)
    tags = model.predict([s.forms for s in bank.sentences], batch_size=args.batch_size)
    write_conllu(args.output, bank.sentences, tags, column=column)
    print(f"tagged {bank.num_words:,} words in {len(bank):,} sentences of {args.input} "
          f"({column.upper()}); wrote {args.output}")
    return 0


def run_eval(args) -> int:
    from rnnlab.tasks.tag import evaluate_file

    if (args.data is None) == (args.dataset is None):
        raise RnnlabError("give exactly one of --data FILE or --dataset NAME")
    if args.dataset is not None:
        from rnnlab.data.conllu_io import fetch_tagging_dataset
        path = fetch_tagging_dataset(args.dataset, args.split)
    else:
        path = args.data
    score, column = evaluate_file(args.run, path, weights=args.weights,
                                  batch_size=args.batch_size)
    if args.json:
        print(json.dumps({"data": str(path), "column": column, **score.to_dict()}))
        return 0
    oov = f"{100 * score.oov_accuracy:.2f}%" if score.oov_total else "n/a"
    print(f"{path} ({column.upper()})")
    print(f"accuracy      {100 * score.accuracy:6.2f}%  on {score.total:,} tokens")
    print(f"OOV accuracy  {oov:>7}  on {score.oov_total:,} tokens unseen in training "
          f"({100 * score.oov_total / score.total:.1f}% of tokens)")
    return 0
