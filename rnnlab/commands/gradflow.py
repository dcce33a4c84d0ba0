"""`rnnlab gradflow`: measure ‖∂L/∂h_t‖ at every time step and layer of a char-LM on real text.

Also holds the model and data options shared with `rnnlab jacobian`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rnnlab.commands.options import add_command
from rnnlab.errors import RnnlabError

DESCRIPTION = """\
Measure how the gradient flows back through time in a recurrent language model.

The model is either untrained (--cell, --hidden, --layers, --embedding, --init-scale) or a
trained run (--run RUN). On --batch-size windows of --seq-len characters of real text, the
network is re-run one step at a time with the model's own weights (float64, no dropout), and
‖∂L/∂h_t‖ is measured at every step t and layer for two losses:
  last   many-to-one: next-character cross-entropy at the final step only
  every  many-to-many: the same loss at every step, summed over steps
Norms are taken per sequence and averaged over the batch.
"""

EPILOG = """\
output:
  a table of the mean ‖∂L/∂h_t‖ per step (t = 1..T, d = T - t the distance from the last step)
  with a 'last' and an 'every' column per layer (an even stride of rows when T is long; --csv
  writes every step), a PNG with linear- and log-scale panels (solid: loss at the last step,
  dashed: loss at every step), and one summary line for the many-to-one case, top layer:
    per-step factor   exp(least-squares slope of log‖∂L/∂h_t‖ against d)
    horizon           the first d at which the norm is below --threshold × its value at d = 0,
                      "measured" when that happens within T, otherwise "beyond T" with the
                      number of steps extrapolated from the fitted factor

--init-scale S draws every recurrent matrix W_hh (each gate's H×H block for LSTM and GRU) from
N(0, S²/H), which gives it a spectral radius close to S; without it, PyTorch's default
U(-1/√H, 1/√H) is kept. Input weights, biases, embedding and output layer keep the defaults.

--data defaults to ../shared/data/tinyshakespeare/input.txt when that file exists, else the
built-in corpus. For a trained run, characters outside its vocabulary are skipped.
"""

FRESH_DEFAULTS = {"cell": "rnn_tanh", "hidden": 128, "layers": 1, "embedding": 32}


# ----------------------------------------------------------------------------------------------
# Options shared by the diagnostics commands


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    from rnnlab.nn.cells import cell_names   # torch-free

    group = parser.add_argument_group("model (untrained, or a trained run with --run)")
    group.add_argument("--run", metavar="RUN", help="a run directory written by rnnlab train")
    group.add_argument("--weights", default="best", metavar="best|last",
                       help="which weights of --run to load (default: best)")
    group.add_argument("--cell", metavar="CELL",
                       help=f"a registered cell: {', '.join(cell_names())} "
                            f"(default: {FRESH_DEFAULTS['cell']})")
    group.add_argument("--hidden", type=int, metavar="H",
                       help=f"hidden size (default: {FRESH_DEFAULTS['hidden']})")
    group.add_argument("--layers", type=int, metavar="L",
                       help=f"number of layers (default: {FRESH_DEFAULTS['layers']})")
    group.add_argument("--embedding", type=int, metavar="E",
                       help=f"embedding size (default: {FRESH_DEFAULTS['embedding']})")
    group.add_argument("--init-scale", type=float, metavar="S",
                       help="draw W_hh from N(0, S²/H) (spectral radius ≈ S); default: "
                            "PyTorch's init")


def add_data_arguments(parser: argparse.ArgumentParser, seq_len: int,
                       batch_size: int | None) -> None:
    """--data, --seq-len, --seed, and --batch-size unless batch_size is None (one sequence)."""
    group = parser.add_argument_group("data")
    group.add_argument("--data", metavar="FILE|DIR",
                       help="UTF-8 text (default: tinyshakespeare if present, else the "
                            "built-in corpus)")
    group.add_argument("--seq-len", type=int, default=seq_len, metavar="T",
                       help=f"time steps per sequence (default: {seq_len})")
    if batch_size is not None:
        group.add_argument("--batch-size", type=int, default=batch_size, metavar="B",
                           help=f"sequences, random windows of the text (default: {batch_size})")
    group.add_argument("--seed", type=int, default=0,
                       help="seed for the windows and the untrained model (default: 0)")


def require_positive(name: str, value) -> None:
    if value is not None and value < 1:
        raise RnnlabError(f"{name} must be a positive integer, got {value}")


def default_text_path() -> Path:
    """../shared/data/tinyshakespeare/input.txt beside the project checkout."""
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "tinyshakespeare" / "input.txt"


def load_text(data: str | None) -> tuple[str, str]:
    """(text, description) of --data, else the default described in the epilog."""
    from rnnlab.data.corpus import load_corpus

    if data is None and default_text_path().is_file():
        data = str(default_text_path())
    return load_corpus(data)


def load_model(args):
    """(model, description) from the model options; checks them first.

    Returns (None, None) for an untrained model: its vocabulary comes from the text.
    """
    from rnnlab.models.lm import CharLM
    from rnnlab.nn.cells import get_cell

    fresh_options = {"--cell": args.cell, "--hidden": args.hidden, "--layers": args.layers,
                     "--embedding": args.embedding, "--init-scale": args.init_scale}
    for name in ("--hidden", "--layers", "--embedding"):
        require_positive(name, fresh_options[name])
    if args.init_scale is not None and not (math.isfinite(args.init_scale)
                                            and args.init_scale >= 0):
        raise RnnlabError(f"--init-scale must be a finite number >= 0, got {args.init_scale}")
    if args.cell is not None:
        get_cell(args.cell)        # an unknown name raises, listing the registered cells
    if args.run is None:
        return None, None
    given = [name for name, value in fresh_options.items() if value is not None]
    if given:
        raise RnnlabError(f"{', '.join(given)} describe an untrained model; a trained --run "
                          "brings its own architecture, so give one or the other")
    if args.weights not in ("best", "last"):
        raise RnnlabError(f"--weights must be 'best' or 'last', got {args.weights!r}")
    if not Path(args.run).is_dir():
        raise RnnlabError(f"run directory {args.run} does not exist")
    model = CharLM.from_pretrained(args.run, weights=args.weights)
    c = model.config
    return model, (f"trained run {args.run} ({args.weights}): {c.cell} "
                   f"{c.num_layers}×{c.hidden_size}")


def model_and_batch(args, batch_size: int | None = None):
    """(model, ids (B, T), targets (B, T), model description, data description)."""
    import numpy as np

    from rnnlab.data.vocab import CharVocab
    from rnnlab.diagnostics.gradflow import fresh_char_lm, sample_windows

    require_positive("--seq-len", args.seq_len)
    batch_size = batch_size or args.batch_size
    require_positive("--batch-size", batch_size)
    model, description = load_model(args)
    text, data_description = load_text(args.data)
    if model is None:
        vocab = CharVocab.from_text(text)
        options = {key: getattr(args, key) if getattr(args, key) is not None else default
                   for key, default in FRESH_DEFAULTS.items()}
        model = fresh_char_lm(len(vocab), options["cell"], options["hidden"], options["layers"],
                              options["embedding"], args.init_scale, args.seed)
        scale = ("PyTorch default init" if args.init_scale is None
                 else f"W_hh ~ N(0, {args.init_scale:g}²/H)")
        description = (f"untrained {options['cell']} {options['layers']}×{options['hidden']}, "
                       f"{scale}")
        ids = vocab.encode(text)
    else:
        ids = model.vocab.encode(text, unknown="skip")
    ids, targets = sample_windows(np.asarray(ids), args.seq_len, batch_size, args.seed)
    return model, ids, targets, description, data_description


# ----------------------------------------------------------------------------------------------
# The command


def register(subparsers) -> None:
    parser = add_command(subparsers, "gradflow",
                         "gradient norm ‖∂L/∂h_t‖ through time of a char-LM (table, PNG)",
                         DESCRIPTION, EPILOG)
    add_model_arguments(parser)
    add_data_arguments(parser, seq_len=100, batch_size=8)
    out = parser.add_argument_group("output")
    out.add_argument("--out", default="gradflow.png", metavar="PNG",
                     help="the plot (default: gradflow.png)")
    out.add_argument("--csv", metavar="FILE", help="also write every step's norms as CSV")
    out.add_argument("--rows", type=int, default=40,
                     help="at most this many table rows (default: 40)")
    out.add_argument("--threshold", type=float, default=1e-6,
                     help="horizon: fraction of the gradient at the loss (default: 1e-6)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from rnnlab.diagnostics.gradflow import char_lm_gradient_flow, format_table, write_csv
    from rnnlab.diagnostics.plots import plot_gradient_flow

    require_positive("--rows", args.rows)
    if not 0 < args.threshold < 1:
        raise RnnlabError(f"--threshold must be between 0 and 1, got {args.threshold}")
    model, ids, targets, description, data = model_and_batch(args)
    report = char_lm_gradient_flow(model, ids, targets, description, data, args.threshold)
    print(f"model: {description}")
    print(f"data: {data}; {report.batch_size} windows of {report.seq_len} characters")
    print(format_table(report, max(args.rows, 2)))
    if args.csv:
        write_csv(report, args.csv)
        print(f"table: {args.csv}")
    plot_gradient_flow(report, args.out)
    print(f"plot: {args.out}")
    print(report.summary())
    return 0
