"""The training loop: stages of released encoder parts, epochs of cut patch pools, validation
after every epoch (and, with ``select_by = "click"``, click-to-segment validation after every
stage), a checkpoint after every epoch, the best stage's weights as the result, or
(``average_stages``) the mean of every stage's final weights.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from noduleseg.core.model_io import InputSpec, LoadedModel
from noduleseg.core.unet import BsftUNet

from .checkpoint import RunState, drop_stage_sum, load_checkpoint, save_best, save_checkpoint, save_stage_sum
from .config import TrainConfig
from .data import TrainCase
from .distributed import DistContext
from .evaluate import evaluate_model
from .metrics import Validation, dice_bce_loss, validate
from .pool import CropHandling, PatchPool, training_pool
from .progress import Progress
from .sampling import Site
from .stages import Stage, parameter_groups, schedule_factor, set_schedule


AVERAGE_STAGE = "average of stages"


@dataclass(frozen=True, eq=False)
class TrainingData:
    """What the loop trains and validates on (``val_cases``: for click validation)."""

    cases: Sequence[TrainCase]
    train_sites: Sequence[Site]
    val_sites: Sequence[Site]
    val_pool: PatchPool
    spec: InputSpec
    val_cases: Sequence[TrainCase] = ()


def click_dice(net: BsftUNet, cases: Sequence[TrainCase], spec: InputSpec, config: TrainConfig) -> float:
    """Mean 3D Dice of click-to-segment from every validation nodule's centre, as the app would
    outline it with this network (the run's threshold and peak share)."""
    model = LoadedModel(net, spec, {"version": "in training", "threshold": config.threshold,
                                    "peak_share": config.peak_share})
    results = evaluate_model(model, cases, baseline=False)
    return float(np.mean([r.dice_3d for r in results])) if results else float("nan")


def with_click(validation: Validation, net: BsftUNet, data: TrainingData, config: TrainConfig) -> Validation:
    """``validation`` with the click validation added, when stages are chosen by it."""
    if config.select_by != "click" or not data.val_cases:
        return validation
    return replace(validation, click_dice=click_dice(net, data.val_cases, data.spec, config))


def validate_run(net: BsftUNet, data: TrainingData, config: TrainConfig, dist: DistContext) -> Validation:
    """Patch validation, plus click validation when stages are chosen by it."""
    validation = validate(net, data.val_pool, data.val_sites, data.spec, dist.device, dist, config.threshold)
    return with_click(validation, net, data, config)


def epoch_order(n_sites: int, repeats: int, key: Sequence[int], world: int) -> np.ndarray:
    """Shuffled site indices of one epoch, trimmed to a multiple of the process count."""
    order = np.random.default_rng([*key, 1]).permutation(np.tile(np.arange(n_sites), repeats))
    return order[: len(order) - len(order) % world]


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, pool: PatchPool,
                spec: InputSpec, config: TrainConfig, dist: DistContext, step_event: dict,
                progress: Progress) -> float:
    """One pass over ``pool`` (this process's shard); returns the mean loss over all processes."""
    model.train()
    steps = max(1, -(-len(pool) // config.batch_size))
    total = torch.zeros(2, dtype=torch.float64)
    for step in range(steps):
        indices = np.arange(step * config.batch_size, min(len(pool), (step + 1) * config.batch_size))
        if not len(indices):
            break
        done = (step_event["epoch"] + step / steps) / max(1, step_event["epochs"])
        set_schedule(optimizer, schedule_factor(config, done))
        image, target, weight = (t.to(dist.device, non_blocking=True) for t in pool.batch(indices, spec))
        image = image.contiguous(memory_format=dist.memory_format())
        with dist.autocast():
            loss = dice_bce_loss(model(image).float(), target, config.patch_dice_share,
                                 config.patch_dice_full_px, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += torch.tensor([loss.item() * len(indices), len(indices)], dtype=torch.float64)
        progress({**step_event, "event": "step", "step": step + 1, "steps": steps,
                  "loss": float(total[0] / total[1])})
    dist.all_reduce_sum(total)
    return float(total[0] / max(1.0, float(total[1])))


def _eta(state: RunState, stages: Sequence[Stage], started: float, done_here: int) -> float | None:
    remaining = sum(s.epochs for s in stages[state.stage:]) - state.epoch
    if done_here == 0:
        return None
    return remaining * (time.monotonic() - started) / done_here


def _record_stage(net: BsftUNet, state: RunState, stage: Stage, validation: Validation, select_by: str) -> dict:
    score = validation.score(select_by)
    is_best = state.best_stage < 0 or score > state.best_dice
    if is_best:
        state.best_stage, state.best_dice = state.stage, score
        state.best_weights = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    record = {**stage.to_json(), "index": state.stage, "val_dice": validation.dice,
              "val_global_dice": validation.global_dice, "val_click_dice": validation.click_dice, "best": is_best}
    state.stages.append(record)
    return record


def _add_to_stage_sum(net: BsftUNet, state: RunState) -> None:
    """Add the net's weights to the running sum (integer buffers keep the latest value)."""
    total = state.stage_sum or {}
    for key, value in net.state_dict().items():
        value = value.detach().cpu()
        total[key] = value.float() + total.get(key, 0.0) if value.is_floating_point() else value.clone()
    state.stage_sum, state.stage_count = total, state.stage_count + 1


def _average_stages(net: BsftUNet, state: RunState, data: TrainingData, dist: DistContext,
                    config: TrainConfig) -> dict:
    """Make the mean of the summed weights (every stage's, or every epoch's with
    ``average_epochs``) the result (a record like a stage's)."""
    reference = net.state_dict()
    mean = {k: (v / state.stage_count).to(reference[k].dtype) if v.is_floating_point() else v
            for k, v in state.stage_sum.items()}
    net.load_state_dict(mean)
    validation = validate_run(net, data, config, dist)
    unit = "epochs" if config.average_epochs else "stages"
    record = {"name": AVERAGE_STAGE, "released": [], "epochs": 0, "lr": 0.0, "scaled": False,
              "index": len(state.stages), f"{unit}_averaged": state.stage_count,
              "val_dice": validation.dice, "val_global_dice": validation.global_dice,
              "val_click_dice": validation.click_dice, "best": True}
    for earlier in state.stages:
        earlier["best"] = False
    state.stages.append(record)
    state.best_stage, state.best_dice = record["index"], validation.score(config.select_by)
    state.best_weights = {k: v.clone() for k, v in mean.items()}
    return record


def _run_epoch(model: torch.nn.Module, net: BsftUNet, optimizer: torch.optim.Optimizer, stage: Stage,
               data: TrainingData, config: TrainConfig, dist: DistContext, state: RunState,
               progress: Progress) -> Validation:
    """Cut this epoch's pool, train on it, validate; append the epoch record to ``state``."""
    epoch_started = time.monotonic()
    key = (config.seed, state.stage, state.epoch)
    order = epoch_order(len(data.train_sites), config.repeats, key, dist.world)[dist.rank::dist.world]
    pool = training_pool(data.cases, data.train_sites, data.spec, config.jitter_mm, order, key,
                         config.augmentation(), CropHandling(config.crop_fill, config.ignore_past_crop))
    step_event = {"stage": stage.name, "epoch": state.epoch, "epochs": stage.epochs}
    loss = train_epoch(model, optimizer, pool, data.spec, config, dist, step_event, progress)
    validation = validate(net, data.val_pool, data.val_sites, data.spec, dist.device, dist, config.threshold)
    state.epochs.append({"stage": stage.name, "stage_index": state.stage, "epoch": state.epoch, "loss": loss,
                         "val_dice": validation.dice, "val_global_dice": validation.global_dice,
                         "patches": len(order) * dist.world, "seconds": time.monotonic() - epoch_started})
    state.epoch += 1
    state.optimizer = optimizer.state_dict()
    return validation


def _save_progress(run_dir: Path, state: RunState, net: BsftUNet, run_id: str, summed: bool) -> None:
    """Checkpoint; a new weight sum is written before the checkpoint that names it, and the
    sum it replaces is dropped after."""
    if summed:
        save_stage_sum(run_dir, state.stage_sum, state.stage_count)
    save_checkpoint(run_dir, state, net.state_dict(), run_id)
    if summed:
        drop_stage_sum(run_dir, state.stage_count - 1)


def run_stages(net: BsftUNet, stages: Sequence[Stage], data: TrainingData, config: TrainConfig,
               dist: DistContext, run_dir: Path, run_id: str, progress: Progress,
               resume: bool = False) -> RunState:
    """Train ``net`` through ``stages``; returns the final state (best weights included).

    With ``resume``, continue from ``run_dir``'s checkpoint: completed epochs and stages are
    taken from it, not redone.
    """
    state = RunState()
    loaded = load_checkpoint(run_dir, run_id) if resume else None
    if loaded is not None:
        state, weights = loaded
        net.load_state_dict(weights)
    net.to(dist.device, memory_format=dist.memory_format())
    started, done_here, wall_before = time.monotonic(), 0, state.wall_s
    last_validation: Validation | None = None  # a stage without epochs keeps the weights
    while state.stage < len(stages):
        stage = stages[state.stage]
        net.release(stage.released)
        optimizer = torch.optim.Adam(parameter_groups(net, stage, config), weight_decay=config.weight_decay,
                                     foreach=True)
        if state.optimizer is not None:
            optimizer.load_state_dict(state.optimizer)
        model = dist.wrap(net)
        progress({"event": "stage_start", "stage": stage.name, "index": state.stage, "n_stages": len(stages),
                  "released": list(stage.released), "epochs": stage.epochs, "lr": stage.lr,
                  "resumed_at_epoch": state.epoch})
        validation = None
        while state.epoch < stage.epochs:
            validation = _run_epoch(model, net, optimizer, stage, data, config, dist, state, progress)
            state.wall_s = wall_before + time.monotonic() - started
            done_here += 1
            if config.average_epochs:
                _add_to_stage_sum(net, state)
            if dist.is_main:
                _save_progress(run_dir, state, net, run_id, config.average_epochs)
            progress({"event": "epoch", **state.epochs[-1], "epochs": stage.epochs,
                      "eta_s": _eta(state, stages, started, done_here)})
        # a stage that trained enters the average (unless its epochs did)
        summed = validation is not None and config.average_stages and not config.average_epochs
        if validation is None:
            validation = last_validation or validate_run(net, data, config, dist)
        else:  # clicks are costlier than patches: stages, not epochs, are judged by them
            validation = with_click(validation, net, data, config)
        last_validation = validation
        record = _record_stage(net, state, stage, validation, config.select_by)
        if summed:
            _add_to_stage_sum(net, state)
        state.stage, state.epoch, state.optimizer = state.stage + 1, 0, None
        state.wall_s = wall_before + time.monotonic() - started
        if dist.is_main:
            if record["best"]:
                save_best(run_dir, state.best_weights)
            _save_progress(run_dir, state, net, run_id, summed)
        progress({"event": "stage_end", **record})
    if config.average_stages and state.stage_count > 1:
        progress({"event": "stage_end", **_average_stages(net, state, data, dist, config)})
    return state
