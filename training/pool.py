"""Patch pools: every site cut once per epoch (or once for validation), ready to batch.

Patches are cut with ``noduleseg.core.patches`` and encoded with ``core.windowing`` exactly as
inference does. A pool is cut before its epoch so the training loop only moves tensors.
Each patch carries a loss weight per pixel: 0 on other nodules (a nodule is never background,
even when the patch teaches another) and, with ``ignore_past_crop``, past a crop's edge. Each
patch draws its randomness from (seed, stage, epoch, position), so a resumed epoch and each
process under DDP cut exactly the patches an uninterrupted, single-process run would.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from noduleseg.core.model_io import InputSpec
from noduleseg.core.patches import PatchGeometry, inside_patch, sample_mask_patch, sample_planes
from noduleseg.core.windowing import encode_planes

from .augment import Augmentation, augment
from .data import TrainCase
from .sampling import Site

SCALE_JITTER = 1.1  # training scales reach 10% past both ends of the inference ladder


@dataclass(frozen=True, eq=False)
class PatchPool:
    """Cut patches.

    Attributes:
        hu: float32 (n, C, P, P) HU, one plane per input channel.
        mask: uint8 (n, P, P) target.
        weight: uint8 (n, P, P), 1 where the pixel counts in the loss and the Dice.
        sites: Index into the site list for each patch.
        mm_per_px: The scale each patch was cut at.
    """

    hu: np.ndarray
    mask: np.ndarray
    weight: np.ndarray
    sites: np.ndarray
    mm_per_px: np.ndarray

    def __len__(self) -> int:
        return len(self.hu)

    def fingerprint(self) -> str:
        """sha256 of the patches and targets: equal pools validate identically."""
        digest = hashlib.sha256()
        for array in (self.hu, self.mask, self.weight, self.sites, self.mm_per_px):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def batch(self, indices: np.ndarray, spec: InputSpec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Model input (b, C, P, P), float target and float pixel weight (b, 1, P, P)."""
        image = torch.from_numpy(encode_planes(self.hu[indices], spec.windows))
        target = torch.from_numpy(self.mask[indices, None].astype(np.float32))
        weight = torch.from_numpy(self.weight[indices, None].astype(np.float32))
        return image, target, weight


def draw_scale(spec: InputSpec, rng: np.random.Generator) -> float:
    """A scale log-uniform between the ladder's finest and coarsest step, 10% beyond each."""
    low, high = min(spec.mm_per_px) / SCALE_JITTER, max(spec.mm_per_px) * SCALE_JITTER
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


@dataclass(frozen=True)
class CropHandling:
    """What a patch shows past a crop's edge, and whether those pixels count.

    Attributes:
        fill: ``air``, ``reflect`` or ``mixed`` (``TrainConfig.crop_fill``).
        ignore_past_edge: Pixels past the edge carry no loss.
    """

    fill: str = "air"
    ignore_past_edge: bool = True

    def reflects(self, rng: np.random.Generator) -> bool:
        return self.fill == "reflect" or (self.fill == "mixed" and bool(rng.integers(2)))


def cut(case: TrainCase, site: Site, mm_per_px: float, shift_mm: tuple[float, float], spec: InputSpec,
        crop: CropHandling = CropHandling(), reflect: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HU planes (C, P, P), target (P, P) and pixel weight (P, P) of one site at one scale,
    centre moved by ``shift_mm`` (row, col); a crop is mirrored past its edge with ``reflect``."""
    spacing_yx = case.volume.spacing_zyx[1:]
    center = (site.center_ji[0] + shift_mm[0] / spacing_yx[0], site.center_ji[1] + shift_mm[1] / spacing_yx[1])
    geometry = PatchGeometry(center, mm_per_px, spec.patch_px, spacing_yx)
    hu = sample_planes(case.volume.hu, site.k, geometry, spec.offsets_k(case.volume.spacing_zyx[0]),
                       reflect=reflect and case.is_crop)
    labels = case.labels[site.k]
    mask = (sample_mask_patch(labels == site.nodule, geometry) if site.nodule
            else np.zeros((spec.patch_px, spec.patch_px), dtype=bool))
    others = (labels > 0) & (labels != site.nodule)
    weight = ~sample_mask_patch(others, geometry) if others.any() else np.ones_like(mask)
    if case.is_crop and crop.ignore_past_edge:
        weight &= inside_patch(labels.shape, geometry)
    return hu, mask.astype(np.uint8), weight.astype(np.uint8)


def _empty(n: int, spec: InputSpec) -> PatchPool:
    size = spec.patch_px
    return PatchPool(np.zeros((n, len(spec.windows), size, size), np.float32), np.zeros((n, size, size), np.uint8),
                     np.ones((n, size, size), np.uint8), np.zeros(n, np.int64), np.zeros(n, np.float32))


def training_pool(cases: Sequence[TrainCase], sites: Sequence[Site], spec: InputSpec, jitter_mm: float,
                  order: np.ndarray, key: Sequence[int], settings: Augmentation = Augmentation(),
                  crop: CropHandling = CropHandling()) -> PatchPool:
    """Cut ``sites[order[n]]`` for every n with random scale, jitter and augmentation.

    Args:
        cases: The cases the sites refer to.
        sites: All training sites.
        spec: Patch size and scale ladder.
        jitter_mm: Largest centre shift.
        order: Site indices to cut, in batch order (one epoch's shuffled share).
        key: (seed, stage, epoch, ...) prefix of every patch's random stream.
        settings: Augmentation ranges.
        crop: How crops are filled past their edge.
    """
    pool = _empty(len(order), spec)
    for n, position in enumerate(order):
        rng = np.random.default_rng([*key, int(position), n])
        site = sites[int(position)]
        angle, radius = rng.uniform(0, 2 * math.pi), jitter_mm * math.sqrt(rng.uniform())
        scale = draw_scale(spec, rng)
        shift = (radius * math.sin(angle), radius * math.cos(angle))
        hu, mask, weight = cut(cases[site.case], site, scale, shift, spec, crop, crop.reflects(rng))
        pool.hu[n], (pool.mask[n], pool.weight[n]) = augment(hu, np.stack([mask, weight]), rng, settings)
        pool.sites[n], pool.mm_per_px[n] = position, scale
    return pool


def validation_pool(cases: Sequence[TrainCase], sites: Sequence[Site], spec: InputSpec,
                    jitter_mm: float, seed: int) -> PatchPool:
    """Every site at every ladder scale, with a fixed small jitter and no augmentation; a crop
    shows air past its edge (as inference on a crop sees it), and those pixels do not count."""
    pool = _empty(len(sites) * len(spec.mm_per_px), spec)
    n = 0
    for position, site in enumerate(sites):
        rng = np.random.default_rng([seed, 99, position])
        shift = tuple(rng.uniform(-jitter_mm / 2, jitter_mm / 2, 2))
        for scale in spec.mm_per_px:
            pool.hu[n], pool.mask[n], pool.weight[n] = cut(cases[site.case], site, scale, shift, spec)
            pool.sites[n], pool.mm_per_px[n] = position, scale
            n += 1
    return pool
