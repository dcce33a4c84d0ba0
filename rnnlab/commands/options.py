"""Argument groups shared by the training commands; defaults come from the config dataclasses.

Every option's parser default is None ("not given"), so the library's own default applies and a
resumed run can tell what the user changed. The help text shows the library default, read from
the dataclass field (rnnlab.train.config, rnnlab.models.configs) — never a copy that can drift.
Those modules are torch-free, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from rnnlab.train.config import RESUMABLE_OPTIONS

CELL_HELP = "recurrent cell: any registered cell (built in: rnn_tanh, rnn_relu, lstm, gru, gru_fused)"

# (flag, TrainConfig field, type, help)
TRAINING_OPTIONS = (
    ("--batch-size", "batch_size", int, "examples (streams for the char LM) per batch"),
    ("--lr", "lr", float, "peak learning rate (AdamW)"),
    ("--weight-decay", "weight_decay", float, "AdamW weight decay of the weight matrices"),
    ("--warmup", "warmup_steps", int, "warm-up steps"),
    ("--min-lr-ratio", "min_lr_ratio", float, "the cosine decay ends at lr × this"),
    ("--clip-norm", "clip_norm", float, "global gradient-norm clip"),
    ("--max-steps", "max_steps", int, "stop after this many steps"),
    ("--max-epochs", "max_epochs", float, "stop after this many epochs"),
    ("--max-time", "max_time", float, "stop after this many seconds of training (evaluation "
                                      "excluded); the cosine decay follows it"),
    ("--decay-steps", "decay_steps", int, "length of the cosine decay (default: the budget)"),
    ("--eval-interval", "eval_interval", int, "steps between evaluations (and checkpoints)"),
    ("--precision", "precision", str, "fp32, bf16 (autocast) or auto"),
    ("--seed", "seed", int, "random seed"),
)


def field_defaults(config_class: type) -> dict:
    return {f.name: f.default for f in fields(config_class)}


def with_default(help_text: str, default) -> str:
    return help_text if default is None else f"{help_text} (default: {default})"


def add_options(group, options, config_class: type) -> None:
    """Add (flag, field, type, help) options whose help shows the field's default."""
    defaults = field_defaults(config_class)
    for flag, name, kind, help_text in options:
        group.add_argument(flag, dest=name, type=kind,
                           help=with_default(help_text, defaults.get(name)))


def given_options(args: argparse.Namespace, options) -> dict:
    """{field: value} for the options of `options` the user gave."""
    values = {name: getattr(args, name) for _, name, _, _ in options}
    return {name: value for name, value in values.items() if value is not None}


def add_training_options(parser, config_class: type, extra=()) -> None:
    """The optimisation group: TRAINING_OPTIONS plus a task's `extra` ones."""
    group = parser.add_argument_group("optimisation")
    add_options(group, TRAINING_OPTIONS + tuple(extra), config_class)
    budget = ", ".join(f"{name.replace('_', '-')} {value}"
                       for name, value in config_class.DEFAULT_BUDGET.items())
    group.description = f"With no budget given: {budget}."


def training_options(args: argparse.Namespace, extra=()) -> dict:
    return given_options(args, TRAINING_OPTIONS + tuple(extra))


def resume_overrides(args: argparse.Namespace) -> dict:
    """The options a resumed run may change (budgets, decay, evaluation interval)."""
    return {name: getattr(args, name) for name in RESUMABLE_OPTIONS
            if getattr(args, name, None) is not None}


def add_run_options(parser, default_out: str) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--out", metavar="DIR", help=f"run directory (default: {default_out})")
    group.add_argument("--resume", metavar="RUN", help="continue the run in this directory")
    group.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    group.add_argument("--no-progress", action="store_true",
                       help="no progress bar (plain progress lines instead)")


def refuse_with_resume(args: argparse.Namespace, *flags: str) -> None:
    """A resumed run keeps its data and directory: giving them again is a mistake."""
    from rnnlab.errors import RnnlabError

    for flag in flags:
        if getattr(args, flag.lstrip("-").replace("-", "_"), None) is not None:
            raise RnnlabError(f"{flag} cannot be given with --resume: the run keeps its data "
                              "and directory")


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' line breaks; defaults are written into the help texts."""


def add_command(subparsers, name: str, help_text: str, description: str, epilog: str | None = None):
    """The parser of one `rnnlab NAME` command, with its description and epilog as written."""
    return subparsers.add_parser(name, help=help_text, description=description, epilog=epilog,
                                 formatter_class=Formatter)


def add_action_group(subparsers, name: str, help_text: str, description: str):
    """`rnnlab NAME ACTION ...` (classify, tag, ...): the group's parser and its actions.
    Without an action the group prints its help to stderr and exits with 2."""
    import sys

    parser = subparsers.add_parser(name, help=help_text, description=description,
                                   formatter_class=Formatter)
    actions = parser.add_subparsers(dest=f"{name}_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: parser.print_help(sys.stderr) or 2)
    return actions


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def add_saved_run_options(parser, what: str, several: bool = False,
                          batch_size: int = 256) -> None:
    """RUN (one, or several for an ensemble), --weights and --batch-size of a trained model."""
    parser.add_argument("run", metavar="RUN", nargs="+" if several else None,
                        help=f"run directory of a trained {what}" + (
                            "; several average their probabilities (an ensemble)" if several else ""))
    parser.add_argument("--weights", choices=("best", "last"), default="best",
                        help="best (by the dev metric) or last weights (default: best)")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                        help=f"(default: {batch_size})")


def print_training_result(result, summary) -> int:
    """The last lines of a training command; `summary(scores)` formats the last evaluation.
    Returns the exit code (130 after Ctrl-C)."""
    if result.stopped_by == "interrupted":
        return 130
    if result.scores is not None:
        print(f"{summary(result.scores)}")
    if result.best_metric is not None and result.metric != "loss":
        print(f"best dev {result.metric} {result.best_metric:.4f} at step {result.best_step} "
              "(saved as best.safetensors)")
    print(f"stopped by {result.stopped_by} at step {result.step} (epoch {result.epochs:.2f}) "
          f"after {result.train_time:.1f} s of training; run saved in {result.run_dir}")
    return 0

