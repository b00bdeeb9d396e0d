"""One nodule's voxels as a tight boolean box plus its place in the scan.

Kept apart from ``segment`` so that ``measure`` can use it without importing inference.
``noduleseg.core.segment`` re-exports ``NoduleMask``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class NoduleMask:
    """A nodule mask cropped to its bounding box.

    Attributes:
        mask: bool array (z, y, x), the tight box around the nodule's voxels.
        offset_zyx: Index of ``mask[0, 0, 0]`` in the scan (slice k, row j, column i).
    """

    mask: np.ndarray
    offset_zyx: tuple[int, int, int]

    @property
    def box(self) -> tuple[slice, slice, slice]:
        """The scan region (z, y, x slices) that ``mask`` covers."""
        return tuple(slice(o, o + n) for o, n in zip(self.offset_zyx, self.mask.shape))  # type: ignore[return-value]

    @property
    def voxel_count(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def is_empty(self) -> bool:
        return self.voxel_count == 0

    def central_voxel_ijk(self, spacing_zyx: tuple[float, float, float]) -> tuple[int, int, int]:
        """The mask voxel nearest (in mm) its centroid, as the scan's ITK index (i, j, k): where a
        reader would click it (a ring's centre is no voxel of it; this always is)."""
        voxels = np.argwhere(self.mask)
        if not len(voxels):
            raise ValueError("an empty mask has no central voxel")
        scale = np.asarray(spacing_zyx, dtype=float)
        nearest = voxels[int(np.argmin((((voxels - voxels.mean(axis=0)) * scale) ** 2).sum(axis=1)))]
        k, j, i = (int(v) + o for v, o in zip(nearest, self.offset_zyx))
        return i, j, k

    def full(self, shape_zyx: tuple[int, int, int]) -> np.ndarray:
        """The mask as a bool array of the whole scan's shape."""
        full = np.zeros(shape_zyx, dtype=bool)
        full[self.box] = self.mask
        return full

    @classmethod
    def from_full(cls, mask: np.ndarray) -> "NoduleMask":
        """Crop a scan-sized mask to its bounding box (an empty mask gives an empty box)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 3:
            raise ValueError(f"a nodule mask is 3D (z, y, x), got shape {mask.shape}")
        if not mask.any():
            return cls(np.zeros((0, 0, 0), dtype=bool), (0, 0, 0))
        bounds = []
        for axis in range(3):
            others = tuple(a for a in range(3) if a != axis)
            present = np.flatnonzero(mask.any(axis=others))
            bounds.append((int(present[0]), int(present[-1]) + 1))
        box = tuple(slice(low, high) for low, high in bounds)
        return cls(mask[box].copy(), tuple(low for low, _ in bounds))  # type: ignore[arg-type]

    @classmethod
    def from_slices(cls, slices: dict[int, tuple[tuple[slice, slice], np.ndarray]]) -> "NoduleMask":
        """Assemble per-slice masks ``{k: ((rows, cols), mask_2d)}`` into one tight mask."""
        slices = {k: v for k, v in slices.items() if v[1].any()}
        if not slices:
            return cls(np.zeros((0, 0, 0), dtype=bool), (0, 0, 0))
        ks = sorted(slices)
        j0 = min(box[0].start for box, _ in slices.values())
        j1 = max(box[0].stop for box, _ in slices.values())
        i0 = min(box[1].start for box, _ in slices.values())
        i1 = max(box[1].stop for box, _ in slices.values())
        mask = np.zeros((ks[-1] - ks[0] + 1, j1 - j0, i1 - i0), dtype=bool)
        for k, (box, plane) in slices.items():
            rows = slice(box[0].start - j0, box[0].stop - j0)
            cols = slice(box[1].start - i0, box[1].stop - i0)
            mask[k - ks[0], rows, cols] |= plane
        tight = cls.from_full(mask)
        offset = tuple(a + b for a, b in zip((ks[0], j0, i0), tight.offset_zyx))
        return cls(tight.mask, offset)  # type: ignore[arg-type]
