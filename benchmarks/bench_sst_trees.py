"""SST-2 and SST-5 from the treebank's trees: phrase-level vs sentence-level training.

Trains `rnnlab classify`'s model on ../shared/data/sst/train.txt (8,544 labelled parse trees)
with word embeddings learned from scratch (no pre-trained vectors), on --threads CPU threads,
and scores dev.txt at sentence level (root labels), as in the literature:

    --task sst2   binary labels (neutral dropped): 872 dev sentences
    --task sst5   five labels: 1,101 dev sentences
    --level phrases    every labelled node of the training trees, each distinct (label, text)
                       once (sst2: 77,201 examples, sst5: 157,400 with lower-casing)
    --level sentences  the training trees' roots only (sst2: 6,920, sst5: 8,544)

--member-labels task fine (sst2) trains every second member on the five classes of all the
training phrases (157,400, neutral ones included) and scores it as binary (its probability mass
on 3-4 over 0-1, 3-4: rnnlab.data.sst_trees.positive_probability), so that an ensemble sees the
treebank through two label schemes; --max-epochs can then give each kind its own epochs.

One invocation is one configuration: --seeds members, each trained for --max-epochs epochs or
--budget/len(seeds) seconds, whichever ends first (evaluation excluded). It reports dev accuracy
of each member's last weights (no selection on dev), of their ensemble (mean probability, as
`rnnlab classify eval RUN RUN ...`), and the best evaluation during training (selected on dev
itself, so optimistic). The record is kept in benchmarks/results/sst_trees.json under --name
(default TASK-LEVEL; a rerun replaces it), and the BENCHMARKS.md section "sst-trees" is rebuilt
from all records, so configurations run separately appear side by side, each with its command.

Usage (from the repository root; ~30 s and more: under the shared lock):
    flock /tmp/rnnlab-bench.lock .venv/bin/python benchmarks/bench_sst_trees.py --task sst2 \\
        --level phrases --budget 540
    .venv/bin/python benchmarks/bench_sst_trees.py --task sst5 --budget 10 --no-write  # smoke test
Model options mirror `rnnlab classify train` (see --help).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import (ROOT, SHARED_DATA, command_line, machine_description,  # noqa: E402
                    markdown_table, write_section)

from classifier_members import member_model, member_training, train_members  # noqa: E402
from rnnlab.atomic import atomic_write_text  # noqa: E402
from rnnlab.data.sst_trees import (positive_probability, read_trees,  # noqa: E402
                                   scheme_of_labels, sentence_examples)
from rnnlab.tasks.classify import (ensemble_probabilities, evaluate_run,  # noqa: E402
                                   load_ensemble, train_classifier)

SECTION = "sst-trees"
RESULTS = ROOT / "benchmarks" / "results" / "sst_trees.json"
LABELS = {"sst2": "binary", "sst5": "fine"}
# Issue 12's targets: dev accuracy with at most 10 minutes of training per configuration, the
# step in progress at 600 s finished.
TARGETS = {"sst2": 0.86, "sst5": 0.46}
MAX_TRAIN_S = 600.0
# A run stops at the first step boundary after its time budget, so a 600-s budget trains a
# fraction of one step longer (9 ms in sst5-phrases-600s); that still counts as 600 s.
STEP_OVERSHOOT_S = 1.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=SHARED_DATA / "sst")
    p.add_argument("--task", choices=sorted(LABELS), default="sst2")
    p.add_argument("--level", choices=("phrases", "sentences"), default="phrases")
    p.add_argument("--name", help="the record's name (default: TASK-LEVEL)")
    p.add_argument("--budget", type=float, default=540.0,
                   help="seconds of training, shared by all members")
    p.add_argument("--seeds", type=int, nargs="+", default=[1],
                   help="one ensemble member per seed")
    p.add_argument("--max-epochs", type=float, nargs="+", default=[3.0],
                   help="epochs per member (one or more, given to the members in turn)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="bf16: autocast, where the CPU runs it faster (rnnlab/train/precision.py)")
    p.add_argument("--cell", nargs="+", default=["gru"],
                   help="one or more cells, given to the members in turn")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--embedding", type=int, default=300)
    p.add_argument("--pooling", nargs="+", default=["max"],
                   help="one or more poolings, given to the members in turn")
    p.add_argument("--member-labels", nargs="+", choices=("task", "fine"), default=["task"],
                   help="the labels each member trains on, given to the members in turn: the "
                        "task's own, or (sst2 only) the five classes of all phrases, neutral "
                        "ones included, scored as binary by positive_probability")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--embedding-dropout", type=float, default=0.3)
    p.add_argument("--word-dropout", type=float, default=0.0)
    p.add_argument("--min-freq", type=int, nargs="+", default=[2],
                   help="one or more vocabulary thresholds, given to the members in turn; "
                        "counted in the training sentences")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--eval-interval", type=int, default=400)
    p.add_argument("--out", type=Path, help="keep the runs here (default: a temporary folder)")
    p.add_argument("--report", action="store_true",
                   help="rewrite the BENCHMARKS.md section from the recorded runs and stop")
    p.add_argument("--no-write", action="store_true",
                   help="do not record the result or update BENCHMARKS.md")
    return p.parse_args(argv)


def member_options(args: argparse.Namespace, seed: int) -> argparse.Namespace:
    """`args` with the cell, pooling, epochs, labels and vocabulary threshold of the member
    trained with `seed` (the k-th seed takes the k-th of each list, cycling), so an ensemble
    can mix members."""
    k = args.seeds.index(seed)
    return argparse.Namespace(**{**vars(args), **{
        option: getattr(args, option)[k % len(getattr(args, option))]
        for option in ("cell", "pooling", "max_epochs", "member_labels", "min_freq")}})


def train_member(args: argparse.Namespace, seed: int, out: Path):
    args = member_options(args, seed)
    return train_classifier(
        train=str(args.data_dir / "train.txt"), dev=str(args.data_dir / "dev.txt"),
        data_format="sst-trees",
        tree_labels=LABELS[args.task] if args.member_labels == "task" else args.member_labels,
        phrases=args.level == "phrases", out=out, progress_bar=False, log=print,
        model=member_model(args, word_dropout=args.word_dropout),
        vocab_options=dict(min_freq=args.min_freq), train_options=member_training(args, seed))


def run(args: argparse.Namespace, folder: Path) -> dict:
    for name in ("train.txt", "dev.txt"):
        if not (args.data_dir / name).is_file():
            raise SystemExit(f"{args.data_dir / name} not found; pass --data-dir "
                             "(see shared/data/sst/SOURCE.md)")
    started = time.perf_counter()
    members = [{"seed": seed, "steps": result.step, "epochs": result.epochs,
                "train_s": result.train_time, "accuracy": result.scores["accuracy"],
                "macro_f1": result.scores["macro_f1"], "best": result.best_metric,
                "best_step": result.best_step}
               for seed, result in train_members(args, folder, train_member)]
    runs = [folder / f"seed{seed}" for seed in args.seeds]
    if set(args.member_labels) == {"task"}:
        ensemble = evaluate_run(runs, data=str(args.data_dir / "dev.txt"), weights="last")
        scores = {"accuracy": ensemble.accuracy, "macro_f1": ensemble.macro_f1,
                  "examples": ensemble.num_examples}
    else:
        scores = mixed_label_ensemble(runs, members, args.data_dir / "dev.txt")
    return {"members": members, "ensemble": scores, "wall_s": time.perf_counter() - started}


def mixed_label_ensemble(runs: list[Path], members: list[dict], dev: Path) -> dict:
    """SST-2 dev accuracy of members trained on binary or five-class labels: each member's
    probability of "positive" (positive_probability), the mean of them for the ensemble. Each
    member's record gets its own binary accuracy (its training log scored its own labels)."""
    examples = sentence_examples(read_trees(dev), "binary")
    gold = np.array([example.label == "1" for example in examples])
    positives = []
    for run, member in zip(runs, members):
        (model,) = load_ensemble([run], "last")
        probabilities = ensemble_probabilities([model], [e.text for e in examples]).numpy()
        positives.append(positive_probability(probabilities, model.config.labels))
        if scheme_of_labels(model.config.labels) != "binary":
            # Its training log scored five classes on all dev sentences: keep that apart.
            member["own_labels"] = {"accuracy": member["accuracy"], "best": member["best"]}
            member["best"] = None
        member["accuracy"] = float(np.mean((positives[-1] > 0.5) == gold))
    accuracy = float(np.mean((np.mean(positives, axis=0) > 0.5) == gold))
    return {"accuracy": accuracy, "macro_f1": None, "examples": len(examples)}


def describe_model(args: argparse.Namespace) -> str:
    return (f"Bi{'/'.join(cell.upper() for cell in args.cell)} {args.layers}×{args.hidden}, "
            f"emb {args.embedding}, {'/'.join(args.pooling)} pool, "
            f"dropout {args.dropout}/{args.embedding_dropout}"
            + (f", word dropout {args.word_dropout}" if args.word_dropout else "")
            + f", min-freq {'/'.join(map(str, args.min_freq))}"
            + f"; batch {args.batch_size}, lr {args.lr}"
            + (f", {args.precision}" if args.precision != "fp32" else "")
            + (f"; members trained on {'/'.join(args.member_labels)} labels, scored as binary"
               if set(args.member_labels) != {"task"} else "")
            + f"; each member {'/'.join(f'{e:g}' for e in args.max_epochs)} epochs or "
            f"{args.budget / len(args.seeds):.0f} s, whichever ends first")


def load_records() -> dict:
    return json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}


def render(records: dict) -> str:
    order = {("sst2", "phrases"): 0, ("sst2", "sentences"): 1, ("sst5", "phrases"): 2,
             ("sst5", "sentences"): 3}
    names = sorted(records, key=lambda n: (order[(records[n]["task"], records[n]["level"])], n))
    rows = []
    for name in names:
        r = records[name]
        members = r["members"]
        accuracies = [m["accuracy"] for m in members]
        ensemble = (f"**{100 * r['ensemble']['accuracy']:.2f}%**" if len(members) > 1 else "")
        rows.append([
            f"`{name}`", r["task"].upper().replace("SST", "SST-"), r["level"],
            r["model"], len(members), f"{statistics.mean(m['epochs'] for m in members):.2f}",
            f"{sum(m['train_s'] for m in members):.0f}",
            " / ".join(f"{100 * a:.2f}" for a in accuracies) + "%", ensemble,
            " / ".join("–" if m["best"] is None else f"{100 * m['best']:.2f}"
                       for m in members) + "%"])
    table = markdown_table(
        ["record", "task", "trained on", "model", "members", "epochs each", "train s (all)",
         "dev acc, last weights (each)", "dev acc, ensemble (last)",
         "best eval (selected on dev)"], rows)
    machines = sorted({records[name]["machine"] for name in names})
    commands = "\n".join(f"- `{name}`: `{records[name]['command']}` — {records[name]['when']}, "
                         f"machine {machines.index(records[name]['machine']) + 1}, "
                         f"load average {records[name]['load'][0]:.1f} → "
                         f"{records[name]['load'][1]:.1f}" for name in names)
    verdicts = []
    for task, target in TARGETS.items():
        # A single run's last weights, or an ensemble of all its members: no choice made on
        # dev (the best member of an ensemble would be one); within the training limit.
        scores = [(r["members"][0]["accuracy"] if len(r["members"]) == 1
                   else r["ensemble"]["accuracy"], n)
                  for n, r in records.items() if r["task"] == task and r["level"] == "phrases"
                  and sum(m["train_s"] for m in r["members"]) <= MAX_TRAIN_S + STEP_OVERSHOOT_S]
        if scores:
            best, name = max(scores)
            # The same configuration run again (other seeds, or a rerun) shows how much of the
            # best score is the draw of seeds.
            same = [f"{100 * score:.2f}% (`{other}`)" for score, other in sorted(scores)
                    if other != name and records[other]["model"] == records[name]["model"]]
            # One score per distinct set of seeds (a rerun of the same seeds is no new draw).
            draws = {tuple(m["seed"] for m in records[n]["members"]): score
                     for score, n in sorted(scores, key=lambda pair: records[pair[1]]["when"])
                     if records[n]["model"] == records[name]["model"]}
            mean = statistics.mean(draws.values())
            reached = sum(score >= target for score in draws.values())
            if best < target:
                status = "not met"
            elif len(draws) == 1:
                status = "met (one draw of seeds)"
            elif mean >= target:
                status = (f"met on average (mean of {len(draws)} draws of seeds "
                          f"{100 * mean:.2f}%; {reached} of the {len(draws)} reach it)")
            else:
                status = (f"met by {reached} of its {len(draws)} draws of seeds, not on "
                          f"average: the mean of the draws is {100 * mean:.2f}%")
            verdicts.append(f"{task.upper().replace('SST', 'SST-')} ≥ {100 * target:.0f}%: "
                            f"{status} (best {100 * best:.2f}%, `{name}`"
                            + (f"; the same configuration also gave {', '.join(same)}"
                               if same else "") + ")")
    return "\n".join([
        "## SST-2 and SST-5 from the treebank's trees (`benchmarks/bench_sst_trees.py`)",
        "",
        "Data: ../shared/data/sst/{train,dev}.txt (8,544 / 1,101 labelled trees). Dev is scored "
        "on whole sentences (root labels): 872 (SST-2, neutral dropped) and 1,101 (SST-5). "
        "'phrases' trains on every labelled node of the training trees, each distinct "
        "lower-cased (label, text) once (SST-2: 77,201, SST-5: 157,400 examples); 'sentences' "
        "on the roots only (6,920 / 8,544). Embeddings learned from scratch (random N(0, 0.1²) "
        "init). AdamW, warm-up 100 steps, then a cosine to the end of the member's budget "
        "(epochs or seconds of training, whichever ends first), clip 5.0, fp32 unless the "
        "model column says bf16 (autocast). "
        "'Last weights' and the ensemble (mean probability of the members' last weights, "
        "`rnnlab classify eval RUN... --weights last`) involve no choice made on dev.",
        "",
        table,
        "",
        "Targets of issue 12 (dev accuracy of a single run's last weights or of a whole "
        "ensemble, never its best member, at most "
        f"{MAX_TRAIN_S / 60:.0f} minutes of training per configuration): "
        + "; ".join(verdicts) + ".",
        "",
        "For scale (test split, not dev): Kim (2014) CNN with random embeddings 82.7% (SST-2) "
        "and 45.0% (SST-5); RNTN (Socher et al. 2013) 85.4% and 45.7%. The sentence-level "
        "stsa.binary result of `bench_sst2.py` is in its own section.",
        "",
        "Commands (from the repository root):",
        "",
        commands,
        "",
        "Machines: " + "; ".join(f"({number}) {machine}"
                                 for number, machine in enumerate(machines, 1)) + ".",
    ])


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.task != "sst2" and set(args.member_labels) != {"task"}:
        raise SystemExit("--member-labels fine is for --task sst2 (sst5 members train on the "
                         "five classes already)")
    if args.report:
        return write_section(SECTION, render(load_records()))
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    if args.out is not None:
        outcome = run(args, args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-sst-trees-") as folder:
            outcome = run(args, Path(folder))
    load_after = os.getloadavg()
    accuracies = [m["accuracy"] for m in outcome["members"]]
    print(f"members' last-weights accuracy {', '.join(f'{a:.4f}' for a in accuracies)}; "
          f"ensemble of {len(accuracies)}: {outcome['ensemble']['accuracy']:.4f}; "
          f"{outcome['wall_s']:.0f} s wall")
    if args.no_write:
        return
    records = load_records()
    name = args.name or f"{args.task}-{args.level}"
    records[name] = {"task": args.task, "level": args.level, "model": describe_model(args),
                     "command": command_line(), "machine": machine_description(),
                     "when": time.strftime("%Y-%m-%d %H:%M"),
                     "load": [load_before[0], load_after[0]], **outcome}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS, json.dumps(records, indent=1) + "\n")
    write_section(SECTION, render(records))
    print(f"recorded {name!r} in {RESULTS.relative_to(ROOT)}; rewrote the {SECTION} section of "
          "BENCHMARKS.md")


if __name__ == "__main__":
    main()
