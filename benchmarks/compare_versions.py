"""Same runs, two versions of rnnlab: does a restructuring change any number or any speed?

Checks out an older commit into a temporary git worktree and runs the same step-budgeted
trainings through each version's CLI (the commands and their output lines are stable across
versions), alternating old and new, then reports the validation numbers and the seconds of
training per step side by side. With a step budget the numbers must be identical where the
maths did not change; the speed column shows any overhead the new code adds.

    .venv/bin/python benchmarks/compare_versions.py --old c6b4122          # writes BENCHMARKS.md
    .venv/bin/python benchmarks/compare_versions.py --old c6b4122 --steps 50 --no-write

Data: ../shared/data (tinyshakespeare, SST-2 sentences, UD English EWT).
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

# What each task's final lines say, in every version: the score and the training time.
TASKS = {
    "char LM (defaults, tinyshakespeare)": (
        lambda steps: ["train", "--data", str(SHARED_DATA / "tinyshakespeare" / "input.txt"),
                       "--max-steps", str(steps), "--eval-interval", str(steps),
                       "--sample-length", "0"],
        r"validation: ([\d.]+) nats/char"),
    "classifier (defaults, SST-2 sentences)": (
        lambda steps: ["classify", "train", "--train", str(SHARED_DATA / "sst2" / "stsa.binary.train"),
                       "--dev", str(SHARED_DATA / "sst2" / "stsa.binary.dev"),
                       "--max-steps", str(steps), "--eval-interval", str(steps)],
        r"dev \(last weights\): accuracy ([\d.]+)"),
    "tagger (defaults, UD EWT)": (
        lambda steps: ["tag", "train", "--train", str(SHARED_DATA / "ud_english_ewt" / "en_ewt-ud-train.conllu"),
                       "--dev", str(SHARED_DATA / "ud_english_ewt" / "en_ewt-ud-dev.conllu"),
                       "--max-steps", str(steps), "--eval-interval", str(steps)],
        r"dev \(last\): accuracy ([\d.]+)%"),
}
TIME = r"at step (\d+).*?after ([\d.]+) s of training"


def run(source: Path, arguments: list[str], out: Path) -> tuple[str, float, int]:
    """(score, seconds of training, steps) of one CLI run of the rnnlab at `source`."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    command = [sys.executable, "-m", "rnnlab", *arguments, "--out", str(out), "--no-progress"]
    done = subprocess.run(command, env=env, cwd=source, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return done.stdout, *_time(done.stdout)


def _time(output: str) -> tuple[float, int]:
    match = re.search(TIME, output, re.S)
    return float(match.group(2)), int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="c6b4122", help="the older commit to compare with")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), args.old], cwd=ROOT,
                       check=True, capture_output=True)
        try:
            for name, (arguments, score_pattern) in TASKS.items():
                results = {}
                for label, source in (("old", old), ("new", ROOT)):
                    output, seconds, steps = run(source, arguments(args.steps),
                                                 Path(tmp) / f"{label}-{len(rows)}")
                    score = re.search(score_pattern, output).group(1)
                    results[label] = (score, seconds / steps)
                    print(f"{name} [{label}]: {score} after {steps} steps, "
                          f"{1000 * seconds / steps:.1f} ms/step", flush=True)
                (old_score, old_step), (new_score, new_step) = results["old"], results["new"]
                rows.append([name, old_score, new_score, "yes" if old_score == new_score else "NO",
                             f"{1000 * old_step:.1f}", f"{1000 * new_step:.1f}",
                             f"{old_step / new_step:.2f}×"])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT,
                           capture_output=True)
    table = markdown_table(["run", f"score at {args.old}", "score now", "identical",
                            "ms/step then", "ms/step now", "speed now/then"], rows)
    print(table)
    if not args.no_write:
        write_section("compare-versions", "\n".join([
            f"## Old vs new code, step-matched ({args.steps} steps, the CLI's defaults)", "",
            f"Command: `{command_line()}`  ", f"Machine: {machine_description()}", "",
            "Scores: char LM validation nats/char (whole last 10%), classifier dev accuracy "
            "(last weights), tagger dev UPOS accuracy (%). ms/step is the CLI's own count of "
            "training seconds over steps (evaluation excluded); one run each, the old one first.",
            "", table]))


if __name__ == "__main__":
    main()
