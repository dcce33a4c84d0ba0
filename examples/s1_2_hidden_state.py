"""Section 1.2: the hidden state, parameter sharing and unrolling, with rnnlab's NumPy engine.

The chapter's SimpleRNN (input 3, hidden 5, output 2, a sequence of 4 steps) is
`RecurrentNetwork("rnn", hidden_size=5, input_size=3, output_size=2)`. This example

1. unrolls it by hand, one `RNNCell.forward` per time step with the SAME parameters each time,
   and checks that the result equals the network's own forward pass;
2. counts its parameters, which do not depend on the sequence length (parameter sharing),
   unlike a feed-forward layer over the whole flattened sequence;
3. shows the hidden state as memory: the exact gradient of the final state h_T with respect to
   every earlier input x_t (from the engine's backward pass), under rnnlab's PyTorch-style
   initialisation and under the chapter's 0.01·randn initialisation.

All arrays are batch-first: x (B, T, input_size), hidden states (B, H).

    python examples/s1_2_hidden_state.py
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from rnnlab.reference import RecurrentNetwork

INPUT_SIZE, HIDDEN_SIZE, OUTPUT_SIZE, SEQ_LEN = 3, 5, 2, 4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="accepted for uniformity; this example is always tiny "
                             "(also RNNLAB_EXAMPLES_TINY=1)")
    parser.add_argument("--out", metavar="DIR", help="unused: this example writes no files")
    args = parser.parse_args(argv)
    args.tiny = args.tiny or os.environ.get("RNNLAB_EXAMPLES_TINY", "") not in ("", "0")
    return args


def input_influence(network: RecurrentNetwork, x: np.ndarray) -> np.ndarray:
    """‖∂(Σ_j h_T[j]) / ∂x_t‖ for t = 1..T, from one exact backward pass. x (1, T, D)."""
    hidden_only = RecurrentNetwork("rnn", HIDDEN_SIZE, input_size=INPUT_SIZE)
    hidden_only.load_state_dict({k: v for k, v in network.params.items() if k.startswith("rnn.")})
    outputs, h_last, cache = hidden_only.forward(x)                     # (1, T, H), (1, 1, H)
    grads = hidden_only.backward(None, cache, d_final_state=np.ones_like(h_last))
    return np.linalg.norm(grads.inputs[0], axis=1)                      # (T,)


def main(argv: list[str] | None = None) -> int:
    parse_args(argv)
    rng = np.random.default_rng(0)
    network = RecurrentNetwork("rnn", HIDDEN_SIZE, input_size=INPUT_SIZE, output_size=OUTPUT_SIZE,
                               seed=0)
    x = rng.standard_normal((1, SEQ_LEN, INPUT_SIZE))                  # (B=1, T=4, D=3)

    # 1. Unrolling: the same cell and the same parameters at every step.
    print("== 1. unrolled by hand, one cell step per time step ==")
    cell = network.cells[0]
    params = network.layer_params(0, 0)
    head_w, head_b = network.params["head.weight"], network.params["head.bias"]
    state = cell.zero_state(batch_size=1)
    unrolled_y = []
    for t in range(SEQ_LEN):
        state = cell.forward(x[:, t], state, params)                   # h_t (1, H)
        y_t = state[0] @ head_w.T + head_b                              # y_t (1, O)
        unrolled_y.append(y_t)
        print(f"  t={t + 1}: x_t {x[:, t].shape} -> h_t {state[0].shape} -> y_t {y_t.shape}")
    outputs, _, _ = network.forward(x)                                  # (1, T, O)
    gap = np.abs(np.stack(unrolled_y, axis=1) - outputs).max()
    print(f"hand-unrolled y_1..y_{SEQ_LEN} vs RecurrentNetwork.forward: max |difference| = "
          f"{gap:.1e}")
    print()

    # 2. Parameter sharing.
    print("== 2. parameters (PyTorch names; shared by every time step) ==")
    for name, shape in network.parameter_shapes().items():
        print(f"  {name:<18} {str(shape):<8} {int(np.prod(shape)):>4}")
    total = sum(v.size for v in network.params.values())
    print(f"  total: {total} parameters")
    print("  (PyTorch and rnnlab keep two hidden biases, bias_ih and bias_hh; the chapter's "
          f"SimpleRNN has one, so it counts {total - HIDDEN_SIZE})")
    for length in (SEQ_LEN, 400):
        long_x = rng.standard_normal((1, length, INPUT_SIZE))
        outputs, _, _ = network.forward(long_x)
        dense = length * INPUT_SIZE * HIDDEN_SIZE + HIDDEN_SIZE
        print(f"  T={length:>3}: the RNN reads it with the same {total} parameters -> outputs "
              f"{outputs.shape}; a dense layer over the flattened sequence to {HIDDEN_SIZE} units "
              f"would need {dense:,}")
    print()

    # 3. Memory: how much each earlier input still moves the final hidden state.
    print("== 3. the hidden state as memory: ‖∂(Σ h_T)/∂x_t‖ for t = 1..T ==")
    influence = input_influence(network, x)
    print("  rnnlab init (PyTorch's U(-1/√H, 1/√H)): "
          + "  ".join(f"t={t + 1}: {v:.3e}" for t, v in enumerate(influence)))
    small = RecurrentNetwork("rnn", HIDDEN_SIZE, input_size=INPUT_SIZE, output_size=OUTPUT_SIZE)
    small.load_state_dict({name: (0.01 * rng.standard_normal(value.shape)
                                  if "weight" in name else np.zeros(value.shape))
                           for name, value in network.params.items()})
    small_influence = input_influence(small, x)
    print("  chapter init (0.01·randn, zero biases):  "
          + "  ".join(f"t={t + 1}: {v:.3e}" for t, v in enumerate(small_influence)))
    ratios = small_influence[:-1] / small_influence[1:]
    print("  Every input leaves a trace in h_T. With weights of size 0.01 each step back "
          f"multiplies the gradient by a\n  factor of order ‖W_hh‖ (here {ratios.min():.3f} to "
          f"{ratios.max():.3f}), so x_1 barely reaches h_T: the vanishing gradient of section 1.4.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
