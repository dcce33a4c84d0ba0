"""Stream batching for truncated BPTT: coverage, order, state carrying, resuming, evaluation."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data.streams import StreamBatcher, eval_windows, split_train_val
from rnnlab.errors import RnnlabError

# (num_tokens, batch_size, bptt): minimum lengths, remainders, bptt not dividing the stream length,
# bptt 1, batch 1, a stream length that is an exact multiple of bptt.
SHAPES = [
    (n, b, t)
    for b, t in itertools.product([1, 2, 3, 5, 8], [1, 2, 3, 7, 16])
    for n in (b * t + 1, b * t + 2, b * t + b, 3 * b * t + 1, 97, 1000)
    if n >= b * t + 1
]


def one_epoch(batcher):
    return [(x.clone(), y.clone()) for x, y in batcher]


@pytest.mark.parametrize("num_tokens,batch_size,bptt", SHAPES)
def test_each_row_is_a_contiguous_stream_and_every_target_is_used_once(num_tokens, batch_size, bptt):
    # Token ids equal to their position, so every value says where it came from.
    ids = np.arange(num_tokens)
    batcher = StreamBatcher(ids, batch_size, bptt)
    windows = one_epoch(batcher)
    assert len(windows) == batcher.windows_per_epoch == len(batcher)

    for x, y in windows:
        assert x.dtype == torch.int64 and y.dtype == torch.int64
        assert x.shape == y.shape and x.shape[0] == batch_size and 1 <= x.shape[1] <= bptt
    # Only the last window may be short.
    assert all(x.shape[1] == bptt for x, _ in windows[:-1])

    inputs = torch.cat([x for x, _ in windows], dim=1)  # (B, L): row b is stream b read in order
    targets = torch.cat([y for _, y in windows], dim=1)
    stream_length = inputs.shape[1]
    for row in range(batch_size):
        start = row * stream_length
        assert inputs[row].tolist() == list(range(start, start + stream_length))
        assert targets[row].tolist() == list(range(start + 1, start + stream_length + 1))
    # Rows laid end to end cover the targets 1, 2, ... each exactly once, and fewer than
    # batch_size targets at the very end are left out.
    all_targets = targets.reshape(-1).tolist()
    assert all_targets == list(range(1, len(all_targets) + 1))
    assert 0 <= (num_tokens - 1) - len(all_targets) < batch_size
    assert (num_tokens - 1) - len(all_targets) == batcher.unused_targets


def test_random_ids_next_token_targets_and_state_carry():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, size=503)
    batcher = StreamBatcher(ids, batch_size=4, bptt=9)
    windows = one_epoch(batcher)
    for (x0, y0), (x1, _) in zip(windows, windows[1:]):
        assert torch.equal(y0[:, :-1], x0[:, 1:])  # y is x shifted by one
        assert torch.equal(y0[:, -1], x1[:, 0])  # row b of window k+1 continues row b of window k


def test_epochs_repeat_and_count_and_flag_resets():
    batcher = StreamBatcher(np.arange(200), batch_size=3, bptt=7)
    per_epoch = batcher.windows_per_epoch
    first = one_epoch(batcher)
    assert batcher.epoch == 1 and batcher.position == 0 and batcher.is_epoch_start
    second = one_epoch(batcher)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, second))

    flags = []
    for step in range(2 * per_epoch + 2):
        window = batcher.next_window()
        flags.append(window.reset_state)
        assert window.epoch == 2 + step // per_epoch and window.index == step % per_epoch
        assert torch.equal(window.x, first[window.index][0])
    assert flags == ([True] + [False] * (per_epoch - 1)) * 2 + [True, False]


@pytest.mark.parametrize("steps", [0, 1, 5, 9, 10, 23])
def test_state_dict_resumes_with_the_same_next_window(steps):
    ids = np.random.default_rng(1).integers(0, 30, size=300)
    original = StreamBatcher(ids, batch_size=3, bptt=10)  # 10 windows per epoch
    assert original.windows_per_epoch == 10
    for _ in range(steps):
        original.next_window()
    saved = json.loads(json.dumps(original.state_dict()))  # checkpoints may store it as JSON

    resumed = StreamBatcher(ids, batch_size=3, bptt=10)
    resumed.load_state_dict(saved)
    assert resumed.epoch == steps // 10 and resumed.position == steps % 10
    for _ in range(12):
        expected, actual = original.next_window(), resumed.next_window()
        assert torch.equal(expected.x, actual.x) and torch.equal(expected.y, actual.y)
        assert (expected.epoch, expected.index, expected.reset_state) == (actual.epoch, actual.index, actual.reset_state)


def test_iterating_mid_epoch_yields_the_rest_of_that_epoch():
    batcher = StreamBatcher(np.arange(300), batch_size=3, bptt=10)
    reference = one_epoch(StreamBatcher(np.arange(300), batch_size=3, bptt=10))
    for _ in range(4):
        batcher.next_window()
    rest = one_epoch(batcher)
    assert len(rest) == 6
    assert all(torch.equal(a[0], b[0]) for a, b in zip(rest, reference[4:]))


def test_load_state_dict_rejects_another_layout_or_data():
    ids = np.arange(300)
    state = StreamBatcher(ids, batch_size=3, bptt=10).state_dict()
    with pytest.raises(RnnlabError, match="bptt=10 but this run has bptt=5"):
        StreamBatcher(ids, batch_size=3, bptt=5).load_state_dict(state)
    with pytest.raises(RnnlabError, match="ids_crc32"):
        StreamBatcher(ids[::-1].copy(), batch_size=3, bptt=10).load_state_dict(state)
    with pytest.raises(RnnlabError, match="position is 99"):
        StreamBatcher(ids, batch_size=3, bptt=10).load_state_dict({**state, "position": 99})
    with pytest.raises(RnnlabError, match="missing"):
        StreamBatcher(ids, batch_size=3, bptt=10).load_state_dict({"epoch": 0})


def test_minimum_length_error_names_length_minimum_and_flags():
    StreamBatcher(np.arange(4 * 8 + 1), batch_size=4, bptt=8)  # exactly the minimum works
    with pytest.raises(RnnlabError) as caught:
        StreamBatcher(np.arange(32), batch_size=4, bptt=8)
    message = str(caught.value)
    assert "32 tokens" in message and "at least 33" in message
    assert "--batch-size" in message and "--bptt" in message and "\n" not in message


def test_accepts_lists_and_tensors_rejects_floats_and_bad_sizes():
    from_list = StreamBatcher(list(range(50)), batch_size=2, bptt=4).window(0)
    from_tensor = StreamBatcher(torch.arange(50, dtype=torch.int32), batch_size=2, bptt=4).window(0)
    assert torch.equal(from_list[0], from_tensor[0]) and from_tensor[0].dtype == torch.int64
    with pytest.raises(RnnlabError, match="integer token ids"):
        StreamBatcher(np.linspace(0, 1, 50), batch_size=2, bptt=4)
    with pytest.raises(RnnlabError, match="batch_size is 0"):
        StreamBatcher(np.arange(50), batch_size=0, bptt=4)
    with pytest.raises(RnnlabError, match="1-D"):
        StreamBatcher(np.zeros((5, 10), dtype=np.int64), batch_size=2, bptt=4)


def test_windows_do_not_alias_the_data():
    batcher = StreamBatcher(np.arange(50), batch_size=2, bptt=4)
    x, _ = batcher.window(0)
    x.fill_(-1)
    assert batcher.window(0)[0].min() >= 0


@pytest.mark.parametrize(
    "num_tokens,batch_size,bptt",
    [(2, 1, 1), (2, 4, 3), (5, 8, 2), (10, 3, 4), (11, 3, 4), (100, 7, 5), (101, 10, 10), (64, 9, 100)],
)
def test_eval_windows_cover_every_target_once_with_state_carried(num_tokens, batch_size, bptt):
    ids = np.arange(num_tokens)
    seen = []
    previous = None
    for window in eval_windows(ids, batch_size, bptt):
        x, y = window.x, window.y
        assert x.shape == y.shape and 1 <= x.shape[1] <= bptt
        assert torch.equal(y[:, :-1], x[:, 1:])
        if window.reset_state:
            assert x.shape[0] in (batch_size, 1)
        else:
            # Same rows as before, each continuing exactly where it stopped.
            assert previous is not None and x.shape[0] == previous.shape[0]
            assert torch.equal(x[:, 0], previous[:, -1])  # previous holds the last window's targets
        previous = y
        seen.append(y.reshape(-1))
    targets = sorted(torch.cat(seen).tolist())
    assert targets == list(range(1, num_tokens))


def test_eval_windows_flag_new_stream_sets():
    flags_and_rows = [(w.reset_state, w.x.shape[0]) for w in eval_windows(np.arange(12), batch_size=3, bptt=2)]
    # 11 targets: 3 rows of 3 (windows of 2 + 1), then a 1-row stream of the 2 left over.
    assert flags_and_rows == [(True, 3), (False, 3), (True, 1)]


def test_eval_windows_needs_two_tokens():
    with pytest.raises(RnnlabError, match="1 tokens; expected at least 2"):
        list(eval_windows([7], batch_size=2, bptt=3))


def test_split_train_val():
    ids = np.arange(1000)
    train, val = split_train_val(ids, 0.1)
    assert len(train) == 900 and len(val) == 100
    assert np.array_equal(np.concatenate([train, val]), ids)
    train, val = split_train_val(torch.arange(50), 0.05)
    assert val.tolist() == [48, 49] and len(train) == 48


def test_split_train_val_errors():
    with pytest.raises(RnnlabError, match="1 tokens; expected at least 2"):
        split_train_val(np.arange(19), 0.1)
    with pytest.raises(RnnlabError, match="between 0 and 1"):
        split_train_val(np.arange(100), 1.5)
    with pytest.raises(RnnlabError, match="training split"):
        split_train_val(np.arange(10), 0.95)


# ------------------------------------------------------------------------ compatibility, ranks

# Saved by the batcher before ranks existed (no "world_size" key), after 13 windows over
# OLD_IDS with batch 3 and bptt 10; the window it would have produced next is OLD_NEXT.
OLD_IDS = np.arange(300) * 7 % 41
OLD_STATE = {"epoch": 1, "position": 3, "num_tokens": 300, "batch_size": 3, "bptt": 10, "ids_crc32": 2289106878}
OLD_NEXT_X = [[5, 12, 19, 26, 33, 40, 6, 13, 20, 27], [1, 8, 15, 22, 29, 36, 2, 9, 16, 23],
              [38, 4, 11, 18, 25, 32, 39, 5, 12, 19]]
OLD_NEXT_Y = [[12, 19, 26, 33, 40, 6, 13, 20, 27, 34], [8, 15, 22, 29, 36, 2, 9, 16, 23, 30],
              [4, 11, 18, 25, 32, 39, 5, 12, 19, 26]]


def test_a_state_saved_before_ranks_existed_resumes_with_the_same_window():
    resumed = StreamBatcher(OLD_IDS, batch_size=3, bptt=10)
    resumed.load_state_dict(json.loads(json.dumps(OLD_STATE)))
    window = resumed.next_window()
    assert (window.x.tolist(), window.y.tolist(), window.epoch, window.index) == (OLD_NEXT_X, OLD_NEXT_Y, 1, 3)
    # world_size 1 is today's batcher: the same 13 windows lead to the same state.
    fresh = StreamBatcher(OLD_IDS, batch_size=3, bptt=10)
    for _ in range(13):
        fresh.next_window()
    assert fresh.state_dict() == {**OLD_STATE, "world_size": 1}


@pytest.mark.parametrize("num_tokens,batch_size,bptt,world_size", [(97, 2, 3, 2), (1000, 3, 7, 4), (61, 1, 5, 3),
                                                                     (41, 4, 5, 2), (503, 5, 16, 3)])
def test_ranks_read_the_global_batch_disjointly_and_completely(num_tokens, batch_size, bptt, world_size):
    ids = np.arange(num_tokens)  # ids equal positions: disjoint rows hold disjoint values
    single = StreamBatcher(ids, world_size * batch_size, bptt)
    ranks = [StreamBatcher(ids, batch_size, bptt, rank=r, world_size=world_size) for r in range(world_size)]
    assert {len(r) for r in ranks} == {len(single)}  # equal window counts: collectives line up
    assert {r.unused_targets for r in ranks} == {single.unused_targets}
    targets = []
    for _ in range(len(single) + 2):  # across an epoch boundary
        expected, got = single.next_window(), [r.next_window() for r in ranks]
        assert torch.equal(torch.cat([w.x for w in got]), expected.x)  # rank r = rows r*B .. r*B + B - 1
        assert torch.equal(torch.cat([w.y for w in got]), expected.y)
        assert {(w.reset_state, w.epoch, w.index) for w in got} == {(expected.reset_state, expected.epoch,
                                                                     expected.index)}
        if expected.epoch == 0:
            targets += [t for w in got for t in w.y.reshape(-1).tolist()]
    assert sorted(targets) == list(range(1, len(targets) + 1))  # every target once, on one rank only


def test_one_ranks_state_resumes_every_rank_and_another_world_size_with_the_same_global_batch():
    ids = np.random.default_rng(3).integers(0, 20, size=400)
    ranks = [StreamBatcher(ids, 2, 9, rank=r, world_size=3) for r in range(3)]
    for batcher in ranks:
        for _ in range(5):
            batcher.next_window()
    state = ranks[0].state_dict()
    expected = [batcher.next_window().x for batcher in ranks]      # the next global window
    for rank, batcher in enumerate(ranks):
        resumed = StreamBatcher(ids, 2, 9, rank=rank, world_size=3)
        resumed.load_state_dict(state)
        assert torch.equal(resumed.next_window().x, expected[rank])
    # One process with the same global batch (3 x 2 = 6 streams) continues the same windows.
    single = StreamBatcher(ids, 6, 9)
    single.load_state_dict(state)
    assert torch.equal(single.next_window().x, torch.cat(expected))
    with pytest.raises(RnnlabError, match="streams=6 but this run has streams=4"):
        StreamBatcher(ids, 2, 9, world_size=2).load_state_dict(state)


def test_bad_rank_or_world_size_and_too_short_text_for_all_ranks():
    with pytest.raises(RnnlabError, match="rank 2 is outside world size 2"):
        StreamBatcher(np.arange(100), 2, 3, rank=2, world_size=2)
    with pytest.raises(RnnlabError, match="rank -1 is outside world size 2"):
        StreamBatcher(np.arange(100), 2, 3, rank=-1, world_size=2)
    with pytest.raises(RnnlabError, match="world_size is 0; expected a positive integer"):
        StreamBatcher(np.arange(100), 2, 3, world_size=0)
    StreamBatcher(np.arange(2 * 4 * 8 + 1), 4, 8, rank=1, world_size=2)  # exactly the minimum works
    with pytest.raises(RnnlabError) as caught:
        StreamBatcher(np.arange(64), 4, 8, rank=1, world_size=2)
    assert "64 tokens, but world_size 2 x batch_size 4 x bptt 8 needs at least 65" in str(caught.value)


def test_numpy_side_gives_the_same_windows_as_arrays_without_torch():
    from rnnlab.data.streams import NumpyStreamBatcher, numpy_eval_windows

    ids = np.random.default_rng(4).integers(0, 30, size=211)
    arrays, tensors = NumpyStreamBatcher(ids, 3, 8, rank=1, world_size=2), StreamBatcher(ids, 3, 8, rank=1, world_size=2)
    for _ in range(len(arrays) + 1):
        a, t = arrays.next_window(), tensors.next_window()
        assert isinstance(a.x, np.ndarray) and a.x.dtype == np.int64
        assert np.array_equal(a.x, t.x.numpy()) and np.array_equal(a.y, t.y.numpy()) and a[2:] == t[2:]
    for a, t in zip(numpy_eval_windows(ids, 4, 7), eval_windows(ids, 4, 7), strict=True):
        assert np.array_equal(a.x, t.x.numpy()) and np.array_equal(a.y, t.y.numpy()) and a.reset_state == t.reset_state
    code = ("import sys, numpy as np; from rnnlab.data.streams import NumpyStreamBatcher; "
            "NumpyStreamBatcher(np.arange(50), 2, 4).next_window(); assert 'torch' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
