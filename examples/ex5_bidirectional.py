"""Exercise 5: bidirectional vs unidirectional RNNs, with rnnlab's RecurrentEncoder.

1. Shapes and parameters: a bidirectional layer doubles the output features (B, T, 2H), the
   final states ((2·layers, B, H)) and the parameters.
2. What the two halves are: outputs[..., :H] is a left-to-right RNN, outputs[..., H:] a
   right-to-left RNN run on the reversed sequence; h_n[0] is the forward state at the last step
   and h_n[1] the backward state at the first step. With padding, the backward direction starts
   at each sequence's true end.
3. The price: a bidirectional encoder needs the whole sequence, so it cannot run step by step
   (online); `RecurrentEncoder.step` refuses it.
4. A small task where seeing the future helps: label every position of a random symbol string
   with the NEXT symbol. A unidirectional tagger cannot know it (chance level); a bidirectional
   one learns it. The control task, label with the PREVIOUS symbol, both learn.

    python examples/ex5_bidirectional.py
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from torch.nn import functional as F

from rnnlab.diagnostics.params import ModelSpec, build_model
from rnnlab.errors import RnnlabError
from rnnlab.nn.encoder import RecurrentEncoder

IGNORE = -100          # cross-entropy's ignore_index: positions without a label
SYMBOLS, LENGTH = 6, 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="fewer training steps for the task: a few seconds "
                             "(also RNNLAB_EXAMPLES_TINY=1)")
    parser.add_argument("--out", metavar="DIR", help="unused: this example writes no files")
    parser.add_argument("--steps", type=int, help="training steps per model (default 400, "
                                                  "tiny 80)")
    args = parser.parse_args(argv)
    args.tiny = args.tiny or os.environ.get("RNNLAB_EXAMPLES_TINY", "") not in ("", "0")
    args.steps = args.steps or (80 if args.tiny else 400)
    return args


def numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def shapes() -> None:
    print("== 1. shapes and parameters: input 10, hidden 20, x (3, 5, 10) ==")
    x = torch.randn(3, 5, 10)
    for bidirectional in (True, False):
        encoder = RecurrentEncoder(10, 20, cell="rnn_tanh", bidirectional=bidirectional)
        outputs, h_n = encoder(x)
        print(f"  {'bidirectional ' if bidirectional else 'unidirectional'}: outputs "
              f"{tuple(outputs.shape)}, h_n {tuple(h_n.shape)}, {numel(encoder):,} parameters")
    print()


def halves() -> None:
    print("== 2. the two halves of a bidirectional layer ==")
    torch.manual_seed(0)
    hidden = 4
    bi = RecurrentEncoder(3, hidden, cell="rnn_tanh", bidirectional=True).double()
    forward_only = RecurrentEncoder(3, hidden, cell="rnn_tanh").double()
    backward_only = RecurrentEncoder(3, hidden, cell="rnn_tanh").double()
    with torch.no_grad():
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(forward_only.rnn, f"{kind}_l0").copy_(getattr(bi.rnn, f"{kind}_l0"))
            getattr(backward_only.rnn, f"{kind}_l0").copy_(getattr(bi.rnn, f"{kind}_l0_reverse"))
        x = torch.randn(2, 6, 3, dtype=torch.float64)                    # (B, T, D)
        outputs, h_n = bi(x)                                              # (2, 6, 8), (2, 2, 4)
        left_to_right, _ = forward_only(x)
        right_to_left, _ = backward_only(x.flip(1))
        checks = {
            "outputs[..., :H] vs a left-to-right RNN": outputs[..., :hidden] - left_to_right,
            "outputs[..., H:] vs a right-to-left RNN on the reversed input":
                outputs[..., hidden:] - right_to_left.flip(1),
            "h_n[0] vs outputs[:, T-1, :H]": h_n[0] - outputs[:, -1, :hidden],
            "h_n[1] vs outputs[:, 0, H:]": h_n[1] - outputs[:, 0, hidden:],
        }
        lengths = torch.tensor([6, 3])
        padded_out, padded_h = bi(x, lengths)
        alone_out, alone_h = bi(x[1:, :3])
        checks["padded: short sequence (length 3) vs run alone"] = torch.cat(
            [(padded_out[1, :3] - alone_out[0]).flatten(),
             (padded_h[:, 1] - alone_h[:, 0]).flatten()])
    for label, difference in checks.items():
        print(f"  {label:<62} max |difference| = {difference.abs().max().item():.1e}")
    print()


def online() -> None:
    print("== 3. step-by-step (online) use ==")
    x_t = torch.randn(3, 10)
    _, state = RecurrentEncoder(10, 20, cell="rnn_tanh").step(x_t)
    print(f"  unidirectional: step(x_t (3, 10)) -> state {tuple(state.shape)}")
    try:
        RecurrentEncoder(10, 20, cell="rnn_tanh", bidirectional=True).step(x_t)
    except RnnlabError as err:
        print(f"  bidirectional:  RnnlabError: {err}")
    print()


def task_targets(x: torch.Tensor, task: str) -> torch.Tensor:
    """x (B, T) symbols -> labels (B, T): the next symbol ('future') or the previous ('past')."""
    y = torch.full_like(x, IGNORE)
    if task == "future":
        y[:, :-1] = x[:, 1:]
    else:
        y[:, 1:] = x[:, :-1]
    return y


def train_and_score(task: str, bidirectional: bool, steps: int, seed: int = 0) -> float:
    """Train a small tagger (embedding → GRU → linear per step); token accuracy on new data."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = build_model(ModelSpec(cell="gru", vocab_size=SYMBOLS, embedding_size=8,
                                  hidden_size=24, bidirectional=bidirectional, head="tagger",
                                  output_size=SYMBOLS))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        x = torch.randint(0, SYMBOLS, (32, LENGTH), generator=generator)   # (B, T)
        logits = model(x)                                                  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, SYMBOLS), task_targets(x, task).reshape(-1),
                               ignore_index=IGNORE)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        x = torch.randint(0, SYMBOLS, (1000, LENGTH), generator=generator)
        y = task_targets(x, task)
        predicted = model(x).argmax(-1)
        labelled = y != IGNORE
        return (predicted[labelled] == y[labelled]).float().mean().item()


def task(steps: int) -> None:
    print(f"== 4. label each position with a neighbouring symbol ({SYMBOLS} symbols, length "
          f"{LENGTH}, {steps} steps, GRU 24) ==")
    print(f"  {'task':<34} {'unidirectional':>14} {'bidirectional':>14}")
    for name, label in (("future", "next symbol (needs the future)"),
                        ("past", "previous symbol (needs the past)")):
        uni = train_and_score(name, False, steps)
        bi = train_and_score(name, True, steps)
        print(f"  {label:<34} {100 * uni:>13.1f}% {100 * bi:>13.1f}%")
    print(f"  chance level: {100 / SYMBOLS:.1f}%. A left-to-right RNN at position t has read only "
          "x_1..x_t, so x_(t+1) is unknowable;\n  the backward direction has read x_T..x_t.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with torch.no_grad():
        shapes()
    halves()
    online()
    task(args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
