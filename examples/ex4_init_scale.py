"""Exercise 4: how the scale of the recurrent weights at initialisation sets gradient decay.

For each cell (tanh RNN, LSTM, GRU) and init scale S, `rnnlab.diagnostics.init_scale` builds an
untrained character language model whose recurrent matrices W_hh are drawn i.i.d. from
N(0, S²/H) (spectral radius ≈ S, whatever the hidden size H), runs one batch of real text, puts
a loss at the last step only, and measures ‖∂L/∂h_t‖ at every distance d from the loss, exactly
(autograd through a step-by-step unroll, float64). The fitted per-step factor says how fast
the gradient dies: far below 1 it vanishes within a few steps, near 1 it survives the whole
sequence.

The chapter's sketch instead draws every weight from U(-S, S) and prints one averaged
parameter-gradient norm per scale; that mixes input and recurrent weights, ties S to the
hidden size, and averages away the dependence on distance the exercise is about.

    python examples/ex4_init_scale.py --out plots/
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

DEFAULT_TEXT = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare"
                / "input.txt")
# Used when tinyshakespeare is absent (and always with --tiny): the chapter's four lines.
FALLBACK_TEXT = """To be or not to be, that is the question.
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="hidden 16, 30 steps, 2 sequences, the chapter's text: a few seconds "
                             "(also RNNLAB_EXAMPLES_TINY=1)")
    parser.add_argument("--out", metavar="DIR",
                        help="directory for init_scale.png (default: a new temporary directory)")
    parser.add_argument("--text", metavar="FILE",
                        help="UTF-8 text (default: ../shared/data/tinyshakespeare/input.txt if "
                             "present, else the chapter's four lines)")
    args = parser.parse_args(argv)
    args.tiny = args.tiny or os.environ.get("RNNLAB_EXAMPLES_TINY", "") not in ("", "0")
    args.out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rnnlab-examples-"))
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from rnnlab.data.textfile import read_text
    from rnnlab.data.vocab import CharVocab
    from rnnlab.diagnostics.gradflow import sample_windows
    from rnnlab.diagnostics.init_scale import (DEFAULT_CELLS, DEFAULT_SCALES, format_table,
                                               init_scale_experiment)
    from rnnlab.diagnostics.plots import plot_init_scale

    if args.text:
        text, source = read_text(args.text), args.text
    elif DEFAULT_TEXT.is_file() and not args.tiny:
        text, source = read_text(DEFAULT_TEXT), str(DEFAULT_TEXT)
    else:
        text, source = FALLBACK_TEXT, "the chapter's four lines of Hamlet"
    hidden, seq_len, batch = (16, 30, 2) if args.tiny else (64, 100, 8)
    vocab = CharVocab.from_text(text)
    ids, targets = sample_windows(vocab.encode(text), seq_len, batch, seed=0)   # (B, T) each
    print(f"text: {source}; {batch} windows of {seq_len} characters; hidden size {hidden}")
    results = init_scale_experiment(ids, targets, len(vocab), cells=DEFAULT_CELLS,
                                    scales=DEFAULT_SCALES, hidden=hidden, seed=0)
    print(format_table(results))
    print()
    for cell in DEFAULT_CELLS:
        factors = [(r.scale, r.fit.factor) for r in results if r.cell == cell]
        described = ", ".join(f"S={s:g}: {f:.3g}" if f is not None else f"S={s:g}: n/a"
                              for s, f in factors)
        print(f"  {cell:<8} per-step factor by scale: {described}")
    print("  For the tanh RNN the factor tracks S (about S times the mean tanh'): small scales "
          "lose the gradient within a\n  few steps, and from S around 1 to 2 it stops shrinking "
          "and can grow. The untrained LSTM and GRU keep about\n  0.5 per step even at tiny "
          "scales: their cell / update path is scaled by a gate (sigmoid(0) = 0.5), not by W_hh.")
    path = plot_init_scale(results, args.out / "init_scale.png")
    print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
