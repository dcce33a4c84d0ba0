"""Progress of a training run: a live bar on a terminal, plain periodic lines everywhere else.

A tqdm bar redraws itself many times a second. On a terminal that is what people want; written
to a file or a pipe (nohup, CI, a cluster's log, `make demo > log`) every redraw becomes text,
thousands of lines of it. So the bar is shown only when the output is a terminal; otherwise one
plain line is written every `interval_s` seconds:

    step 1,200/5,000  loss 1.4321  12,345 tokens/s  elapsed 2m05s  ETA 6m36s

The total is in steps, or in seconds of training for a time budget.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

# Seconds between plain progress lines when the output is not a terminal.
LINE_INTERVAL_S = 30.0


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """update(done, step=, loss=, rate=) after every step; write(message) for evaluation lines.

    `total`/`done` count steps (by_time=False) or seconds of training (by_time=True).
    `enabled=False` (the CLI's --no-progress, or a process other than rank 0) shows no bar but
    still writes the plain lines through `log`, unless `quiet`.
    """

    def __init__(self, total: float, done: float, *, by_time: bool, rate_unit: str,
                 enabled: bool = True, log: Callable[[str], None] = print, quiet: bool = False,
                 stream=None, interval_s: float | None = None):
        self.total, self.by_time, self.rate_unit = total, by_time, rate_unit
        self.log, self.quiet = log, quiet
        self.interval_s = LINE_INTERVAL_S if interval_s is None else interval_s
        self.done = min(done, total)
        self.started = time.monotonic()
        self.done_at_start = self.done
        self.last_line = self.started
        stream = stream if stream is not None else sys.stderr
        self.bar = None
        if enabled and not quiet and getattr(stream, "isatty", lambda: False)():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=self.done, unit="s" if by_time else "step",
                            dynamic_ncols=True, file=stream, bar_format=(
                                "{l_bar}{bar}| {n:.0f}/{total:.0f}s [{elapsed}<{remaining}{postfix}]"
                                if by_time else None))

    def update(self, done: float, *, step: int, loss: float | None, rate: float | None) -> None:
        # A time bar must not pass its total (the last step overshoots the budget).
        done = min(done, self.total)
        if self.bar is not None:
            self.bar.update(done - self.done)
            if loss is not None:
                self.bar.set_postfix(step=step, loss=f"{loss:.4f}",
                                     **{self.rate_unit.replace("/", "_"): f"{rate:,.0f}"})
        self.done = done
        now = time.monotonic()
        if self.bar is None and not self.quiet and now - self.last_line >= self.interval_s:
            self.last_line = now
            self.log(self.line(step, loss, rate, now - self.started))

    def line(self, step: int, loss: float | None, rate: float | None, elapsed: float) -> str:
        """One plain progress line (see the module docstring)."""
        parts = [f"step {step:,}  {self.done:,.0f}/{self.total:,.0f} s" if self.by_time
                 else f"step {step:,}/{self.total:,.0f}"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if rate is not None:
            parts.append(f"{rate:,.0f} {self.rate_unit}")
        parts.append(f"elapsed {format_duration(elapsed)}")
        progressed = self.done - self.done_at_start
        if progressed > 0:
            parts.append(f"ETA {format_duration(elapsed * (self.total - self.done) / progressed)}")
        return "  ".join(parts)

    def write(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message)
        elif not self.quiet:
            self.log(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
