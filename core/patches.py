"""Axial patches at a fixed physical pixel size, and their way back to the scan's grid.

Training and inference both cut patches here, so the model always sees the same geometry:
``size`` x ``size`` pixels of ``mm_per_px`` mm, centred on a (fractional) row/column of one
slice. Outside the image counts as air (-1024 HU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

AIR_HU = -1024.0


@dataclass(frozen=True)
class PatchGeometry:
    """Where a patch lies on an axial slice.

    Attributes:
        center_ji: Patch centre as (row j, column i) on the native slice, fractional.
        mm_per_px: Physical size of one patch pixel.
        size: Patch side in pixels.
        spacing_yx: Native pixel size (row, column) in mm.
    """

    center_ji: tuple[float, float]
    mm_per_px: float
    size: int
    spacing_yx: tuple[float, float]

    def native_coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Native (row, column) coordinates of every patch pixel centre, each (size, size)."""
        offsets = (np.arange(self.size) - (self.size - 1) / 2.0) * self.mm_per_px
        rows = self.center_ji[0] + offsets / self.spacing_yx[0]
        cols = self.center_ji[1] + offsets / self.spacing_yx[1]
        return np.meshgrid(rows, cols, indexing="ij")

    def patch_coords(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Patch (row, column) coordinates of native pixel centres."""
        centre = (self.size - 1) / 2.0
        r = (rows - self.center_ji[0]) * self.spacing_yx[0] / self.mm_per_px + centre
        c = (cols - self.center_ji[1]) * self.spacing_yx[1] / self.mm_per_px + centre
        return r, c

    def native_box(self, shape_yx: tuple[int, int]) -> tuple[slice, slice]:
        """The native rows and columns the patch covers, clipped to the slice."""
        half_mm = self.size * self.mm_per_px / 2.0
        boxes = []
        for axis in (0, 1):
            half = half_mm / self.spacing_yx[axis]
            low = max(0, int(np.floor(self.center_ji[axis] - half)))
            high = min(shape_yx[axis], int(np.ceil(self.center_ji[axis] + half)) + 1)
            boxes.append(slice(low, max(low, high)))
        return boxes[0], boxes[1]


def sample_patch(slice_hu: np.ndarray, geometry: PatchGeometry, order: int = 1,
                 fill: float = AIR_HU, reflect: bool = False) -> np.ndarray:
    """Resample one axial slice (H, W) into a float32 patch (size, size); past the slice's edge
    ``fill``, or with ``reflect`` the slice mirrored at its edge."""
    rows, cols = geometry.native_coords()
    mode = "mirror" if reflect else "constant"
    return ndimage.map_coordinates(np.asarray(slice_hu, dtype=np.float32), [rows, cols],
                                   order=order, mode=mode, cval=fill).astype(np.float32)


def inside_patch(shape_yx: tuple[int, int], geometry: PatchGeometry) -> np.ndarray:
    """bool (size, size): the patch pixels whose centre lies on the slice."""
    rows, cols = geometry.native_coords()
    return ((rows >= -0.5) & (rows <= shape_yx[0] - 0.5)) & ((cols >= -0.5) & (cols <= shape_yx[1] - 0.5))


def sample_planes(hu: np.ndarray, k: int, geometry: PatchGeometry,
                  offsets_k: tuple[float, ...], reflect: bool = False) -> np.ndarray:
    """Patches (C, size, size) of the planes at slice ``k + offsets_k[c]`` of a volume (Z, H, W).

    A fractional plane is interpolated linearly between its two slices; planes beyond the
    first or last slice take that slice (the scan's edge repeats, as it does for a reader).
    Past the slice's edge in-plane: air, or with ``reflect`` the slice mirrored.
    """
    last = hu.shape[0] - 1
    cut: dict[int, np.ndarray] = {}

    def at(slice_k: int) -> np.ndarray:
        if slice_k not in cut:
            cut[slice_k] = sample_patch(hu[slice_k], geometry, reflect=reflect)
        return cut[slice_k]

    planes = np.empty((len(offsets_k), geometry.size, geometry.size), dtype=np.float32)
    for c, offset in enumerate(offsets_k):
        z = min(max(k + offset, 0.0), float(last))
        below = int(np.floor(z))
        weight = z - below
        planes[c] = at(below) if weight < 1e-6 else (1 - weight) * at(below) + weight * at(below + 1)
    return planes


def sample_mask_patch(slice_mask: np.ndarray, geometry: PatchGeometry) -> np.ndarray:
    """Resample a binary slice mask into the patch (linear, then >= 0.5)."""
    return sample_patch(slice_mask.astype(np.float32), geometry, order=1, fill=0.0) >= 0.5


def paste_patch(patch_values: np.ndarray, geometry: PatchGeometry,
                shape_yx: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
    """Bring patch values (size, size) back to the native grid.

    Returns:
        The native (rows, columns) box the patch covers and the values resampled there;
        native pixels that fall outside the patch get 0.
    """
    box = geometry.native_box(shape_yx)
    rows, cols = np.meshgrid(np.arange(box[0].start, box[0].stop),
                             np.arange(box[1].start, box[1].stop), indexing="ij")
    r, c = geometry.patch_coords(rows.astype(float), cols.astype(float))
    values = ndimage.map_coordinates(np.asarray(patch_values, dtype=np.float32), [r, c],
                                     order=1, mode="constant", cval=0.0)
    return box, values
