"""Command-line entry point. Thin: it parses arguments and calls library functions.

Each subcommand lives in its own module under `rnnlab.commands` and exposes
`register(subparsers)`, which adds its parser and sets `func` to a handler taking the parsed
arguments. Modules are imported lazily so `rnnlab trace` never pays for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rnnlab import __version__
from rnnlab.errors import RnnlabError

# The exit status of a program stopped by SIGPIPE in a shell (128 + 13), which `cat` and
# other Unix tools give when their reader closes the pipe early.
SIGPIPE_EXIT = 141

# Subcommand modules, in the order `rnnlab --help` lists them.
COMMAND_MODULES = (
    "rnnlab.commands.demo",
    "rnnlab.commands.train",
    "rnnlab.commands.sample",
    "rnnlab.commands.evaluate",
    "rnnlab.commands.trace",
    "rnnlab.commands.tag",
    "rnnlab.commands.gradflow",
    "rnnlab.commands.jacobian",
    "rnnlab.commands.scalarflow",
    "rnnlab.commands.initscale",
    "rnnlab.commands.classify",
    "rnnlab.commands.translate",
    "rnnlab.commands.generate",
    "rnnlab.commands.params",
    "rnnlab.commands.memory",
    "rnnlab.commands.longrange",
    "rnnlab.commands.viz",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnlab",
        description="Learn, train and inspect recurrent neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Under torchrun, rank 0 speaks for the run: the other ranks print nothing (their errors are
    # rank 0's too, since every rank checks the same options and data).
    quiet_rank = int(os.environ.get("RANK", "0")) > 0
    if quiet_rank:
        sys.stdout = open(os.devnull, "w")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
        sys.stdout.flush()         # a closed pipe shows here, inside the handler below
    except BrokenPipeError:
        # The reader went away (`rnnlab sample ... | head`): stop quietly, as `cat` does. The
        # interpreter flushes stdout again on exit, so point it at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    except RnnlabError as err:
        if not quiet_rank:
            print(f"rnnlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnlab {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
