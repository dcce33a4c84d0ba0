"""Exercise 2: memory of an RNN with batch 32, sequence length 100 and hidden size 256.

The chapter counts the hidden states kept for the backward pass: B·T·H = 32·100·256 = 819,200
numbers, 3,276,800 bytes in float32 ("about 3.2 MB"; exactly 3.125 MiB or 3.28 MB). That
is one line of a longer bill. `rnnlab.diagnostics.memory.estimate_training_memory` lists what a
training step of the model actually keeps (every tensor autograd saves, the outputs, the
parameters, their gradients and the optimizer state) and this example checks the activations
against a measurement (`measure_saved_activations`: saved-tensor hooks) and, without --tiny,
the whole step's peak against torch's profiler (`measure_training_peak`).

The exercise gives no input size or output layer; this example assumes 128 input features
(--input-size) and, for the training step, a Linear(256, 10) at every time step and Adam.

    python examples/ex2_memory.py
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from rnnlab.diagnostics.memory.estimate import estimate_training_memory
from rnnlab.diagnostics.memory.measure import measure_saved_activations, measure_training_peak
from rnnlab.diagnostics.memory.result import MIB
from rnnlab.diagnostics.params import ModelSpec, build_model

BATCH, SEQ_LEN, HIDDEN = 32, 100, 256


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="skip the profiler measurement of the peak: a few seconds "
                             "(also RNNLAB_EXAMPLES_TINY=1)")
    parser.add_argument("--out", metavar="DIR", help="unused: this example writes no files")
    parser.add_argument("--input-size", type=int, default=128,
                        help="input features per step (the exercise does not say; default 128)")
    args = parser.parse_args(argv)
    args.tiny = args.tiny or os.environ.get("RNNLAB_EXAMPLES_TINY", "") not in ("", "0")
    return args


def mib(nbytes: int) -> str:
    return f"{nbytes:,} bytes ({nbytes / MIB:.3f} MiB)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    elements = BATCH * SEQ_LEN * HIDDEN
    print(f"== the chapter's count: B·T·H = {BATCH}·{SEQ_LEN}·{HIDDEN} ==")
    print(f"  {elements:,} elements; float32: {elements * 4:,} bytes = "
          f"{elements * 4 / MIB:.3f} MiB = {elements * 4 / 1e6:.2f} MB")
    print()

    rnn = ModelSpec(cell="rnn_tanh", input_size=args.input_size, hidden_size=HIDDEN)
    estimate = estimate_training_memory(rnn, BATCH, SEQ_LEN, "fp32", optimizer="none")
    hidden_states = sum(item.nbytes for item in estimate.items if "hidden states" in item.name)
    measured = measure_saved_activations(build_model(rnn), rnn, BATCH, SEQ_LEN)
    print(f"== what the forward pass of nn.RNN({args.input_size}, {HIDDEN}) keeps for backward "
          f"(loss = sum of outputs, no optimizer) ==")
    print(textwrap.indent(estimate.format_table(), "  "), end="")
    print(f"  the chapter's item, hidden states h_1..h_T: {mib(hidden_states)}")
    print(f"  all activations, estimated: {mib(estimate.total('activations'))}")
    print(f"  all activations, measured:  {mib(measured)}  (saved-tensor hooks: each saved "
          "storage once, plus the outputs and inputs held)")
    print()

    step = ModelSpec(cell="rnn_tanh", input_size=args.input_size, hidden_size=HIDDEN,
                     head="tagger", output_size=10)
    estimate = estimate_training_memory(step, BATCH, SEQ_LEN, "fp32", optimizer="adam")
    print("== a whole training step: + Linear(256, 10) at every step, cross-entropy, Adam ==")
    print(textwrap.indent(estimate.format_table(detail=False), "  "), end="")
    print(f"  activations measured: "
          f"{mib(measure_saved_activations(build_model(step), step, BATCH, SEQ_LEN))}, "
          f"estimated {mib(estimate.total('activations'))}")
    print(f"  estimated peak {mib(estimate.peak_bytes)} = "
          f"{estimate.peak_bytes / (elements * 4):.1f} × the chapter's count")
    if args.tiny:
        print("  (peak measurement with torch's profiler skipped with --tiny)")
    else:
        peak = measure_training_peak(step, BATCH, SEQ_LEN, "fp32", "adam")["peak"]
        print(f"  measured peak (torch profiler, steady-state step): {mib(peak)}")
    print()

    lstm = ModelSpec(cell="lstm", input_size=args.input_size, hidden_size=HIDDEN,
                     head="tagger", output_size=10)
    estimate = estimate_training_memory(lstm, BATCH, SEQ_LEN, "fp32", optimizer="adam")
    measured = measure_saved_activations(build_model(lstm), lstm, BATCH, SEQ_LEN)
    print("== the same step with an LSTM (CPU: oneDNN's fused kernel and its workspace) ==")
    print(f"  activations estimated {mib(estimate.total('activations'))}, measured {mib(measured)}")
    print(f"  estimated peak {mib(estimate.peak_bytes)} = "
          f"{estimate.peak_bytes / (elements * 4):.1f} × the chapter's count")
    print()
    print("What B·T·H leaves out: the layer's input copy and the initial state, whatever the "
          "head keeps (its input, the\nlogits, the log-softmax), the parameters, their gradients "
          "and the optimizer state, and for gated cells\nthe gates (or oneDNN's workspace): "
          "several times the hidden states alone.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
