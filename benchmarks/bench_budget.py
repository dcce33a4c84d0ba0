"""The char LM with no options but the budget: does more time give a better model?

REF = the wall time of nanoGPT's CPU recipe (baseline_gpt.py) on this machine, measured first in
the same run. Then `train_char_lm` trains with nothing but `max_time` = multiple × REF (the
budget rule, rnnlab/tasks/lm_sizing.py, chooses size, dropout, lr and batch after measuring the
machine's speed), and the best weights are scored on the whole validation split:

  * tinyshakespeare, train the first 90%, score the last 10%: REF, 2·REF, 3.75·REF, 4·REF, 8·REF
    (the issue's targets: ≤ 1.47 at REF, ≤ 1.40 at 3.75·REF, strictly better at each budget);
  * the built-in corpus (Shakespeare's plays, 4.8 M characters, last 10%): REF and 4·REF.

Run alone on the machine: the budgets are seconds. About 27 × REF in all, evaluations included.
Usage: .venv/bin/python benchmarks/bench_budget.py [--multiples 1 2 3.75 4 8] [--builtin 1 4]
       .venv/bin/python benchmarks/bench_budget.py --report benchmarks/results/budget_bf16.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnlab.train.precision import resolve_precision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import (SHARED_DATA, command_line, machine_description, markdown_table,  # noqa: E402
                    write_section)

CORPUS = SHARED_DATA / "tinyshakespeare" / "input.txt"


def measure_ref() -> tuple[float, float]:
    from baseline_gpt import run_recipe

    from rnnlab.data.streams import split_train_val
    from rnnlab.data.textfile import read_text
    from rnnlab.data.vocab import CharVocab

    text = read_text(CORPUS)
    vocab = CharVocab.from_text(text)
    train, val = split_train_val(vocab.encode(text), 0.1)
    return run_recipe(torch.as_tensor(train).long(), torch.as_tensor(val).long(), len(vocab))


def train_with_budget(seconds: float, data: str | None, folder: Path) -> dict:
    from rnnlab.tasks.lm import train_char_lm

    lines = []
    result = train_char_lm(data=data, out=folder, train={"max_time": seconds, "sample_length": 0},
                           progress_bar=False, log=lines.append)
    config = json.loads((folder / "config.json").read_text())
    model = config["model"]
    return {"seconds": seconds, "val": result.best_metric, "steps": result.step,
            "epochs": result.epochs, "reason": config["sizing"]["reason"],
            "chosen": f"{model['cell'].upper()} {model['num_layers']}×{model['hidden_size']}, "
                      f"dropout "
                      f"{model['dropout']:g}, lr {config['train']['lr']:g}, batch "
                      f"{config['train']['batch_size']} × BPTT {config['train']['bptt']}",
            "speed": config["sizing"]["measured_tokens_per_second"],
            "speeds": config["sizing"].get("measured_by_size", {})}


RESULTS = Path(__file__).resolve().parent / "results"
# The budgets for "strictly improves"; other multiples (3.75) are reported beside them.
IMPROVEMENT_MULTIPLES = (1, 2, 4, 8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--multiples", type=float, nargs="*", default=[1, 2, 3.75, 4, 8])
    parser.add_argument("--builtin", type=float, nargs="*", default=[1, 4])
    parser.add_argument("--ref", type=float, help="REF in seconds (default: measure it)")
    parser.add_argument("--report", type=Path, metavar="RECORD",
                        help="rewrite the section from a recorded run (results/budget_*.json)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--section", help="the BENCHMARKS.md section (default: charlm-budget, or "
                                          "charlm-budget-bf16 on a bf16 machine); another name "
                                          "keeps those, e.g. for a second machine of one kind")
    args = parser.parse_args()
    if args.report:
        record = json.loads(args.report.read_text())
        return write_section(record["section"], render(record))
    started = time.time()
    precision = resolve_precision("auto", torch.device("cpu"))   # what the runs will use
    print(f"precision: {precision}", flush=True)
    if args.ref is None:
        ref, gpt_loss = measure_ref()
        ref_text = (f"REF = **{ref:.0f} s**: nanoGPT's CPU recipe (`benchmarks/baseline_gpt.py`, "
                    f"2,000 iterations, val loss {gpt_loss:.4f}), measured first in this run.")
    else:
        ref = args.ref
        ref_text = f"REF = **{ref:.0f} s**, given on the command line (measured earlier)."
    print(ref_text, flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-budget-"))
    rows = {"tinyshakespeare": [], "built-in corpus": []}
    for name, data, multiples in (("tinyshakespeare", str(CORPUS), args.multiples),
                                  ("built-in corpus", None, args.builtin)):
        for multiple in multiples:
            outcome = train_with_budget(multiple * ref, data, work / f"{name[:5]}-{multiple:g}")
            outcome["multiple"] = multiple
            print(json.dumps(outcome), flush=True)
            rows[name].append(outcome)
    section = args.section or default_section(precision)
    record = {"section": section, "command": command_line(), "machine": machine_description(),
              "date": time.strftime("%Y-%m-%d"), "wall": time.time() - started,
              "precision": precision, "ref_text": ref_text, "rows": rows}
    if args.no_write:
        print(render(record))
        return
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / (f"budget_{precision}.json" if section == default_section(precision)
                      else f"{section}.json")
    path.write_text(json.dumps(record, indent=1) + "\n")
    write_section(section, render(record))


def default_section(precision: str) -> str:
    """fp32 and bf16 machines are reported apart (the issue asks for both where they exist)."""
    return "charlm-budget-bf16" if precision == "bf16" else "charlm-budget"


def render(record: dict) -> str:
    default = record["section"] == default_section(record["precision"])
    sections = ["## Char LM: budget-aware defaults, "
                f"{record['precision']}{'' if default else ' (' + record['section'] + ')'} "
                "(`benchmarks/bench_budget.py`)\n",
                f"Command: `{record['command']}`  \nMachine: {record['machine']}  \n"
                f"Date: {record['date']}; {record['wall']:.0f} s wall; training precision "
                f"{record['precision']} (`--precision auto`, the default)\n",
                record["ref_text"] + " Each run: `train_char_lm` with nothing but `max_time` (= "
                "`rnnlab train --max-time S`), so the budget rule chooses the model; training "
                "seconds exclude evaluation and the start-up speed measurement (3-10 s). "
                "Validation: the best weights over the whole last 10% (nats/char). The speeds "
                "are the rule's start-up measurements, at the run's precision, of the sizes it "
                "considered.\n"]
    for name, outcomes in record["rows"].items():
        if not outcomes:
            continue
        sections.append(f"### {name}\n")
        sections.append(markdown_table(
            ["budget", "seconds", "chosen by the rule", "measured chars/s (size: speed)",
             "steps", "epochs", "val nats/char"],
            [[f"{o['multiple']:g}·REF", f"{o['seconds']:.0f}", o["chosen"],
              ", ".join(f"{size}: {speed:,.0f}" for size, speed in o["speeds"].items()),
              f"{o['steps']:,}", f"{o['epochs']:.1f}", f"**{o['val']:.4f}**"]
             for o in outcomes]) + "\n")
        checked = [o for o in outcomes if o["multiple"] in IMPROVEMENT_MULTIPLES]
        losses = [o["val"] for o in checked]
        improving = all(a > b for a, b in zip(losses, losses[1:]))
        budgets = ", ".join(f"{o['multiple']:g}·REF" for o in checked)
        sections.append(f"Validation loss strictly improves across {budgets}: "
                        f"**{'yes' if improving else 'no'}**.\n")
    return "\n".join(sections)


if __name__ == "__main__":
    main()
