"""Long-range memory: adding problem and copy memory, tanh RNN vs LSTM vs GRU across lags.

    .venv/bin/python benchmarks/bench_long_range.py            # full sweep, 45-50 min worst case
    .venv/bin/python benchmarks/bench_long_range.py --quick    # tiny check, under a minute
    .venv/bin/python benchmarks/bench_long_range.py --tasks adding --no-write

Every (task, cell, lag) trains from scratch with the same budget: Adam on batches of 64, clip
1.0, hidden 64; adding 2000 steps at lr 3e-3, copy memory (k = 5 symbols of n = 8) 4000 steps
at lr 1e-2; a 300 s safety cap per run. Training stops early once solved. See
rnnlab.diagnostics.long_range for the tasks, metrics and thresholds. Results (JSON) and one PNG
per task (metric against lag, one line per cell) go to --out (default benchmarks/results); the
tables go into the `long-range` section of BENCHMARKS.md.

Time: the step cost grows linearly with the lag. Measured on the 2-core development machine
while busy: 4-35 ms/step (tanh RNN, lags 10-200), 5-60 (LSTM), 8-105 (GRU) on the adding problem
and 10-50, 10-66, 15-115 on copy memory. Without early stops that is about 13 minutes for
adding and 31 for copy (the 300 s cap binds only for GRU at lag 200), plus ~10% for the
evaluations: 45-50 minutes worst case, less on a quiet machine and when runs solve early.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import ROOT, command_line, machine_description, markdown_table, write_section  # noqa: E402

from rnnlab.diagnostics.long_range import (  # noqa: E402
    LongRangeConfig,
    format_results,
    plot_results,
    run_sweep,
    save_results,
)

SECTION = "long-range"


def _list(text: str, kind=str) -> list:
    return [kind(part) for part in text.split(",") if part.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="adding,copy")
    parser.add_argument("--cells", default="rnn_tanh,lstm,gru")
    parser.add_argument("--lags", default="10,25,50,100,200")
    parser.add_argument("--max-steps", type=int, help="default: 2000 adding, 4000 copy")
    parser.add_argument("--max-seconds", type=float, default=300.0,
                        help="safety cap per run (default 300 s)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, help="default: 3e-3 adding, 1e-2 copy")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per run (default 1: small models, no oversubscription)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"),
                        help="folder for results JSON and plots")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sweep (lags 5 and 8, 100 steps) to check the script")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args()

    tasks = _list(args.tasks)
    cells = _list(args.cells)
    lags = _list(args.lags, int)
    overrides = {}
    if args.quick:
        cells, lags = ["rnn_tanh", "lstm"], [5, 8]
        overrides = dict(max_steps=100, eval_every=25, eval_size=200, copy_symbols=3,
                         copy_alphabet=4)
    # The quick check writes under runs/ (git-ignored), never over the real results.
    out = Path(args.out) if not args.quick else ROOT / "runs" / "bench_long_range_quick"
    load_before = os.getloadavg()
    start = time.perf_counter()
    sections = []
    for task in tasks:
        settings = dict(task=task, cell=cells[0], lag=max(lags[0], 2), hidden_size=args.hidden,
                        batch_size=args.batch_size, lr=args.lr, max_steps=args.max_steps,
                        max_seconds=args.max_seconds, seed=args.seed, num_threads=args.threads)
        base = LongRangeConfig(**{**settings, **overrides})

        def progress(config, step, metric):
            print(f"  {config.task} {config.cell} lag {config.lag}: step {step} "
                  f"{config.metric_name} {metric:.4f}", flush=True)

        results = run_sweep(base, cells, lags, progress)
        print(format_results(results), flush=True)
        save_results(results, out / f"long_range_{task}.json")
        plot = plot_results(results, out / f"long_range_{task}.png")
        sections.append(_task_section(task, base, results, plot, cells, lags))
    elapsed = time.perf_counter() - start
    load_after = os.getloadavg()
    busy = max(load_before[0], load_after[0]) > 0.5 * (os.cpu_count() or 1)
    body = "\n".join([
        "## Long-range memory: adding problem and copy memory (`benchmarks/bench_long_range.py`)",
        "",
        f"Command: `{command_line()}` (from the repository root; {elapsed / 60:.1f} min).",
        "",
        f"Machine: {machine_description()}; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after" + (" — busy (other jobs ran; the seconds column is "
                                         "inflated, the step budget is not)" if busy else "")
        + ".",
        "",
        "Each cell trains from scratch at each lag with the same budget and seed, evaluating on "
        "a fixed held-out set and stopping once solved. Entries: best test metric within the "
        "budget, ✓ if solved, and the steps run.",
        "",
    ] + sections)
    print(body)
    if not args.no_write and not args.quick:
        write_section(SECTION, body)
        print(f"\nwrote the {SECTION} section of BENCHMARKS.md")
    return 0


def _task_section(task, base, results, plot: Path, cells, lags) -> str:
    by_key = {(r.cell, r.lag): r for r in results}
    header = ["cell"] + [f"lag {lag}" for lag in lags]
    rows = []
    for cell in cells:
        row = [cell]
        for lag in lags:
            r = by_key[(cell, lag)]
            row.append(f"{r.metric:.4f}{' ✓' if r.solved else ''} ({r.steps} steps, "
                       f"{r.seconds:.0f} s)")
        rows.append(row)
    trivial = sum(r.trivial for r in results) / len(results)
    if task == "adding":
        rule = (f"test MSE; solved: MSE < {base.threshold}; trivial predictor (always 1): "
                f"{trivial:.3f}")
    else:
        rule = (f"recall accuracy of k={base.copy_symbols} symbols from n={base.copy_alphabet}; "
                f"solved: accuracy ≥ {base.threshold}; trivial (chance): {trivial:.3f}")
    try:
        shown = plot.resolve().relative_to(ROOT)
    except ValueError:
        shown = plot
    config = {k: v for k, v in asdict(base).items() if k not in ("task", "cell", "lag")}
    return "\n".join([
        f"### {task} — {rule}",
        "",
        f"Budget and model: {config}.",
        "",
        markdown_table(header, rows),
        "",
        f"![{task}: metric against lag]({shown})",
        "",
    ])


if __name__ == "__main__":
    raise SystemExit(main())
