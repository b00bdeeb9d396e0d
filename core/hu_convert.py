"""Stored voxel values -> int16 Hounsfield units, one slice at a time (no whole-volume floats)."""

from __future__ import annotations

import numpy as np

AIR_HU = -1024
# Scanners fill the corners outside the reconstruction circle with -2000 or -3024 HU.
PADDING_BELOW_HU = -2000
_INT16 = np.iinfo(np.int16)


def slice_to_hu(values: np.ndarray, out: np.ndarray, slope: float = 1.0, intercept: float = 0.0,
                padding_hu: tuple[float, float] | None = None) -> None:
    """Write ``values * slope + intercept`` as int16 HU into ``out``; padding becomes air.

    Values in the ``padding_hu`` range (PixelPaddingValue after rescale) and values
    <= -2000 HU become -1024 HU; the rest is rounded and clipped to the int16 range.

    Args:
        values: One slice (or any block) of stored values, any numeric dtype, finite.
        out: int16 array of the same shape to fill.
        slope: RescaleSlope.
        intercept: RescaleIntercept.
        padding_hu: Inclusive (low, high) HU range of padding voxels, or None.
    """
    if slope == 1.0 and float(intercept).is_integer() and values.dtype.kind in "iub":
        hu = values.astype(np.int64 if values.dtype.itemsize >= 4 else np.int32)
        if intercept:
            hu += int(intercept)
    else:
        hu = values.astype(np.float64 if values.dtype.itemsize >= 8 else np.float32)
        if slope != 1.0:
            hu *= slope
        if intercept:
            hu += intercept
        np.rint(hu, out=hu)
    pad = hu <= PADDING_BELOW_HU
    if padding_hu is not None and padding_hu[1] > PADDING_BELOW_HU:
        low, high = padding_hu
        pad |= (hu == low) if low == high else (hu >= low) & (hu <= high)
    np.copyto(hu, AIR_HU, where=pad)
    np.clip(hu, _INT16.min, _INT16.max, out=hu)
    out[...] = hu

def count_non_finite(values: np.ndarray) -> int:
    """Number of NaN/inf values (0 for integer arrays)."""
    if values.dtype.kind not in "fc":
        return 0
    return int(values.size - np.count_nonzero(np.isfinite(values)))
