"""Ctrl-C during training saves a resumable checkpoint and exits cleanly."""

import signal
import subprocess
import sys
import time
from pathlib import Path

from rnnlab.train.checkpoint import load_state
from rnnlab.tasks.lm import train_char_lm


def test_ctrl_c_saves_and_resume_continues(tmp_path: Path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("to be or not to be, that is the question.\n" * 200, encoding="utf-8")
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnlab", "train", "--data", str(corpus), "--out", str(run),
         "--cell", "gru", "--layers", "1", "--hidden", "16", "--embedding", "8",
         "--batch-size", "4", "--bptt", "8", "--max-steps", "1000000", "--eval-interval",
         "1000000", "--precision", "fp32", "--sample-length", "0", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # metrics.jsonl gets its first record after step 1: training is under way.
        deadline = time.time() + 60
        while not (run / "metrics.jsonl").exists() and time.time() < deadline:
            time.sleep(0.2)
        assert (run / "metrics.jsonl").exists(), proc.stderr.read() if proc.poll() else "timeout"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "--resume" in out + err
    state = load_state(run / "trainer_state")
    saved_step = state["step"]
    assert saved_step >= 1
    result = train_char_lm(resume=run, overrides={"max_steps": saved_step + 3},
                           progress_bar=False, log=lambda m: None)
    assert result.step == saved_step + 3
