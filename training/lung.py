"""Lung masks from HU thresholds: where hard negatives and simulated nodules may go.

Coarse on purpose (in-plane every second voxel): the masks only pick sample positions.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

AIR_HU = -400.0
PARENCHYMA_HU = -600.0
FULL_FOV_MM = 200.0  # a slice wider than this shows the body outline: outside air is removable


def lung_mask(hu: np.ndarray, spacing_zyx: tuple[float, float, float], step: int = 2) -> np.ndarray:
    """Air inside the body with its vessels filled in, at ``step`` in-plane subsampling.

    Args:
        hu: CT (z, y, x).
        spacing_zyx: Voxel size.
        step: In-plane subsampling of the result.

    Returns:
        bool (z, ceil(y/step), ceil(x/step)). Air touching the slice border counts as outside
        the body only on full field-of-view scans; a crop keeps all its air.
    """
    air = hu[:, ::step, ::step] < AIR_HU
    width_mm = min(hu.shape[1] * spacing_zyx[1], hu.shape[2] * spacing_zyx[2])
    if width_mm > FULL_FOV_MM:
        components, _ = ndimage.label(air)
        border = np.unique(np.concatenate([components[:, 0, :].ravel(), components[:, -1, :].ravel(),
                                           components[:, :, 0].ravel(), components[:, :, -1].ravel()]))
        air &= ~np.isin(components, border[border > 0])
    filled = np.stack([ndimage.binary_fill_holes(plane) for plane in air])
    return filled


def hard_negative_voxels(hu: np.ndarray, lung: np.ndarray, step: int = 2,
                         dilation: int = 2) -> np.ndarray:
    """(n, 3) voxel indices (k, j, i) of dense tissue in or at the lung: vessels, airway walls,
    pleura and chest wall beside the lung (HU above -400 within ``dilation`` coarse voxels)."""
    near = ndimage.binary_dilation(lung, iterations=dilation) if lung.any() else lung
    dense = near & (hu[:, ::step, ::step] > AIR_HU)
    voxels = np.argwhere(dense)
    voxels[:, 1:] *= step
    return voxels


def parenchyma_voxels(hu: np.ndarray, lung: np.ndarray, step: int = 2, erosion: int = 2) -> np.ndarray:
    """(n, 3) voxel indices (k, j, i) of aerated lung away from the lung border."""
    inner = ndimage.binary_erosion(lung, iterations=erosion) if lung.any() else lung
    voxels = np.argwhere(inner & (hu[:, ::step, ::step] < PARENCHYMA_HU))
    voxels[:, 1:] *= step
    return voxels
