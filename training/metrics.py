"""Loss and validation Dice.

The selection metric ``dice`` is the mean over validation nodules of each nodule's Dice pooled
over all its patches, the empty slices beyond its ends included: a model that over-segments in
z loses there, and a small (simulated) nodule weighs as much as a large one. ``global_dice``
pools every validation patch, hard negatives included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from noduleseg.core.metrics import dice_from_sums
from noduleseg.core.model_io import DEFAULT_THRESHOLD, InputSpec

from .distributed import DistContext
from .pool import PatchPool
from .sampling import Site


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor, patch_share: float = 0.0,
                  full_weight_px: float = 0.0, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice (empty targets are fine), over the pixels ``weight``
    keeps (1) and not those it drops (0: other nodules, past a crop's edge).

    The Dice term mixes the Dice pooled over the whole batch with the mean of each patch's own
    Dice over the patches whose target holds a nodule, ``patch_share`` being the latter's weight.
    Per patch, a small or faint nodule's outline weighs as much as a large one's, and the empty
    patches (past a nodule's end, hard negatives) are left to the other terms. A patch whose
    target is smaller than ``full_weight_px`` pixels (a nodule's tip on its end slice) weighs
    in that mean in proportion to its area.
    """
    if weight is None:
        weight = torch.ones_like(target)
    bce = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight).sum() / weight.sum().clamp(min=1.0)
    probability = torch.sigmoid(logits) * weight
    target = target * weight
    pooled = 1.0 - soft_dice(probability, target, tuple(range(target.ndim)))
    if patch_share == 0.0:
        return bce + pooled
    dims = tuple(range(1, target.ndim))
    area = target.sum(dims)
    present = area > 0
    if not present.any():
        return bce + (1.0 - patch_share) * pooled
    share = area[present] / full_weight_px if full_weight_px > 0 else torch.ones_like(area[present])
    share = share.clamp(max=1.0)
    per_patch = 1.0 - soft_dice(probability[present], target[present], dims)
    per_patch = (share * per_patch).sum() / share.sum()
    return bce + (1.0 - patch_share) * pooled + patch_share * per_patch


def soft_dice(probability: torch.Tensor, target: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Soft Dice summed over ``dims`` (smoothed by 1, so empty against empty is 1)."""
    intersection = (probability * target).sum(dims)
    return (2 * intersection + 1.0) / (probability.sum(dims) + target.sum(dims) + 1.0)


@dataclass(frozen=True)
class Validation:
    """Validation result.

    Attributes:
        dice: Mean per-nodule patch Dice; NaN without validation nodules.
        global_dice: Dice pooled over every validation patch.
        per_nodule: (case index, nodule label, Dice) per validation nodule.
        click_dice: Mean 3D Dice of click-to-segment from each validation nodule's centre
            (``TrainConfig.select_by = "click"``), else None.
    """

    dice: float
    global_dice: float
    per_nodule: tuple[tuple[int, int, float], ...]
    click_dice: float | None = None

    def score(self, select_by: str) -> float:
        """The figure stages and epochs are chosen by (NaN counts as the worst)."""
        value = self.click_dice if select_by == "click" and self.click_dice is not None else self.dice
        return value if value == value else float("-inf")


def patch_sums(net: torch.nn.Module, pool: PatchPool, spec: InputSpec, device: torch.device,
               dist: DistContext, threshold: float = DEFAULT_THRESHOLD, batch_size: int = 32) -> np.ndarray:
    """(n, 3) true positives, predicted and target pixels per patch (sharded over processes),
    the prediction cut where the probability reaches ``threshold``."""
    cut = math.log(threshold / (1.0 - threshold))  # the same cut on the logits
    sums = torch.zeros((len(pool), 3), dtype=torch.float64, device=device)
    mine = np.arange(dist.rank, len(pool), dist.world)
    net.eval()
    with torch.inference_mode():
        for start in range(0, len(mine), batch_size):
            indices = mine[start:start + batch_size]
            image, target, weight = pool.batch(indices, spec)
            with dist.autocast():
                image = image.to(device).contiguous(memory_format=dist.memory_format())
                predicted = (net(image) >= cut).to(torch.float64) * weight.to(device, torch.float64)
            target = target.to(device, torch.float64)
            sums[torch.from_numpy(indices).to(device)] = torch.stack(
                [(predicted * target).sum((1, 2, 3)), predicted.sum((1, 2, 3)), target.sum((1, 2, 3))], dim=1)
    dist.all_reduce_sum(sums)
    return sums.cpu().numpy()


def validate(net: torch.nn.Module, pool: PatchPool, sites: Sequence[Site], spec: InputSpec,
             device: torch.device, dist: DistContext, threshold: float = DEFAULT_THRESHOLD) -> Validation:
    """Per-nodule and global Dice of ``net`` on the validation pool, cut at ``threshold``."""
    if len(pool) == 0:
        return Validation(float("nan"), float("nan"), ())
    sums = patch_sums(net, pool, spec, device, dist, threshold)
    keys = [(sites[s].case, sites[s].nodule) for s in pool.sites]
    per_nodule = []
    for key in sorted({k for k in keys if k[1] > 0}):
        rows = sums[[n for n, k in enumerate(keys) if k == key]].sum(axis=0)
        per_nodule.append((int(key[0]), int(key[1]), dice_from_sums(*rows)))
    mean = float(np.mean([d for _, _, d in per_nodule])) if per_nodule else float("nan")
    return Validation(mean, dice_from_sums(*sums.sum(axis=0)), tuple(per_nodule))
