"""`rnnlab trace`: print a step-by-step table of a small Elman RNN's forward pass.

Pure NumPy: this command never imports torch.
"""

from __future__ import annotations

from rnnlab.commands.options import add_command

import argparse

from rnnlab.errors import RnnlabError

DESCRIPTION = """\
Run the textbook Elman RNN on a short input sequence and print every intermediate value,
so a hand calculation can be checked line by line:

  a_t = W_xh x_t + W_hh h_(t-1) + b_h
  h_t = tanh(a_t)            (or relu(a_t))
  y_t = W_hy h_t + b_y
"""

EPILOG = """\
columns:
  t     the time step; row 0 shows only the initial hidden state h_0
  x_t   the input vector at step t                          (input_size entries)
  a_t   the pre-activation: W_xh x_t + W_hh h_(t-1) + b_h   (hidden_size entries)
  h_t   the hidden state after the nonlinearity             (hidden_size entries)
  y_t   the output: W_hy h_t + b_y                          (output_size entries)

weights file (JSON object):
  W_xh          hidden_size x input_size matrix, a list of rows     (required)
  W_hh          hidden_size x hidden_size matrix                    (required)
  W_hy          output_size x hidden_size matrix                    (required)
  b_h, b_y, h0  vectors of length hidden_size, output_size, hidden_size (default zeros)
  inputs        list of x_t vectors, each of length input_size      (required to trace)
  nonlinearity  "tanh" (default) or "relu"

example:
  {"W_xh": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]],
   "W_hh": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]],
   "W_hy": [[0.2, 0.4, 0.6]],
   "inputs": [[1.0, 0.5], [0.8, 0.3], [0.6, 0.9]]}
"""

MAX_PRECISION = 17


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "trace",
                         "print a step-by-step trace of a small Elman RNN (a_t, h_t, y_t)",
                         DESCRIPTION, EPILOG)
    parser.add_argument("weights", nargs="?", metavar="WEIGHTS.json",
                        help="JSON file with the weights and inputs (format below)")
    parser.add_argument("--chapter-example", action="store_true",
                        help="trace the worked example of section 1.3 instead of a file")
    parser.add_argument("--precision", type=int, default=4, metavar="DIGITS",
                        help="decimal places to print (default: 4)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `rnnlab --help` and other commands do not load NumPy for it.
    from rnnlab.reference.trace import (
        chapter_example,
        format_trace,
        load_trace_weights,
        trace_elman,
    )

    if args.chapter_example == (args.weights is not None):
        raise RnnlabError("give either a WEIGHTS.json file or --chapter-example (not both)")
    if not 0 <= args.precision <= MAX_PRECISION:
        raise RnnlabError(
            f"--precision must be between 0 and {MAX_PRECISION}, got {args.precision}"
        )
    setup = chapter_example() if args.chapter_example else load_trace_weights(args.weights)
    if len(setup.inputs) == 0:
        raise RnnlabError(
            f"{args.weights}: no inputs to trace; add \"inputs\": a list of x_t vectors, "
            f"each of length input_size={setup.weights.input_size}"
        )
    print(format_trace(trace_elman(setup.weights, setup.inputs), precision=args.precision),
          end="")
    return 0
