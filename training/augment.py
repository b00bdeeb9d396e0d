"""Patch augmentation, pure functions on one HU patch and its mask.

Geometry (flips, 90-degree rotations) moves image and mask together; intensity changes (HU
shift, contrast, blur or sharpening, noise) touch only the image, before the windows turn HU
into model input. Contrast and kernel changes stand in for other scanners: a smoother or
sharper reconstruction kernel, a thicker or thinner slice's partial volume. Scale jitter happens
when the patch is cut (``pool.draw_scale``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

CONTRAST_LEVEL_HU = -600.0  # contrast changes pivot here (ground glass stays, lung and solid move)


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random changes.

    Attributes:
        flip: Mirror left-right with probability 1/2.
        rotate: Rotate by a random multiple of 90 degrees.
        hu_shift: Largest HU offset added to the whole patch.
        noise_hu: Largest standard deviation of Gaussian noise (HU).
        contrast: Largest relative change of contrast around ``CONTRAST_LEVEL_HU``.
        kernel: Largest strength of an unsharp mask with a 1-pixel Gaussian,
            ``hu + a * (hu - blur(hu))``: ``a`` in [-kernel, kernel], below 0 blurs.
    """

    flip: bool = True
    rotate: bool = True
    hu_shift: float = 20.0
    noise_hu: float = 15.0
    contrast: float = 0.0
    kernel: float = 0.0


def augment(hu: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
            settings: Augmentation = Augmentation()) -> tuple[np.ndarray, np.ndarray]:
    """A randomly changed copy of a HU patch (H, W) or planes (C, H, W) and its mask (H, W) or
    masks (M, H, W) (target, loss weight); every plane gets the same changes."""
    turns = int(rng.integers(4)) if settings.rotate else 0
    flip = settings.flip and bool(rng.integers(2))
    hu, mask = np.rot90(hu, turns, axes=(-2, -1)), np.rot90(mask, turns, axes=(-2, -1))
    if flip:
        hu, mask = hu[..., ::-1], mask[..., ::-1]
    hu = np.asarray(hu, dtype=np.float32)
    if settings.kernel:
        amount = rng.uniform(-settings.kernel, settings.kernel)
        in_plane = (0.0,) * (hu.ndim - 2) + (1.0, 1.0)
        hu = hu + np.float32(amount) * (hu - ndimage.gaussian_filter(hu, in_plane))
    if settings.contrast:
        factor = 1.0 + rng.uniform(-settings.contrast, settings.contrast)
        hu = CONTRAST_LEVEL_HU + (hu - CONTRAST_LEVEL_HU) * np.float32(factor)
    shift = rng.uniform(-settings.hu_shift, settings.hu_shift)
    sigma = rng.uniform(0.0, settings.noise_hu)
    # one noise field for all planes: 2D input repeats a plane, and must stay identical
    noisy = hu + np.float32(shift) + rng.normal(0.0, sigma, hu.shape[-2:]).astype(np.float32)
    return noisy.astype(np.float32), np.ascontiguousarray(mask)
