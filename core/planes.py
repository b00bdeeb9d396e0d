"""One axial slice of a nodule and the model's view of it: batched patch predictions, their
probabilities pasted back into the slice, and the components they hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .model_io import LoadedModel
from .patches import PatchGeometry, paste_patch, sample_planes
from .volume import Volume
from .windowing import encode_planes

Prediction = tuple[list[PatchGeometry], np.ndarray]


@dataclass(frozen=True, eq=False)
class Plane:
    """One slice of a nodule: a native (rows, cols) box on slice k and the mask inside it."""

    k: int
    box: tuple[slice, slice]
    mask: np.ndarray

    @property
    def area_px(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def centroid_ji(self) -> tuple[float, float]:
        rows, cols = np.nonzero(self.mask)
        return (float(rows.mean()) + self.box[0].start, float(cols.mean()) + self.box[1].start)


def predict(volume: Volume, model: LoadedModel, requests: Sequence[tuple[int, tuple[float, float]]],
            mm_per_px: float) -> Prediction:
    """Probabilities (n, size, size) for patches ``(k, centre_ji)``, one batched forward."""
    spacing_yx = volume.spacing_zyx[1:]
    geometries = [PatchGeometry(centre, mm_per_px, model.input.patch_px, spacing_yx)
                  for _, centre in requests]
    offsets_k = model.input.offsets_k(volume.spacing_zyx[0])
    hu = np.stack([sample_planes(volume.hu, k, g, offsets_k) for (k, _), g in zip(requests, geometries)])
    channels = torch.from_numpy(encode_planes(hu, model.input.windows))
    return geometries, model.net.predict(channels)[:, 0].cpu().numpy()


def cut_native(probability: np.ndarray, geometry: PatchGeometry, shape_yx: tuple[int, int],
               threshold: float) -> tuple[tuple[slice, slice], np.ndarray]:
    """A probability patch pasted into its slice's native pixels and cut at ``threshold``: the
    native (rows, cols) box and the bool mask inside it."""
    box, values = paste_patch(probability, geometry, shape_yx)
    return box, values >= threshold


def label_near(labels: np.ndarray, point_rc: tuple[float, float], spacing_rc: tuple[float, float],
               max_mm: float) -> int | None:
    """Label of the component at ``point_rc`` or the nearest one within ``max_mm``."""
    r, c = (int(round(v)) for v in point_rc)
    inside = 0 <= r < labels.shape[0] and 0 <= c < labels.shape[1]
    if inside and labels[r, c]:
        return int(labels[r, c])
    rows, cols = np.nonzero(labels)
    if rows.size == 0:
        return None
    distance = np.hypot((rows - point_rc[0]) * spacing_rc[0], (cols - point_rc[1]) * spacing_rc[1])
    nearest = int(np.argmin(distance))
    return int(labels[rows[nearest], cols[nearest]]) if distance[nearest] <= max_mm else None


def reframe(mask: np.ndarray, source: tuple[slice, slice], target: tuple[slice, slice]) -> np.ndarray:
    """A box mask re-expressed in another box of the same slice (outside -> False)."""
    out = np.zeros((target[0].stop - target[0].start, target[1].stop - target[1].start), bool)
    r0, r1 = max(source[0].start, target[0].start), min(source[0].stop, target[0].stop)
    c0, c1 = max(source[1].start, target[1].start), min(source[1].stop, target[1].stop)
    if r0 < r1 and c0 < c1:
        out[r0 - target[0].start:r1 - target[0].start, c0 - target[1].start:c1 - target[1].start] = \
            mask[r0 - source[0].start:r1 - source[0].start, c0 - source[1].start:c1 - source[1].start]
    return out
