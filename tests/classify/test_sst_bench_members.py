"""benchmarks/bench_sst_trees.py gives each ensemble member its own options from per-member
lists (cell, pooling, epochs, labels, vocabulary threshold), cycling each list independently."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_sst_trees import describe_model, member_options, parse_args  # noqa: E402


def test_lists_cycle_independently_over_the_seeds():
    args = parse_args(["--seeds", "5", "6", "7", "8", "9", "--cell", "gru", "lstm",
                       "--min-freq", "1", "1", "2", "2"])
    chosen = [(member_options(args, seed).cell, member_options(args, seed).min_freq)
              for seed in args.seeds]
    # Seed k takes the k-th entry of each list: cells cycle every 2, thresholds every 4.
    assert chosen == [("gru", 1), ("lstm", 1), ("gru", 2), ("lstm", 2), ("gru", 1)]


def test_a_single_threshold_applies_to_every_member_and_is_described():
    args = parse_args(["--seeds", "1", "2", "--min-freq", "1"])
    assert [member_options(args, seed).min_freq for seed in args.seeds] == [1, 1]
    assert ", min-freq 1;" in describe_model(args)
    mixed = parse_args(["--seeds", "1", "2", "--min-freq", "1", "2"])
    assert ", min-freq 1/2;" in describe_model(mixed)
