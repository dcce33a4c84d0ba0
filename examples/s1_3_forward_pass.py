"""Section 1.3: the worked forward pass (input 2, hidden 3, output 1), step by step.

The chapter fixes W_xh (3, 2), W_hh (3, 3), W_hy (1, 3), zero biases, h_0 = 0, and feeds
x_1 = [1, 0.5], x_2 = [0.8, 0.3], x_3 = [0.6, 0.9] through

    a_t = W_xh x_t + W_hh h_(t-1) + b_h,   h_t = tanh(a_t),   y_t = W_hy h_t + b_y.

rnnlab's NumPy engine computes every a_t, h_t and y_t (`rnnlab.reference.trace_elman`, the same
code behind `rnnlab trace --chapter-example`), and a second, independent code path, the batched
`RecurrentNetwork` used for training, must agree with it. The values the book prints are shown
beside them: only h_1 matches; y_1 and everything from t = 2 on does not follow from the book's
own code (see docs/errata.md).

    python examples/s1_3_forward_pass.py
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from rnnlab.reference import RecurrentNetwork, chapter_example, format_trace, trace_elman

# The figures printed in the book, kept only to show where they differ from the computation.
BOOK_PRINTED = {
    "h_1": [0.19737532, 0.46211716, 0.66403677],
    "y_1": [0.62507946],
    "h_2": [0.28267734, 0.57345841, 0.76354129],
    "y_2": [0.74487427],
    "h_3": [0.34242503, 0.66919951, 0.84956376],
    "y_3": [0.84642439],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="accepted for uniformity; this example is always tiny "
                             "(also RNNLAB_EXAMPLES_TINY=1)")
    parser.add_argument("--out", metavar="DIR", help="unused: this example writes no files")
    args = parser.parse_args(argv)
    args.tiny = args.tiny or os.environ.get("RNNLAB_EXAMPLES_TINY", "") not in ("", "0")
    return args


def vector(values) -> str:
    return "[" + ", ".join(f"{v:.8f}" for v in np.ravel(values)) + "]"


def main(argv: list[str] | None = None) -> int:
    parse_args(argv)
    setup = chapter_example()
    trace = trace_elman(setup.weights, setup.inputs)
    print(format_trace(trace, precision=8).rstrip("\n"))
    print()

    # Second code path: the batched network (PyTorch parameter layout, batch-first (B, T, D)).
    # Its one bias pair (bias_ih, bias_hh) and head bias are zero, as in the chapter.
    w = setup.weights
    network = RecurrentNetwork("rnn", hidden_size=3, input_size=2, output_size=1)
    network.load_state_dict({
        "rnn.weight_ih_l0": w.W_xh, "rnn.weight_hh_l0": w.W_hh,
        "rnn.bias_ih_l0": np.zeros(3), "rnn.bias_hh_l0": np.zeros(3),
        "head.weight": w.W_hy, "head.bias": np.zeros(1),
    })
    outputs, h_last, _ = network.forward(setup.inputs[None])          # (1, 3, 1), (1, 1, 3)
    gap = max(np.abs(outputs[0] - trace.y).max(), np.abs(h_last[0, 0] - trace.h[-1]).max())
    print(f"RecurrentNetwork.forward agrees with the step trace: max |difference| = {gap:.1e}")
    print()

    print("computed by rnnlab (8 decimals) vs printed in the book:")
    for t in range(trace.steps):
        for name, value in ((f"h_{t + 1}", trace.h[t]), (f"y_{t + 1}", trace.y[t])):
            printed = np.array(BOOK_PRINTED[name])
            verdict = "matches" if np.allclose(printed, value, atol=5e-9) else "DIFFERS"
            print(f"  {name} = {vector(value)}   book: {vector(printed)}   {verdict}")
    print()
    print("y_1 = W_hy h_1 = 0.2·0.19737532 + 0.4·0.46211716 + 0.6·0.66403677 "
          f"= {(w.W_hy @ trace.h[0])[0]:.8f}: the book's y_1 is wrong even though its h_1 is "
          "right.")
    print("With one output unit, softmax(y_t) is 1 whatever y_t is; a classifier needs "
          "output_size >= 2.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
