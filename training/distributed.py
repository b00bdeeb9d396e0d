"""One process or many: the device, the process group under ``torchrun`` and mixed precision.

Under ``torchrun`` (WORLD_SIZE > 1) every process trains a shard of each epoch's patches in
DistributedDataParallel: gloo on CPU, NCCL on GPUs. Rank 0 writes checkpoints and versions.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
from torch import distributed as torch_dist
from torch import nn

from noduleseg.core import precision

from .config import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process runs.

    Attributes:
        rank: Process index (0 writes files).
        world: Number of processes.
        device: Torch device of this process.
        amp: Whether to autocast to bfloat16 where the device computes it natively
            (``core.precision``: CUDA, and CPUs with AMX or AVX512-BF16).
    """

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    amp: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        return precision.autocast(self.device) if self.amp else contextlib.nullcontext()

    def memory_format(self) -> torch.memory_format:
        return precision.memory_format(self.device) if self.amp else torch.contiguous_format

    def all_reduce_sum(self, tensor: torch.Tensor) -> None:
        if self.world > 1:
            torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)

    def barrier(self) -> None:
        if self.world > 1:
            torch_dist.barrier()

    def wrap(self, net: nn.Module) -> nn.Module:
        """The net to train: DDP around it with several processes (re-wrap after a release)."""
        if self.world == 1:
            return net
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(net, device_ids=ids)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a user error."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA GPU is available here; use --device cpu")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def init_distributed(device_name: str, amp: bool) -> DistContext:
    """The process's context; joins the process group when started by ``torchrun``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world > 1 and not torch_dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world, device, amp and precision.uses_bf16(device))


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
