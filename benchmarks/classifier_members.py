"""What the SST benchmarks (bench_sst2.py: stsa.binary sentences; bench_sst_trees.py: the
treebank's trees) share: the options of one ensemble member, and training the members one seed
after another, each with an equal share of the time budget."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable


def member_model(args: argparse.Namespace, **extra) -> dict:
    """The bidirectional classifier the benchmark's options describe."""
    return dict(cell=args.cell, num_layers=args.layers, hidden_size=args.hidden,
                embedding_size=args.embedding, bidirectional=True, pooling=args.pooling,
                dropout=args.dropout, embedding_dropout=args.embedding_dropout, **extra)


def member_training(args: argparse.Namespace, seed: int) -> dict:
    """Training options of one member: its share of --budget, or --max-epochs if sooner; fp32
    unless the benchmark has a --precision option."""
    return dict(max_epochs=args.max_epochs, max_time=args.budget / len(args.seeds),
                batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                warmup_steps=args.warmup, eval_interval=args.eval_interval, seed=seed,
                precision=getattr(args, "precision", "fp32"))


def train_members(args: argparse.Namespace, folder: Path,
                  train_member: Callable[[argparse.Namespace, int, Path], object]) -> list:
    """[(seed, TrainResult)] for each of --seeds, trained in folder/seedN; an interrupted
    member stops the benchmark with nothing recorded."""
    members = []
    for seed in args.seeds:
        result = train_member(args, seed, folder / f"seed{seed}")
        if result.stopped_by == "interrupted":
            raise SystemExit("interrupted: nothing recorded")
        members.append((seed, result))
        print(f"seed {seed}: dev accuracy (last weights) {result.scores['accuracy']:.4f}; best "
              f"{result.best_metric:.4f} at step {result.best_step}; {result.step} steps, "
              f"{result.epochs:.2f} epochs, {result.train_time:.0f} s", flush=True)
    return members
