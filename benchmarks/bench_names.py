"""Names by language: conditional generation checked by a classifier (one-to-many + many-to-one).

On ../shared/data/names (18 languages), split over distinct names (rnnlab.data.names, seed
--split-seed), this trains and measures, each training at most --budget seconds:

  1. the conditional generator (`rnnlab generate train`, --conditioning) and
  2. an unconditional generator of the same size on the same names (--conditioning none):
     held-out (test split) loss in nats per character, the end symbol counted, overall and
     per language;
  3. the shared classifier at character level (`rnnlab classify train --level char`) on the
     same train/dev split files: test accuracy, macro-F1 and the confusion matrix as a PNG;
  4. recognisability: --samples names per language from the conditional generator at
     temperature --temperature, classified by 3.; the share classified as the requested
     language (macro over languages), the share that is new (not a training name) and new and
     distinct, per language. The same for the unconditional generator as a control (its
     samples know nothing of the requested language).

--balance-sweep N N ... instead trains the conditional generator once per --balance value
(`rnnlab generate train --balance`: small languages' names repeated towards N per epoch) and
judges each with one classifier: how balancing trades novelty for recognisability.

--sweep instead compares the conditionings init, input, both (and none, for reference) (--sweep-steps steps each,
same split, --sweep-seeds) on the dev and test loss: the default of `GeneratorConfig.conditioning`
comes from it.

Run it under the shared lock, one thread (other engineers' tests share the two cores):
    flock /tmp/rnnlab-bench.lock timeout 3000 .venv/bin/python benchmarks/bench_names.py
    flock /tmp/rnnlab-bench.lock timeout 3000 .venv/bin/python benchmarks/bench_names.py --sweep
    flock /tmp/rnnlab-bench.lock .venv/bin/python benchmarks/bench_names.py \
        --balance-sweep 0 100 300 1000
Writes its section of BENCHMARKS.md (names, names-conditioning for --sweep, names-balance for
--balance-sweep) and
benchmarks/results/names_confusion.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import (ROOT, SHARED_DATA, command_line, machine_description, markdown_table,  # noqa: E402
                    write_section)

from rnnlab.data.names import SPLITS, read_categories  # noqa: E402
from rnnlab.decoding import SamplingOptions  # noqa: E402
from rnnlab.models.generator import Generator  # noqa: E402
from rnnlab.tasks.classify import evaluate_run as evaluate_classifier  # noqa: E402
from rnnlab.tasks.classify import train_classifier  # noqa: E402
from rnnlab.tasks.generate import (evaluate_run, plot_confusion, recognisability,  # noqa: E402
                                   run_splits, train_generator)

SECTION = "names"
SWEEP_SECTION = "names-conditioning"
BALANCE_SECTION = "names-balance"
CONFUSION_PNG = ROOT / "benchmarks" / "results" / "names_confusion.png"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=SHARED_DATA / "names")
    p.add_argument("--budget", type=float, default=240.0,
                   help="seconds of training per model (evaluation excluded)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--seed", type=int, default=1234, help="training seed")
    # generator
    p.add_argument("--conditioning", default="input")
    p.add_argument("--cell", default="gru")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--embedding", type=int, default=32)
    p.add_argument("--condition-size", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--epochs", type=float, default=12.0,
                   help="generator epochs (the cosine decays over them), within --budget")
    p.add_argument("--balance", type=int, default=0,
                   help="the conditional generator's --balance (0: each training name once)")
    # classifier
    p.add_argument("--cls-hidden", type=int, default=256)
    p.add_argument("--cls-embedding", type=int, default=64)
    p.add_argument("--cls-dropout", type=float, default=0.3)
    p.add_argument("--cls-embedding-dropout", type=float, default=0.1)
    p.add_argument("--cls-pooling", default="max")
    p.add_argument("--cls-batch-size", type=int, default=32)
    p.add_argument("--cls-lr", type=float, default=4e-3)
    p.add_argument("--cls-epochs", type=float, default=10.0)
    p.add_argument("--cls-balance", type=int, default=1000,
                   help="repeat each training name of a language round(N / its training names) "
                        "times (at least once), so that small languages weigh about N names; 0: "
                        "no repeats")
    # recognisability
    p.add_argument("--samples", type=int, default=100, help="samples per language")
    p.add_argument("--temperature", type=float, default=0.8)
    # modes
    p.add_argument("--sweep", action="store_true", help="compare the conditionings instead")
    p.add_argument("--balance-sweep", type=int, nargs="+", metavar="N",
                   help="compare these generator --balance values instead")
    p.add_argument("--sweep-steps", type=int, default=2500,
                   help="steps per sweep run: a step budget, so that a busy CPU changes the "
                        "time taken but not the result")
    p.add_argument("--sweep-seeds", type=int, nargs="+", default=[1234, 1])
    p.add_argument("--sweep-modes", nargs="+", default=["init", "input", "both", "none"])
    p.add_argument("--out", type=Path, help="keep the runs here (default: a temporary folder)")
    p.add_argument("--no-write", action="store_true",
                   help="do not update BENCHMARKS.md or the PNG")
    return p.parse_args(argv)


def train_generator_run(args, out: Path, conditioning: str, budget: dict, seed: int | None = None,
                        balance: int = 0):
    started = time.perf_counter()
    result = train_generator(
        data=args.data_dir, out=out, split_seed=args.split_seed, balance=balance,
        progress_bar=False, log=print,
        model=dict(conditioning=conditioning, cell=args.cell, num_layers=args.layers,
                   hidden_size=args.hidden, embedding_size=args.embedding,
                   condition_size=args.condition_size, dropout=args.dropout),
        train_options=dict(**budget, batch_size=args.batch_size, lr=args.lr,
                           eval_interval=args.eval_interval,
                           seed=args.seed if seed is None else seed, precision="fp32"))
    scores = evaluate_run(out, split="test", unknown="skip")
    print(f"{conditioning}: best dev {result.best_metric:.4f} at step {result.best_step}; test "
          f"{scores.summary()}; {result.step} steps, {result.epochs:.2f} epochs, "
          f"{result.train_time:.0f} s training, {time.perf_counter() - started:.0f} s wall",
          flush=True)
    return result, scores


def sweep(args, folder: Path) -> None:
    rows = []
    for conditioning in args.sweep_modes:
        dev, test, seconds = [], [], []
        for seed in args.sweep_seeds:
            out = folder / f"{conditioning}-seed{seed}"
            result, scores = train_generator_run(args, out, conditioning,
                                                 {"max_steps": args.sweep_steps}, seed)
            dev.append(result.best_metric)
            test.append(scores.overall.nats_per_char)
            seconds.append(result.train_time)
        parameters = Generator.from_pretrained(out).num_parameters()
        rows.append([conditioning, f"{parameters:,}",
                     " / ".join(f"{v:.4f}" for v in dev), f"{np.mean(dev):.4f}",
                     " / ".join(f"{v:.4f}" for v in test), f"{np.mean(test):.4f}",
                     f"{np.mean(seconds):.0f}"])
    if args.no_write:
        return
    body = "\n".join([
        "## Names: which conditioning (`benchmarks/bench_names.py --sweep`)",
        "",
        f"Command: `{command_line()}` (from the repository root).",
        "",
        f"Machine: {machine_description()}; load average {os.getloadavg()[0]:.1f} at the end "
        "(other engineers' tests may have shared the CPU: it changes the seconds, not the "
        "losses, since the budget is in steps).",
        "",
        f"Each generator: {args.cell.upper()} {args.layers}×{args.hidden}, character embedding "
        f"{args.embedding}, condition {args.condition_size}, dropout {args.dropout}; batch "
        f"{args.batch_size}, lr {args.lr}, {args.sweep_steps} steps (cosine over them), seeds "
        f"{', '.join(map(str, args.sweep_seeds))}, split seed {args.split_seed}. Loss: nats per "
        "character (the end symbol counted) on the dev split (best evaluation, which picks "
        "best.safetensors) and on the test split (those weights).",
        "",
        markdown_table(["conditioning", "parameters", "dev nats/char per seed", "dev mean",
                        "test nats/char per seed", "test mean", "train s per run"], rows),
    ])
    write_section(SWEEP_SECTION, body)
    print(f"wrote the {SWEEP_SECTION} section of BENCHMARKS.md")


def balanced_training_file(splits: Path, target: int, path: Path) -> Path:
    """The train split with each language's names repeated round(target / count) times (at
    least once): the classifier then sees small languages about as often as `target` names
    would make it, which is what a macro average asks for. Dev and test stay as they are."""
    lines = (splits / "train.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [line for line in lines[1:] if line]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.split("\t")[0]] = counts.get(row.split("\t")[0], 0) + 1
    repeated = [row for row in rows
                for _ in range(max(1, round(target / counts[row.split("\t")[0]])))]
    path.write_text("\n".join([header, *repeated]) + "\n", encoding="utf-8")
    return path


def train_name_classifier(args, generator_run: Path, out: Path):
    splits = generator_run / "splits"
    train_file = (balanced_training_file(splits, args.cls_balance, out.parent / "balanced.tsv")
                  if args.cls_balance else splits / "train.tsv")
    result = train_classifier(
        train=str(train_file), dev=str(splits / "dev.tsv"), out=out,
        progress_bar=False, log=print,
        model=dict(cell="gru", hidden_size=args.cls_hidden, embedding_size=args.cls_embedding,
                   bidirectional=True, pooling=args.cls_pooling, dropout=args.cls_dropout,
                   embedding_dropout=args.cls_embedding_dropout),
        vocab_options={"level": "char", "min_freq": 1, "lowercase": False},
        train_options=dict(max_time=args.budget, max_epochs=args.cls_epochs,
                           batch_size=args.cls_batch_size, lr=args.cls_lr, eval_interval=200,
                           seed=args.seed, precision="fp32"))
    report = evaluate_classifier(out, data=str(splits / "test.tsv"))
    print(f"classifier: {report.summary()}; {result.step} steps, {result.epochs:.2f} epochs, "
          f"{result.train_time:.0f} s", flush=True)
    return result, report


def full(args, folder: Path) -> dict:
    data = read_categories(args.data_dir)
    conditional_run, unconditional_run = folder / "conditional", folder / "unconditional"
    budget = {"max_time": args.budget, "max_epochs": args.epochs}
    conditional = train_generator_run(args, conditional_run, args.conditioning, budget,
                                      balance=args.balance)
    unconditional = train_generator_run(args, unconditional_run, "none", budget)
    splits = run_splits(conditional_run)
    assert splits.pairs == run_splits(unconditional_run).pairs, "both generators see one split"
    classifier = train_name_classifier(args, conditional_run, folder / "classifier")
    judged = {}
    for name, run in (("conditional", conditional_run), ("unconditional", unconditional_run)):
        judged[name] = judge_samples(args, run, folder / "classifier", splits)
        print(f"{name} samples:\n{judged[name].table()}", flush=True)
    return {"data": data, "splits": splits, "conditional": conditional,
            "unconditional": unconditional, "classifier": classifier, "judged": judged}


def judge_samples(args, generator_run: Path, classifier_run: Path, splits):
    """--samples names per category from the generator, at --temperature, judged by the
    classifier (rnnlab.tasks.generate.recognisability); "outside data" counts every split."""
    return recognisability(Generator.from_pretrained(generator_run), classifier_run,
                           samples=args.samples,
                           options=SamplingOptions(temperature=args.temperature), seed=0,
                           all_names=set().union(*(splits.names(split) for split in SPLITS)))


def balance_sweep(args, folder: Path) -> None:
    """One conditional generator per --balance-sweep value, one classifier judging them all."""
    budget = {"max_time": args.budget, "max_epochs": args.epochs}
    runs = {balance: folder / f"balance{balance}" for balance in args.balance_sweep}
    trained = {balance: train_generator_run(args, run, args.conditioning, budget,
                                            balance=balance) for balance, run in runs.items()}
    first = runs[args.balance_sweep[0]]
    _, cls_report = train_name_classifier(args, first, folder / "classifier")
    splits = run_splits(first)
    rows, per_language = [], {}
    for balance, (result, scores) in trained.items():
        judged = judge_samples(args, runs[balance], folder / "classifier", splits)
        print(f"balance {balance}:\n{judged.table()}", flush=True)
        rows.append([balance, result.step, f"{result.epochs:.1f}",
                     f"{scores.overall.nats_per_char:.4f}", percent(judged.macro("recognised")),
                     percent(judged.macro("new_distinct")),
                     percent(judged.macro("recognised_new"))])
        for row in judged.rows:
            per_language.setdefault(row.category, []).append(
                f"{percent(row.recognised)} / {percent(row.new_distinct)}")
    if args.no_write:
        return
    body = "\n".join([
        "## Names: balancing the generator (`benchmarks/bench_names.py --balance-sweep`)",
        "",
        f"Command: `{command_line()}` (from the repository root).",
        "",
        f"Machine: {machine_description()}.",
        "",
        f"Each conditional generator as in the names section ({args.cell.upper()} "
        f"{args.layers}×{args.hidden}, conditioning `{args.conditioning}`, {args.epochs:g} "
        f"epochs or {args.budget:.0f} s, whichever ends first), trained with `--balance N`: each "
        "language's training names repeated round(N / count) times per epoch (at least once), "
        f"so an epoch, and the {args.epochs:g}-epoch budget, grows with N. One classifier "
        "judges all "
        f"(test macro-F1 {cls_report.macro_f1:.4f}, accuracy {cls_report.accuracy:.4f}; it "
        f"calls {percent(macro_recall(cls_report.confusion))} of a language's real held-out "
        "names by that language, macro over languages: the rate to compare with "
        "*recognised among new*); "
        f"{args.samples} samples per language at temperature {args.temperature}. *new*: new "
        "and distinct, as in the names section.",
        "",
        markdown_table(["balance N", "steps", "epochs", "test nats/char", "recognised (macro)",
                        "new (macro)", "recognised among new (macro)"], rows),
        "",
        "Per language, recognised / new:",
        "",
        markdown_table(["language", *[f"N = {b}" for b in runs]],
                       [[language, *cells] for language, cells in per_language.items()]),
        "",
        "Targets of issue 11: recognised ≥ 75% and new ≥ 80% (macro), both at once.",
    ])
    write_section(BALANCE_SECTION, body)
    print(f"wrote the {BALANCE_SECTION} section of BENCHMARKS.md")


def percent(value: float) -> str:
    return "–" if value != value else f"{100 * value:.0f}%"


def write_report(args, outcome: dict, wall: float, load: tuple[float, float]) -> None:
    data, splits = outcome["data"], outcome["splits"]
    (cond_result, cond_scores), (unc_result, unc_scores) = (outcome["conditional"],
                                                            outcome["unconditional"])
    cls_result, cls_report = outcome["classifier"]
    judged, control = outcome["judged"]["conditional"], outcome["judged"]["unconditional"]
    if not args.no_write:
        plot_confusion(cls_report.confusion, cls_report.labels, CONFUSION_PNG,
                       title=f"name classifier, test split: accuracy {cls_report.accuracy:.3f}, "
                             f"macro-F1 {cls_report.macro_f1:.3f}")
    counts = splits.counts()
    f1 = per_class_f1(cls_report.confusion)
    rows = []
    for index, row in enumerate(judged.rows):
        language = row.category
        rows.append([language, data.lines[language], len(data.names[language]),
                     "/".join(str(counts[language][s]) for s in SPLITS),
                     f"{cond_scores.per_category[language].nats_per_char:.3f}",
                     f"{unc_scores.per_category[language].nats_per_char:.3f}",
                     f"{f1[index]:.2f}", percent(row.recognised), percent(row.new),
                     percent(row.new_distinct), percent(row.recognised_new),
                     percent(control.rows[index].recognised),
                     ", ".join(row.samples[:5])])
    rows.append(["**macro**", "", "", "", "", "", f"{cls_report.macro_f1:.2f}",
                 f"**{percent(judged.macro('recognised'))}**", percent(judged.macro('new')),
                 f"**{percent(judged.macro('new_distinct'))}**",
                 percent(judged.macro('recognised_new')), percent(control.macro('recognised')),
                 ""])
    table = markdown_table(
        ["language", "lines", "distinct", "train/dev/test", "test nats/char, conditional",
         "unconditional", "classifier F1", "recognised", "new", "new + distinct",
         "recognised (new only)", "recognised, unconditional samples", "first samples"], rows)
    notes = failure_notes(data, splits, judged, f1)
    targets = [
        ("conditional test loss clearly below the unconditional one",
         cond_scores.overall.nats_per_char < unc_scores.overall.nats_per_char),
        ("classifier macro-F1 ≥ 0.70", cls_report.macro_f1 >= 0.70),
        ("recognisability (macro) ≥ 0.75", judged.macro("recognised") >= 0.75),
        ("new (macro) ≥ 0.80", judged.macro("new_distinct") >= 0.80),
    ]
    skipped = len(cond_scores.skipped)
    body = "\n".join([
        "## Names: conditional generation checked by a classifier (`benchmarks/bench_names.py`)",
        "",
        f"Command: `{command_line()}` (from the repository root; {wall:.0f} s wall).",
        "",
        f"Machine: {machine_description()}; load average {load[0]:.1f} before and {load[1]:.1f} "
        "after (other engineers' tests may have shared the CPU; the lock keeps out other "
        "benchmarks only).",
        "",
        f"Data: ../shared/data/names, {data.summary()}. Split over distinct names (split seed "
        f"{args.split_seed}, 80/10/10, stratified by language; a name under two languages is "
        f"kept under both, in one split): {splits.summary().split(': ', 1)[1]}.",
        "",
        f"Generators: {args.cell.upper()} {args.layers}×{args.hidden}, character embedding "
        f"{args.embedding}, dropout {args.dropout}, batch {args.batch_size}, lr {args.lr}, "
        f"{args.epochs:g} epochs (cosine over them) or {args.budget:.0f} s of training, whichever "
        f"ends first, each; the conditional one with a {args.condition_size}-"
        f"wide language embedding, conditioning `{args.conditioning}`"
        + (f", `--balance {args.balance}`" if args.balance else "")
        + "; the unconditional one the same network without it (`--conditioning none`). "
        "Test loss of the best-dev weights, "
        "nats per character with the end symbol counted"
        + (f" ({skipped} test name{'s' if skipped != 1 else ''} with a character never seen in "
           "training left out of both)" if skipped else "") + ":",
        "",
        markdown_table(
            ["model", "parameters", "steps", "epochs", "test nats/char", "bits/char"],
            [["conditional", f"{Generator.from_pretrained(cond_result.run_dir).num_parameters():,}",
              cond_result.step, f"{cond_result.epochs:.1f}",
              f"**{cond_scores.overall.nats_per_char:.4f}**",
              f"{cond_scores.overall.bits_per_char:.4f}"],
             ["unconditional", f"{Generator.from_pretrained(unc_result.run_dir).num_parameters():,}",
              unc_result.step, f"{unc_result.epochs:.1f}",
              f"{unc_scores.overall.nats_per_char:.4f}",
              f"{unc_scores.overall.bits_per_char:.4f}"]]),
        "",
        f"Classifier (the shared `RNNClassifier`, characters, case kept): bidirectional GRU "
        f"1×{args.cls_hidden}, embedding {args.cls_embedding}, {args.cls_pooling} pooling, "
        f"dropout {args.cls_dropout}, trained {cls_result.train_time:.0f} s "
        f"({cls_result.epochs:.1f} epochs) on the same train split"
        + (f" with each language's names repeated round({args.cls_balance} / its training "
           "names) times (at least once)" if args.cls_balance else "")
        + ", best dev accuracy kept. "
        f"Test split: accuracy **{cls_report.accuracy:.4f}**, macro-F1 "
        f"**{cls_report.macro_f1:.4f}** ({cls_report.num_examples:,} names). Confusion matrix: "
        "[benchmarks/results/names_confusion.png](benchmarks/results/names_confusion.png).",
        "",
        f"Samples: {args.samples} per language at temperature {args.temperature} (seeds 0–17, "
        "no filtering), classified by that classifier. *recognised*: the share classified as "
        "the requested language; *new*: not a training name (of any language); *new + "
        "distinct*: distinct new names / samples; *recognised (new only)*: recognisability "
        "among the new samples. The last column but one is the control: the unconditional "
        "generator's samples, classified against the same requested language.",
        "",
        table,
        "",
        "Targets: " + "; ".join(f"{name}: {'met' if ok else '**not met**'}"
                                for name, ok in targets) + ".",
        "",
        "Languages below a target (recognised < 75% or new + distinct < 80%), with the facts "
        "that explain them (computed by the script from the data and the samples):",
        "",
        *[f"- {note}" for note in notes],
    ])
    print(body)
    if not args.no_write:
        write_section(SECTION, body)
        print(f"wrote the {SECTION} section of BENCHMARKS.md and {CONFUSION_PNG}")


def failure_notes(data, splits, judged, f1: np.ndarray) -> list[str]:
    """One sentence per language that misses a target, from measured facts only."""
    train_pairs = splits.pairs["train"]
    shared = data.multi_category_names()
    notes = []
    for index, row in enumerate(judged.rows):
        language = row.category
        names = [n for c, n in train_pairs if c == language]
        parts = []
        if row.recognised < 0.75:
            other, count = max(((label, count) for label, count in row.predicted.items()
                                if label != language), key=lambda kv: kv[1], default=("–", 0))
            overlap = sum(1 for n in names if n in shared)
            parts.append(f"recognised {percent(row.recognised)}: the classifier called {count} of "
                         f"{len(row.samples)} samples {other}; its own test F1 on real "
                         f"{language} names is {f1[index]:.2f}, and {overlap} of its "
                         f"{len(names)} training names are also names of another language")
        if row.new_distinct < 0.80:
            mean_length = np.mean([len(n) for n in names])
            parts.append(f"new + distinct {percent(row.new_distinct)}: its {len(names)} training "
                         f"names average {mean_length:.1f} characters, and "
                         f"{percent(1 - row.new)} of the samples reproduce one of them")
        if parts:
            notes.append(f"**{language}**: " + "; ".join(parts) + ".")
    return notes


def per_class_f1(confusion: np.ndarray) -> np.ndarray:
    confusion = np.asarray(confusion, dtype=np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    return np.divide(2 * np.diag(confusion), denominator, out=np.zeros(len(confusion)),
                     where=denominator > 0)


def macro_recall(confusion: np.ndarray) -> float:
    """The mean over gold classes of the share predicted right (rows: gold)."""
    confusion = np.asarray(confusion, dtype=float)
    return float(np.mean(np.diag(confusion) / confusion.sum(axis=1)))


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.data_dir.is_dir():
        raise SystemExit(f"{args.data_dir} not found; pass --data-dir (see "
                         "shared/data/names/SOURCE.md)")
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-names-") as temporary:
        folder = args.out or Path(temporary)
        if args.sweep:
            sweep(args, folder)
            return
        if args.balance_sweep:
            balance_sweep(args, folder)
            return
        outcome = full(args, folder)
        write_report(args, outcome, time.perf_counter() - started,
                     (load_before[0], os.getloadavg()[0]))


if __name__ == "__main__":
    main()
