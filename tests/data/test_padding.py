"""BucketBatchSampler across ranks: today's batches at world size 1, disjoint complete shares above."""

import itertools

import pytest

from rnnlab.data.padding import BucketBatchSampler
from rnnlab.errors import RnnlabError

LENGTHS = [(i * 7) % 11 + 1 for i in range(23)]
# What the sampler gave before ranks existed, for LENGTHS, batch 4, seed 5, chunk_batches 2.
OLD_EPOCH_0 = [[10, 7, 15, 9], [6, 3, 14], [22, 19, 13, 2], [11, 16, 5, 21], [18, 4, 1, 20], [0, 8, 12, 17]]
OLD_EPOCH_1 = [[15, 4, 6, 14], [20, 17, 3], [18, 7, 1, 9], [0, 8, 19, 16], [11, 22, 13, 21], [5, 2, 10, 12]]
OLD_DROP_LAST = [[10, 7, 15, 9], [22, 19, 13, 2], [11, 16, 5, 21], [18, 4, 1, 20], [0, 8, 12, 17]]
OLD_STATE = {"epoch": 1, "position": 2, "seed": 5, "num_examples": 23, "batch_size": 4}  # next: [18, 7, 1, 9]


def test_world_size_one_gives_todays_batches_and_loads_todays_state():
    sampler = BucketBatchSampler(LENGTHS, 4, seed=5, chunk_batches=2)
    assert sampler.epoch_batches(0) == OLD_EPOCH_0 and sampler.epoch_batches(1) == OLD_EPOCH_1
    assert BucketBatchSampler(LENGTHS, 4, seed=5, chunk_batches=2, drop_last=True).epoch_batches(0) == OLD_DROP_LAST
    sampler.load_state_dict(OLD_STATE)
    assert sampler.next_batch() == [18, 7, 1, 9]


@pytest.mark.parametrize("world_size,batch_size,shuffle,drop_last", [
    (w, b, s, d) for w, b, s, d in itertools.product([2, 3, 4], [1, 3, 5], [True, False], [False, True])])
def test_ranks_split_each_global_batch_disjointly_with_equal_counts(world_size, batch_size, shuffle, drop_last):
    kwargs = dict(shuffle=shuffle, seed=7, chunk_batches=3, drop_last=drop_last)
    single = BucketBatchSampler(LENGTHS, world_size * batch_size, **kwargs)
    ranks = [BucketBatchSampler(LENGTHS, batch_size, rank=r, world_size=world_size, **kwargs)
             for r in range(world_size)]
    for epoch in (0, 1):
        # A last global batch too small to give every rank an example is the only one left out.
        expected = [b for b in single.epoch_batches(epoch) if len(b) >= world_size]
        shares = [r.epoch_batches(epoch) for r in ranks]
        assert {len(s) for s in shares} == {len(expected)} == {len(r) for r in ranks}
        for index, batch in enumerate(expected):
            parts = [s[index] for s in shares]
            assert all(0 < len(p) <= batch_size for p in parts)
            assert sorted(i for p in parts for i in p) == sorted(batch)  # disjoint, and all of it
        # Deterministic: a new sampler with the same seed gives the same share.
        again = BucketBatchSampler(LENGTHS, batch_size, rank=world_size - 1, world_size=world_size, **kwargs)
        assert again.epoch_batches(epoch) == shares[-1]


def test_one_ranks_state_resumes_every_rank():
    ranks = [BucketBatchSampler(LENGTHS, 2, seed=1, rank=r, world_size=3) for r in range(3)]
    for sampler in ranks:
        for _ in range(6):  # 4 batches per epoch: into the second epoch
            sampler.next_batch()
    state = ranks[0].state_dict()
    for rank, sampler in enumerate(ranks):
        resumed = BucketBatchSampler(LENGTHS, 2, seed=1, rank=rank, world_size=3)
        resumed.load_state_dict(state)
        assert [resumed.next_batch() for _ in range(5)] == [sampler.next_batch() for _ in range(5)]
    # One process with the same global batch (3 x 2) continues with the same global batches.
    single = BucketBatchSampler(LENGTHS, 6, seed=1)
    single.load_state_dict(state)
    shares = []
    for rank in range(3):
        resumed = BucketBatchSampler(LENGTHS, 2, seed=1, rank=rank, world_size=3)
        resumed.load_state_dict(state)
        shares += resumed.next_batch()
    assert sorted(single.next_batch()) == sorted(shares)
    with pytest.raises(RnnlabError, match="global batches of 6, but this run has 23 in global batches of 4"):
        BucketBatchSampler(LENGTHS, 2, seed=1, world_size=2).load_state_dict(state)


def test_bad_rank_and_too_few_examples_are_one_line_errors():
    with pytest.raises(RnnlabError, match="rank 3 is outside world size 3"):
        BucketBatchSampler(LENGTHS, 2, rank=3, world_size=3)
    with pytest.raises(RnnlabError, match="world_size is 0"):
        BucketBatchSampler(LENGTHS, 2, world_size=0)
    with pytest.raises(RnnlabError, match=r"3 examples are fewer than world_size 4; expected at least one") as caught:
        BucketBatchSampler([1, 2, 3], 2, world_size=4)
    assert "\n" not in str(caught.value)
    with pytest.raises(RnnlabError, match=r"fewer than one batch of 8 \(world_size 2 x batch_size 4\)"):
        BucketBatchSampler([1] * 7, 4, world_size=2, drop_last=True)
