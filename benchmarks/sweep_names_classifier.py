"""Issue 11's name classifier: which training choices move test macro-F1.

On the names splits (rnnlab.data.names, split seed 0, the same files bench_names.py trains on),
each trial trains the shared character-level `RNNClassifier` (bidirectional GRU, max pooling)
for a fixed number of epochs (so machine load changes the seconds, not the scores) and records
dev and test accuracy and macro-F1, plus the same after post-hoc logit adjustment: the logits
minus τ · log(training prior), τ chosen on dev from -0.5 … 1.5 (Menon et al. 2020, "Long-tail
learning via logit adjustment"). `--ensemble RUN…` scores the mean probability of recorded
trials instead.

    .venv/bin/python benchmarks/sweep_names_classifier.py --name base --out /tmp/ncs/base
    .venv/bin/python benchmarks/sweep_names_classifier.py --name s1 --seed 1 --out /tmp/ncs/s1
    .venv/bin/python benchmarks/sweep_names_classifier.py --ensemble /tmp/ncs/base /tmp/ncs/s1
    .venv/bin/python benchmarks/sweep_names_classifier.py --model ngram --name ngram \
        --out /tmp/ncs/ngram

--model ngram trains the character n-gram logistic regression of ngram_classifier.py instead
(the non-recurrent reference point), over the grid --longest × --l2 × --class-weight-power,
keeping the grid point with the best dev macro-F1; its folder can join an --ensemble.
    .venv/bin/python benchmarks/sweep_names_classifier.py --report

Records go to benchmarks/results/names_classifier_sweep.jsonl (one line per trial, the newest
line of a name wins); --report writes the "names-classifier-sweep" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import (ROOT, SHARED_DATA, command_line, machine_description, markdown_table,  # noqa: E402
                    write_section)

from bench_names import balanced_training_file  # noqa: E402
from ngram_classifier import train_ngram_classifier  # noqa: E402

from rnnlab.data.names import (SPLITS, read_categories, read_splits, split_names,  # noqa: E402
                               write_splits)
from rnnlab.tasks.classify import ensemble_probabilities, load_ensemble, train_classifier  # noqa: E402
from rnnlab.tasks.scores import confusion_matrix, scores_from_confusion  # noqa: E402

SECTION = "names-classifier-sweep"
RECORDS = ROOT / "benchmarks" / "results" / "names_classifier_sweep.jsonl"
TAUS = np.round(np.arange(-0.5, 1.51, 0.1), 2)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=SHARED_DATA / "names")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--name", help="the trial's name in the records")
    p.add_argument("--model", choices=("rnn", "ngram"), default="rnn",
                   help="rnn: the shared RNNClassifier; ngram: ngram_classifier.py")
    p.add_argument("--longest", type=int, nargs="+", default=[4, 5],
                   help="ngram: longest n-grams tried")
    p.add_argument("--l2", type=float, nargs="+", default=[1e-5, 1e-4],
                   help="ngram: L2 penalties tried")
    p.add_argument("--class-weight-power", type=float, nargs="+", default=[0.0, 0.5, 1.0],
                   help="ngram: class weights (total / count) ** power tried")
    p.add_argument("--out", type=Path, help="the trial's folder (splits, run, probabilities)")
    p.add_argument("--balance", type=int, default=1000,
                   help="repeat each language's training names round(N / count) times (0: none)")
    p.add_argument("--select-metric", default="accuracy", help="accuracy or macro_f1")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--epochs", type=float, default=10.0)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--embedding", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--embedding-dropout", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ensemble", type=Path, nargs="+", metavar="TRIAL",
                   help="score the mean probability of these trials' folders instead")
    p.add_argument("--report", action="store_true", help="write the section from the records")
    return p.parse_args(argv)


def training_counts(train_tsv: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in train_tsv.read_text(encoding="utf-8").splitlines()[1:]:
        if line:
            category = line.split("\t")[0]
            counts[category] = counts.get(category, 0) + 1
    return counts


def scores(probabilities: np.ndarray, gold: np.ndarray, log_prior: np.ndarray,
           tau: float) -> tuple[float, float]:
    """(accuracy, macro-F1) of argmax(log p − τ · log prior)."""
    predicted = (np.log(probabilities + 1e-12) - tau * log_prior).argmax(axis=1)
    result = scores_from_confusion(confusion_matrix(gold, predicted, probabilities.shape[1]))
    return result["accuracy"], result["macro_f1"]


def score_trial(folders: list[Path], labels: list[str], splits_dir: Path,
                log_prior: np.ndarray) -> dict:
    """Dev and test scores of the folders' mean probabilities, raw and logit-adjusted."""
    splits = read_splits(splits_dir)
    probabilities, gold = {}, {}
    for split in ("dev", "test"):
        pairs = splits.pairs[split]
        gold[split] = np.array([labels.index(category) for category, _ in pairs])
        probabilities[split] = np.mean([np.load(folder / f"{split}_probabilities.npy")
                                        for folder in folders], axis=0)
    on_dev = {float(tau): scores(probabilities["dev"], gold["dev"], log_prior, tau)
              for tau in TAUS}
    tau = max(on_dev, key=lambda t: (on_dev[t][1], -abs(t)))
    return {"dev": scores(probabilities["dev"], gold["dev"], log_prior, 0.0),
            "test": scores(probabilities["test"], gold["test"], log_prior, 0.0),
            "tau": tau, "dev_adjusted": on_dev[tau],
            "test_adjusted": scores(probabilities["test"], gold["test"], log_prior, tau)}


def write_trial_splits(args) -> Path:
    """bench_names.py's split (seed --split-seed), written into the trial's folder."""
    splits_dir = args.out / "splits"
    write_splits(split_names(read_categories(args.data_dir), seed=args.split_seed), splits_dir)
    return splits_dir


def save_trial(out: Path, labels: list[str], probabilities, seen) -> np.ndarray:
    """What score_trial and --ensemble read back: the (N, C) probabilities that
    `probabilities(names)` gives each held-out split, the labels, and the log of the training
    prior the model saw (`seen`: one weight per label), which is returned."""
    splits = read_splits(out / "splits")
    for split in ("dev", "test"):
        np.save(out / f"{split}_probabilities.npy",
                probabilities([name for _, name in splits.pairs[split]]))
    seen = np.asarray(seen, dtype=float)
    log_prior = np.log(seen / seen.sum())
    np.save(out / "log_prior.npy", log_prior)
    (out / "labels.json").write_text(json.dumps(labels))
    return log_prior


def train_trial(args) -> dict:
    out = args.out
    splits_dir = write_trial_splits(args)
    train_file = (balanced_training_file(splits_dir, args.balance, out / "balanced.tsv")
                  if args.balance else splits_dir / "train.tsv")
    started = time.perf_counter()
    result = train_classifier(
        train=str(train_file), dev=str(splits_dir / "dev.tsv"), out=out / "run",
        progress_bar=False, log=lambda line: None,
        model=dict(cell="gru", hidden_size=args.hidden, embedding_size=args.embedding,
                   bidirectional=True, pooling="max", dropout=args.dropout,
                   embedding_dropout=args.embedding_dropout),
        vocab_options={"level": "char", "min_freq": 1, "lowercase": False},
        train_options=dict(max_epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                           eval_interval=200, seed=args.seed, precision="fp32",
                           select_metric=args.select_metric))
    models = load_ensemble([out / "run"])
    labels = models[0].config.labels
    counts = training_counts(train_file)             # as the classifier saw them
    log_prior = save_trial(out, labels,
                           lambda names: ensemble_probabilities(models, names).numpy(),
                           [counts[label] for label in labels])
    return {"name": args.name, "kind": "trial",
            "options": {k: getattr(args, k) for k in ("balance", "select_metric", "seed", "epochs",
                                                       "hidden", "embedding", "dropout",
                                                       "embedding_dropout", "batch_size", "lr")},
            "seconds": time.perf_counter() - started, "steps": result.step,
            **score_trial([out], labels, splits_dir, log_prior)}


def ngram_trial(args) -> dict:
    """The n-gram logistic regression over the option grid; the grid point with the best dev
    macro-F1 is kept (its probabilities saved like an RNN trial's)."""
    splits_dir = write_trial_splits(args)
    splits = read_splits(splits_dir)
    labels = sorted({category for category, _ in splits.pairs["train"]})
    gold = {split: np.array([labels.index(c) for c, _ in splits.pairs[split]])
            for split in ("dev", "test")}
    names = {split: [name for _, name in splits.pairs[split]] for split in SPLITS}
    counts = np.bincount(np.array([labels.index(c) for c, _ in splits.pairs["train"]]),
                         minlength=len(labels)).astype(float)
    started = time.perf_counter()
    grid = []
    for longest in args.longest:
        for l2 in args.l2:
            for power in args.class_weight_power:
                model = train_ngram_classifier(
                    names["train"], [labels.index(c) for c, _ in splits.pairs["train"]],
                    len(labels), longest=longest, l2=l2, class_weight_power=power)
                dev = model.probabilities(names["dev"])
                point = {"longest": longest, "l2": l2, "class_weight_power": power,
                         "dev": scores(dev, gold["dev"], np.zeros(len(labels)), 0.0)}
                print(f"longest {longest}, l2 {l2:g}, class weight power {power:g}: dev "
                      f"accuracy / macro-F1 {point['dev'][0]:.4f} / {point['dev'][1]:.4f}",
                      flush=True)
                grid.append((point, model))
    chosen, model = max(grid, key=lambda entry: entry[0]["dev"][1])
    # The prior the weighted loss saw: class c weighs count_c ** (1 - power).
    log_prior = save_trial(args.out, labels, model.probabilities,
                           counts ** (1.0 - chosen["class_weight_power"]))
    return {"name": args.name, "kind": "trial",
            "options": {"model": "ngram", "longest": chosen["longest"], "l2": chosen["l2"],
                        "class_weight_power": chosen["class_weight_power"],
                        "split_seed": args.split_seed, "grid": [point for point, _ in grid]},
            "seconds": time.perf_counter() - started, "steps": None,
            **score_trial([args.out], labels, splits_dir, log_prior)}


def ensemble_trial(args) -> dict:
    folders = args.ensemble
    labels = json.loads((folders[0] / "labels.json").read_text())
    log_prior = np.load(folders[0] / "log_prior.npy")
    return {"name": args.name or "ensemble of " + " + ".join(f.name for f in folders),
            "kind": "ensemble", "members": [f.name for f in folders],
            **score_trial(folders, labels, folders[0] / "splits", log_prior)}


def read_records() -> list[dict]:
    latest: dict[str, dict] = {}
    if RECORDS.exists():
        for line in RECORDS.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                latest[record["name"]] = record
    return list(latest.values())


def render(records: list[dict]) -> str:
    def pair(values) -> str:
        return f"{values[0]:.4f} / {values[1]:.4f}"

    machine_list = sorted({r.get("machine", "") for r in records})
    machines = "; ".join(f"({number}) {machine}"
                         for number, machine in enumerate(machine_list, 1))
    rows = []
    for r in records:
        if r["kind"] == "trial" and r["options"].get("model") == "ngram":
            o = r["options"]
            what = (f"character n-gram logistic regression: n-grams up to {o['longest']}, "
                    f"L2 {o['l2']:g}, class weights (total / count)^{o['class_weight_power']:g}"
                    + (f" (chosen on dev macro-F1 from {len(o['grid'])} grid points)"
                       if len(o["grid"]) > 1 else "")
                    + (f"; split seed {o['split_seed']}" if o.get("split_seed") else ""))
        elif r["kind"] == "trial":
            o = r["options"]
            what = (f"balance {o['balance']}, select {o['select_metric']}, seed {o['seed']}, "
                    f"dropout {o['dropout']}, {o['epochs']:g} epochs")
        else:
            what = "mean probability of " + ", ".join(r["members"])
        rows.append([r["name"], what, pair(r["dev"]), pair(r["test"]), f"{r['tau'] + 0.0:g}",
                     pair(r["test_adjusted"]), machine_list.index(r.get("machine", "")) + 1])
    return "\n".join([
        "## Names: what moves the classifier's macro-F1 (`benchmarks/sweep_names_classifier.py`)",
        "",
        f"Machines: {machines}. Each RNN trial: the shared `RNNClassifier` (bidirectional GRU "
        "1×256, character embedding 64, max pooling, case kept), batch 32, lr 4e-3, on "
        "bench_names.py's split (seed 0, over distinct names), trained for a fixed number of "
        "epochs of the (oversampled) training file; *balance N* repeats each language's "
        "training names round(N / count) times. The n-gram trial is the non-recurrent "
        "reference point (`benchmarks/ngram_classifier.py`: logistic regression on the "
        "name's character n-grams, full-batch, class-weighted) on the same split. Scores are "
        "accuracy / macro-F1 of the kept weights on dev (1,791 pairs) and test (1,788). "
        "*Adjusted*: argmax of log p − τ·log(training prior), τ chosen on dev's macro-F1.",
        "",
        markdown_table(["trial", "options", "dev acc / macro-F1", "test acc / macro-F1",
                        "τ (dev)", "test, adjusted", "machine"], rows),
        "",
        "Commands: see the module docstring; each record's options are in "
        "benchmarks/results/names_classifier_sweep.jsonl.",
    ])


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.report:
        write_section(SECTION, render(read_records()))
        print(f"wrote the {SECTION} section of BENCHMARKS.md")
        return
    torch.set_num_threads(args.threads)
    if args.ensemble:
        record = ensemble_trial(args)
    else:
        if not (args.name and args.out):
            raise SystemExit("a trial needs --name and --out")
        args.out.mkdir(parents=True, exist_ok=True)
        record = ngram_trial(args) if args.model == "ngram" else train_trial(args)
    record.update(command=command_line(), machine=machine_description(),
                  date=time.strftime("%Y-%m-%d %H:%M"))
    print(json.dumps(record))
    RECORDS.parent.mkdir(exist_ok=True)
    with RECORDS.open("a") as records:
        records.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
