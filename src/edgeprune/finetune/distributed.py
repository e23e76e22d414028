"""torchrun / DistributedDataParallel plumbing: process group from the environment, sharding, buffer sync.

Under ``torchrun --nproc_per_node N [--nnodes M]`` every rank sees the same in-memory dataset and the same
seeded permutation; each global batch is split ``idx[rank::world]``, so N processes see exactly the
batches one process sees. gloo on CPU, NCCL on GPU; only rank 0 writes files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import distributed as dist
from torch import nn

from edgeprune.errors import EdgepruneError


@dataclass(frozen=True)
class Context:
    """Where this process runs: its rank, the world size and the device it trains on."""

    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher) set a world size above one."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _pick_device(prefer: str) -> torch.device:
    if prefer not in ("auto", "cpu", "cuda"):
        raise EdgepruneError(f"device '{prefer}' is unknown; use auto, cpu or cuda")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise EdgepruneError("device 'cuda' was asked for but torch sees no CUDA GPU")
    use_cuda = prefer == "cuda" or (prefer == "auto" and torch.cuda.is_available())
    if not use_cuda:
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def context(prefer: str = "cpu") -> Context:
    """This process's context; joins the process group (gloo on CPU, NCCL on GPU) when launched by torchrun."""
    device = _pick_device(prefer)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if launched_by_torchrun() and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), device)
    return Context(0, 1, device)


@contextmanager
def session(prefer: str = "cpu") -> Iterator[Context]:
    """:func:`context`, and leave the process group at the end if this call joined it."""
    joined_here = launched_by_torchrun() and not dist.is_initialized()
    ctx = context(prefer)
    try:
        yield ctx
    finally:
        if joined_here and dist.is_initialized():
            dist.destroy_process_group()


def shard(idx: torch.Tensor, ctx: Context) -> torch.Tensor:
    """This rank's part of a global batch (all of it on one process)."""
    return idx[ctx.rank :: ctx.world] if ctx.distributed else idx


def wrap(model: nn.Module, ctx: Context) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when there is more than one rank."""
    if not ctx.distributed:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def sync_buffers(model: nn.Module, ctx: Context) -> None:
    """Copy rank 0's buffers (BatchNorm running stats) to every rank so evaluation agrees everywhere."""
    if ctx.distributed:
        for buf in model.buffers():
            dist.broadcast(buf, src=0)


def all_sum(value: float, ctx: Context) -> float:
    """Sum of a float over all ranks."""
    if not ctx.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t.item())


def is_main_process() -> bool:
    """True on rank 0 (and whenever no process group is running)."""
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()
