"""`rnnlab train --engine numpy`: the char-LM trainer of the NumPy reference engine.

`rnnlab.commands.train` parses the options and hands them here. Options the user left out are
None (or the parser's default); they take the numpy engine's defaults from
`NumpyCharLMConfig`: a tanh RNN 1x100, embedding 100, batch 32, BPTT 25, Adagrad lr 0.1, clip 5.
Options that only mean something for the torch engine are refused with one line, rather than
silently ignored. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import math

from rnnlab.data.corpus import load_corpus
from rnnlab.data.textfile import read_text
from rnnlab.errors import RnnlabError
from rnnlab.reference.charlm import NumpyCharLMConfig, save_numpy_charlm, train_numpy_charlm

# --precision -> NumPy dtype. "auto" takes the config's default.
PRECISIONS = {"auto": None, "fp32": "float32", "float32": "float32", "fp64": "float64", "float64": "float64"}

# Options of `rnnlab train` that only the torch engine honours: given (not None), they are
# refused with one line rather than silently ignored.
TORCH_ONLY_OPTIONS = {
    "warmup_steps": "--warmup (its learning rate is constant)",
    "min_lr_ratio": "--min-lr-ratio (its learning rate is constant)",
    "decay_steps": "--decay-steps (its learning rate is constant)",
    "max_epochs": "--max-epochs (give --max-steps or --max-time)",
}


def run_numpy_train(args: argparse.Namespace) -> int:
    """Train with the NumPy engine from the parsed `rnnlab train` options; returns the exit code."""
    reject_torch_only_options(args)
    config = config_from_args(args)
    text, description = load_corpus(data=args.data, dataset=args.dataset)
    val_text = read_text(args.val) if args.val else None
    print(f"data: {description}" + (f"; validation: {args.val}" if args.val else ""))
    result = train_numpy_charlm(text, config, val_text=val_text, log=lambda line: print(line, flush=True))
    if args.out:
        save_numpy_charlm(result, args.out)
    if result.val_loss is not None:
        print(f"validation: {result.val_loss:.4f} nats/char, {result.val_loss / math.log(2):.4f} bits/char, "
              f"perplexity {math.exp(result.val_loss):.3f} (before training {result.initial_val_loss:.4f} nats/char)")
    saved = f"; run saved in {args.out}" if args.out else " (pass --out DIR to save it)"
    print(f"stopped by {result.stopped_by} at step {result.steps} after {result.train_time:.1f} s of training, "
          f"{result.tokens_per_second:,.0f} tokens/s{saved}")
    return 130 if result.stopped_by == "interrupted" else 0


def reject_torch_only_options(args: argparse.Namespace) -> None:
    """RnnlabError naming the first option that the numpy engine cannot honour."""
    if args.resume:
        raise RnnlabError("--resume is not supported with --engine numpy (it saves no trainer state); "
                          "start a new run or use --engine torch")
    if args.tie_weights:
        raise RnnlabError("--tie-weights is not supported with --engine numpy; leave it out")
    if args.dropout:
        raise RnnlabError(f"--dropout {args.dropout} is not supported with --engine numpy (it has no dropout); "
                          "leave it out or pass --dropout 0")
    if (args.precision or "auto") not in PRECISIONS:
        raise RnnlabError(f"--precision {args.precision} is not supported with --engine numpy; "
                          "expected auto, fp32 or fp64")
    for flag in ("residual", "layer_norm"):
        if getattr(args, flag):
            raise RnnlabError(f"--{flag.replace('_', '-')} is not supported with --engine numpy; "
                              "leave it out")
    if args.device != "cpu":
        raise RnnlabError(f"--device {args.device} is not supported with --engine numpy (NumPy "
                          "runs on the CPU); leave it out")
    for name, option in TORCH_ONLY_OPTIONS.items():
        if getattr(args, name) is not None:
            flag, _, why = option.partition(" ")
            raise RnnlabError(f"{flag} {getattr(args, name)} is not supported with --engine numpy "
                              f"{why}; leave it out")


def config_from_args(args: argparse.Namespace) -> NumpyCharLMConfig:
    """The options the user gave, on top of NumpyCharLMConfig's defaults."""
    given = {
        "cell": args.cell, "num_layers": args.num_layers, "hidden_size": args.hidden_size,
        "embedding_size": args.embedding_size, "batch_size": args.batch_size, "bptt": args.bptt,
        "lr": args.lr, "weight_decay": args.weight_decay, "clip_threshold": args.clip_norm,
        "max_steps": args.max_steps, "max_time": args.max_time, "eval_interval": args.eval_interval,
        "val_fraction": args.val_fraction, "seed": args.seed, "sample_length": args.sample_length,
        "dtype": PRECISIONS[args.precision or "auto"],
    }
    if args.clip_norm is not None:
        given["clip"] = "norm"
    return NumpyCharLMConfig(**{name: value for name, value in given.items() if value is not None})
