"""The task shape of every padded-batch model (classifier, tagger): a sampler of example
indices, a collate function, a loss and an evaluation, plugged into the one trainer."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from rnnlab.train.distributed import Distributed
from rnnlab.train.trainer import Task


class PaddedTask(Task):
    """sampler: `next_batch() -> list[int]`, `state_dict()`, `load_state_dict()`, `len()` (batches
    per epoch) and `epochs_done` — rnnlab.data.padding.BucketBatchSampler is one.
    collate: indices -> batch (dicts/tuples of tensors, e.g. {"ids": (B, T), "lengths": (B,)}).
    loss: (model, batch) -> (mean loss, number of examples); evaluate: model -> scores."""
    eval_prefix = "dev"
    count_name = "examples"

    def __init__(self, model: nn.Module, sampler: Any, collate: Callable[[list[int]], Any],
                 loss: Callable[[nn.Module, Any], tuple[torch.Tensor, int]],
                 evaluate: Callable[[nn.Module], dict[str, float]], metric: str = "accuracy",
                 higher_is_better: bool = True):
        self.model, self.sampler, self.collate = model, sampler, collate
        self.loss, self.evaluate = loss, evaluate
        self.metric, self.higher_is_better = metric, higher_is_better

    def steps_per_epoch(self) -> int:
        return len(self.sampler)

    def epochs_done(self) -> float:
        return float(self.sampler.epochs_done)

    def next_batch(self) -> Any:
        return self.collate(self.sampler.next_batch())

    def shard(self, distributed: Distributed) -> None:
        """This rank's share of each global batch (rnnlab.data.padding draws the batches)."""
        s = self.sampler
        self.sampler = type(s)(s.lengths, distributed.per_rank(s.batch_size), shuffle=s.shuffle,
                               seed=s.seed, chunk_batches=s.chunk_batches, drop_last=s.drop_last,
                               rank=distributed.rank, world_size=distributed.world_size)

    def state_dict(self) -> dict:
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state["sampler"])
