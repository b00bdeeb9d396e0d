"""The training configuration: one frozen dataclass, filled by defaults, a TOML file and flags."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from noduleseg.core.errors import NodulesegError
from noduleseg.core.model_io import DEFAULT_PEAK_SHARE, DEFAULT_THRESHOLD
from noduleseg.core.unet import DECODER_NORMS
from noduleseg.core.windowing import INPUT_WINDOWS, MODEL_WINDOWS

from .augment import Augmentation

STRATEGIES = ("scratch", "frozen", "finetune", "bsft", "lsft")
LR_SCHEDULES = ("cosine", "constant")
CROP_FILLS = ("air", "reflect", "mixed")
SELECTIONS = ("patch", "click")


class ConfigError(NodulesegError):
    """A configuration file or flag has a value training cannot use."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run does (recorded in the model card).

    The defaults are the recipe measured best on the validation split of the real LIDC nodules
    (``docs/results/real-nodules.md``), so a retrain from the app fine-tunes the way the
    shipped model was trained.

    Attributes:
        strategy: One of ``STRATEGIES``.
        seed: Seeds the split, the sampling, the simulation and the initialisation.
        val_fraction: Share of patients (scans) held out for validation (without ``split``).
        split: A committed split (``lidc``) or split JSON file: its validation patients validate,
            its test patients are left out, all others train. Empty: patients ranked by hash,
            ``val_fraction`` of them validate.
        patch_px: Patch side in pixels (multiple of 16).
        input_windows: The HU window of each of the three input channels of a network built
            here (names from ``core.windowing.INPUT_WINDOWS``; a parent keeps its own).
        slice_offsets_mm: Where each input channel's plane lies along z from the patch's
            slice, in mm (all 0: 2D; e.g. -2.5,0,2.5: 2.5D); a parent keeps its own.
        mm_per_px: The inference scale ladder, finest first; training draws scales between
            its finest and coarsest step.
        decoder_widths: Decoder widths of a network built here (a parent keeps its own).
        decoder_norm: The decoder's normalisation, ``batch``, ``group`` or ``none`` (likewise).
        batch_size: Patches per optimiser step (per process under DDP).
        repeats: How often every training site is cut per epoch (fresh jitter/augmentation).
        jitter_mm: Largest shift of a patch centre from the nodule's slice centroid.
        beyond_end_slices: Empty slices sampled just above and below each nodule.
        negative_ratio: Hard negatives (vessels, pleura, airway walls) per nodule site.
        synthetic: Simulated nodules placed into the scans (spread over all cases).
        synthetic_diameter_mm: Diameter range of the shapes drawn for simulation.
        crop_fill: What a patch shows past the edge of a crop (a case cut around one nodule):
            ``air`` (as inference on a crop sees it), ``reflect`` (the crop mirrored at its
            edge, like tissue going on) or ``mixed`` (either, drawn per patch).
        ignore_past_crop: Pixels past a crop's edge carry no loss, so the model is never taught
            what lies there and cannot learn the crop's edge as the nodule's.
        noise_hu, contrast, kernel: Augmentation ranges (``augment.Augmentation``): largest
            noise sd (HU), relative contrast change, blur/sharpen strength.
        lr: Learning rate of the decoder and head (Adam).
        encoder_lr_factor: Encoder learning rate relative to ``lr`` (deepest block).
        block_lr_decay: Further factor per block towards the input (shallower = lower).
        stage_lr_decay: Factor applied to ``lr`` from one stage to the next.
        lr_schedule: Within each stage: ``cosine`` (every group's rate falls along a half
            cosine from its start value to ``lr_floor`` times it, by step) or ``constant``.
        lr_floor: The cosine schedule's last rate as a share of the first.
        weight_decay: Adam weight decay.
        patch_dice_share: The loss is cross-entropy plus soft Dice; the Dice term's share that is
            averaged over the patches holding a nodule rather than pooled over the batch
            (``metrics.dice_bce_loss``).
        patch_dice_full_px: In that per-patch mean, a patch whose target has fewer pixels
            weighs in proportion to its area (0: every patch weighs the same).
        threshold: The probability the outline is cut at in patch validation; through the card,
            the probability at which click-to-segment finds a nodule.
        peak_share: Through the card, the share of a nodule's own peak probability its outline
            is cut at in click-to-segment (0: at ``threshold``).
        select_by: What chooses the stage (and is reported per epoch): ``patch`` (mean
            per-nodule Dice of the validation patches) or ``click`` (mean 3D Dice of
            click-to-segment from each validation nodule's centre, as the app outlines it).
        tune_cut: Peak shares tried after training by click validation; the best goes on the
            card instead of ``peak_share`` (empty: ``peak_share`` stays).
        epochs: Epochs of the one-stage strategies (scratch, frozen, finetune).
        stage_epochs: Epochs per BSFT stage: one value for all, or one per stage.
        average_stages: The result is the mean of the final weights of every stage that
            trained (weight averaging along the release), not the best stage's weights.
        average_epochs: With ``average_stages``, the mean takes every epoch's final weights
            instead of every stage's (as stochastic weight averaging does).
        layer_stage_epochs: Epochs per LSFT stage: one value for all, or one per stage.
        device: ``auto``, ``cpu`` or ``cuda``.
        amp: Mixed precision (bfloat16 autocast) on CUDA.
    """

    strategy: str = "bsft"
    seed: int = 0
    val_fraction: float = 0.34
    split: str = ""
    patch_px: int = 64
    input_windows: tuple[str, ...] = tuple(w.name for w in MODEL_WINDOWS)
    slice_offsets_mm: tuple[float, ...] = (0.0, 0.0, 0.0)
    mm_per_px: tuple[float, ...] = (0.5, 1.0)
    decoder_widths: tuple[int, ...] = (256, 128, 64, 32)
    decoder_norm: str = "none"
    batch_size: int = 16
    repeats: int = 1
    jitter_mm: float = 3.0
    beyond_end_slices: int = 2
    negative_ratio: float = 0.5
    synthetic: int = 0
    synthetic_diameter_mm: tuple[float, float] = (3.0, 15.0)
    crop_fill: str = "mixed"
    ignore_past_crop: bool = True
    noise_hu: float = Augmentation.noise_hu
    contrast: float = Augmentation.contrast
    kernel: float = Augmentation.kernel
    lr: float = 1e-4
    encoder_lr_factor: float = 1.0
    block_lr_decay: float = 0.55
    stage_lr_decay: float = 1.0
    lr_schedule: str = "cosine"
    lr_floor: float = 0.05
    weight_decay: float = 1e-5
    patch_dice_share: float = 1.0
    patch_dice_full_px: float = 0.0
    threshold: float = DEFAULT_THRESHOLD
    peak_share: float = DEFAULT_PEAK_SHARE
    select_by: str = "click"
    tune_cut: tuple[float, ...] = ()
    epochs: int = 10
    stage_epochs: tuple[int, ...] = (2,)
    average_stages: bool = False
    average_epochs: bool = False
    layer_stage_epochs: tuple[int, ...] = (1,)
    device: str = "auto"
    amp: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.strategy not in STRATEGIES:
            problems.append(f"strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if self.patch_px <= 0 or self.patch_px % 16:
            problems.append(f"patch_px {self.patch_px} must be a positive multiple of 16")
        if len(self.input_windows) != 3 or not set(self.input_windows) <= set(INPUT_WINDOWS):
            problems.append(f"input_windows {', '.join(self.input_windows)} must be three of "
                            f"{', '.join(INPUT_WINDOWS)}")
        if len(self.slice_offsets_mm) != 3 or max(map(abs, self.slice_offsets_mm), default=0) > 20:
            problems.append(f"slice_offsets_mm {self.slice_offsets_mm} must be three offsets within 20 mm")
        if not self.mm_per_px or any(v <= 0 for v in self.mm_per_px):
            problems.append("mm_per_px must list positive scales, finest first")
        if not 0.0 <= self.val_fraction < 1.0:
            problems.append(f"val_fraction {self.val_fraction} must be in [0, 1)")
        if self.batch_size < 1 or self.repeats < 1:
            problems.append("batch_size and repeats must be at least 1")
        if self.select_by not in SELECTIONS:
            problems.append(f"select_by {self.select_by!r} is not one of {', '.join(SELECTIONS)}")
        if not all(0.0 <= v < 1.0 for v in (self.peak_share, *self.tune_cut)):
            problems.append("peak_share and tune_cut values must be in [0, 1)")
        if self.crop_fill not in CROP_FILLS:
            problems.append(f"crop_fill {self.crop_fill!r} is not one of {', '.join(CROP_FILLS)}")
        if self.decoder_norm not in DECODER_NORMS:
            problems.append(f"decoder_norm {self.decoder_norm!r} is not one of {', '.join(DECODER_NORMS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule {self.lr_schedule!r} is not one of {', '.join(LR_SCHEDULES)}")
        if not 0.0 <= self.patch_dice_share <= 1.0:
            problems.append(f"patch_dice_share {self.patch_dice_share} must be in [0, 1]")
        if self.patch_dice_full_px < 0:
            problems.append(f"patch_dice_full_px {self.patch_dice_full_px} cannot be negative")
        if not 0.0 < self.threshold < 1.0:
            problems.append(f"threshold {self.threshold} must be between 0 and 1")
        if not 0.0 <= self.lr_floor <= 1.0:
            problems.append(f"lr_floor {self.lr_floor} must be in [0, 1]")
        if self.average_epochs and not self.average_stages:
            problems.append("average_epochs needs average_stages")
        if self.device not in ("auto", "cpu", "cuda"):
            problems.append(f"device {self.device!r} must be auto, cpu or cuda")
        if min(self.stage_epochs + self.layer_stage_epochs + (self.epochs,)) < 0:
            problems.append("epochs cannot be negative")
        if problems:
            raise ConfigError("; ".join(problems))

    def augmentation(self) -> Augmentation:
        return Augmentation(noise_hu=self.noise_hu, contrast=self.contrast, kernel=self.kernel)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Short hash of the configuration (names a run folder)."""
        text = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Bring a TOML or flag value to the type of the field's default."""
    try:
        if isinstance(default, tuple):
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            kind = type(default[0]) if default else float
            return tuple(kind(v) for v in items)
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        return type(default)(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config value {name} = {value!r} is not a {type(default).__name__}") from None


def make_config(toml_path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the ``[train]`` table (or top level) of a TOML file, then flags.

    Args:
        toml_path: Optional TOML file; unknown keys are refused.
        overrides: Field values from flags; ``None`` means "not given".

    Raises:
        ConfigError: An unknown key, a value of the wrong type or an invalid combination.
    """
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    values: dict[str, Any] = {}
    if toml_path is not None:
        try:
            table = tomllib.loads(Path(toml_path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"{toml_path}: cannot read the config ({error})") from None
        values.update(table.get("train", table))
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown config keys: {', '.join(unknown)} (known: {', '.join(defaults)})")
    return TrainConfig(**{k: _coerce(k, v, defaults[k]) for k, v in values.items()})
