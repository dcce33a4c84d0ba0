"""Section 1.5: nn.RNN and its options, RNNCell vs RNN, and the sentiment model, with rnnlab.

1. The chapter's nn.RNN(10, 20, num_layers=2) as `RecurrentEncoder(10, 20, cell="rnn_tanh",
   num_layers=2)`: the same torch module inside, the same shapes, and the parameter count from
   the module (1,480, two bias vectors per layer) against rnnlab's formula
   (`rnnlab.diagnostics.params.recurrent_parameters`).
2. Every option (tanh/relu, layers, dropout, bidirectional): shapes and parameter counts.
3. RNNCell vs RNN: a step-by-step loop gives the full-sequence result only with the SAME
   weights. The chapter builds its nn.RNNCell and nn.RNN separately, so their outputs differ;
   `RecurrentEncoder.step` runs the encoder's own weights one step at a time and matches
   `forward` for every cell.
4. The chapter's sentiment model (Embedding 5000×100 → RNN 100→128 → Linear 128→2, last hidden
   state) as `rnnlab.diagnostics.params` sees it and as `RNNClassifier` builds it.

Tensors are batch-first: x (B, T, D), outputs (B, T, H·dirs), h_n (layers·dirs, B, H).

    python examples/s1_5_pytorch_rnn.py
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

import torch
from torch import nn

from rnnlab.diagnostics.params import (CHAPTER_EXAMPLES, build_model, component_totals,
                                       count_parameters, format_breakdown, parameter_breakdown,
                                       recurrent_parameters)
from rnnlab.models.classifier import ClassifierConfig, RNNClassifier
from rnnlab.nn.encoder import RecurrentEncoder


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="accepted for uniformity; this example is always tiny "
                             "(also RNNLAB_EXAMPLES_TINY=1)")
    parser.add_argument("--out", metavar="DIR", help="unused: this example writes no files")
    args = parser.parse_args(argv)
    args.tiny = args.tiny or os.environ.get("RNNLAB_EXAMPLES_TINY", "") not in ("", "0")
    return args


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def basic_rnn() -> None:
    print("== 1. nn.RNN(10, 20, num_layers=2) ==")
    torch.manual_seed(0)
    encoder = RecurrentEncoder(10, 20, cell="rnn_tanh", num_layers=2)
    x = torch.randn(3, 5, 10)                                             # (B, T, D)
    h0 = torch.zeros(2, 3, 20)                                            # (layers, B, H)
    output, h_n = encoder(x, state=h0)
    print(f"  input {tuple(x.shape)} [B, T, D]; h0 {tuple(h0.shape)} [layers, B, H]")
    print(f"  output {tuple(output.shape)} [B, T, H]; h_n {tuple(h_n.shape)} [layers, B, H]")
    plain = nn.RNN(10, 20, num_layers=2, batch_first=True)
    plain.load_state_dict(encoder.rnn.state_dict())                       # same names, same shapes
    plain_output, _ = plain(x, h0)
    print(f"  a plain nn.RNN with the same weights: max |difference| = "
          f"{(plain_output - output).abs().max().item():.1e}")
    for name, p in encoder.rnn.named_parameters():
        print(f"    {name:<14} {str(tuple(p.shape)):<9} {p.numel():>4}")
    formula = recurrent_parameters("rnn_tanh", 10, 20, num_layers=2)
    one_bias = formula - 2 * 20
    print(f"  parameters: {numel(encoder):,} (module), {formula:,} (rnnlab formula "
          f"G·H·(I + H + 2) per layer); with a single bias per layer it would be {one_bias:,}")
    print()


def options() -> None:
    print("== 2. the options: shapes and parameter counts (input 10, hidden 20, x (3, 5, 10)) ==")
    x = torch.randn(3, 5, 10)
    print(f"  {'cell':<9} {'layers':>6} {'bidir':>5}  {'output':<12} {'h_n':<12} {'params':>6}")
    for cell, layers, bidirectional in (("rnn_tanh", 1, False), ("rnn_relu", 1, False),
                                        ("rnn_tanh", 2, False), ("rnn_tanh", 2, True),
                                        ("lstm", 2, False), ("gru", 2, True)):
        encoder = RecurrentEncoder(10, 20, cell=cell, num_layers=layers,
                                   bidirectional=bidirectional)
        output, state = encoder(x)
        h_n = state[0] if isinstance(state, tuple) else state
        extra = " (+ c_n, same shape)" if cell == "lstm" else ""
        print(f"  {cell:<9} {layers:>6} {str(bidirectional):>5}  {str(tuple(output.shape)):<12} "
              f"{str(tuple(h_n.shape)):<12} {numel(encoder):>6,}{extra}")
    encoder = RecurrentEncoder(10, 20, cell="rnn_tanh", num_layers=2, dropout=0.5)
    encoder.train()
    first, second = encoder(x)[0], encoder(x)[0]
    encoder.eval()
    third, fourth = encoder(x)[0], encoder(x)[0]
    print(f"  dropout=0.5 acts between layers while training: two calls differ by "
          f"{(first - second).abs().max().item():.2f}; in eval mode by "
          f"{(third - fourth).abs().max().item():.1e}")
    print()


def cell_vs_sequence() -> None:
    print("== 3. nn.RNNCell step by step vs nn.RNN over the whole sequence ==")
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5)                                              # (B, T, D)
    rnn = nn.RNN(5, 10, batch_first=True)
    full, _ = rnn(x)

    def loop(cell: nn.RNNCell) -> torch.Tensor:
        h = torch.zeros(3, 10)
        steps = []
        for t in range(x.shape[1]):
            h = cell(x[:, t], h)                                          # (B, H)
            steps.append(h)
        return torch.stack(steps, dim=1)                                  # (B, T, H)

    separate = nn.RNNCell(5, 10)                                          # as in the chapter
    print(f"  separately initialised RNNCell (the chapter's code): max |difference| = "
          f"{(loop(separate) - full).abs().max().item():.2f}  (same shape, different numbers)")
    shared = nn.RNNCell(5, 10)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(shared, name).copy_(getattr(rnn, f"{name}_l0"))
    print(f"  RNNCell with nn.RNN's weights:                      max |difference| = "
          f"{(loop(shared) - full).abs().max().item():.1e}")
    for cell in ("rnn_tanh", "lstm", "gru"):
        encoder = RecurrentEncoder(5, 10, cell=cell, num_layers=2).eval()
        outputs, final = encoder(x)
        state = None
        steps = []
        for t in range(x.shape[1]):
            out_t, state = encoder.step(x[:, t], state)                   # (B, H)
            steps.append(out_t)
        gap = (torch.stack(steps, dim=1) - outputs).abs().max().item()
        finals = final if isinstance(final, tuple) else (final,)
        states = state if isinstance(state, tuple) else (state,)
        gap = max([gap] + [(a - b).abs().max().item() for a, b in zip(finals, states)])
        print(f"  RecurrentEncoder({cell}, 2 layers).step × T vs forward: max |difference| = "
              f"{gap:.1e}")
    print()


def sentiment_model() -> None:
    print("== 4. the sentiment model: Embedding(5000, 100) → RNN(100, 128) → Linear(128, 2) ==")
    spec = CHAPTER_EXAMPLES["sentiment"]
    print(textwrap.indent(format_breakdown(spec), "  "), end="")
    totals = component_totals(parameter_breakdown(spec))
    plain = nn.ModuleList([nn.Embedding(5000, 100), nn.RNN(100, 128, batch_first=True),
                           nn.Linear(128, 2)])
    print(f"  total: rnnlab formula {count_parameters(spec):,}; model rnnlab builds "
          f"{numel(build_model(spec)):,}; plain torch modules {numel(plain):,}")
    print(f"  RNN part: {totals['recurrent']:,} = 100·128 + 128·128 + 2·128 (the chapter's own "
          f"formula gives this too); embedding {totals['embedding']:,}; FC {totals['head']:,}")
    torch.manual_seed(0)
    model = RNNClassifier(ClassifierConfig(
        vocab_size=5000, labels=["negative", "positive"], cell="rnn_tanh", embedding_size=100,
        hidden_size=128, bidirectional=False, pooling="last", dropout=0.0,
        embedding_dropout=0.0)).eval()
    x = torch.randint(1, 5000, (4, 10))                                   # (B, T) word ids
    probs = torch.softmax(model(x), dim=1)                                # (B, 2)
    print(f"  as rnnlab's RNNClassifier (pooling 'last'): {model.num_parameters():,} parameters;"
          f" ids {tuple(x.shape)} -> probabilities {tuple(probs.shape)}, rows sum to "
          f"{[round(v, 6) for v in probs.sum(dim=1).tolist()]}")


def main(argv: list[str] | None = None) -> int:
    parse_args(argv)
    with torch.no_grad():
        basic_rnn()
        options()
        cell_vs_sequence()
        sentiment_model()
    return 0


if __name__ == "__main__":
    sys.exit(main())
