"""Propagation: a nodule grown from its seed slice up and down, slice by slice, and the rules
that say where it ends.

Slices above and below are segmented in batches, each patch centred on the last accepted
slice's centroid, keeping only what overlaps the previous slice's mask (dilated by one pixel),
until nothing is left, the area collapses or grows again after shrinking, or the outline jumps
sideways onto another structure.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from .model_io import LoadedModel
from .patches import PatchGeometry
from .planes import Plane, cut_native, predict, reframe
from .volume import Volume

COLLAPSE_FRACTION = 0.1  # a slice with less than this share of the largest area ends the nodule
# A vessel leaving the nodule: the area drops below TAIL_FRACTION of the largest and then stops
# shrinking (a nodule's end keeps shrinking to nothing).
TAIL_FRACTION = 0.25
PLATEAU_FRACTION = 0.85
# A nodule's outline moves little from one slice to the next; where its centre jumps by more
# than this share of the outline's radius (the larger of the two slices'), the outline has run
# onto another structure (a vessel beside the nodule, the diaphragm's partial volume) and the
# nodule ends. Measured leave-one-scan-out, docs/results/recipes.md ("Where a nodule ends").
MAX_SHIFT_PER_RADIUS = 0.8
# A touching neighbour beyond the nodule's end: along one direction the area shrinks below
# REGROWTH_FALL of its peak, then grows to more than REGROWTH_RISE times the smallest since.
REGROWTH_FALL = 0.6
REGROWTH_RISE = 1.5
MAX_Z_PER_DIAMETER = 1.5  # never further from the seed than this many largest in-plane diameters
MAX_EXTENT_MM = 60.0  # propagation never runs further than this from the seed (lesions <= 50 mm)
BATCH_PER_DIRECTION = 4
FIRST_BATCH_RANGE = (2, 8)

Progress = Callable[[float], None]
Cancel = Callable[[], bool]


class SegmentationCancelled(Exception):
    """The caller's ``cancel`` callback asked to stop; not a user error."""


def _follow(volume: Volume, previous: Plane, k: int, probability: np.ndarray, geometry: PatchGeometry,
            threshold: float) -> Plane | None:
    """The part of slice k's prediction that overlaps the previous slice's (dilated) mask."""
    box, native = cut_native(probability, geometry, volume.shape_zyx[1:], threshold)
    labels, _ = ndimage.label(native)
    anchor = reframe(ndimage.binary_dilation(previous.mask), previous.box, box)
    touching = np.unique(labels[anchor & native])
    if touching.size == 0:
        return None
    return Plane(k, box, np.isin(labels, touching))


def _first_batch(seed: Plane, spacing_zyx: tuple[float, float, float]) -> int:
    """Slices per direction in the first batch: about the seed slice's radius, in slices."""
    radius_mm = math.sqrt(seed.area_px * spacing_zyx[1] * spacing_zyx[2] / math.pi)
    low, high = FIRST_BATCH_RANGE
    return int(min(high, max(low, math.ceil(radius_mm / spacing_zyx[0]) + 1)))


def _requests(fronts: dict[int, Plane], seed_k: int, batch: int, n_slices: int,
              max_steps: int) -> list[tuple[int, int, tuple[float, float]]]:
    """(direction, k, centre_ji) for the next ``batch`` slices of each live direction."""
    requests = []
    for direction, front in fronts.items():
        centre = front.centroid_ji
        for step in range(1, batch + 1):
            k = front.k + direction * step
            if 0 <= k < n_slices and abs(k - seed_k) <= max_steps:
                requests.append((direction, k, centre))
    return requests


def propagate(volume: Volume, model: LoadedModel, mm_per_px: float, threshold: float, seed: Plane,
              progress: Progress | None, cancel: Cancel | None) -> dict[int, Plane]:
    """Grow the nodule from the seed slice up and down, batch by batch.

    Returns:
        Slice index -> the nodule's plane on it, the seed's included.

    Raises:
        SegmentationCancelled: ``cancel`` returned True between batches.
    """
    planes = {seed.k: seed}
    fronts = {+1: seed, -1: seed}
    profiles = {+1: (seed.area_px, seed.area_px), -1: (seed.area_px, seed.area_px)}
    largest = seed.area_px
    max_steps = int(MAX_EXTENT_MM / volume.spacing_zyx[0])
    batch = _first_batch(seed, volume.spacing_zyx)
    expected = 2 * batch + 1
    while fronts:
        check_cancel(cancel)
        requests = _requests(fronts, seed.k, batch, volume.shape_zyx[0], max_steps)
        if not requests:
            break
        geometries, probability = predict(volume, model, [(k, c) for _, k, c in requests], mm_per_px)
        for (direction, k, _), geometry, values in zip(requests, geometries, probability):
            if direction not in fronts or fronts[direction].k != k - direction:
                continue
            plane = _follow(volume, fronts[direction], k, values, geometry, threshold)
            if plane is None or not _continues(plane, fronts[direction], profiles[direction], largest,
                                               seed.k, volume.spacing_zyx):
                del fronts[direction]
                continue
            planes[k], fronts[direction] = plane, plane
            profiles[direction] = _profile_after(profiles[direction], plane.area_px)
            largest = max(largest, plane.area_px)
        fronts = {d: p for d, p in fronts.items() if _has_next(p, d, volume, seed.k, max_steps)}
        batch = BATCH_PER_DIRECTION
        report(progress, 0.1 + 0.85 * min(1.0, len(planes) / expected))
    return planes


def _continues(plane: Plane, previous: Plane, profile: tuple[int, int], largest_px: int, seed_k: int,
               spacing_zyx: tuple[float, float, float]) -> bool:
    """Whether slice ``plane`` still belongs to the nodule grown so far (``profile``: the peak
    area along this direction and the smallest since)."""
    area = plane.area_px
    if _regrows(area, *profile):
        return False
    if area < COLLAPSE_FRACTION * largest_px:
        return False
    if area < TAIL_FRACTION * largest_px and area >= PLATEAU_FRACTION * previous.area_px:
        return False
    if _jumps(plane, previous, spacing_zyx[1:]):
        return False
    diameter_mm = 2.0 * math.sqrt(largest_px * spacing_zyx[1] * spacing_zyx[2] / math.pi)
    return abs(plane.k - seed_k) * spacing_zyx[0] <= MAX_Z_PER_DIAMETER * diameter_mm + spacing_zyx[0]


def _regrows(area_px: int, peak_px: int, trough_px: int) -> bool:
    """Whether the area grows again after shrinking well below its peak: a second structure."""
    return trough_px < REGROWTH_FALL * peak_px and area_px > REGROWTH_RISE * trough_px


def _profile_after(profile: tuple[int, int], area_px: int) -> tuple[int, int]:
    """(peak, smallest since the peak) of the area along one direction, one slice further."""
    peak_px, trough_px = profile
    return (area_px, area_px) if area_px > peak_px else (peak_px, min(trough_px, area_px))


def _jumps(plane: Plane, previous: Plane, spacing_yx: tuple[float, float]) -> bool:
    """Whether the outline's centre moves by more than ``MAX_SHIFT_PER_RADIUS`` of its radius."""
    (r0, c0), (r1, c1) = previous.centroid_ji, plane.centroid_ji
    shift_mm = math.hypot((r1 - r0) * spacing_yx[0], (c1 - c0) * spacing_yx[1])
    radius_px = max(math.sqrt(max(plane.area_px, previous.area_px) / math.pi), 1.0)
    radius_mm = radius_px * math.sqrt(spacing_yx[0] * spacing_yx[1])
    return shift_mm > MAX_SHIFT_PER_RADIUS * radius_mm


def _has_next(front: Plane, direction: int, volume: Volume, seed_k: int, max_steps: int) -> bool:
    k = front.k + direction
    return 0 <= k < volume.shape_zyx[0] and abs(k - seed_k) <= max_steps


def report(progress: Progress | None, fraction: float) -> None:
    if progress is not None:
        progress(float(fraction))


def check_cancel(cancel: Cancel | None) -> None:
    if cancel is not None and cancel():
        raise SegmentationCancelled("segmentation cancelled")

