"""`rnnlab scalarflow`: the chapter's scalar gradient-flow model (w·tanh' per step), done right."""

from __future__ import annotations

import math

from rnnlab.commands.options import add_command
from rnnlab.errors import RnnlabError

DESCRIPTION = """\
The one-unit model of vanishing and exploding gradients from section 1.4: going one step back
multiplies the gradient by w·tanh'(a). With tanh' fixed at 0.4 the gradient n steps back is
g_n = (0.4·w)^n: it vanishes for 0.4·w < 1, explodes for 0.4·w > 1, and the boundary is
0.4·w = 1 (w = 2.5). So w = 2 vanishes (0.8 per step).
"""

EPILOG = """\
output:
  a table, one row per --w value:
    factor              tanh'·w, the per-step multiplier
    g_N                 (tanh'·w)^N, the gradient N = --steps steps before the loss (g_0 = 1)
    regime              vanishes, neutral or explodes
    steps to F          n with g_n = F·g_0 (F = --fraction), ln F / ln(factor); never if the
                        gradient does not shrink
    real mean tanh´     the mean of tanh'(a_t) = 1 - h_t² in an actual scalar tanh RNN
                        h_t = tanh(w·h_(t-1) + x_t), x_t ~ N(0, 1) (seed --seed): the constant
                        0.4 is an assumption, and saturation makes it smaller for large w
    real g_N            that RNN's exact ∂h_T/∂h_(T-N) = Π w·(1 - h_j²)
  and a PNG: g_n against n (linear and log scale) per w, and log10 g_N swept over w with the
  boundary tanh'·w = 1 marked.
"""


def register(subparsers) -> None:
    parser = add_command(subparsers, "scalarflow",
                         "the chapter's scalar (0.4·w)^n gradient model, done right",
                         DESCRIPTION, EPILOG)
    parser.add_argument("--w", default="0.5,1,2,4", metavar="W1,W2,...",
                        help="recurrent weights to tabulate (default: 0.5,1,2,4)")
    parser.add_argument("--steps", type=int, default=49, metavar="N",
                        help="steps back from the loss (default: 49, a 50-step sequence)")
    parser.add_argument("--tanh-derivative", type=float, default=0.4, metavar="D",
                        help="the assumed constant tanh' (default: 0.4)")
    parser.add_argument("--fraction", type=float, default=1e-6, metavar="F",
                        help="for the 'steps to F' column (default: 1e-6)")
    parser.add_argument("--seed", type=int, default=0, help="inputs of the real tanh RNN")
    parser.add_argument("--out", default="scalarflow.png", metavar="PNG",
                        help="the plot (default: scalarflow.png)")
    parser.set_defaults(func=run)


def parse_floats(option: str, text: str) -> list[float]:
    values = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise RnnlabError(f"{option}: {item.strip()!r} is not a number; expected a "
                              "comma-separated list such as 0.5,1,2") from None
        if not math.isfinite(value):
            raise RnnlabError(f"{option}: {item.strip()!r} is not a finite number")
        values.append(value)
    return values


def run(args) -> int:
    import numpy as np

    from rnnlab.diagnostics import scalar_flow as sf
    from rnnlab.diagnostics.plots import plot_scalar_flow

    w_values = parse_floats("--w", args.w)
    if args.steps < 1:
        raise RnnlabError(f"--steps must be a positive integer, got {args.steps}")
    if not (math.isfinite(args.tanh_derivative) and 0 < args.tanh_derivative <= 1):
        raise RnnlabError(f"--tanh-derivative must be in (0, 1] (tanh' never exceeds 1), got "
                          f"{args.tanh_derivative}")
    if not 0 < args.fraction < 1:
        raise RnnlabError(f"--fraction must be between 0 and 1, got {args.fraction}")
    inputs = np.random.default_rng(args.seed).standard_normal(args.steps + 1)
    print(sf.format_table(w_values, args.steps, args.tanh_derivative, args.fraction, inputs))
    plot_scalar_flow(w_values, args.steps, args.tanh_derivative, args.out)
    print(f"plot: {args.out}")
    boundary = sf.boundary_weight(args.tanh_derivative)
    print(f"boundary: {args.tanh_derivative:g}·w = 1 at w = {boundary:g}; smaller w vanishes, "
          "larger w explodes")
    return 0
