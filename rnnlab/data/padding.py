"""Padded batches of variable-length sequences, and a length-bucketed batch sampler.

`pad_sequences` turns a list of 1-D id sequences into one (B, T) int64 tensor padded on the
right, plus their true lengths; the encoder uses the lengths so that padding never changes a
result (see rnnlab.nn.encoder).

Why buckets
-----------
Padding costs time: a batch runs for as many steps as its longest sequence. Sorting the whole
data set by length would make batches nearly padding-free but always the same, in the same
order. `BucketBatchSampler` takes the middle road, as torchtext's BucketIterator and the fairseq
samplers do:

    epoch e:  shuffle all indices (seeded by seed and e)
              cut into chunks of batch_size × chunk_batches
              sort each chunk by length, cut it into batches
              shuffle the order of the batches (same seed)

Batches hold similar lengths (little padding) but differ from epoch to epoch. An epoch's batches
are a pure function of (seed, epoch), so the sampler's whole state is two integers (epoch and
position within it), which is what makes an interrupted run resume exactly.

Ranks (distributed data parallel): the batches above are formed with the global batch size
world_size × batch_size, and rank r takes every world_size-th example of each, from the r-th:

    global batch (sorted by length):  e0 e1 e2 e3 e4 e5      world_size 2, batch_size 3
    rank 0:                           e0    e2    e4
    rank 1:                              e1    e3    e5

Strided rather than in halves so that every rank gets the same spread of lengths: a step takes
as long as its slowest rank, and halves would give one rank all the longest sequences. A last
global batch with fewer than world_size examples is dropped, so every rank has the same number
of non-empty batches per epoch (their collective calls line up).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rnnlab.data.streams import check_rank
from rnnlab.errors import RnnlabError


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int = 0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (B, T) int64 padded with pad_id on the right, lengths (B,) int64), T = max length.

    Sequences may be lists, tuples, NumPy arrays or 1-D tensors of ints. An empty sequence is an
    error: a recurrent encoder has no state to report for zero steps (callers decide what an
    empty input means; the classification data layer maps it to one <unk> token).
    """
    if len(sequences) == 0:
        raise RnnlabError("cannot pad an empty list of sequences; expected at least one")
    tensors = []
    for index, sequence in enumerate(sequences):
        tensor = torch.as_tensor(sequence)
        if tensor.dim() != 1:
            raise RnnlabError(f"sequence {index} has shape {tuple(tensor.shape)}; expected 1-D ids")
        if tensor.numel() == 0:
            raise RnnlabError(f"sequence {index} is empty; every sequence needs at least one id")
        if tensor.is_floating_point():
            raise RnnlabError(f"sequence {index} holds {tensor.dtype} values; expected integer ids")
        tensors.append(tensor.to(torch.int64))
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.int64)
    ids = torch.full((len(tensors), int(lengths.max())), pad_id, dtype=torch.int64)
    for row, tensor in enumerate(tensors):
        ids[row, : len(tensor)] = tensor
    return ids, lengths


class BucketBatchSampler:
    """Batches of example indices grouped by similar length; deterministic per (seed, epoch).

    Iterating gives the remaining batches of the current epoch (from `position`) and then moves
    to the next epoch. `next_batch()` is the one-at-a-time form used by training loops.
    With shuffle=False the batches are consecutive in data order (for evaluation).
    rank, world_size: this process's share of each global batch (see the module doc).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = True,
                 seed: int = 0, chunk_batches: int = 50, drop_last: bool = False,
                 rank: int = 0, world_size: int = 1):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise RnnlabError(f"batch size must be a positive integer, got {batch_size!r}")
        if chunk_batches < 1:
            raise RnnlabError(f"chunk_batches must be >= 1, got {chunk_batches!r}")
        self.lengths = [int(length) for length in lengths]
        if not self.lengths:
            raise RnnlabError("no examples to batch; the data set is empty")
        self.rank, self.world_size = check_rank(rank, world_size)
        if drop_last and len(self.lengths) < self.world_size * batch_size:
            raise RnnlabError(f"{len(self.lengths)} examples are fewer than one batch of {self.world_size * batch_size} "
                              f"(world_size {self.world_size} x batch_size {batch_size}) with drop_last; "
                              f"lower the batch size")
        if len(self.lengths) < self.world_size:
            raise RnnlabError(f"{len(self.lengths)} examples are fewer than world_size {self.world_size}; expected "
                              f"at least one example per rank: use fewer processes or more data")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = int(seed)
        self.chunk_batches = chunk_batches
        self.drop_last = drop_last
        self.epoch = 0
        self.position = 0          # batches already taken from the current epoch
        self._cached_epoch: int | None = None
        self._cached_batches: list[list[int]] = []

    def __len__(self) -> int:
        """Batches per epoch (the same on every rank)."""
        full, rest = divmod(len(self.lengths), self.world_size * self.batch_size)
        return full if (self.drop_last or rest < self.world_size) else full + 1

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of `epoch`, in order (a pure function of seed and epoch)."""
        if self._cached_epoch == epoch:
            return self._cached_batches
        count, size = len(self.lengths), self.world_size * self.batch_size  # size: the global batch
        if not self.shuffle:
            order = list(range(count))
            batches = [order[i:i + size] for i in range(0, count, size)]
        else:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(count, generator=generator).tolist()
            chunk = size * self.chunk_batches
            batches = []
            for start in range(0, count, chunk):
                # A stable sort keeps the shuffled order among equal lengths.
                bucket = sorted(order[start:start + chunk], key=self.lengths.__getitem__)
                batches.extend(bucket[i:i + size] for i in range(0, len(bucket), size))
            permutation = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[i] for i in permutation]
        minimum = size if self.drop_last else self.world_size  # every rank gets at least one example
        batches = [batch[self.rank::self.world_size] for batch in batches if len(batch) >= minimum]
        self._cached_epoch, self._cached_batches = epoch, batches
        return batches

    def next_batch(self) -> list[int]:
        """The next batch of indices, moving on to the next epoch when this one is used up."""
        batches = self.epoch_batches(self.epoch)
        if self.position >= len(batches):
            self.epoch += 1
            self.position = 0
            batches = self.epoch_batches(self.epoch)
        batch = batches[self.position]
        self.position += 1
        return batch

    def __iter__(self):
        while self.position < len(self.epoch_batches(self.epoch)):
            yield self.next_batch()
        self.epoch += 1
        self.position = 0

    @property
    def epochs_done(self) -> float:
        """Fractional epochs consumed so far (e.g. 2.5 = halfway through the third)."""
        return self.epoch + self.position / max(len(self), 1)

    def state_dict(self) -> dict:
        """No rank: every rank is at the same position, so one rank's state resumes them all."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "num_examples": len(self.lengths), "batch_size": self.batch_size,
                "world_size": self.world_size}

    def load_state_dict(self, state: dict) -> None:
        # Batches are drawn from the GLOBAL batch (world_size x batch_size) alone, so a run can
        # resume on another number of processes as long as the global batch is the same.
        saved = (state["num_examples"], state["batch_size"] * state.get("world_size", 1))  # 1: saved before ranks
        if saved != (len(self.lengths), self.batch_size * self.world_size):
            raise RnnlabError(
                f"saved sampler state is for {saved[0]} examples in global batches of {saved[1]}, but "
                f"this run has {len(self.lengths)} in global batches of {self.batch_size * self.world_size}; "
                f"resume needs the same data and global batch size")
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
