"""How outlines are scored, in one place: Dice, the 95% Hausdorff distance, volume error, the
size bands and texture classes nodules are grouped by, and bootstrap intervals over patients.

Training's validation, ``noduleseg-train evaluate`` and the app's model comparison all score
here, so a figure means the same wherever it is printed. Pure functions on arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence

import numpy as np
from scipy import ndimage

# Size bands by nodule diameter (mm): the LIDC readers' median diameter where the case carries
# it (their longest axial diameter), else the reference mask's long axis (``core.measure``).
SIZE_BANDS: tuple[tuple[float, float, str], ...] = (
    (0.0, 6.0, "<6 mm"), (6.0, 10.0, "6-10 mm"), (10.0, 20.0, "10-20 mm"), (20.0, math.inf, ">=20 mm"))
# LIDC texture (1 ground glass .. 5 solid; a median of readers, so halves occur): up to 2 is
# ground glass, from 4 solid, between part-solid (51 / 24 / 693 of the shared crops).
TEXTURES = ("ground glass", "part-solid", "solid")
GROUND_GLASS_MAX, SOLID_MIN = 2.0, 4.0


def dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two boolean masks of one shape; 1.0 when both are empty."""
    if predicted.shape != truth.shape:
        raise ValueError(f"masks differ in shape: {predicted.shape} and {truth.shape}")
    return dice_from_sums(np.count_nonzero(predicted & truth), np.count_nonzero(predicted),
                          np.count_nonzero(truth))


def dice_from_sums(true_positive: float, predicted: float, target: float) -> float:
    """Dice from voxel counts (or sums); 1.0 when prediction and target are both empty."""
    total = float(predicted) + float(target)
    return 1.0 if total == 0 else 2.0 * float(true_positive) / total


def _surface(mask: np.ndarray) -> np.ndarray:
    """The mask's voxels that touch the background (face connectivity)."""
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def surface_distances_mm(a: np.ndarray, b: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Distance (mm) from every surface voxel of ``a`` to the nearest surface voxel of ``b``."""
    surface_b = _surface(b)
    to_b = ndimage.distance_transform_edt(~surface_b, sampling=tuple(float(s) for s in spacing))
    return to_b[_surface(a)]


def hd95_mm(predicted: np.ndarray, truth: np.ndarray, spacing: Sequence[float]) -> float:
    """The 95th percentile of the symmetric surface distances (mm), both directions pooled.

    NaN when either mask is empty (no surface to measure from). ``spacing`` is per array axis.
    """
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    if predicted.shape != truth.shape:
        raise ValueError(f"masks differ in shape: {predicted.shape} and {truth.shape}")
    if not predicted.any() or not truth.any():
        return float("nan")
    distances = np.concatenate([surface_distances_mm(predicted, truth, spacing),
                                surface_distances_mm(truth, predicted, spacing)])
    return float(np.percentile(distances, 95))


def volume_error_pct(predicted_voxels: int, true_voxels: int) -> float:
    """Signed volume error in percent of the true volume (same voxel size)."""
    if true_voxels <= 0:
        raise ValueError("the true mask is empty")
    return 100.0 * (predicted_voxels - true_voxels) / true_voxels


def size_band(diameter_mm: float) -> str:
    """The size band (``SIZE_BANDS``) of a nodule diameter."""
    return next(name for low, high, name in SIZE_BANDS if low <= diameter_mm < high)


def texture_class(lidc_texture: float | None) -> str | None:
    """Ground glass, part-solid or solid from a LIDC texture rating (None when unknown)."""
    if lidc_texture is None or not math.isfinite(lidc_texture):
        return None
    if lidc_texture <= GROUND_GLASS_MAX:
        return TEXTURES[0]
    return TEXTURES[2] if lidc_texture >= SOLID_MIN else TEXTURES[1]


def bootstrap_ci(values: Sequence[float], clusters: Sequence[Hashable], *, resamples: int = 2000,
                 statistic: Callable[[np.ndarray], float] = np.mean, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """A statistic of ``values`` and its percentile bootstrap interval, resampling clusters.

    Nodules of one patient are not independent, so whole patients are drawn with replacement
    (``clusters``: one patient id per value) and the statistic taken over their nodules.

    Returns:
        (estimate, low, high); NaNs when there are no values.
    """
    values = np.asarray(values, dtype=float)
    if len(values) != len(clusters):
        raise ValueError(f"{len(values)} values but {len(clusters)} cluster ids")
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    keys = sorted(set(clusters), key=str)
    members = [np.flatnonzero([c == key for c in clusters]) for key in keys]
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for n in range(resamples):
        chosen = rng.integers(len(keys), size=len(keys))
        draws[n] = statistic(values[np.concatenate([members[c] for c in chosen])])
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(statistic(values)), float(low), float(high)
