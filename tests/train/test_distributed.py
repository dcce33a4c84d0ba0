"""Training across processes: torchrun + DistributedDataParallel (gloo), two ranks on this machine.

Every test starts real processes (torchrun, or two `python -m rnnlab` workers with torchrun's
environment variables) and compares what they wrote with single-process runs of the same global
batch.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnlab.train.checkpoint import load_state, load_weights

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# Without dropout: each rank draws its own masks, so with dropout a run on W processes is the
# same training statistically but not number for number (WITH_DROPOUT is used where each rank's
# own random stream is what is under test).
LM = ["train", "--batch-size", "8", "--bptt", "16", "--hidden", "16", "--layers", "2",
      "--embedding", "8", "--no-progress", "--precision", "fp32",
      "--sample-length", "0", "--eval-interval", "3", "--warmup", "2", "--decay-steps", "6"]
WITH_DROPOUT = LM + ["--dropout", "0.1"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    import random

    rng = random.Random(0)
    words = "the quick brown fox jumps over lazy dog and cat".split()
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(8))
                              for _ in range(400)), encoding="utf-8")
    return path


def rnnlab(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnlab", *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)


def torchrun(*args, cwd: Path, processes: int = 2, script: str = "-m rnnlab") -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={processes}", *script.split(), *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)


def max_difference(run_a: Path, run_b: Path) -> float:
    a, b = load_weights(run_a / "model.safetensors"), load_weights(run_b / "model.safetensors")
    assert a.keys() == b.keys()
    return max(float((a[name] - b[name]).abs().max()) for name in a)


def test_two_processes_train_as_one_with_the_same_global_batch(tmp_path, corpus):
    single = rnnlab(*LM, "--data", corpus, "--max-steps", 6, "--out", "one", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    double = torchrun(*LM, "--data", corpus, "--max-steps", 6, "--out", "two", cwd=tmp_path)
    assert double.returncode == 0, double.stderr
    # DDP averages the two halves' gradients: the same update as one process, to rounding.
    assert max_difference(tmp_path / "one", tmp_path / "two") < 1e-5
    # Rank 0 alone speaks and writes: one log, one metrics record per step logged.
    assert double.stdout.count("run directory:") == 1 and "2 processes" in double.stdout
    steps = [json.loads(line)["step"] for line in (tmp_path / "two" / "metrics.jsonl").open()]
    single_steps = [json.loads(line)["step"] for line in (tmp_path / "one" / "metrics.jsonl").open()]
    assert steps == single_steps
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir())
    state = load_state(tmp_path / "two" / "trainer_state")
    assert len(state["rng_by_rank"]) == 2
    assert state["task"]["carried_state"][0].shape == (2, 8, 16)   # all 8 global streams


def test_a_distributed_run_resumes_exactly_and_on_another_number_of_processes(tmp_path, corpus):
    for name, options in (("full", WITH_DROPOUT), ("plain", LM)):
        run = torchrun(*options, "--data", corpus, "--max-steps", 6, "--out", name, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
    first = torchrun(*WITH_DROPOUT, "--data", corpus, "--max-steps", 3, "--out", "half",
                     cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = torchrun("train", "--resume", "half", "--max-steps", 6, "--no-progress", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert max_difference(tmp_path / "full", tmp_path / "half") == 0.0   # every rank's RNG kept
    # Two processes continue a one-process run: same global batch, same streams and state.
    alone = rnnlab(*LM, "--data", corpus, "--max-steps", 3, "--out", "alone", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    moved = torchrun("train", "--resume", "alone", "--max-steps", 6, "--no-progress", cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert max_difference(tmp_path / "plain", tmp_path / "alone") < 1e-5


def test_the_classifier_trains_across_processes(tmp_path):
    import random

    rng = random.Random(1)
    lines = []
    for _ in range(96):
        words = [f"w{rng.randrange(8)}" for _ in range(rng.randint(2, 7))]
        lines.append(("yes" if "w3" in words else "no") + "\t" + " ".join(words))
    (tmp_path / "train.tsv").write_text("\n".join(lines[:80]) + "\n", encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("\n".join(lines[80:]) + "\n", encoding="utf-8")
    args = ["classify", "train", "--train", "train.tsv", "--dev", "dev.tsv", "--embedding", "8",
            "--hidden", "8", "--dropout", "0", "--embedding-dropout", "0", "--batch-size", "16",
            "--max-steps", "4", "--no-progress"]
    assert rnnlab(*args, "--out", "one", cwd=tmp_path).returncode == 0
    double = torchrun(*args, "--out", "two", cwd=tmp_path)
    assert double.returncode == 0, double.stderr
    assert max_difference(tmp_path / "one", tmp_path / "two") < 1e-5


def test_a_global_batch_that_cannot_be_split_is_one_line_not_a_hang(tmp_path, corpus):
    started = time.monotonic()
    result = torchrun(*LM, "--data", corpus, "--max-steps", 6, "--out", "run", "--batch-size", 1,
                      cwd=tmp_path)
    assert result.returncode != 0 and time.monotonic() - started < 120
    errors = [line for line in result.stderr.splitlines() if line.startswith("rnnlab train: error")]
    assert errors == ["rnnlab train: error: batch size 1 cannot be split evenly over 2 processes; "
                      "use a multiple of 2 (--batch-size is the global batch)"]
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_a_nan_on_one_rank_stops_every_rank(tmp_path, corpus):
    script = tmp_path / "poisoned.py"
    script.write_text(
        "import os, sys\n"
        "from rnnlab.cli import main\n"
        "from rnnlab.tasks.lm import LMTask\n"
        "real = LMTask.loss\n"
        "def loss(self, model, batch):\n"
        "    value, count = real(self, model, batch)\n"
        "    step = self.batcher.epoch * self.batcher.windows_per_epoch + self.batcher.position\n"
        "    poisoned = os.environ['RANK'] == '1' and step == 5\n"
        "    return (value * float('nan') if poisoned else value), count\n"
        "LMTask.loss = loss\n"
        "sys.exit(main(sys.argv[1:]))\n", encoding="utf-8")
    result = torchrun(*LM, "--data", corpus, "--max-steps", 8, "--out", "run", cwd=tmp_path,
                      script=str(script))
    assert result.returncode != 0
    assert "loss became non-finite on another process at step 5" in result.stderr
    # The checkpoint of step 3 is kept and resumes.
    assert load_state(tmp_path / "run" / "trainer_state")["step"] == 3
    assert rnnlab("train", "--resume", "run", "--max-steps", 4, "--no-progress",
                  cwd=tmp_path).returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ctrl_c_on_one_rank_stops_every_rank_and_saves(tmp_path, corpus):
    port = free_port()
    workers = []
    for rank in range(2):
        env = {**ENV, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "rnnlab", *LM, "--data", str(corpus), "--max-steps", "100000",
             "--eval-interval", "20", "--out", "run"], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "run" / "trainer_state.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        workers[1].send_signal(signal.SIGINT)                  # only rank 1 is interrupted
        codes = [worker.wait(timeout=120) for worker in workers]
        outputs = [worker.communicate() for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert codes == [130, 130], outputs
    assert "Traceback" not in outputs[0][1] + outputs[1][1]
    assert "--resume run" in outputs[0][0]
    state = load_state(tmp_path / "run" / "trainer_state")
    weights = load_weights(tmp_path / "run" / "model.safetensors")
    assert state["step"] >= 1 and all(torch.isfinite(t).all() for t in weights.values())
    resumed = rnnlab("train", "--resume", "run", "--max-steps", state["step"] + 2, "--no-progress",
                     cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
