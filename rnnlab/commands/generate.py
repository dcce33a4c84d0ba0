"""`rnnlab generate train|sample|eval`: conditional generation (one-to-many)."""

from __future__ import annotations

import argparse
import sys

from rnnlab.commands.options import (CELL_HELP, Formatter, add_action_group, add_options,
                                     add_run_options, add_saved_run_options, add_training_options,
                                     given_options, print_training_result, refuse_with_resume,
                                     resume_overrides, training_options)
from rnnlab.models.configs import GENERATOR_CONDITIONINGS, GeneratorConfig
from rnnlab.train.config import GeneratorTrainConfig

DATA_HELP = ("a folder of <category>.txt files (one name per line; the category is the file "
             "name), or a TSV file of category<TAB>name lines")

TRAIN_DESCRIPTION = """\
Train a conditional generator: one input (a category, learned as an embedding, or a fixed
vector of floats from --vectors) -> a recurrent decoder -> a sequence of characters ended by an
end symbol. The input sets the initial hidden state, is fed with every character, or both
(--conditioning; "none" trains the unconditional baseline on the same data).

The data are split over DISTINCT names (train/dev/test, stratified by category, fixed by
--split-seed) and the splits are written to RUN/splits/{train,dev,test}.tsv: a name never sits
in two splits, and a name under several categories is kept under each. Training reads each
distinct (category, name) pair once per epoch (--balance N: a category's pairs round(N / count)
times, so that small categories weigh more); the dev loss (nats per character, the end symbol
counted) is evaluated every --eval-interval steps and picks best.safetensors. The run directory
also receives config.json, vocab.json, model.safetensors, the trainer state, metrics.jsonl and
loss.png. Ctrl-C saves and exits; --resume RUN continues exactly.
"""

SAMPLE_DESCRIPTION = """\
Generate sequences from a trained generator for one --category (or one --vector for a
generator trained on vectors), one per line. Each ends at the end symbol or after
--max-length characters. --temperature below 1 sharpens the distribution (0 is greedy),
above 1 flattens it; --top-k keeps the K most likely characters; --top-p the smallest set
whose probability reaches P; --seed makes the output reproducible. --novel returns --count
DISTINCT sequences that are not in the run's training split (drawing at most --max-draws).
"""

EVAL_DESCRIPTION = """\
Held-out loss of a trained generator: nats and bits per character (each name's characters and
its end symbol, every one predicted from the category and the characters before it), overall
and per category, on a split of the run (default: test) or on --data. A name with a character
the model never saw is an error unless --unknown skip leaves it out (the count is printed).

With --classifier RUN (a classifier trained on the same categories, e.g. on RUN/splits), it also
samples --samples names per category at --temperature and prints, per category, the share the
classifier calls the requested category (recognisability), the share that is new (not a
training name), new and distinct, outside the whole data set, and recognisability among the
new samples only, with macro averages.
"""


def register(subparsers) -> None:
    actions = add_action_group(subparsers, "generate",
                               "conditional generation (one input -> a sequence): train, "
                               "sample, eval",
                               "Conditional sequence generation with recurrent networks "
                               "(one-to-many), e.g. surnames by language.")
    _register_train(actions)
    _register_sample(actions)
    _register_eval(actions)


MODEL_OPTIONS = (
    ("--conditioning", "conditioning", str,
     f"how the input enters: {', '.join(GENERATOR_CONDITIONINGS)} (init: sets the initial "
     "state; input: fed at every step; none: unconditional)"),
    ("--cell", "cell", str, CELL_HELP),
    ("--layers", "num_layers", int, "recurrent layers"),
    ("--hidden", "hidden_size", int, "hidden size"),
    ("--embedding", "embedding_size", int, "character embedding size"),
    ("--condition-size", "condition_size", int, "size of the category embedding (or of the "
                                                "projected vector)"),
    ("--dropout", "dropout", float, "dropout on the character embeddings, between layers and "
                                    "before the output layer"),
)


def _register_train(actions) -> None:
    p = actions.add_parser("train", help="train a generator (or --resume one)",
                           description=TRAIN_DESCRIPTION, formatter_class=Formatter)
    data = p.add_argument_group("data")
    data.add_argument("--data", metavar="PATH", help=DATA_HELP)
    data.add_argument("--vectors", metavar="FILE",
                      help="condition on fixed vectors: category<TAB>floats, one line per "
                           "category (default: learn a category embedding)")
    data.add_argument("--split-seed", type=int, default=0,
                      help="seed of the split over distinct names (default: 0)")
    data.add_argument("--dev-fraction", type=float, default=0.1, help="(default: 0.1)")
    data.add_argument("--test-fraction", type=float, default=0.1, help="(default: 0.1)")
    data.add_argument("--balance", type=int, metavar="N",
                      help="repeat each category's training names round(N / count) times per "
                           "epoch (at least once): small categories' samples become more "
                           "typical and more often copies of training names (default: 0, "
                           "each name once)")
    add_run_options(p, "runs/generate-TIME")
    model = p.add_argument_group("model")
    add_options(model, MODEL_OPTIONS, GeneratorConfig)
    add_training_options(p, GeneratorTrainConfig)
    p.set_defaults(func=run_train)


def _add_sampling_options(p) -> None:
    """The char LM's sampling options (`rnnlab sample`), with the same names and meanings."""
    group = p.add_argument_group("sampling")
    group.add_argument("--temperature", type=float, default=1.0, help="(default: 1.0)")
    group.add_argument("--top-k", type=int)
    group.add_argument("--top-p", type=float)
    group.add_argument("--greedy", action="store_true",
                       help="always take the most likely character")
    group.add_argument("--seed", type=int, help="random seed (same seed, same samples)")


def _register_sample(actions) -> None:
    from rnnlab.models.configs import GENERATOR_MAX_LENGTH as MAX_LENGTH

    p = actions.add_parser("sample", help="generate sequences for a category",
                           description=SAMPLE_DESCRIPTION, formatter_class=Formatter)
    p.add_argument("run", metavar="RUN", help="run directory of a trained generator")
    p.add_argument("--category", help="the category to generate for (e.g. Japanese)")
    p.add_argument("--vector", metavar="FILE",
                   help="a file of floats: the input of a generator trained with --vectors")
    p.add_argument("--count", type=int, default=10, help="how many (default: 10)")
    p.add_argument("--max-length", type=int, default=MAX_LENGTH,
                   help=f"cut a sequence after this many characters (default: {MAX_LENGTH})")
    p.add_argument("--novel", action="store_true",
                   help="distinct sequences that are not in the training split")
    p.add_argument("--max-draws", type=int,
                   help="with --novel: give up after this many samples (default: 100 × count)")
    p.add_argument("--weights", choices=("best", "last"), default="best",
                   help="best (by the dev loss) or last weights (default: best)")
    _add_sampling_options(p)
    p.set_defaults(func=run_sample)


def _register_eval(actions) -> None:
    p = actions.add_parser("eval", help="held-out loss per character (and, with --classifier, "
                                        "recognisability and novelty of samples)",
                           description=EVAL_DESCRIPTION, formatter_class=Formatter)
    add_saved_run_options(p, "generator")
    p.add_argument("--split", choices=("train", "dev", "test"), default="test",
                   help="the run's own split to score (default: test)")
    p.add_argument("--data", metavar="PATH", help="score this data instead: " + DATA_HELP)
    p.add_argument("--unknown", choices=("error", "skip"), default="error",
                   help="a name with a character the model never saw: error, or skip it "
                        "(default: error)")
    judged = p.add_argument_group("recognisability (with --classifier)")
    judged.add_argument("--classifier", metavar="RUN", nargs="+",
                        help="classifier run(s) that judge the samples (several: mean "
                             "probability)")
    judged.add_argument("--samples", type=int, default=100,
                        help="samples per category (default: 100)")
    judged.add_argument("--temperature", type=float, default=0.8, help="(default: 0.8)")
    judged.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.set_defaults(func=run_eval)


def run_train(args) -> int:
    from rnnlab.tasks.generate import train_generator

    common = dict(device=args.device, progress_bar=not args.no_progress)
    if args.resume:
        refuse_with_resume(args, "--data", "--vectors", "--balance", "--out")
        result = train_generator(resume=args.resume, overrides=resume_overrides(args), **common)
    else:
        result = train_generator(
            data=args.data, vectors=args.vectors, split_seed=args.split_seed,
            dev_fraction=args.dev_fraction, test_fraction=args.test_fraction,
            balance=args.balance or 0, out=args.out,
            model=given_options(args, MODEL_OPTIONS), train_options=training_options(args),
            **common)
    return print_training_result(result, lambda scores: (
        f"dev loss (last weights): {scores['loss']:.4f} nats/char"))


def run_sample(args) -> int:
    from rnnlab.data.names import read_vector
    from rnnlab.decoding import SamplingOptions
    from rnnlab.models.generator import Generator

    options = SamplingOptions(temperature=args.temperature, top_k=args.top_k,
                              top_p=args.top_p, greedy=args.greedy)
    vector = read_vector(args.vector) if args.vector else None
    model = Generator.from_pretrained(args.run, weights=args.weights)
    names = model.sample(args.category, n=args.count, options=options, seed=args.seed,
                         max_length=args.max_length, vector=vector, novel=args.novel,
                         max_draws=args.max_draws)
    sys.stdout.write("".join(f"{name}\n" for name in names))
    return 0


def run_eval(args) -> int:
    from rnnlab.tasks.generate import evaluate_run

    scores = evaluate_run(args.run, data=args.data, split=args.split, unknown=args.unknown,
                          weights=args.weights, batch_size=args.batch_size)
    where = args.data or f"the {args.split} split"
    print(f"held-out loss on {where}: {scores.summary()}")
    print()
    print(scores.table())
    if args.classifier:
        _print_recognisability(args)
    return 0


def _print_recognisability(args: argparse.Namespace) -> None:
    from rnnlab.decoding import SamplingOptions
    from rnnlab.models.generator import Generator
    from rnnlab.tasks.generate import recognisability, run_splits

    generator = Generator.from_pretrained(args.run, weights=args.weights)
    splits = run_splits(args.run)
    all_names = set().union(*(splits.names(split) for split in splits.pairs))
    report = recognisability(generator, args.classifier, samples=args.samples,
                             options=SamplingOptions(temperature=args.temperature),
                             seed=args.seed, all_names=all_names)
    print()
    print(f"{args.samples} samples per category at temperature {args.temperature}, judged by "
          f"{' + '.join(args.classifier)}:")
    print(report.table())
