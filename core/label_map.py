"""Label maps from nodule masks: the one rule every label map of NoduleSeg is built by.

A label map holds 0 for background and each nodule's id (1..255) on its voxels. Where two
nodules overlap, the voxel goes to the nodule with the lower id: the one outlined (or seeded)
first keeps what it had, so a later click or brush stroke never takes voxels from an outline a
reader has already accepted. The CLI's export, the app's export and the app's overlay all
build their maps here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

MAX_LABEL = 255


class BoxMask(Protocol):
    """A mask in a box of the scan: ``core.nodule_mask.NoduleMask``, the app's ``MaskCrop``."""

    @property
    def box(self) -> tuple[slice, slice, slice]: ...

    mask: np.ndarray


class LabelMapError(ValueError):
    """Nodule ids or masks that no uint8 label map of the scan's shape can hold."""


def build(nodules: Sequence[tuple[int, BoxMask]], shape_zyx: tuple[int, int, int], k: int | None = None
          ) -> np.ndarray:
    """The uint8 label map (z, y, x) of ``(id, mask)`` pairs, or of slice ``k`` only (y, x).

    Raises:
        LabelMapError: An id outside 1..255, or a mask reaching outside ``shape_zyx``.
    """
    out = np.zeros(shape_zyx if k is None else shape_zyx[1:], dtype=np.uint8)
    for label, nodule in sorted(nodules, key=lambda pair: -pair[0]):  # highest first: the lowest lands last
        if not 1 <= label <= MAX_LABEL:
            raise LabelMapError(f"nodule id {label} does not fit a uint8 label map (1..{MAX_LABEL})")
        box, mask = nodule.box, nodule.mask
        if any(s.stop > n or s.start < 0 for s, n in zip(box, shape_zyx)) or mask.shape != tuple(
                s.stop - s.start for s in box):
            raise LabelMapError(f"nodule {label} reaches outside the label map's shape {shape_zyx}")
        if k is None:
            out[box][mask] = label
        elif box[0].start <= k < box[0].stop:
            out[box[1:]][mask[k - box[0].start]] = label
    return out
