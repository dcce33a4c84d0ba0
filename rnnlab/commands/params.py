"""`rnnlab params`: the exact parameter count of a model configuration, tensor by tensor.

The model flags are shared with `rnnlab memory` (`add_model_arguments`, `spec_from_args`).
"""

from __future__ import annotations

import argparse
import json

from rnnlab.commands.options import add_command
from rnnlab.errors import RnnlabError

DESCRIPTION = """\
Count the parameters of the model rnnlab builds for a configuration, from the formulas, one row
per tensor. For each layer and direction a recurrent cell has weight_ih (G·H × I), weight_hh
(G·H × H) and TWO bias vectors bias_ih and bias_hh (G·H each), G = 1 (RNN), 4 (LSTM), 3 (GRU).
Give either --input-size (dense features per step) or --vocab and --embedding (token ids).
"""

EPILOG = """\
output:
  one row per parameter tensor: its name in model.named_parameters(), its shape and its number
  of entries; then the total per component (embedding, recurrent, norm, pooling, head) and the
  grand TOTAL. --check builds the torch model and confirms that the total equals
  sum(p.numel() for p in model.parameters()) and that names and shapes match. --json prints
  the same as a JSON object.

heads:
  none        the recurrent stack alone (outputs (B, T, D·H))
  lm          character LM: embedding → stack → Linear(H, V) (--tie-weights: shares the
              embedding matrix, so only the output bias is new)
  classifier  pooling over time (--pooling) → Linear(D·H, --output-size)
  tagger      Linear(D·H, --output-size) at every time step

chapter examples (--example NAME; other model flags are ignored):
  nn-rnn      nn.RNN(10, 20, num_layers=2)
  sentiment   Embedding(5000, 100) → RNN(100, 128) → Linear(128, 2)
  char-model  the 27-character text: Embedding(27, 32) → RNN(32, 64) → Linear(64, 27)
  exercise-1  input 50, hidden 128, output 10 at every step

examples:
  rnnlab params --example sentiment
  rnnlab params --cell lstm --vocab 65 --embedding 128 --hidden 512 --layers 2 --head lm
  rnnlab params --cell gru --input-size 40 --hidden 256 --bidirectional --head tagger --output-size 17
"""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The model-configuration flags (shared by params and memory)."""
    from rnnlab.nn.cells import cell_names   # torch-free

    group = parser.add_argument_group("model")
    group.add_argument("--example", metavar="NAME",
                       help="a chapter example: nn-rnn, sentiment, char-model, exercise-1")
    group.add_argument("--cell", default="lstm",
                       help=f"a registered cell: {', '.join(cell_names())} (default: lstm)")
    group.add_argument("--input-size", type=int, metavar="I", help="dense input features per step")
    group.add_argument("--vocab", type=int, metavar="V", help="vocabulary size (token inputs)")
    group.add_argument("--embedding", type=int, metavar="E", help="embedding size")
    group.add_argument("--hidden", type=int, default=128, metavar="H", help="hidden size")
    group.add_argument("--layers", type=int, default=1, metavar="L", help="recurrent layers")
    group.add_argument("--bidirectional", action="store_true")
    group.add_argument("--residual", action="store_true",
                       help="residual connections between layers (where sizes match)")
    group.add_argument("--layer-norm", action="store_true", help="layer norm after each layer")
    group.add_argument("--head", default="none", help="none, lm, classifier or tagger")
    group.add_argument("--output-size", type=int, metavar="O",
                       help="classes (classifier) or tags (tagger)")
    group.add_argument("--tie-weights", action="store_true",
                       help="lm: share embedding and output matrices (needs E == H)")
    group.add_argument("--pooling", default="last",
                       help="classifier: last, mean, max or attention")
    group.add_argument("--dropout", type=float, default=0.0,
                       help="dropout probability (no parameters; memory counts its masks)")


def spec_from_args(args: argparse.Namespace):
    from rnnlab.diagnostics.params import CHAPTER_EXAMPLES, ModelSpec

    if args.example is not None:
        if args.example not in CHAPTER_EXAMPLES:
            raise RnnlabError(f"unknown example {args.example!r}; choose one of "
                              f"{', '.join(CHAPTER_EXAMPLES)}")
        return CHAPTER_EXAMPLES[args.example]
    for flag in ("input_size", "vocab", "embedding", "hidden", "layers", "output_size"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise RnnlabError(f"--{flag.replace('_', '-')} must be a positive integer, "
                              f"got {value}")
    if args.input_size is None and args.vocab is None and args.embedding is None:
        raise RnnlabError("give --input-size (dense inputs) or --vocab and --embedding "
                          "(token ids), or --example NAME")
    return ModelSpec(cell=args.cell, hidden_size=args.hidden, num_layers=args.layers,
                     input_size=args.input_size, vocab_size=args.vocab,
                     embedding_size=args.embedding, bidirectional=args.bidirectional,
                     residual=args.residual, layer_norm=args.layer_norm, head=args.head,
                     output_size=args.output_size, tie_weights=args.tie_weights,
                     pooling=args.pooling, dropout=args.dropout)


def register(subparsers) -> None:
    parser = add_command(subparsers, "params",
                         "exact parameter count of a model configuration, tensor by tensor",
                         DESCRIPTION, EPILOG)
    add_model_arguments(parser)
    parser.add_argument("--check", action="store_true",
                        help="build the torch model and compare with its numel()")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.diagnostics.params import (
        component_totals,
        count_parameters,
        format_breakdown,
        parameter_breakdown,
    )

    spec = spec_from_args(args)
    tensors = parameter_breakdown(spec)
    total = count_parameters(spec)
    check = _check_against_torch(spec, tensors, total) if args.check else None
    if args.json:
        print(json.dumps({
            "config": spec.to_dict(),
            "tensors": [{"name": t.name, "shape": list(t.shape), "count": t.count,
                         "component": t.component} for t in tensors],
            "components": component_totals(tensors),
            "total": total,
            **({"torch_total": check} if check is not None else {}),
        }, indent=2))
        return 0
    print(format_breakdown(spec), end="")
    if check is not None:
        print(f"checked: sum(p.numel() for p in model.parameters()) = {check:,} "
              "(names and shapes match)")
    return 0


def _check_against_torch(spec, tensors, total: int) -> int:
    from rnnlab.diagnostics.params import build_model

    model = build_model(spec)
    actual = sum(p.numel() for p in model.parameters())
    names = [(name, tuple(p.shape)) for name, p in model.named_parameters()]
    if actual != total or names != [(t.name, t.shape) for t in tensors]:
        # An internal inconsistency, not a user mistake: fail loudly with the evidence.
        raise AssertionError(f"formula total {total} != torch total {actual} or names differ: "
                             f"{names}")
    return actual
