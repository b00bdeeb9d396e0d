"""Where patches are cut: sites on every nodule slice, just beyond each nodule's ends, and on
hard negatives (vessels, pleura, airway walls) at a configured ratio.

A site is a slice and a centre; the patch itself (scale, jitter, augmentation) is drawn per
epoch in ``pool.py``. The empty slices beyond a nodule's ends are centred where inference would
look for it (the centroid of the nearest end slice), so the model learns where a nodule stops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .data import TrainCase
from .lung import hard_negative_voxels, lung_mask

NODULE, BEYOND, NEGATIVE = "nodule", "beyond", "negative"


@dataclass(frozen=True)
class Site:
    """One patch position.

    Attributes:
        case: Index of the case in the case list.
        k: Slice index.
        center_ji: Patch centre (row, column) on the slice.
        nodule: Label of the nodule the target shows (0: the target is empty).
        kind: ``nodule``, ``beyond`` (empty slice past a nodule's end) or ``negative``.
    """

    case: int
    k: int
    center_ji: tuple[float, float]
    nodule: int
    kind: str


def nodule_sites(case_index: int, labels: np.ndarray, beyond: int,
                 whole: Sequence[int] | None = None) -> list[Site]:
    """Sites on every slice of every nodule (of the ``whole`` labels, default all), plus
    ``beyond`` empty slices past each end."""
    sites = []
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None or (whole is not None and label not in whole):
            continue
        mask = labels[box] == label
        centroids = {}
        for dz in range(mask.shape[0]):
            if mask[dz].any():
                j, i = ndimage.center_of_mass(mask[dz])
                centroids[box[0].start + dz] = (j + box[1].start, i + box[2].start)
        k_first, k_last = min(centroids), max(centroids)
        sites += [Site(case_index, k, c, label, NODULE) for k, c in sorted(centroids.items())]
        for step in range(1, beyond + 1):
            for k, end in ((k_first - step, k_first), (k_last + step, k_last)):
                if 0 <= k < labels.shape[0]:
                    sites.append(Site(case_index, k, centroids[end], label, BEYOND))
    return sites


def nodule_boxes_mm(labels: np.ndarray, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """(n, 2, 3) [low, high] corners (z, y, x, mm) of every labelled nodule."""
    boxes = [[[s.start * d for s, d in zip(box, spacing_zyx)], [s.stop * d for s, d in zip(box, spacing_zyx)]]
             for box in ndimage.find_objects(labels) if box is not None]
    return np.asarray(boxes, dtype=float).reshape(-1, 2, 3)


def away_from_nodules(voxels: np.ndarray, labels: np.ndarray, spacing_zyx: tuple[float, float, float],
                      margin_mm: float) -> np.ndarray:
    """The voxels (n, 3) farther than ``margin_mm`` (in-plane; 2 slices in z) from every nodule box."""
    boxes = nodule_boxes_mm(labels, spacing_zyx)
    if not len(boxes) or not len(voxels):
        return voxels
    points = voxels * np.asarray(spacing_zyx)
    margin = np.array([2 * spacing_zyx[0], margin_mm, margin_mm])
    keep = np.ones(len(voxels), dtype=bool)
    for low, high in boxes:
        inside = np.all((points >= low - margin) & (points <= high + margin), axis=1)
        keep &= ~inside
    return voxels[keep]


def negative_sites(case_index: int, case: TrainCase, count: int, margin_mm: float,
                   rng: np.random.Generator) -> list[Site]:
    """``count`` hard-negative sites of one case (fewer where the scan has none; a crop has none:
    it holds little but its nodule)."""
    if count <= 0 or case.is_crop:
        return []
    candidates = hard_negative_voxels(case.volume.hu, lung_mask(case.volume.hu, case.volume.spacing_zyx))
    candidates = away_from_nodules(candidates, case.labels, case.volume.spacing_zyx, margin_mm)
    if not len(candidates):
        return []
    chosen = candidates[rng.choice(len(candidates), size=min(count, len(candidates)), replace=False)]
    return [Site(case_index, int(k), (float(j), float(i)), 0, NEGATIVE) for k, j, i in chosen]


def build_sites(cases: Sequence[TrainCase], beyond: int, negative_ratio: float, margin_mm: float,
                seed: int) -> list[Site]:
    """All sites of ``cases``: slices of the nodules each case holds whole, beyond-end slices and
    hard negatives.

    Args:
        cases: The cases (their order defines ``Site.case``).
        beyond: Empty slices sampled past each nodule end.
        negative_ratio: Hard negatives per nodule-slice site.
        margin_mm: Hard negatives keep this far (in-plane) from any nodule.
        seed: Seeds the choice of hard negatives.
    """
    sites: list[Site] = []
    for index, case in enumerate(cases):
        own = nodule_sites(index, case.labels, beyond, case.whole_nodules())
        n_nodule = sum(site.kind == NODULE for site in own)
        rng = np.random.default_rng([seed, index, 17])
        sites += own + negative_sites(index, case, int(round(negative_ratio * n_nodule)), margin_mm, rng)
    return sites
