"""Short time-to-quality trials for choosing the char-LM defaults.

Each argument is a JSON object {"name": ..., "model": {CharLMConfig fields}, "train":
{TrainConfig fields}, "time": seconds (default 80)}; every trial trains on
../shared/data/tinyshakespeare (last 10% validation) for that many seconds of training and
prints the validation loss over the whole split. Run trials one after another on a quiet
machine: concurrent jobs on 2 cores distort the timings badly.

Usage (from the repository root):
    .venv/bin/python benchmarks/sweep_charlm.py '{"name": "default"}' \
        '{"name": "B128T16", "train": {"batch_size": 128, "bptt": 16}}'
The trials behind the current defaults are listed in BENCHMARKS.md (section "Char-LM defaults").
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import SHARED_DATA  # noqa: E402

from rnnlab.tasks.lm import train_char_lm  # noqa: E402

CORPUS = SHARED_DATA / "tinyshakespeare" / "input.txt"


def main(trials: list[str]) -> None:
    for text in trials:
        trial = json.loads(text)
        with tempfile.TemporaryDirectory() as folder:
            started = time.time()
            result = train_char_lm(data=str(CORPUS), out=Path(folder) / "run",
                                   model=trial.get("model", {}),
                                   train={"max_time": trial.get("time", 80), "sample_length": 0, "auto_size": False,
                                          **trial.get("train", {})},
                                   progress_bar=False, log=lambda message: None)
            print(f"{json.dumps(trial)}  val {result.scores["loss"]:.4f} nats/char, "
                  f"{result.step} steps, {time.time() - started:.0f} s wall", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
