"""The model's help, called from worker threads: segment a seed or a box; measure a mask.

``noduleseg.core.segment`` and ``noduleseg.core.measure`` import torch, so they are imported
here on first use, never when the window starts.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from noduleseg.core.volume import Volume

from .masks import MaskCrop
from .model_service import ModelService

Progress = Callable[[float], None] | None
Cancel = Callable[[], bool] | None


@dataclass(frozen=True, eq=False)
class Outline:
    """What the model returned for one click or box, in the app's terms."""

    mask: MaskCrop
    seed_ijk: tuple[int, int, int]
    model_version: str
    measurements: Any = None


def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(f"noduleseg.core.{name}")
    except ImportError:
        return None


def segmentation_available() -> bool:
    return importlib.util.find_spec("noduleseg.core.segment") is not None


def measurement_available() -> bool:
    return importlib.util.find_spec("noduleseg.core.measure") is not None


def _outline(nodule: Any) -> Outline:
    mask = MaskCrop(nodule.mask.mask.astype(bool), tuple(int(v) for v in nodule.mask.offset_zyx))
    return Outline(mask, tuple(int(v) for v in nodule.seed_ijk), str(nodule.model_version),
                   nodule.measurements)


def segment_seed(service: ModelService, volume: Volume, seed_ijk: tuple[int, int, int],
                 progress: Progress = None, cancel: Cancel = None) -> Outline:
    """Outline the nodule under ``seed_ijk`` in 3D with the active model."""
    segment = importlib.import_module("noduleseg.core.segment")
    model = service.get()
    return _outline(segment.segment_nodule(volume, seed_ijk, model, progress=progress, cancel=cancel))


def segment_in_box(service: ModelService, volume: Volume, box_ijk: tuple[int, int, int, int, int],
                   progress: Progress = None, cancel: Cancel = None) -> Outline:
    """Outline the nodule inside an axial box (i0, j0, i1, j1, k) with the active model."""
    segment = importlib.import_module("noduleseg.core.segment")
    model = service.get()
    return _outline(segment.segment_box(volume, box_ijk, model, progress=progress, cancel=cancel))


def measure_crop(crop: MaskCrop, volume: Volume) -> Any | None:
    """``core.measure.measure`` of a crop, or None (empty mask, measure not installed)."""
    measure, segment = _module("measure"), _module("segment")
    if measure is None or segment is None or crop.voxel_count == 0:
        return None
    return measure.measure(segment.NoduleMask(crop.mask, crop.offset_zyx), volume)


class MeasurementCache:
    """Measurements per mask object (masks never change in place), most recent kept.

    Args:
        measure: (crop, volume) -> Measurements or None; ``measure_crop`` by default.
        size: How many masks to remember (undo points make old ones come back).
    """

    def __init__(self, measure: Callable[[MaskCrop, Volume], Any] = measure_crop, size: int = 64) -> None:
        self.measure = measure
        self.size = size
        self._cache: OrderedDict[int, tuple[MaskCrop, Any]] = OrderedDict()

    def put(self, crop: MaskCrop, measurements: Any) -> None:
        self._cache[id(crop)] = (crop, measurements)
        self._cache.move_to_end(id(crop))
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)

    def get(self, crop: MaskCrop, volume: Volume) -> Any | None:
        hit = self._cache.get(id(crop))
        if hit is not None and hit[0] is crop:
            self._cache.move_to_end(id(crop))
            return hit[1]
        measurements = self.measure(crop, volume)
        self.put(crop, measurements)
        return measurements

    def clear(self) -> None:
        self._cache.clear()
