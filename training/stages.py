"""Stage plans as data: which encoder parts each stage releases, for how long, at what rate.

BSFT releases the decoder and the deepest encoder block first, then one block more per stage
towards the input; LSFT does the same one convolution layer at a time. Learning rates are lower
for shallower (more generic, natural-image) parts: each parameter group gets its own rate,
and within a stage every rate follows ``TrainConfig.lr_schedule``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from noduleseg.core.unet import BsftUNet

from .config import TrainConfig


@dataclass(frozen=True)
class Stage:
    """One fine-tuning stage.

    Attributes:
        name: Short label (``decoder+enc5``, ``+enc4``, ``all``...).
        released: Encoder parts trainable in this stage (block or layer names).
        epochs: Epochs to train.
        lr: Learning rate of the decoder and head; encoder parts get less.
        scaled: Whether encoder parts get the lower, depth-scaled rates (transferred weights)
            or ``lr`` itself (random initialisation: scratch).
    """

    name: str
    released: tuple[str, ...]
    epochs: int
    lr: float
    scaled: bool = True

    def to_json(self) -> dict:
        return {"name": self.name, "released": list(self.released), "epochs": self.epochs,
                "lr": self.lr, "scaled": self.scaled}


def _per_stage(values: tuple[int, ...], n_stages: int, what: str) -> tuple[int, ...]:
    if len(values) == 1:
        return values * n_stages
    if len(values) != n_stages:
        raise ValueError(f"{what} lists {len(values)} values for {n_stages} stages")
    return values


def plan_stages(strategy: str, model: BsftUNet, config: TrainConfig) -> list[Stage]:
    """The stages of ``strategy`` for ``model``, built from its named encoder parts."""
    blocks = model.encoder_blocks()
    if strategy in ("scratch", "finetune"):
        return [Stage("all", tuple(blocks), config.epochs, config.lr, scaled=strategy != "scratch")]
    if strategy == "frozen":
        return [Stage("decoder", (), config.epochs, config.lr)]
    parts = blocks if strategy == "bsft" else model.encoder_layers()
    epochs = _per_stage(config.stage_epochs if strategy == "bsft" else config.layer_stage_epochs,
                        len(parts), f"{strategy} stage epochs")
    stages = []
    for index, part in enumerate(parts):
        name = f"decoder+{part}" if index == 0 else f"+{part}"
        lr = config.lr * config.stage_lr_decay ** index
        stages.append(Stage(name, tuple(parts[: index + 1]), epochs[index], lr))
    return stages


def part_lr(part: str, stage: Stage, config: TrainConfig) -> float:
    """Learning rate of an encoder part: lower the shallower its block (enc5 deepest)."""
    if not stage.scaled:
        return stage.lr
    depth_from_bottom = 5 - int(part.split(".")[0][len("enc"):])
    return stage.lr * config.encoder_lr_factor * config.block_lr_decay ** depth_from_bottom


def parameter_groups(model: BsftUNet, stage: Stage, config: TrainConfig) -> list[dict]:
    """Optimiser parameter groups for ``stage``: decoder + head at ``stage.lr``, each part its own.

    Call after ``model.release(stage.released)``: only trainable parameters are listed.
    """
    decoder: list[nn.Parameter] = [*model.decoder.parameters(), *model.head.parameters()]
    groups = [{"params": decoder, "lr": stage.lr, "start_lr": stage.lr, "name": "decoder"}]
    for part in stage.released:
        params = [p for p in model.encoder_part(part).parameters() if p.requires_grad]
        if params:
            lr = part_lr(part, stage, config)
            groups.append({"params": params, "lr": lr, "start_lr": lr, "name": part})
    return groups


def schedule_factor(config: TrainConfig, done: float) -> float:
    """Learning-rate factor after ``done`` (0..1) of a stage's steps under ``config.lr_schedule``.

    A stage ends at a low rate, so the weights it is judged on (its last epoch) have settled
    instead of sitting wherever the last large step left them.
    """
    if config.lr_schedule == "constant":
        return 1.0
    done = min(1.0, max(0.0, done))
    return config.lr_floor + (1.0 - config.lr_floor) * 0.5 * (1.0 + math.cos(math.pi * done))


def set_schedule(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Every group's rate at ``factor`` times its stage start rate (``start_lr``)."""
    for group in optimizer.param_groups:
        group["lr"] = group["start_lr"] * factor
