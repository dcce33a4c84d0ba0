r"""Contiguous-stream batching for truncated backpropagation through time (TBPTT).

The token ids (N,) are cut into B equally long contiguous streams, one per batch row, and each
stream is read left to right in windows of at most T = bptt steps. All arrays are batch-first.

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

Ranks (distributed data parallel): with world_size W the text is cut into W*B streams, the
global batch, and rank r reads rows r*B .. r*B + B - 1 of every window. Example N = 25, W = 2,
B = 2: four global rows of L = (25 - 1) // 4 = 6 targets each.

    global row 0:  t0  .. t6     rank 0, its row 0     window k of rank r = rows r*B .. r*B + B - 1
    global row 1:  t6  .. t12    rank 0, its row 1     of window k of one process with batch W*B
    global row 2:  t12 .. t18    rank 1, its row 0
    global row 3:  t18 .. t24    rank 1, its row 1

So the ranks together read exactly what one process with batch W*B reads, each row on one rank
only, and every rank has the same windows per epoch (L is shared), so their collective calls
line up. What is left out is the (N - 1) % (W*B) targets that do not fill a global row.

The index logic is NumPy only: the torch-free reference engine reads `NumpyStreamBatcher` and
`numpy_eval_windows`; `StreamBatcher` and `eval_windows` hand the same windows to torch code as
int64 tensors (torch.from_numpy of a fresh copy; torch is imported only there).
"""

from __future__ import annotations

import sys
import zlib
from typing import TYPE_CHECKING, Iterator, NamedTuple

import numpy as np

from rnnlab.errors import RnnlabError

if TYPE_CHECKING:
    import torch


class Window(NamedTuple):
    """One training window. x, y: (B, t) int64 with t <= bptt; y[:, i] is the token after x[:, i].

    NumPy arrays from `NumpyStreamBatcher`, torch tensors from `StreamBatcher`.
    """

    x: np.ndarray | torch.Tensor
    y: np.ndarray | torch.Tensor
    reset_state: bool  # True at the first window of an epoch: start from a zero hidden state
    epoch: int  # the epoch this window belongs to
    index: int  # its position within that epoch, 0 .. windows_per_epoch - 1


class EvalWindow(NamedTuple):
    """One evaluation window. x, y: (rows, t) int64; rows is batch_size, or 1 for the remainder."""

    x: np.ndarray | torch.Tensor
    y: np.ndarray | torch.Tensor
    reset_state: bool  # True when a new set of streams starts: zero hidden state of x.shape[0] rows


def _as_id_array(ids, what: str) -> np.ndarray:
    """(N,) int64 NumPy array from a list, NumPy array or tensor of integer ids."""
    # A tensor can only exist once torch is loaded, so look for it without importing torch here.
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(ids, torch.Tensor):
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise RnnlabError(f"{what} have dtype {ids.dtype}; expected integer token ids")
        ids = ids.detach().to("cpu", torch.int64).numpy()
    array = np.asarray(ids)
    if array.size == 0:
        array = array.astype(np.int64)  # np.asarray([]) is float64, yet an empty list is fine here
    if not np.issubdtype(array.dtype, np.integer):
        raise RnnlabError(f"{what} have dtype {array.dtype}; expected integer token ids")
    if array.ndim != 1:
        raise RnnlabError(f"{what} have shape {array.shape}; expected a 1-D sequence of token ids")
    return np.ascontiguousarray(array, dtype=np.int64)


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise RnnlabError(f"{name} is {value!r}; expected a positive integer")
    return int(value)


def check_rank(rank: int, world_size: int) -> tuple[int, int]:
    """(rank, world_size) as ints, or an RnnlabError naming the bad one (shared with padding.py)."""
    world_size = _check_positive("world_size", world_size)
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < world_size:
        raise RnnlabError(f"rank {rank!r} is outside world size {world_size}; expected 0 <= rank < {world_size}")
    return int(rank), world_size


def _stream_rows(ids: np.ndarray, start: int, rows: int, length: int) -> np.ndarray:
    """(rows, length + 1): row r holds ids[start + r*length : start + (r+1)*length + 1].

    Rows overlap by one token so that every position after `start` is a target exactly once.
    """
    offsets = start + length * np.arange(rows)[:, None] + np.arange(length + 1)[None, :]
    return ids[offsets]


def _window(stream_rows: np.ndarray, bptt: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y of window `index`: (rows, t) copies with t = bptt, or less for the last window."""
    begin = index * bptt
    end = min(begin + bptt, stream_rows.shape[1] - 1)
    # Copies, so a caller writing into a window (or into a tensor sharing its memory) cannot
    # change the streams, nor y through x: they overlap in `stream_rows`.
    return stream_rows[:, begin:end].copy(), stream_rows[:, begin + 1:end + 1].copy()


def _windows_in(length: int, bptt: int) -> int:
    return -(-length // bptt)  # ceil: the last window may be short


def _as_tensors(arrays, device) -> tuple:
    import torch  # only the torch side of this module needs it

    return tuple(torch.from_numpy(array).to(device) for array in arrays)


class NumpyStreamBatcher:
    """Training windows over B contiguous streams, with a resumable position; NumPy, torch-free.

    ids: (N,) integer token ids; needs N >= world_size * batch_size * bptt + 1 so that every
    window but possibly the last is full length. Windows are (x, y) pairs of (B, t) int64 arrays,
    t <= bptt. rank, world_size: this process's share of the global batch (see the module doc).

    Two ways to read it, both advancing the same position (see `state_dict`):
      - `for x, y in batcher:` yields the remaining windows of the current epoch, then moves to
        the next epoch; reset the hidden state before the loop, detach it between windows.
      - `batcher.next_window()` returns the next window forever, wrapping into the next epoch;
        reset the hidden state when `window.reset_state` is True.
    """

    def __init__(self, ids, batch_size: int, bptt: int, *, rank: int = 0, world_size: int = 1):
        self.batch_size = _check_positive("batch_size", batch_size)
        self.bptt = _check_positive("bptt", bptt)
        self.rank, self.world_size = check_rank(rank, world_size)
        ids = _as_id_array(ids, "training ids")
        self.num_tokens = len(ids)
        streams = self.world_size * self.batch_size  # the global batch
        minimum = streams * self.bptt + 1
        if self.num_tokens < minimum:
            ranks = f"world_size {self.world_size} x " if self.world_size > 1 else ""
            raise RnnlabError(
                f"training text has {self.num_tokens} tokens, but {ranks}batch_size {self.batch_size} x bptt "
                f"{self.bptt} needs at least {minimum}; pass a smaller --batch-size or --bptt, or use more text"
            )
        # A cheap fingerprint of the ids, so a resumed run notices it was given different data.
        self._checksum = zlib.crc32(ids.tobytes())
        self.stream_length = (self.num_tokens - 1) // streams  # targets per row
        self.unused_targets = (self.num_tokens - 1) - streams * self.stream_length
        self.windows_per_epoch = _windows_in(self.stream_length, self.bptt)
        # This rank's rows r*B .. r*B + B - 1 of the (W*B, L + 1) global streams.
        self.rows = _stream_rows(ids, self.rank * self.batch_size * self.stream_length,
                                 self.batch_size, self.stream_length)  # (B, L + 1)
        self.epoch = 0
        self.position = 0  # index of the next window within `epoch`

    def __len__(self) -> int:
        return self.windows_per_epoch

    @property
    def is_epoch_start(self) -> bool:
        """True when the next window is the first of an epoch (the caller resets hidden state)."""
        return self.position == 0

    def window(self, index: int) -> tuple:
        """x, y (B, t) of window `index` of an epoch, without moving the position."""
        if not 0 <= index < self.windows_per_epoch:
            raise IndexError(f"window {index} out of range 0..{self.windows_per_epoch - 1}")
        return _window(self.rows, self.bptt, index)

    def next_window(self) -> Window:
        """The next window, wrapping into the next epoch after the last one."""
        epoch, index = self.epoch, self.position
        x, y = self.window(index)
        # Advance before returning, so a checkpoint saved after training on this window resumes
        # with the one after it.
        self.position += 1
        if self.position == self.windows_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
        return Window(x, y, reset_state=index == 0, epoch=epoch, index=index)

    def __iter__(self) -> Iterator[tuple]:
        """The remaining windows of the current epoch as (x, y); all of them from a fresh start."""
        epoch = self.epoch
        while self.epoch == epoch:
            window = self.next_window()
            yield window.x, window.y

    def state_dict(self) -> dict:
        """Epoch and position, plus the layout they are valid for (plain ints, JSON-friendly).

        No rank: every rank is at the same position, so one rank's state resumes them all.
        """
        return {
            "epoch": self.epoch,
            "position": self.position,
            "num_tokens": self.num_tokens,
            "batch_size": self.batch_size,
            "bptt": self.bptt,
            "world_size": self.world_size,
            "ids_crc32": self._checksum,
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume: the next window will be the one the saved batcher would have produced next."""
        expected = self.state_dict()
        state = {"world_size": 1, **state}  # states saved before ranks existed are single-process
        missing = [key for key in expected if key not in state]
        if missing:
            raise RnnlabError(f"batcher state is missing {missing}; expected the keys {sorted(expected)}")
        # The layout depends on the GLOBAL batch only (world_size x batch_size streams), so a run
        # can resume on another number of processes as long as the global batch is the same.
        state = {**state, "streams": state["world_size"] * state["batch_size"]}
        expected["streams"] = self.world_size * self.batch_size
        for key in ("num_tokens", "streams", "bptt", "ids_crc32"):
            if state[key] != expected[key]:
                raise RnnlabError(
                    f"batcher state was saved with {key}={state[key]!r} but this run has {key}={expected[key]!r}; "
                    f"resume with the same data, global batch size and --bptt"
                )
        epoch, position = state["epoch"], state["position"]
        if not isinstance(epoch, int) or epoch < 0:
            raise RnnlabError(f"batcher state epoch is {epoch!r}; expected a non-negative integer")
        if not isinstance(position, int) or not 0 <= position < self.windows_per_epoch:
            raise RnnlabError(
                f"batcher state position is {position!r}; expected an integer in 0..{self.windows_per_epoch - 1}"
            )
        self.epoch, self.position = epoch, position


class StreamBatcher(NumpyStreamBatcher):
    """The windows of `NumpyStreamBatcher` as (B, t) int64 torch tensors, on `device` if given."""

    def __init__(self, ids, batch_size: int, bptt: int, device: torch.device | str | None = None, *,
                 rank: int = 0, world_size: int = 1):
        super().__init__(ids, batch_size, bptt, rank=rank, world_size=world_size)
        self.device = device

    def window(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x, y (B, t) int64 tensors of window `index` of an epoch, without moving the position."""
        return _as_tensors(super().window(index), self.device)


def numpy_eval_windows(ids, batch_size: int, bptt: int) -> Iterator[EvalWindow]:
    """Windows covering every target of a held-out split exactly once: ids[1:], all N - 1 of them.

    ids: (N,) with N >= 2. First B = batch_size streams of L = (N - 1) // B targets (as in
    `StreamBatcher`), then, if (N - 1) % B targets are left, one extra 1-row stream over them.
    x, y are NumPy int64 arrays; `eval_windows` gives the same as torch tensors.

    How to use: when `reset_state` is True, start a zero hidden state with x.shape[0] rows (the
    row count changes for the remainder stream); otherwise carry the previous window's final state
    (no gradients needed). Sum the per-token losses of all windows and divide by N - 1: windows
    differ in size, so averaging per-window means would weight tokens unequally.
    """
    batch_size = _check_positive("batch_size", batch_size)
    bptt = _check_positive("bptt", bptt)
    ids = _as_id_array(ids, "evaluation ids")
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
        for index in range(_windows_in(rows.shape[1] - 1, bptt)):
            yield EvalWindow(*_window(rows, bptt, index), reset_state=index == 0)


def eval_windows(ids, batch_size: int, bptt: int, device: torch.device | str | None = None) -> Iterator[EvalWindow]:
    """`numpy_eval_windows` with x, y as int64 torch tensors on `device` (default: CPU)."""
    for x, y, reset_state in numpy_eval_windows(ids, batch_size, bptt):
        yield EvalWindow(*_as_tensors((x, y), device), reset_state)


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
