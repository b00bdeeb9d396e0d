"""Per-epoch checkpoints of a run, written atomically, read with ``weights_only=True``.

A checkpoint holds the net, the optimiser, the position (stage, next epoch), the history so
far, the best stage's weights and the sum of every completed stage's final weights (for the
stage average): a run killed at any moment resumes from its last completed epoch with nothing
completed lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from noduleseg.core.atomic import atomic_path
from noduleseg.core.errors import NodulesegError

CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"
STAGE_SUM_FILE = "stage_sum_{count}.pt"  # named by count: the checkpoint says which is current


@dataclass
class RunState:
    """Mutable progress of a run (the one stateful object of the engine).

    Attributes:
        stage: Index of the stage in progress.
        epoch: Next epoch to run within ``stage``.
        epochs: One record per completed epoch.
        stages: One record per completed stage.
        best_stage: Index of the best completed stage (-1: none yet).
        best_dice: Its validation Dice.
        best_weights: Its weights (CPU tensors).
        stage_sum: Sum of the final weights of the stages completed with at least one epoch,
            or of the epochs completed with ``average_epochs`` (CPU float tensors; integer
            buffers hold the latest value).
        stage_count: How many stages (or epochs) ``stage_sum`` adds up.
        optimizer: Optimiser state of the stage in progress.
        wall_s: Training seconds spent before this process started.
    """

    stage: int = 0
    epoch: int = 0
    epochs: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    best_stage: int = -1
    best_dice: float = float("-inf")
    best_weights: dict[str, torch.Tensor] | None = None
    stage_sum: dict[str, torch.Tensor] | None = None
    stage_count: int = 0
    optimizer: dict[str, Any] | None = None
    wall_s: float = 0.0


def save_best(folder: Path, weights: dict[str, torch.Tensor]) -> None:
    """Write the best stage's weights (only when a stage improves: they are large)."""
    with atomic_path(folder / BEST_FILE) as temporary:
        torch.save(weights, temporary)


def save_stage_sum(folder: Path, stage_sum: dict[str, torch.Tensor], count: int) -> None:
    """Write the sum of ``count`` stages' weights (at stage ends only: it is as large as a
    model). A checkpoint written after it points at it; until then the previous one stays."""
    with atomic_path(folder / STAGE_SUM_FILE.format(count=count)) as temporary:
        torch.save(stage_sum, temporary)


def drop_stage_sum(folder: Path, count: int) -> None:
    """Remove a superseded stage sum (once a checkpoint points at a newer one)."""
    (folder / STAGE_SUM_FILE.format(count=count)).unlink(missing_ok=True)


def save_checkpoint(folder: Path, state: RunState, net_state: dict[str, torch.Tensor], run_id: str) -> None:
    """Write the checkpoint of ``folder`` atomically (the old one stays until the new is whole)."""
    payload = {"run_id": run_id, "net": net_state, "optimizer": state.optimizer,
               "meta": json.dumps({"stage": state.stage, "epoch": state.epoch, "epochs": state.epochs,
                                   "stages": state.stages, "best_stage": state.best_stage,
                                   "best_dice": state.best_dice, "stage_count": state.stage_count,
                                   "wall_s": state.wall_s})}
    with atomic_path(folder / CHECKPOINT_FILE) as temporary:
        torch.save(payload, temporary)


def load_checkpoint(folder: Path, run_id: str) -> tuple[RunState, dict[str, torch.Tensor]] | None:
    """The saved state and net weights of ``folder``, or None when there is no checkpoint.

    Raises:
        NodulesegError: The checkpoint belongs to another run or is unreadable.
    """
    path = folder / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a truncated or foreign file
        raise NodulesegError(f"{path}: cannot read the checkpoint ({error}); start without --resume") from None
    if payload.get("run_id") != run_id:
        raise NodulesegError(f"{path}: checkpoint of another run ({payload.get('run_id')}); "
                             "same data, config and start model are needed to resume")
    meta = json.loads(payload["meta"])
    best = torch.load(folder / BEST_FILE, map_location="cpu", weights_only=True) if meta["best_stage"] >= 0 else None
    count = meta.get("stage_count", 0)
    stage_sum = (torch.load(folder / STAGE_SUM_FILE.format(count=count), map_location="cpu", weights_only=True)
                 if count else None)
    state = RunState(stage=meta["stage"], epoch=meta["epoch"], epochs=meta["epochs"], stages=meta["stages"],
                     best_stage=meta["best_stage"], best_dice=meta["best_dice"], best_weights=best,
                     stage_sum=stage_sum, stage_count=count, optimizer=payload["optimizer"],
                     wall_s=meta["wall_s"])
    return state, payload["net"]
