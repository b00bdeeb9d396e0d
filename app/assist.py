"""The model's help, called from worker threads: segment a seed or a box; measure a mask.

``noduleseg.core.segment`` imports torch, so it is imported on the first click, never when the
window starts (``core.measure`` does not import torch).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from noduleseg.core.measure import Measurements, measure
from noduleseg.core.seeds import SeedFailure, SeedTable
from noduleseg.core.volume import Volume

from .masks import MaskCrop
from .model_service import ModelService

if TYPE_CHECKING:
    from noduleseg.core.segment import Nodule

Progress = Callable[[float], None] | None
Cancel = Callable[[], bool] | None


@dataclass(frozen=True, eq=False)
class Outline:
    """What the model returned for one click or box, in the app's terms."""

    mask: MaskCrop
    seed_ijk: tuple[int, int, int]
    model_version: str
    measurements: Measurements | None = None


def _outline(nodule: Nodule) -> Outline:
    mask = MaskCrop(nodule.mask.mask, tuple(int(v) for v in nodule.mask.offset_zyx))
    return Outline(mask, tuple(int(v) for v in nodule.seed_ijk), str(nodule.model_version),
                   nodule.measurements)


def segment_seed(service: ModelService, volume: Volume, seed_ijk: tuple[int, int, int],
                 progress: Progress = None, cancel: Cancel = None) -> Outline | None:
    """Outline the nodule under ``seed_ijk`` in 3D with the active model.

    Returns:
        The outline, or None when ``cancel`` stopped it (the worker reports a cancelled run).

    Raises:
        SegmentationError: The seed is outside the scan or the model found nothing there.
        ModelError: The active model cannot be loaded.
    """
    from noduleseg.core import segment  # imports torch

    try:
        return _outline(segment.segment_nodule(volume, seed_ijk, service.get(), progress=progress,
                                               cancel=cancel))
    except segment.SegmentationCancelled:
        return None


def segment_in_box(service: ModelService, volume: Volume, box_ijk: tuple[int, int, int, int, int],
                   progress: Progress = None, cancel: Cancel = None) -> Outline | None:
    """Outline the nodule inside an axial box (i0, j0, i1, j1, k); None when cancelled."""
    from noduleseg.core import segment  # imports torch

    try:
        return _outline(segment.segment_box(volume, box_ijk, service.get(), progress=progress,
                                            cancel=cancel))
    except segment.SegmentationCancelled:
        return None


@dataclass(frozen=True, eq=False)
class SeedOutlines:
    """What a seed table gave: outlines in row order, and the rows that failed, by line."""

    outlines: tuple[Outline, ...]
    failures: tuple[SeedFailure, ...]


def segment_rows(service: ModelService, volume: Volume, table: SeedTable, progress: Progress = None,
                 cancel: Cancel = None) -> SeedOutlines | None:
    """Outline the nodule at every row of a seed table; None when ``cancel`` stopped it.

    Raises:
        ModelError: The active model cannot be loaded.
    """
    from noduleseg.core import segment  # imports torch
    from noduleseg.core.seed_segment import segment_seed_rows

    try:
        run = segment_seed_rows(volume, table, service.get(), progress=progress, cancel=cancel)
    except segment.SegmentationCancelled:
        return None
    return SeedOutlines(tuple(_outline(s.nodule) for s in run.nodules), run.failures)


def measure_crop(crop: MaskCrop, volume: Volume) -> Measurements | None:
    """``core.measure.measure`` of a crop; None for an empty one (nothing to measure)."""
    return None if crop.voxel_count == 0 else measure(crop, volume)


class MeasurementCache:
    """Measurements per mask object (masks never change in place), most recent kept.

    Args:
        measure: (crop, volume) -> Measurements or None; ``measure_crop`` by default.
        size: How many masks to remember (undo points make old ones come back).
    """

    def __init__(self, measure: Callable[[MaskCrop, Volume], Measurements | None] = measure_crop,
                 size: int = 64) -> None:
        self.measure = measure
        self.size = size
        self._cache: OrderedDict[int, tuple[MaskCrop, Measurements | None]] = OrderedDict()

    def put(self, crop: MaskCrop, measurements: Measurements | None) -> None:
        self._cache[id(crop)] = (crop, measurements)
        self._cache.move_to_end(id(crop))
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)

    def get(self, crop: MaskCrop, volume: Volume) -> Measurements | None:
        hit = self._cache.get(id(crop))
        if hit is not None and hit[0] is crop:
            self._cache.move_to_end(id(crop))
            return hit[1]
        measurements = self.measure(crop, volume)
        self.put(crop, measurements)
        return measurements

    def clear(self) -> None:
        self._cache.clear()
