"""A reader that closes the pipe early (`rnnlab trace ... | head -1`) stops the command
quietly, with the shell's SIGPIPE status, instead of a BrokenPipeError traceback."""

import os
import subprocess
import sys

from rnnlab.cli import SIGPIPE_EXIT


def test_closed_pipe_exits_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)                      # no reader: the first write fails with EPIPE
    try:
        # Python ignores SIGPIPE itself, so the write raises BrokenPipeError in the process.
        result = subprocess.run([sys.executable, "-m", "rnnlab", "trace", "--chapter-example"],
                                stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr, result.stderr
    assert "BrokenPipeError" not in result.stderr, result.stderr
    assert result.returncode == SIGPIPE_EXIT


def test_open_pipe_still_gets_everything():
    result = subprocess.run([sys.executable, "-m", "rnnlab", "trace", "--chapter-example"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Elman RNN step trace: chapter example")
    assert result.stdout.endswith("\n")
