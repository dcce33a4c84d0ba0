"""`rnnlab initscale`: exercise 4, the gradient through time for each init scale and cell."""

from __future__ import annotations


from rnnlab.commands.gradflow import load_text, require_positive
from rnnlab.commands.scalarflow import parse_floats
from rnnlab.commands.options import add_command
from rnnlab.errors import RnnlabError

DESCRIPTION = """\
Exercise 4 of the chapter, measured. For every cell and init scale S, an untrained character
language model (same seed) gets every recurrent matrix W_hh drawn from N(0, S²/H), spectral
radius ≈ S. On one batch of real text, with a next-character loss at the last step only,
‖∂L/∂h_t‖ of the top layer is measured at every distance from the loss (float64, mean over
the batch; see `rnnlab gradflow` for the method).
"""

EPILOG = """\
output:
  a table, one row per (cell, scale): the gradient norm at distances d = 0, 1, 5, 10, 20, 50,
  ... and T-1 from the loss, and the fitted per-step factor (exp of the least-squares slope of
  log-norm against d); and a PNG with one panel per cell, one line per scale, log y axis
  (exactly zero gradients, e.g. from dead relu units, show as gaps).
"""


def register(subparsers) -> None:
    from rnnlab.nn.cells import cell_names   # torch-free

    parser = add_command(subparsers, "initscale",
                         "exercise 4: gradient decay per init scale and cell",
                         DESCRIPTION, EPILOG)
    parser.add_argument("--cells", default="rnn,lstm,gru", metavar="C1,C2,...",
                        help=f"registered cells ({', '.join(cell_names())}; rnn = rnn_tanh; "
                             "default: rnn,lstm,gru)")
    parser.add_argument("--scales", default="0.01,0.1,0.5,1,2", metavar="S1,S2,...",
                        help="init scales (default: 0.01,0.1,0.5,1,2)")
    parser.add_argument("--hidden", type=int, default=64, help="hidden size (default: 64)")
    parser.add_argument("--layers", type=int, default=1, help="layers (default: 1)")
    parser.add_argument("--embedding", type=int, default=32, help="embedding size (default: 32)")
    parser.add_argument("--data", metavar="FILE|DIR",
                        help="UTF-8 text (default: tinyshakespeare if present, else the "
                             "built-in corpus)")
    parser.add_argument("--seq-len", type=int, default=100, metavar="T",
                        help="time steps (default: 100)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="B",
                        help="sequences (default: 8)")
    parser.add_argument("--seed", type=int, default=0, help="model and window seed (default: 0)")
    parser.add_argument("--out", default="initscale.png", metavar="PNG",
                        help="the plot (default: initscale.png)")
    parser.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from rnnlab.data.vocab import CharVocab
    from rnnlab.diagnostics.gradflow import sample_windows
    from rnnlab.diagnostics.init_scale import format_table, init_scale_experiment, resolve_cell
    from rnnlab.diagnostics.plots import plot_init_scale

    cells = [resolve_cell(name.strip()) for name in args.cells.split(",")]
    scales = parse_floats("--scales", args.scales)
    negative = [s for s in scales if s < 0]
    if negative:
        raise RnnlabError(f"--scales must be >= 0, got {negative[0]:g}")
    for name in ("hidden", "layers", "embedding", "seq_len", "batch_size"):
        require_positive("--" + name.replace("_", "-"), getattr(args, name))
    text, data = load_text(args.data)
    vocab = CharVocab.from_text(text)
    ids, targets = sample_windows(np.asarray(vocab.encode(text)), args.seq_len, args.batch_size,
                                  args.seed)
    results = init_scale_experiment(ids, targets, len(vocab), cells, scales, args.hidden,
                                    args.layers, args.embedding, args.seed)
    print(f"data: {data}; {args.batch_size} windows of {args.seq_len} characters; "
          f"models {args.layers}×{args.hidden}, embedding {args.embedding}")
    print(format_table(results))
    plot_init_scale(results, args.out)
    print(f"plot: {args.out}")
    return 0
