r"""Contiguous-stream batching for truncated backpropagation through time (TBPTT).

The token ids (N,) are cut into B equally long contiguous streams, one per batch row, and each
stream is read left to right in windows of at most T = bptt steps. All tensors are batch-first.

Example: N = 25 tokens t0..t24, batch_size B = 3, bptt T = 3. Each stream gets L = (N - 1) // B = 8
targets, so row b reads tokens t[8b] .. t[8b + 8] (neighbouring rows share one token: the last
target of row b is the first input of row b + 1, which is why every target is used exactly once).

                 window 0         window 1         window 2 (short: L % T = 2 steps)
    row 0  x:  t0  t1  t2    |  t3  t4  t5    |  t6  t7
           y:  t1  t2  t3    |  t4  t5  t6    |  t7  t8
    row 1  x:  t8  t9  t10   |  t11 t12 t13   |  t14 t15
           y:  t9  t10 t11   |  t12 t13 t14   |  t15 t16
    row 2  x:  t16 t17 t18   |  t19 t20 t21   |  t22 t23
           y:  t17 t18 t19   |  t20 t21 t22   |  t23 t24
                        h ---+--> h0     h ---+--> h0
                   (final state of window k = initial state of window k + 1)

Why the hidden state carries: row b of window k + 1 starts at the very token after the one where
row b of window k stopped. The final hidden state of row b has read its whole stream so far, so
it is exactly the state the RNN would have if it had run through the stream in one go; passing
it on lets the model use context longer than T.

Why it is detached: the loss of window k + 1 must not backpropagate into window k. Keep the
values (`h = h.detach()`) but cut the graph, so gradients flow at most T steps and memory stays
proportional to T instead of to the whole stream. That is the "truncated" in TBPTT.

Why it is reset at an epoch start: window 0 of a new epoch begins each stream again from its
first token; the state left over from the end of the previous epoch does not describe that
context, so start from zeros (`Window.reset_state` tells the caller when).

When T does not divide L, the last window of an epoch is shorter (L % T steps); callers must
not assume x.shape[1] == bptt. A window is never empty, and no target inside a stream is dropped.
Only the (N - 1) % B targets that do not fill a whole row are left out of training; fewer than B
per epoch. `eval_windows` covers every target of a held-out split, remainder included.
"""

from __future__ import annotations

import zlib
from typing import Iterator, NamedTuple

import numpy as np
import torch

from rnnlab.errors import RnnlabError


class Window(NamedTuple):
    """One training window. x, y: (B, t) int64 with t <= bptt; y[:, i] is the token after x[:, i]."""

    x: torch.Tensor
    y: torch.Tensor
    reset_state: bool  # True at the first window of an epoch: start from a zero hidden state
    epoch: int  # the epoch this window belongs to
    index: int  # its position within that epoch, 0 .. windows_per_epoch - 1


class EvalWindow(NamedTuple):
    """One evaluation window. x, y: (rows, t) int64; rows is batch_size, or 1 for the remainder."""

    x: torch.Tensor
    y: torch.Tensor
    reset_state: bool  # True when a new set of streams starts: zero hidden state of x.shape[0] rows


def _as_id_tensor(ids, what: str) -> torch.Tensor:
    """(N,) int64 CPU tensor from a list, NumPy array or tensor of integer ids."""
    if isinstance(ids, torch.Tensor):
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise RnnlabError(f"{what} have dtype {ids.dtype}; expected integer token ids")
        tensor = ids.detach().to("cpu", torch.int64)
    else:
        array = np.asarray(ids)
        if array.size == 0:
            array = array.astype(np.int64)  # np.asarray([]) is float64, yet an empty list is fine here
        if not np.issubdtype(array.dtype, np.integer):
            raise RnnlabError(f"{what} have dtype {array.dtype}; expected integer token ids")
        # Convert in NumPy first: torch.from_numpy rejects some unsigned dtypes.
        tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
    if tensor.dim() != 1:
        raise RnnlabError(f"{what} have shape {tuple(tensor.shape)}; expected a 1-D sequence of token ids")
    return tensor


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise RnnlabError(f"{name} is {value!r}; expected a positive integer")
    return int(value)


def _stream_rows(ids: torch.Tensor, start: int, rows: int, length: int) -> torch.Tensor:
    """(rows, length + 1): row r holds ids[start + r*length : start + (r+1)*length + 1].

    Rows overlap by one token so that every position after `start` is a target exactly once.
    """
    return ids[start:].unfold(0, length + 1, length)[:rows].contiguous()


def _window_slices(stream_rows: torch.Tensor, bptt: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y of window `index`: (rows, t) with t = bptt, or less for the last window."""
    begin = index * bptt
    end = min(begin + bptt, stream_rows.shape[1] - 1)
    return stream_rows[:, begin:end].clone(), stream_rows[:, begin + 1:end + 1].clone()


def _windows_in(length: int, bptt: int) -> int:
    return -(-length // bptt)  # ceil: the last window may be short


class StreamBatcher:
    """Training windows over B contiguous streams, with a resumable position.

    ids: (N,) integer token ids; needs N >= batch_size * bptt + 1 so that every window but
    possibly the last is full length. Windows are (x, y) pairs of (B, t) int64 tensors, t <= bptt,
    on `device` (the whole stream matrix is moved there once).

    Two ways to read it, both advancing the same position (see `state_dict`):
      - `for x, y in batcher:` yields the remaining windows of the current epoch, then moves to
        the next epoch; reset the hidden state before the loop, detach it between windows.
      - `batcher.next_window()` returns the next window forever, wrapping into the next epoch;
        reset the hidden state when `window.reset_state` is True.
    """

    def __init__(self, ids, batch_size: int, bptt: int, device: torch.device | str | None = None):
        self.batch_size = _check_positive("batch_size", batch_size)
        self.bptt = _check_positive("bptt", bptt)
        ids = _as_id_tensor(ids, "training ids")
        self.num_tokens = len(ids)
        minimum = self.batch_size * self.bptt + 1
        if self.num_tokens < minimum:
            raise RnnlabError(
                f"training text has {self.num_tokens} tokens, but batch_size {self.batch_size} x bptt {self.bptt} "
                f"needs at least {minimum}; pass a smaller --batch-size or --bptt, or use more text"
            )
        # A cheap fingerprint of the ids, so a resumed run notices it was given different data.
        self._checksum = zlib.crc32(ids.numpy().tobytes())
        self.stream_length = (self.num_tokens - 1) // self.batch_size  # targets per row
        self.unused_targets = (self.num_tokens - 1) - self.batch_size * self.stream_length
        self.windows_per_epoch = _windows_in(self.stream_length, self.bptt)
        self._streams = _stream_rows(ids, 0, self.batch_size, self.stream_length)  # (B, L + 1)
        if device is not None:
            self._streams = self._streams.to(device)
        self.epoch = 0
        self.position = 0  # index of the next window within `epoch`

    def __len__(self) -> int:
        return self.windows_per_epoch

    @property
    def is_epoch_start(self) -> bool:
        """True when the next window is the first of an epoch (the caller resets hidden state)."""
        return self.position == 0

    def window(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x, y (B, t) of window `index` of an epoch, without moving the position."""
        if not 0 <= index < self.windows_per_epoch:
            raise IndexError(f"window {index} out of range 0..{self.windows_per_epoch - 1}")
        return _window_slices(self._streams, self.bptt, index)

    def _advance(self) -> None:
        self.position += 1
        if self.position == self.windows_per_epoch:
            self.epoch += 1
            self.position = 0

    def next_window(self) -> Window:
        """The next window, wrapping into the next epoch after the last one."""
        epoch, index = self.epoch, self.position
        x, y = self.window(index)
        # Advance before returning, so a checkpoint saved after training on this window resumes
        # with the one after it.
        self._advance()
        return Window(x, y, reset_state=index == 0, epoch=epoch, index=index)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The remaining windows of the current epoch as (x, y); all of them from a fresh start."""
        epoch = self.epoch
        while self.epoch == epoch:
            window = self.next_window()
            yield window.x, window.y

    def state_dict(self) -> dict:
        """Epoch and position, plus the layout they are valid for (plain ints, JSON-friendly)."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "num_tokens": self.num_tokens,
            "batch_size": self.batch_size,
            "bptt": self.bptt,
            "ids_crc32": self._checksum,
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume: the next window will be the one the saved batcher would have produced next."""
        expected = self.state_dict()
        missing = [key for key in expected if key not in state]
        if missing:
            raise RnnlabError(f"batcher state is missing {missing}; expected the keys {sorted(expected)}")
        for key in ("num_tokens", "batch_size", "bptt", "ids_crc32"):
            if state[key] != expected[key]:
                raise RnnlabError(
                    f"batcher state was saved with {key}={state[key]!r} but this run has {key}={expected[key]!r}; "
                    f"resume with the same data, --batch-size and --bptt"
                )
        epoch, position = state["epoch"], state["position"]
        if not isinstance(epoch, int) or epoch < 0:
            raise RnnlabError(f"batcher state epoch is {epoch!r}; expected a non-negative integer")
        if not isinstance(position, int) or not 0 <= position < self.windows_per_epoch:
            raise RnnlabError(
                f"batcher state position is {position!r}; expected an integer in 0..{self.windows_per_epoch - 1}"
            )
        self.epoch, self.position = epoch, position


def eval_windows(ids, batch_size: int, bptt: int, device: torch.device | str | None = None) -> Iterator[EvalWindow]:
    """Windows covering every target of a held-out split exactly once: ids[1:], all N - 1 of them.

    ids: (N,) with N >= 2. First B = batch_size streams of L = (N - 1) // B targets (as in
    `StreamBatcher`), then, if (N - 1) % B targets are left, one extra 1-row stream over them.

    How to use: when `reset_state` is True, start a zero hidden state with x.shape[0] rows (the
    row count changes for the remainder stream); otherwise carry the previous window's final state
    (no gradients needed). Sum the per-token losses of all windows and divide by N - 1: windows
    differ in size, so averaging per-window means would weight tokens unequally.
    """
    batch_size = _check_positive("batch_size", batch_size)
    bptt = _check_positive("bptt", bptt)
    ids = _as_id_tensor(ids, "evaluation ids")
    num_targets = len(ids) - 1
    if num_targets < 1:
        raise RnnlabError(f"evaluation text has {len(ids)} tokens; expected at least 2 (one input and one target)")
    stream_length = num_targets // batch_size
    stream_sets = []
    if stream_length > 0:
        stream_sets.append(_stream_rows(ids, 0, batch_size, stream_length))
    remainder = num_targets - batch_size * stream_length
    if remainder > 0:
        stream_sets.append(_stream_rows(ids, batch_size * stream_length, 1, remainder))
    for rows in stream_sets:
        if device is not None:
            rows = rows.to(device)
        for index in range(_windows_in(rows.shape[1] - 1, bptt)):
            x, y = _window_slices(rows, bptt, index)
            yield EvalWindow(x, y, reset_state=index == 0)


def split_train_val(ids, val_fraction: float = 0.1):
    """(train, val): the first 1 - val_fraction of `ids` and the last val_fraction, same type as ids.

    The split is by position, not shuffled, so validation text is unseen contiguous text.
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise RnnlabError(f"validation fraction is {val_fraction!r}; expected a number between 0 and 1 (exclusive)")
    total = len(ids)
    val_size = int(total * val_fraction)
    if val_size < 2:
        raise RnnlabError(
            f"validation split of {val_fraction} of {total} tokens has {val_size} tokens; expected at least 2: "
            f"use more text or a larger validation fraction"
        )
    if total - val_size < 2:
        raise RnnlabError(
            f"training split of {total} tokens with validation fraction {val_fraction} has {total - val_size} tokens; "
            f"expected at least 2: use a smaller validation fraction"
        )
    return ids[: total - val_size], ids[total - val_size:]
