"""Nodule masks as tight crops of the scan, and the pure edits the correction tools make.

A 512x512x300 scan holds 79 M voxels; a full boolean mask per nodule would cost 79 MB, so a
mask is kept as the small box that holds it plus that box's offset: core's ``NoduleMask``, so
``core.measure`` and ``core.export`` take it as it is. Every edit returns a new crop; crops are
never changed in place, so the undo stack can share them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from noduleseg.core.nodule_mask import NoduleMask


@dataclass(frozen=True, eq=False)
class MaskCrop(NoduleMask):
    """A ``core.nodule_mask.NoduleMask`` with what the viewer asks of it per slice.

    Attributes:
        mask: bool array (z, y, x), the crop's voxels.
        offset_zyx: Index of ``mask[0, 0, 0]`` in the scan.
    """

    def slice_k(self, k: int) -> np.ndarray | None:
        """The crop's 2D mask on scan slice ``k`` (crop-sized, y, x), or None off its slices."""
        z = k - self.offset_zyx[0]
        if 0 <= z < self.mask.shape[0]:
            return self.mask[z]
        return None

    def slice_range(self) -> tuple[int, int] | None:
        """First and last scan slice holding a voxel, or None for an empty mask."""
        planes = np.flatnonzero(self.mask.any(axis=(1, 2)))
        if planes.size == 0:
            return None
        return int(planes[0] + self.offset_zyx[0]), int(planes[-1] + self.offset_zyx[0])

    def contains_zyx(self, zyx: tuple[int, int, int]) -> bool:
        local = [c - o for c, o in zip(zyx, self.offset_zyx)]
        return all(0 <= c < n for c, n in zip(local, self.mask.shape)) and bool(self.mask[tuple(local)])


def tight(crop: MaskCrop) -> MaskCrop:
    """The same mask in its smallest box."""
    nonzero = np.argwhere(crop.mask)
    if nonzero.size == 0:
        return MaskCrop(np.zeros((0, 0, 0), dtype=bool), (0, 0, 0))
    low, high = nonzero.min(axis=0), nonzero.max(axis=0) + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high))
    offset = tuple(int(o + a) for o, a in zip(crop.offset_zyx, low))
    return MaskCrop(np.ascontiguousarray(crop.mask[box]), offset)  # type: ignore[arg-type]


def grown(crop: MaskCrop, low_zyx: tuple[int, int, int], high_zyx: tuple[int, int, int]) -> MaskCrop:
    """The crop in a box that also spans [low, high) (voxels outside are False)."""
    if crop.mask.size == 0:
        shape = tuple(h - lo for lo, h in zip(low_zyx, high_zyx))
        return MaskCrop(np.zeros(shape, dtype=bool), tuple(low_zyx))  # type: ignore[arg-type]
    start = [min(o, lo) for o, lo in zip(crop.offset_zyx, low_zyx)]
    stop = [max(o + n, h) for o, n, h in zip(crop.offset_zyx, crop.mask.shape, high_zyx)]
    if start == list(crop.offset_zyx) and stop == [o + n for o, n in zip(crop.offset_zyx, crop.mask.shape)]:
        return crop
    mask = np.zeros([b - a for a, b in zip(start, stop)], dtype=bool)
    inner = tuple(slice(o - a, o - a + n) for o, a, n in zip(crop.offset_zyx, start, crop.mask.shape))
    mask[inner] = crop.mask
    return MaskCrop(mask, tuple(start))  # type: ignore[arg-type]


def disc(radius_px: float) -> np.ndarray:
    """A filled disc of ``radius_px`` pixels: bool (2r+1, 2r+1); radius 0 is one pixel."""
    r = int(np.floor(radius_px))
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return x * x + y * y <= radius_px * radius_px + 1e-9


def paint_disc(crop: MaskCrop, k: int, center_ji: tuple[float, float], radius_px: float,
               value: bool, shape_zyx: tuple[int, int, int]) -> MaskCrop:
    """Set (brush) or clear (eraser) a disc on slice ``k``; the box grows when painting.

    Args:
        crop: The mask before the dab.
        k: Scan slice.
        center_ji: Disc centre (row j, column i) in voxels.
        radius_px: Disc radius in pixels.
        value: True paints, False erases.
        shape_zyx: The scan's shape; the disc is clipped to it.

    Returns:
        A new crop (the same object when nothing changed).
    """
    footprint = disc(radius_px)
    r = footprint.shape[0] // 2
    cj, ci = int(round(center_ji[0])), int(round(center_ji[1]))
    low = (k, max(cj - r, 0), max(ci - r, 0))
    high = (k + 1, min(cj + r + 1, shape_zyx[1]), min(ci + r + 1, shape_zyx[2]))
    if not 0 <= k < shape_zyx[0] or low[1] >= high[1] or low[2] >= high[2]:
        return crop
    footprint = footprint[low[1] - (cj - r):high[1] - (cj - r), low[2] - (ci - r):high[2] - (ci - r)]
    if value:
        crop = grown(crop, low, high)
    local = [(a - o, b - o) for a, b, o in zip(low, high, crop.offset_zyx)]
    if any(b <= 0 or a >= n for (a, b), n in zip(local, crop.mask.shape)):
        return crop  # erasing outside the mask
    clipped = [(max(a, 0), min(b, n)) for (a, b), n in zip(local, crop.mask.shape)]
    foot = footprint[clipped[1][0] - local[1][0]:clipped[1][1] - local[1][0],
                     clipped[2][0] - local[2][0]:clipped[2][1] - local[2][0]]
    region = crop.mask[clipped[0][0], clipped[1][0]:clipped[1][1], clipped[2][0]:clipped[2][1]]
    if np.array_equal(region[foot], np.full(int(foot.sum()), value)):
        return crop
    mask = crop.mask.copy()
    target = mask[clipped[0][0], clipped[1][0]:clipped[1][1], clipped[2][0]:clipped[2][1]]
    target[foot] = value
    return MaskCrop(mask, crop.offset_zyx)


def fill_holes(crop: MaskCrop) -> MaskCrop:
    """Close holes in 3D and on every slice (a vessel cut out of a nodule, a brush gap)."""
    if crop.mask.size == 0:
        return crop
    filled = ndimage.binary_fill_holes(crop.mask)
    for z in range(filled.shape[0]):
        filled[z] = ndimage.binary_fill_holes(filled[z])
    if np.array_equal(filled, crop.mask):
        return crop
    return MaskCrop(filled, crop.offset_zyx)


def keep_connected(crop: MaskCrop, seed_zyx: tuple[int, int, int]) -> MaskCrop:
    """Keep the 3D component (26-connected) holding the seed; the largest when the seed is off.

    Args:
        crop: The mask.
        seed_zyx: The voxel the nodule was started from, in scan index (z, y, x).
    """
    labels, count = ndimage.label(crop.mask, structure=np.ones((3, 3, 3), dtype=bool))
    if count <= 1:
        return crop
    local = tuple(s - o for s, o in zip(seed_zyx, crop.offset_zyx))
    inside = all(0 <= c < n for c, n in zip(local, crop.mask.shape))
    keep = int(labels[local]) if inside else 0
    if keep == 0:
        keep = int(np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    return tight(MaskCrop(labels == keep, crop.offset_zyx))


def stroke_points(start_ji: tuple[float, float], end_ji: tuple[float, float],
                  radius_px: float) -> list[tuple[float, float]]:
    """Dab centres from start to end (excluded start) close enough to leave no gap."""
    distance = float(np.hypot(end_ji[0] - start_ji[0], end_ji[1] - start_ji[1]))
    steps = max(1, int(np.ceil(distance / max(radius_px * 0.5, 0.5))))
    return [(start_ji[0] + (end_ji[0] - start_ji[0]) * t / steps,
             start_ji[1] + (end_ji[1] - start_ji[1]) * t / steps) for t in range(1, steps + 1)]
