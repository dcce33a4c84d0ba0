"""`rnnlab memory`: estimated memory of one training step of a model configuration."""

from __future__ import annotations

import argparse
import json

from rnnlab.commands.params import add_model_arguments, spec_from_args
from rnnlab.commands.options import add_command
from rnnlab.errors import RnnlabError

DESCRIPTION = """\
Estimate the memory one training step needs (forward, backward, optimizer step) on the CPU:
parameters, gradients, optimizer state, autocast weight copies and the activations autograd
keeps for the backward pass, derived from the formulas of PyTorch's CPU kernels (oneDNN's LSTM,
the native RNN/GRU loop). Give the model flags as for `rnnlab params`, plus the batch size,
the sequence length (time steps per batch), the precision and the optimizer.
"""

EPILOG = """\
output:
  a table with one row per item, in bytes and MiB:
    parameters   fp32 master weights (4 bytes each, in every precision)
    gradients    fp32 gradients (4 bytes each)
    optimizer    Adam/AdamW: two moments (8 bytes per parameter); SGD with momentum: 4; none: 0
    autocast     bf16/fp16: the 2-byte weight copies autocast makes (and autograd keeps)
    activations  each tensor autograd saves (hidden states, gates, oneDNN's LSTM workspace,
                 dropout masks, the head's input, the log-softmax...) and what the caller holds
                 (logits, inputs); --summary prints their total only
  then the sum of the rows and the estimated PEAK: the fullest moment of the step, with the
  value at each phase (forward, backward, end of backward, optimizer step). The rows never all
  live at once, and transient buffers (an RNN layer's input projection of all steps, oneDNN's
  scratchpad) add to the activations for a moment; the module docstring of
  rnnlab.diagnostics.memory has every formula. The estimate is checked against measurement by
  benchmarks/bench_memory.py.

examples:
  rnnlab memory --cell lstm --vocab 65 --embedding 128 --hidden 512 --layers 2 --head lm \\
                --batch-size 64 --seq-len 128
  rnnlab memory --example sentiment --batch-size 32 --seq-len 50 --precision bf16
"""


def register(subparsers) -> None:
    parser = add_command(subparsers, "memory",
                         "estimated training memory: parameters, gradients, optimizer, activations",
                         DESCRIPTION, EPILOG)
    add_model_arguments(parser)
    step = parser.add_argument_group("training step")
    step.add_argument("--batch-size", type=int, default=32, metavar="B")
    step.add_argument("--seq-len", type=int, default=100, metavar="T",
                      help="time steps per sequence (BPTT window)")
    step.add_argument("--precision", default="fp32", help="fp32, bf16 or fp16 (autocast)")
    step.add_argument("--optimizer", default="adam",
                      help="adam, adamw, sgd-momentum, sgd or none")
    parser.add_argument("--summary", action="store_true",
                        help="one row per category instead of one per activation tensor")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnlab.diagnostics.memory.estimate import estimate_training_memory

    spec = spec_from_args(args)
    for name in ("batch_size", "seq_len"):
        value = getattr(args, name)
        if value < 1:
            raise RnnlabError(f"--{name.replace('_', '-')} must be a positive integer, "
                              f"got {value}")
    estimate = estimate_training_memory(spec, args.batch_size, args.seq_len, args.precision,
                                        args.optimizer)
    if args.json:
        print(json.dumps({
            "config": spec.to_dict(),
            "batch_size": args.batch_size, "seq_len": args.seq_len,
            "precision": args.precision, "optimizer": args.optimizer,
            "items": [{"category": i.category, "name": i.name, "bytes": i.nbytes,
                       "formula": i.formula} for i in estimate.items],
            "sum_bytes": estimate.total_bytes,
            "phases_bytes": estimate.phases,
            "peak_bytes": estimate.peak_bytes,
            "notes": estimate.notes,
        }, indent=2))
        return 0
    print(f"B={args.batch_size}, T={args.seq_len}, {args.precision}, optimizer {args.optimizer}")
    print(estimate.format_table(detail=not args.summary), end="")
    return 0
