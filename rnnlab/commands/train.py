"""`rnnlab train`: train a character-level language model (or continue one with --resume)."""

from __future__ import annotations

import argparse
import time

from rnnlab.errors import RnnlabError

DESCRIPTION = """\
Train a character-level language model on any UTF-8 text (or, with no --data, on the built-in
default corpus: Shakespeare's plays). Batches are contiguous streams; the hidden state carries,
detached, from one window to the next (truncated BPTT). Model and optimisation options left out
take the engine's defaults: for --engine torch a GRU 2×256, embedding 64, batch 64, BPTT 32,
AdamW lr 7e-3 with 30 warm-up steps and cosine decay to the budget, clip 1.0; for --engine numpy a tanh RNN 1×100, embedding 100, batch 32, BPTT 25, constant Adagrad
lr 0.1, clip 5.0, float32 (--precision fp64: float64; it writes run.json, vocab.json and
weights.npz to --out when given). The run directory receives config.json,
vocab.json, model.safetensors (last), best.safetensors (best validation loss), trainer state,
metrics.jsonl and loss.png. Validation loss is reported over the whole held-out split in
nats/char, bits/char and perplexity. Ctrl-C saves and exits; --resume RUN continues exactly.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a character-level language model",
                              description=DESCRIPTION,
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = p.add_argument_group("data")
    src.add_argument("--data", metavar="FILE|DIR", help="UTF-8 text file or folder of files")
    src.add_argument("--dataset", metavar="NAME",
                     help="a named public dataset downloaded into the cache (tinyshakespeare)")
    src.add_argument("--val", metavar="FILE",
                     help="separate validation text (default: the last --val-fraction)")
    src.add_argument("--val-fraction", type=float, default=0.1)
    run = p.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", help="run directory (default: runs/charlm-TIME)")
    run.add_argument("--resume", metavar="RUN", help="continue the run in this directory")
    run.add_argument("--engine", choices=("torch", "numpy"), default="torch",
                     help="torch: the fast PyTorch model; numpy: the reference engine "
                          "(teaching; small models)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    model = p.add_argument_group("model")
    model.add_argument("--cell", help="rnn_tanh, rnn_relu, lstm or gru")
    model.add_argument("--layers", type=int)
    model.add_argument("--hidden", type=int, help="hidden size")
    model.add_argument("--embedding", type=int, help="embedding size")
    model.add_argument("--dropout", type=float, default=0.0)
    model.add_argument("--tie-weights", action="store_true",
                       help="share the embedding and output matrices (needs --embedding == --hidden)")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--batch-size", type=int)
    opt.add_argument("--bptt", type=int, help="characters per window")
    opt.add_argument("--lr", type=float, help="peak learning rate (AdamW)")
    opt.add_argument("--warmup", type=int, default=30, help="warm-up steps")
    opt.add_argument("--min-lr-ratio", type=float, default=0.1,
                     help="cosine decay ends at lr × this")
    opt.add_argument("--weight-decay", type=float, default=0.0)
    opt.add_argument("--clip-norm", type=float, help="global gradient-norm clip")
    opt.add_argument("--max-steps", type=int, help="stop after this many steps")
    opt.add_argument("--max-time", type=float,
                     help="stop after this many seconds of training (default 300 when "
                          "--max-steps is not given); the cosine decay follows it")
    opt.add_argument("--decay-steps", type=int, help="length of the cosine (default --max-steps)")
    opt.add_argument("--eval-interval", type=int, help="steps between evaluations")
    opt.add_argument("--precision", default="auto", help="auto, fp32 or bf16 (autocast)")
    opt.add_argument("--seed", type=int)
    opt.add_argument("--sample-length", type=int,
                     help="characters sampled at each evaluation (0: none)")
    p.set_defaults(func=run_train)


def run_train(args) -> int:
    if args.engine == "numpy":
        from rnnlab.commands.train_numpy import run_numpy_train
        return run_numpy_train(args)
    from rnnlab.lm_train import train_char_lm

    if args.data and args.dataset:
        raise RnnlabError("give either --data or --dataset, not both")
    if args.resume:
        result = train_char_lm(
            resume=args.resume, progress_bar=not args.no_progress,
            overrides={"max_steps": args.max_steps, "max_time": args.max_time,
                       "decay_steps": args.decay_steps})
    else:
        out = args.out or time.strftime("runs/charlm-%Y%m%d-%H%M%S")
        result = train_char_lm(
            data=args.data, dataset=args.dataset, val=args.val, out=out,
            progress_bar=not args.no_progress,
            model=_given(cell=args.cell, num_layers=args.layers, hidden_size=args.hidden,
                       embedding_size=args.embedding, dropout=args.dropout,
                       tie_weights=args.tie_weights),
            train=_given(batch_size=args.batch_size, bptt=args.bptt, lr=args.lr,
                       warmup_steps=args.warmup, min_lr_ratio=args.min_lr_ratio,
                       weight_decay=args.weight_decay, clip_norm=args.clip_norm,
                       max_steps=args.max_steps, max_time=args.max_time,
                       decay_steps=args.decay_steps, eval_interval=args.eval_interval,
                       val_fraction=args.val_fraction, precision=args.precision,
                       seed=args.seed, sample_length=args.sample_length))
    if result.stopped_by == "interrupted":
        return 130
    if result.val is not None:
        print(f"validation: {result.val.summary()}")
    print(f"stopped by {result.stopped_by} at step {result.step} after "
          f"{result.train_time:.1f} s of training; run saved in {result.run_dir}")
    return 0


def _given(**values) -> dict:
    """The options the user gave; the rest take the engine's own defaults."""
    return {k: v for k, v in values.items() if v is not None}
