"""Exercise 1: the parameter count of an RNN with input 50, hidden 128 and output 10.

The chapter's answer counts W_xh, W_hh, W_hy, one hidden bias b_h and b_y:
50·128 + 128·128 + 128·10 + 128 + 10 = 24,202. That is right for the textbook equations, but
PyTorch's nn.RNN keeps TWO hidden bias vectors (bias_ih and bias_hh, which always appear as a
sum), so nn.RNN(50, 128) + nn.Linear(128, 10) has 128 parameters more. rnnlab's calculator
(`rnnlab.diagnostics.params`) counts the model PyTorch builds, tensor by tensor, and this
example checks it against the modules' own numel() for the exercise and for LSTM, GRU,
stacked and bidirectional variants.

    python examples/ex1_parameter_count.py
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from torch import nn

from rnnlab.nn.cells import get_cell
from rnnlab.diagnostics.params import (CHAPTER_EXAMPLES, build_model, count_parameters,
                                       format_breakdown, recurrent_parameters)

INPUT, HIDDEN, OUTPUT = 50, 128, 10
LSTM_GATES = get_cell("lstm").gates     # i, f, g, o


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="fewer variants in the table (also RNNLAB_EXAMPLES_TINY=1)")
    parser.add_argument("--out", metavar="DIR", help="unused: this example writes no files")
    args = parser.parse_args(argv)
    args.tiny = args.tiny or os.environ.get("RNNLAB_EXAMPLES_TINY", "") not in ("", "0")
    return args


def numel(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def torch_recurrent(cell: str, layers: int, bidirectional: bool) -> nn.Module:
    kind = {"rnn_tanh": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    return kind(INPUT, HIDDEN, num_layers=layers, bidirectional=bidirectional, batch_first=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    textbook = INPUT * HIDDEN + HIDDEN * HIDDEN + HIDDEN * OUTPUT + HIDDEN + OUTPUT
    spec = CHAPTER_EXAMPLES["exercise-1"]
    calculated = count_parameters(spec)
    measured = numel(nn.RNN(INPUT, HIDDEN, batch_first=True), nn.Linear(HIDDEN, OUTPUT))
    print(f"== exercise 1: input {INPUT}, hidden {HIDDEN}, output {OUTPUT} ==")
    rows = [
        ("textbook formula (one hidden bias)", textbook),
        ("rnnlab calculator (PyTorch layout, two hidden biases)", calculated),
        (f"nn.RNN({INPUT}, {HIDDEN}) + nn.Linear({HIDDEN}, {OUTPUT}), numel()", measured),
        ("the model rnnlab builds for this spec, numel()", numel(build_model(spec))),
    ]
    for label, value in rows:
        print(f"  {label + ':':<56} {value:>7,}")
    print(f"  difference: {calculated - textbook} = the second bias vector bias_hh ({HIDDEN})")
    print()
    print(textwrap.indent(format_breakdown(spec), "  "))

    print("== the general formula: per layer and direction G·H·(I + H + 2), G = 1 (RNN), "
          "4 (LSTM), 3 (GRU) ==")
    print(f"  {'cell':<9} {'layers':>6} {'bidir':>5}  {'formula':>9}  {'torch numel':>11}")
    variants = [("rnn_tanh", 1, False), ("lstm", 1, False), ("gru", 1, False)]
    if not args.tiny:
        variants += [("rnn_tanh", 2, True), ("lstm", 2, False), ("lstm", 3, True),
                     ("gru", 2, True)]
    all_agree = True
    for cell, layers, bidirectional in variants:
        formula = recurrent_parameters(cell, INPUT, HIDDEN, layers, bidirectional)
        actual = numel(torch_recurrent(cell, layers, bidirectional))
        all_agree &= formula == actual
        print(f"  {cell:<9} {layers:>6} {str(bidirectional):>5}  {formula:>9,}  {actual:>11,}"
              f"{'' if formula == actual else '  MISMATCH'}")
    print(f"  single-layer LSTM check by hand: {LSTM_GATES}·{HIDDEN}·({INPUT} + {HIDDEN} + 2) "
          f"= {LSTM_GATES * HIDDEN * (INPUT + HIDDEN + 2):,}")
    return 0 if all_agree and calculated == measured else 1


if __name__ == "__main__":
    sys.exit(main())
