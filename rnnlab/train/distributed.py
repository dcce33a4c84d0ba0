"""Training across processes with PyTorch's own engine: torchrun + DistributedDataParallel.

    torchrun --standalone --nproc-per-node 2 -m rnnlab train --data text.txt ...
    torchrun --nnodes 2 --node-rank 0 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \\
             --nproc-per-node 2 -m rnnlab train ...          (and --node-rank 1 on the other machine)

torchrun starts one process per rank with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT in the
environment; `Distributed.from_environment` joins the process group from them (gloo on CPU,
nccl on CUDA) and is a no-op for a plain `rnnlab train`.

The global batch stays what the user asked for (`--batch-size` is the GLOBAL batch): each of the
W ranks reads a disjoint share of B/W streams (char LM) or examples (padded tasks), so W processes
see exactly the data one process with batch B sees, and DDP's gradient average equals the
single-process gradient (to float rounding). It also means a run can resume with another number
of processes: the data layout depends on the global batch only, and the saved position, carried
LM state (gathered from every rank) and RNG states carry over.

The ranks must agree on every decision that ends or skips a collective operation, or one of them
waits forever: whether to stop (budget spent — rank 0's clock decides — or Ctrl-C/SIGTERM on any
rank) and whether the loss is finite (a NaN on one rank stops all). `agree_to_stop` and
`all_finite` make those decisions together. Only rank 0 evaluates, writes files and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rnnlab.errors import RnnlabError


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @staticmethod
    def launched_by_torchrun() -> bool:
        """True in a process torchrun started with more than one rank (before joining)."""
        return int(os.environ.get("WORLD_SIZE", "1")) > 1

    @classmethod
    def from_environment(cls, device: torch.device) -> "Distributed":
        """Join torchrun's process group when WORLD_SIZE > 1; a single process otherwise."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                    rank=rank, world_size=world_size)
        return cls(rank, world_size, local_rank)

    def device(self, device: torch.device) -> torch.device:
        """Each rank on its own GPU (cuda:LOCAL_RANK); CPU ranks share the CPU."""
        if device.type == "cuda" and self.enabled:
            return torch.device("cuda", self.local_rank)
        return device

    def per_rank(self, global_batch: int, what: str = "batch size") -> int:
        """The share of a global batch each rank reads; an uneven or empty share is an error."""
        if global_batch % self.world_size or global_batch < self.world_size:
            raise RnnlabError(f"{what} {global_batch} cannot be split evenly over {self.world_size} "
                              f"processes; use a multiple of {self.world_size} "
                              f"(--batch-size is the global batch)")
        return global_batch // self.world_size

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        if not self.enabled:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def agree_to_stop(self, reason: str, interrupted: bool, reasons: tuple[str, ...]) -> str:
        """The stop decision of all ranks: rank 0's budget reason, or "interrupted" when any rank
        was interrupted; "" to go on. `reasons` lists the possible budget reasons."""
        if not self.enabled:
            return "interrupted" if interrupted else reason
        code = reasons.index(reason) + 1 if (reason and self.is_main) else 0
        flags = torch.tensor([code, int(interrupted)], dtype=torch.int64)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        if flags[1]:
            return "interrupted"
        return reasons[int(flags[0]) - 1] if flags[0] else ""

    def all_finite(self, finite: bool) -> bool:
        """True only when the loss is finite on every rank."""
        if not self.enabled:
            return finite
        flag = torch.tensor([int(finite)], dtype=torch.int64)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag[0])

    def gather(self, value) -> list:
        """[value of rank 0, value of rank 1, ...] on every rank (small Python objects)."""
        if not self.enabled:
            return [value]
        values = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
