"""`rnnlab longrange`: the adding problem and copy-memory task across lags and cells."""

from __future__ import annotations

import argparse

from rnnlab.commands.options import add_command
from rnnlab.errors import RnnlabError

DESCRIPTION = """\
Train each cell on a long-range memory task at each lag, from scratch and with the same budget,
and report whether it solves the task. The lag is how many time steps the model must carry
information across, so this shows vanishing gradients as a result: a plain tanh RNN solves
short lags and fails long ones; LSTM and GRU hold on much longer.

  adding  T = lag steps of (value, marker); two values are marked; predict their sum after the
          last step. Metric: test MSE. Trivial predictor (always 1): MSE ≈ 0.167.
          Solved: MSE < 0.01.
  copy    k symbols from an alphabet of n (default 5 of 8), then lag-1 blanks, a marker, k
          blanks; reproduce the k symbols after the marker. Metric: accuracy on the recalled
          symbols. Trivial (chance): ≈ 1/n. Solved: accuracy >= 0.99.
"""

EPILOG = """\
output:
  a table with one row per (cell, lag): the best test metric within the budget, the trivial
  predictor's value on the same evaluation set, whether it is solved, the steps run (training
  stops early once solved) and the seconds. With --out DIR: DIR/results.json (every run,
  with its evaluation history) and DIR/<task>.png, the metric against the lag per cell.

examples:
  rnnlab longrange --task adding --lags 10,25,50 --max-steps 1000 --out runs/longrange
  rnnlab longrange --task copy --cells lstm,gru --lags 10,50 --max-seconds 60
"""


def register(subparsers) -> None:
    from rnnlab.nn.cells import cell_names   # torch-free

    parser = add_command(subparsers, "longrange",
                         "adding problem / copy memory: which cell remembers across which lag",
                         DESCRIPTION, EPILOG)
    parser.add_argument("--task", default="adding", help="adding or copy (default: adding)")
    parser.add_argument("--cells", default="rnn_tanh,lstm,gru",
                        help=f"comma-separated registered cells ({', '.join(cell_names())}; "
                             "default: rnn_tanh,lstm,gru)")
    parser.add_argument("--lags", default="10,25,50,100,200",
                        help="comma-separated lags (default: 10,25,50,100,200)")
    parser.add_argument("--hidden", type=int, default=64, help="hidden size (default: 64)")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--copy-symbols", type=int, default=5, metavar="K",
                        help="copy task: symbols to remember (default: 5)")
    parser.add_argument("--copy-alphabet", type=int, default=8, metavar="N",
                        help="copy task: alphabet size (default: 8)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float,
                        help="Adam learning rate (default: 3e-3 adding, 1e-2 copy)")
    parser.add_argument("--clip-norm", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int,
                        help="step budget per run (default: 2000 adding, 4000 copy)")
    parser.add_argument("--max-seconds", type=float,
                        help="time budget per run (in addition to --max-steps)")
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--eval-size", type=int, default=1000,
                        help="held-out sequences per evaluation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int,
                        help="torch threads while training (default: torch's; 1 suits a busy "
                             "machine)")
    parser.add_argument("--out", metavar="DIR", help="write results.json and the plot here")
    parser.add_argument("--quiet", action="store_true", help="no per-evaluation progress lines")
    parser.set_defaults(func=run)


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise RnnlabError(f"{flag} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise RnnlabError(f"{flag} is empty")
    bad = [v for v in values if v < 1]
    if bad:
        raise RnnlabError(f"{flag} must be positive, got {bad[0]}")
    return values


def run(args: argparse.Namespace) -> int:
    import sys

    from rnnlab.diagnostics.long_range import (
        LongRangeConfig,
        format_results,
        plot_results,
        run_sweep,
        save_results,
    )

    from rnnlab.nn.cells import cell_names, get_cell

    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    if not cells:
        raise RnnlabError(f"--cells is empty; registered cells: {', '.join(cell_names())}")
    for cell in cells:   # every name before any training; an unknown one lists the choices
        get_cell(cell)
    lags = _int_list(args.lags, "--lags")
    base = LongRangeConfig(task=args.task, cell=cells[0], lag=lags[0], hidden_size=args.hidden,
                           num_layers=args.layers, copy_symbols=args.copy_symbols,
                           copy_alphabet=args.copy_alphabet, batch_size=args.batch_size,
                           lr=args.lr, clip_norm=args.clip_norm, max_steps=args.max_steps,
                           max_seconds=args.max_seconds, eval_every=args.eval_every,
                           eval_size=args.eval_size, seed=args.seed,
                           num_threads=args.threads)
    for lag in lags:      # validate every lag before spending time on training
        LongRangeConfig(**{**base.__dict__, "lag": lag})

    def progress(config, step, metric):
        if not args.quiet:
            print(f"  {config.task} {config.cell} lag {config.lag}: step {step} "
                  f"{config.metric_name} {metric:.4f}", file=sys.stderr, flush=True)

    results = run_sweep(base, cells, lags, progress)
    print(format_results(results), end="")
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        save_results(results, out / "results.json")
        plot = plot_results(results, out / f"{args.task}.png")
        print(f"wrote {out / 'results.json'} and {plot}")
    return 0
