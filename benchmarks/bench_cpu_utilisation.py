"""How close the char LM's training comes to what this CPU can compute (issue 15's ceiling).

For a few char-LM configurations it measures training characters per second
(`rnnlab.tasks.lm_sizing.measure_speed`, the budget rule's own calibration: real steps with
AdamW, median step) and turns them into floating-point operations per second with an
analytical count, then divides by the machine's matrix-multiply rate measured in the same run
(`torch.mm` of square matrices, median of repeats) in the same precision:

    multiply-adds per character, per recurrent layer: G · H · (I + H)   (G gates: GRU 3, LSTM 4;
                                                                        I the layer's input size)
                                 output layer:         V · H
    training FLOPs per character = 3 · 2 · multiply-adds  (the forward pass, and a backward pass
                                                           of about twice its work)

Element-wise gate arithmetic, the embedding lookup and the optimiser are left out of the count,
so the utilisation it reports is a lower bound. A utilisation near 1 means a faster kernel
cannot buy much more text per second on this machine: only more compute can.

    .venv/bin/python benchmarks/bench_cpu_utilisation.py            # ~2 minutes, 2 threads
Writes the "cpu-utilisation" section of BENCHMARKS.md (--no-write: print only).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import (SHARED_DATA, command_line, cpu_flags_of_interest,  # noqa: E402
                    machine_description, markdown_table, write_section)

from rnnlab.models.configs import CharLMConfig  # noqa: E402
from rnnlab.tasks.lm_sizing import measure_speed  # noqa: E402
from rnnlab.train.precision import cpu_supports_bf16  # noqa: E402

SECTION = "cpu-utilisation"
GATES = {"gru": 3, "gru_fused": 3, "lstm": 4, "rnn_tanh": 1, "rnn_relu": 1}
EMBEDDING = 64
CONFIGS = [("gru", 2, 256), ("lstm", 2, 256), ("lstm", 2, 512)]


def training_flops_per_char(cell: str, layers: int, hidden: int, vocab: int,
                            embedding: int = EMBEDDING) -> float:
    """3 · 2 · the multiply-adds of the recurrent layers' and the output layer's matrices."""
    macs = sum(GATES[cell] * hidden * ((embedding if layer == 0 else hidden) + hidden)
               for layer in range(layers))
    macs += vocab * hidden
    return 6.0 * macs


def matmul_flops_per_second(size: int, dtype: torch.dtype, repeats: int = 15) -> float:
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.mm(a, b)                                     # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2.0 * size ** 3 / statistics.median(times)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", type=Path, default=SHARED_DATA / "tinyshakespeare" / "input.txt")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bptt", type=int, default=32)
    p.add_argument("--steps", type=int, default=30, help="timed training steps per measurement")
    p.add_argument("--matmul-size", type=int, default=2048)
    p.add_argument("--no-write", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    text = args.corpus.read_text(encoding="utf-8")
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))
    precisions = ["fp32"] + (["bf16"] if cpu_supports_bf16() else [])
    peak = {"fp32": matmul_flops_per_second(args.matmul_size, torch.float32)}
    if "bf16" in precisions:
        peak["bf16"] = matmul_flops_per_second(args.matmul_size, torch.bfloat16)
    rows = []
    for cell, layers, hidden in CONFIGS:
        config = CharLMConfig(vocab_size=len(vocab), cell=cell, embedding_size=EMBEDDING,
                              hidden_size=hidden, num_layers=layers)
        flops = training_flops_per_char(cell, layers, hidden, len(vocab))
        for precision in precisions:
            chars = measure_speed(config, args.batch_size, args.bptt, ids, steps=args.steps,
                                  precision=precision)
            achieved = chars * flops
            rows.append([f"{cell.upper()} {layers}×{hidden}", precision, f"{chars:,.0f}",
                         f"{flops / 1e6:.2f}", f"{achieved / 1e9:.1f}",
                         f"{peak[precision] / 1e9:.1f}", f"{achieved / peak[precision]:.2f}"])
            print(" | ".join(map(str, rows[-1])), flush=True)
    table = markdown_table(["model", "precision", "training chars/s", "MFLOP per char",
                            "achieved GFLOP/s", f"torch.mm {args.matmul_size}² GFLOP/s",
                            "utilisation"], rows)
    body = "\n".join([
        "## How close char-LM training comes to the CPU's matrix rate "
        "(`benchmarks/bench_cpu_utilisation.py`)",
        "",
        f"Command: `{command_line()}`. Machine: {machine_description()}; CPU features: "
        f"{cpu_flags_of_interest()}.",
        "",
        f"Training speed: `measure_speed` (the budget rule's calibration), batch "
        f"{args.batch_size} × BPTT {args.bptt}, embedding {EMBEDDING}, no dropout, "
        f"{args.steps} timed steps. FLOPs per character: 6 × the multiply-adds of the recurrent "
        "and output matrices (forward plus a backward of twice the work; gate arithmetic and "
        "the optimiser not counted, so the utilisation is a lower bound). The rate it is "
        "divided by is `torch.mm` of two square matrices in the same precision, measured in "
        "the same run.",
        "",
        table,
    ])
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
        print(f"wrote the {SECTION} section of BENCHMARKS.md")


if __name__ == "__main__":
    main()
