"""The sweep behind the char LM's budget rule (rnnlab/tasks/lm_sizing.py): which model size and
dropout is best for a given training budget on tinyshakespeare (train the first 90%, score the
whole last 10% with the best weights).

A budget is a multiple of REF, the wall time of nanoGPT's CPU recipe (baseline_gpt.py) on this
machine, measured here unless --ref is given (the same session's measurement). To make the
trials independent of whatever else shares the CPU, each trial's time budget is turned into a
step budget: its configuration's training steps per second are measured first, alone, with the
machine's threads (`measure_speed`, the rule's own calibration), and the trial then runs
multiple × REF × steps/s steps (the cosine over those steps). The trials then run --jobs at a
time, one thread each; a step budget gives the same model however busy the machine is.

Usage (from the repository root):
    .venv/bin/python benchmarks/sweep_budget.py --ref 87 --out /tmp/sweep-budget.jsonl
Each finished trial is appended to --out as one JSON line (a killed sweep keeps what it did).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import SHARED_DATA, machine_description  # noqa: E402

CORPUS = SHARED_DATA / "tinyshakespeare" / "input.txt"

# (label, multiple of REF, model options, training options). Options not given are the char
# LM's fixed defaults of before the rule: GRU 2×256, embedding 64, batch 64 × BPTT 32, lr 7e-3.
TRIALS = [        # the longest first, so that the two workers finish close together
    # First round (dropout also on the character embeddings, the CharLM's old behaviour):
    ("2×384, dropout 0.2, lr 5e-3", 8, {"hidden_size": 384, "dropout": 0.2}, {"lr": 5e-3}),
    ("2×512, dropout 0.2, lr 4e-3", 8, {"hidden_size": 512, "dropout": 0.2}, {"lr": 4e-3}),
    # Second round: no dropout on the embeddings (as char-rnn: between layers and the output).
    ("2×384, dropout 0.15 (none on embeddings), lr 5e-3", 4,
     {"hidden_size": 384, "dropout": 0.15, "embedding_dropout": 0.0}, {"lr": 5e-3}),
    ("2×512, dropout 0.15 (none on embeddings), lr 4e-3", 4,
     {"hidden_size": 512, "dropout": 0.15, "embedding_dropout": 0.0}, {"lr": 4e-3}),
    ("2×256, dropout 0 (the old default)", 4, {"dropout": 0.0}, {}),
    ("2×256, dropout 0.1 (none on embeddings)", 4, {"dropout": 0.1, "embedding_dropout": 0.0}, {}),
    ("2×512, dropout 0.25 (none on embeddings), lr 4e-3", 8,
     {"hidden_size": 512, "dropout": 0.25, "embedding_dropout": 0.0}, {"lr": 4e-3}),
    ("2×384, dropout 0.25 (none on embeddings), lr 5e-3", 8,
     {"hidden_size": 384, "dropout": 0.25, "embedding_dropout": 0.0}, {"lr": 5e-3}),
    ("2×384, dropout 0.1 (none on embeddings), lr 5e-3", 2,
     {"hidden_size": 384, "dropout": 0.1, "embedding_dropout": 0.0}, {"lr": 5e-3}),
    ("2×256, dropout 0.1 (none on embeddings)", 2, {"dropout": 0.1, "embedding_dropout": 0.0}, {}),
    ("2×512, dropout 0.2 (none on embeddings), lr 4e-3", 8,
     {"hidden_size": 512, "dropout": 0.2, "embedding_dropout": 0.0}, {"lr": 4e-3}),
    ("2×256, dropout 0 (the old default)", 2, {"dropout": 0.0}, {}),
    ("2×384, dropout 0.25 (none on embeddings), lr 5e-3", 4,
     {"hidden_size": 384, "dropout": 0.25, "embedding_dropout": 0.0}, {"lr": 5e-3}),
    ("2×384, dropout 0, lr 5e-3", 2, {"hidden_size": 384, "dropout": 0.0}, {"lr": 5e-3}),
    # Third round, on an AVX-512 BF16 machine (bf16 autocast; indices 14-19): does the rule's
    # top choice hold there, and would an LSTM, longer windows or a wider GRU do better?
    ("GRU 2×512, dropout 0.2, lr 4e-3", 4,
     {"hidden_size": 512, "dropout": 0.2, "embedding_dropout": 0.0}, {"lr": 4e-3}),
    ("LSTM 2×512, dropout 0.2, lr 4e-3", 4,
     {"cell": "lstm", "hidden_size": 512, "dropout": 0.2, "embedding_dropout": 0.0},
     {"lr": 4e-3}),
    ("GRU 2×512, dropout 0.2, lr 4e-3, BPTT 64", 4,
     {"hidden_size": 512, "dropout": 0.2, "embedding_dropout": 0.0}, {"lr": 4e-3, "bptt": 64}),
    ("GRU 2×768, dropout 0.3, lr 3e-3", 4,
     {"hidden_size": 768, "dropout": 0.3, "embedding_dropout": 0.0}, {"lr": 3e-3}),
    ("GRU 2×384, dropout 0, lr 5e-3", 1, {"hidden_size": 384, "dropout": 0.0}, {"lr": 5e-3}),
    ("LSTM 2×384, dropout 0, lr 5e-3", 1, {"cell": "lstm", "hidden_size": 384, "dropout": 0.0},
     {"lr": 5e-3}),
    # Fourth round, bf16: an LSTM ladder (indices 20-26), longest first.
    ("LSTM 2×768, dropout 0.3, lr 3e-3", 8,
     {"cell": "lstm", "hidden_size": 768, "dropout": 0.3, "embedding_dropout": 0.0},
     {"lr": 3e-3}),
    ("LSTM 2×512, dropout 0.3, lr 4e-3", 8,
     {"cell": "lstm", "hidden_size": 512, "dropout": 0.3, "embedding_dropout": 0.0},
     {"lr": 4e-3}),
    ("LSTM 2×768, dropout 0.3, lr 3e-3", 4,
     {"cell": "lstm", "hidden_size": 768, "dropout": 0.3, "embedding_dropout": 0.0},
     {"lr": 3e-3}),
    ("LSTM 2×512, dropout 0.3, lr 4e-3", 4,
     {"cell": "lstm", "hidden_size": 512, "dropout": 0.3, "embedding_dropout": 0.0},
     {"lr": 4e-3}),
    ("LSTM 2×512, dropout 0.1, lr 4e-3", 2,
     {"cell": "lstm", "hidden_size": 512, "dropout": 0.1, "embedding_dropout": 0.0},
     {"lr": 4e-3}),
    ("LSTM 2×512, dropout 0, lr 4e-3", 1, {"cell": "lstm", "hidden_size": 512, "dropout": 0.0},
     {"lr": 4e-3}),
    ("LSTM 2×256, dropout 0, lr 7e-3", 1, {"cell": "lstm", "dropout": 0.0}, {}),
    # Fifth round, bf16 (indices 27-29): where 2×384 takes over from the fast LSTM 2×256.
    ("LSTM 2×384, dropout 0.2, lr 5e-3", 4,
     {"cell": "lstm", "hidden_size": 384, "dropout": 0.2, "embedding_dropout": 0.0},
     {"lr": 5e-3}),
    ("LSTM 2×256, dropout 0, lr 7e-3", 2, {"cell": "lstm", "dropout": 0.0}, {}),
    ("LSTM 2×384, dropout 0.15, lr 5e-3", 2,
     {"cell": "lstm", "hidden_size": 384, "dropout": 0.15, "embedding_dropout": 0.0},
     {"lr": 5e-3}),
    # Sixth round, bf16 (indices 30-32): longer windows for the LSTM.
    ("LSTM 2×384, dropout 0.15, lr 5e-3, BPTT 128", 2,
     {"cell": "lstm", "hidden_size": 384, "dropout": 0.15, "embedding_dropout": 0.0},
     {"lr": 5e-3, "bptt": 128}),
    ("LSTM 2×384, dropout 0, lr 2e-3, batch 32 × BPTT 128", 2,
     {"cell": "lstm", "hidden_size": 384, "dropout": 0.0}, {"lr": 2e-3, "batch_size": 32,
                                                            "bptt": 128}),
    ("LSTM 2×256, dropout 0, lr 7e-3, BPTT 128", 1, {"cell": "lstm", "dropout": 0.0},
     {"bptt": 128}),
    # Seventh round, bf16 on an AMD EPYC without AMX (indices 33-36), where LSTM 2×256 reads
    # the text ~6.6 times at REF: does dropout or a smaller batch pay there?
    ("LSTM 2×256, dropout 0.1, lr 7e-3", 1,
     {"cell": "lstm", "dropout": 0.1, "embedding_dropout": 0.0}, {}),
    ("LSTM 2×256, dropout 0.2, lr 7e-3", 1,
     {"cell": "lstm", "dropout": 0.2, "embedding_dropout": 0.0}, {}),
    ("LSTM 2×256, dropout 0.1, lr 5e-3, batch 32", 1,
     {"cell": "lstm", "dropout": 0.1, "embedding_dropout": 0.0}, {"lr": 5e-3, "batch_size": 32}),
    ("LSTM 2×320, dropout 0.1, lr 6e-3", 1,
     {"cell": "lstm", "hidden_size": 320, "dropout": 0.1, "embedding_dropout": 0.0},
     {"lr": 6e-3}),
]
FIXED_MODEL = {"cell": "gru", "embedding_size": 64, "hidden_size": 256, "num_layers": 2}


def load_ids():
    from rnnlab.data.streams import split_train_val
    from rnnlab.data.textfile import read_text
    from rnnlab.data.vocab import CharVocab

    text = read_text(CORPUS)
    vocab = CharVocab.from_text(text)
    return vocab, *split_train_val(vocab.encode(text), 0.1)


def run_trial(job: dict) -> dict:
    """One trial with a step budget, one thread (runs in a worker process)."""
    torch.set_num_threads(1)
    from rnnlab.tasks.lm import train_char_lm

    started = time.time()
    with tempfile.TemporaryDirectory() as folder:
        result = train_char_lm(data=str(CORPUS), out=Path(folder) / "run", model=job["model"],
                               train={**job["train"], "max_steps": job["steps"],
                                      "auto_size": False,       # exactly the trial's options
                                      "sample_length": 0, "eval_interval": 250},
                               progress_bar=False, log=lambda message: None)
    return {**job, "val": result.best_metric, "best_step": result.best_step,
            "epochs": result.epochs, "wall": time.time() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", type=float, help="REF in seconds (default: measure it)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/sweep-budget.jsonl"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", type=int, nargs="*", help="indices into TRIALS")
    parser.add_argument("--report", action="store_true",
                        help="write the trials recorded in --out to BENCHMARKS.md and stop")
    parser.add_argument("--section", default="charlm-budget-sweep",
                        help="the BENCHMARKS.md section --report writes (one per machine kind)")
    args = parser.parse_args()
    if args.report:
        return report(args.out, args.section)

    from rnnlab.models.configs import CharLMConfig
    from rnnlab.tasks.lm_sizing import measure_speed
    from rnnlab.train.config import CharLMTrainConfig
    from rnnlab.train.precision import resolve_precision

    vocab, train_ids, val_ids = load_ids()
    ref = args.ref
    if ref is None:
        from baseline_gpt import run_recipe

        ref, _ = run_recipe(torch.as_tensor(train_ids).long(), torch.as_tensor(val_ids).long(),
                            len(vocab))
    print(f"{machine_description()}\nREF = {ref:.1f} s", flush=True)
    jobs = []
    for index, (label, multiple, model, train) in enumerate(TRIALS):
        if args.only and index not in args.only:
            continue
        model = {**FIXED_MODEL, **model}
        config = CharLMTrainConfig.from_dict(train)
        precision = resolve_precision(config.precision, torch.device("cpu"))
        tokens_per_second = measure_speed(CharLMConfig(vocab_size=len(vocab), **model),
                                          config.batch_size, config.bptt, train_ids, steps=60,
                                          precision=precision)
        steps = round(multiple * ref * tokens_per_second / (config.batch_size * config.bptt))
        print(f"{label}: {tokens_per_second:,.0f} tokens/s alone → {steps} steps for "
              f"{multiple}·REF", flush=True)
        jobs.append({"label": label, "multiple": multiple, "ref": ref, "model": model,
                     "train": train, "tokens_per_second": tokens_per_second, "steps": steps,
                     "precision": precision, "machine": machine_description(),
                     "when": time.strftime("%Y-%m-%d")})
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for outcome in pool.imap_unordered(run_trial, jobs):
            print(json.dumps(outcome), flush=True)
            with args.out.open("a") as out:
                out.write(json.dumps(outcome) + "\n")


def report(records: Path, section: str) -> None:
    """The recorded trials as a BENCHMARKS.md section, by budget. The first (fp32) records
    predate the precision and machine fields; their text says what held for them."""
    from report import markdown_table, write_section

    trials = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    trials.sort(key=lambda t: (t["multiple"], t["val"]))
    for t in trials:      # the first trials ran before embedding_dropout existed
        if t["model"].get("dropout") and "embedding_dropout" not in t["model"]:
            t["label"] += " (also on the embeddings)"
    rows = [[f"{t['multiple']:g}·REF", t["label"], f"{t['tokens_per_second']:,.0f}",
             f"{t['steps']:,}", f"{t['epochs']:.2f}", f"{t['val']:.4f}"] for t in trials]
    ref = trials[0]["ref"]
    if "precision" in trials[0]:
        machine, precision = trials[0]["machine"], trials[0]["precision"]
        origin = ("nanoGPT's CPU recipe, measured on the same machine in the same session (by "
                  "the sweep's first invocation, or by bench_budget.py and passed as --ref)")
        steps_note = "median step of 60"
    else:
        machine, precision = machine_description(), "fp32"
        origin = "measured earlier in the same session by bench_parallel_scan.py"
        steps_note = ("median step of a short run; the 8·REF rows with dropout on the "
                      "embeddings used 20 steps, the rest 60")
    body = "\n".join([
        f"## Char LM: the sweep behind the budget rule, {precision} (`benchmarks/sweep_budget.py`)\n",
        f"Command: `.venv/bin/python benchmarks/sweep_budget.py --ref {ref:.1f} --only … --out "
        f"{records}` (several invocations, {trials[0].get('when', '2026-12-01')}), then "
        f"`--report --section {section}`.  ",
        f"Machine: {machine}. REF = {ref:.1f} s, {origin}. Data: tinyshakespeare, first 90% / "
        "whole last 10%, best weights.\n",
        "Each trial's time budget (multiple × REF) was turned into a step budget from its own "
        f"configuration's speed measured alone first ({steps_note}), then run two at a time, "
        "one thread each, so the other trial could not change the result. Options not listed: "
        "GRU, embedding 64, batch 64 × BPTT 32, AdamW lr 7e-3 with 30 warm-up steps and a cosine "
        f"to 10% over the steps, clip 1.0, {precision}. Single runs: differences under ~0.01 "
        "are within run-to-run noise.\n",
        markdown_table(["budget", "configuration", "measured chars/s", "steps", "epochs",
                        "val nats/char"], rows),
    ])
    write_section(section, body)
    print(body)


if __name__ == "__main__":
    main()
