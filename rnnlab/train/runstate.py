"""Pieces every training loop needs to stop and resume exactly.

- RNG state: seeded at the start, saved with the trainer state and restored on resume, so dropout
  masks and shuffles continue as if the run had never stopped.
- Ctrl-C: the first press only sets a flag that the loop reads between steps (a KeyboardInterrupt
  in the middle of a step could land after the weights changed but before the step counter did,
  and the checkpoint would not resume exactly); a second press interrupts at once.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": np.random.get_state()}


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    # JSON-like round trips turn Python's nested state tuples into lists; random wants tuples.
    random.setstate(_as_nested_tuple(state["python"]))
    np.random.set_state(tuple(state["numpy"]))


def _as_nested_tuple(value):
    if isinstance(value, (list, tuple)):
        return tuple(_as_nested_tuple(v) for v in value)
    return value


class InterruptFlag:
    """While `active()`, the first SIGINT sets `requested`; the second raises KeyboardInterrupt.

    SIGTERM (what torchrun, a cluster scheduler or `kill` sends) also sets `requested`, and never
    escalates: a terminal's Ctrl-C under torchrun reaches a worker both as SIGINT and, from the
    torchrun agent, as SIGTERM, and the run should still finish its step and save.
    """

    def __init__(self):
        self.requested = False

    def _handler(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def active(self):
        # Signal handlers can only be installed from the main thread; elsewhere a Ctrl-C stays an
        # ordinary KeyboardInterrupt.
        installed = threading.current_thread() is threading.main_thread()
        previous = {}
        if installed:
            previous = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
