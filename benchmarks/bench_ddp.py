"""Two processes (torchrun + DDP, gloo) against one, same global batch, same number of steps.

On this 2-core machine the question is whether splitting the global batch over two processes
(one core each, OMP_NUM_THREADS=1) beats one process using both cores through intra-op threads.
Both runs train the default char LM on tinyshakespeare for the same steps and report training
tokens/s (the CLI's own count of training seconds, evaluation excluded) and the validation loss
over the whole last 10%: the losses must agree to rounding, since the runs see the same data.

    .venv/bin/python benchmarks/bench_ddp.py [--steps 200] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, SHARED_DATA, command_line, machine_description, markdown_table, write_section  # noqa: E402


def run(command: list[str], threads: int) -> tuple[float, float, int]:
    """(validation nats/char, seconds of training, steps) of one training command."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    loss = float(re.search(r"validation: ([\d.]+) nats/char", done.stdout).group(1))
    match = re.search(r"at step (\d+).*?after ([\d.]+) s of training", done.stdout, re.S)
    return loss, float(match.group(2)), int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--bptt", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        common = ["train", "--data", str(SHARED_DATA / "tinyshakespeare" / "input.txt"),
                  "--max-steps", str(args.steps), "--eval-interval", str(args.steps),
                  "--batch-size", str(args.batch_size), "--bptt", str(args.bptt),
                  "--sample-length", "0", "--no-progress", "--precision", "fp32"]
        setups = [("1 process, 2 threads", [sys.executable, "-m", "rnnlab"], 2),
                  ("1 process, 1 thread", [sys.executable, "-m", "rnnlab"], 1),
                  ("2 processes (torchrun), 1 thread each",
                   [sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc-per-node=2", "-m", "rnnlab"], 1)]
        results = []
        for index, (name, launcher, threads) in enumerate(setups):
            loss, seconds, steps = run(launcher + common + ["--out", f"{tmp}/run{index}"], threads)
            tokens = steps * args.batch_size * args.bptt
            results.append((name, loss, tokens / seconds, steps))
            print(f"{name}: val {loss:.4f} nats/char after {steps} steps, "
                  f"{tokens / seconds:,.0f} tokens/s", flush=True)
        base = results[0][2]
        rows = [[name, steps, f"{loss:.4f}", f"{rate:,.0f}", f"{rate / base:.2f}×"]
                for name, loss, rate, steps in results]
    table = markdown_table(["setup", "steps", "val nats/char", "train tokens/s", "vs 1 process"],
                           rows)
    print(table)
    reading = reading_of(results)
    print(reading)
    if not args.no_write:
        write_section("ddp", "\n".join([
            f"## Distributed data parallel: 2 processes vs 1 (same global batch {args.batch_size} "
            f"× BPTT {args.bptt}, default char LM, tinyshakespeare)", "",
            f"Command: `{command_line()}`  ", f"Machine: {machine_description()}", "", table,
            "", reading]))


def reading_of(results: list) -> str:
    """Two sentences on the table: do the losses agree, and what did the second process buy."""
    losses = {f"{loss:.4f}" for _, loss, _, _ in results}
    same = ("The validation losses are identical, as they must be: the same windows and DDP's "
            "averaged gradient give the same weights." if len(losses) == 1 else
            f"The validation losses differ ({', '.join(sorted(losses))}): look into it, DDP with "
            "the same global batch should give the same weights.")
    one_thread, two_processes = results[1][2], results[2][2]
    return (f"{same} Two single-threaded processes run {two_processes / one_thread:.2f}× one "
            f"single-threaded process; against one process using both cores through intra-op "
            f"threads they run {two_processes / results[0][2]:.2f}×, the gradient all-reduce "
            "(gloo) of every step being the difference. DDP is for more machines or GPUs; on "
            "one CPU box, threads already use the cores.")


if __name__ == "__main__":
    main()
