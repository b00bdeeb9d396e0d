"""Keeping work: label maps and measurements on disk, accepted nodules as training cases.

Plain functions over the viewer state; the Qt side only asks for paths and confirmations.
"""

from __future__ import annotations

import base64
import getpass
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from noduleseg.core.atomic import why_not_written
from noduleseg.core.cases import image_path, write_case
from noduleseg.core.errors import NodulesegError
from noduleseg.core.export import nodule_row
from noduleseg.core.label_map import build as build_label_map
from noduleseg.core.labels_io import save_labels
from noduleseg.core.measure import Measurements
from noduleseg.core.metrics import dice as mask_dice
from noduleseg.core.paths import data_dir
from noduleseg.core.volume import Volume

from .masks import MaskCrop
from .state import NoduleRecord, ViewerState

CASE_MARGIN_MM = 15.0
MAX_LABEL = 255


class KeepError(NodulesegError):
    """Work cannot be written where asked."""


def default_corrections_dir() -> Path:
    return data_dir() / "corrections"


def label_map(state: ViewerState) -> np.ndarray:
    """The scan's uint8 label map: each nodule's voxels hold its id."""
    if state.nodules and max(state.nodules) > MAX_LABEL:
        raise KeepError(f"nodule id {max(state.nodules)} is above {MAX_LABEL}, the largest label "
                        "a uint8 label map holds (ids are not reused within a session)")
    return build_label_map([(r.nodule_id, r.mask) for r in state.records()], state.volume.shape_zyx)


def export_labels(state: ViewerState, path: str | Path, overwrite: bool = False) -> Path:
    """Write the label map in the scan's exact geometry (NIfTI or NRRD by suffix)."""
    if state.volume is None:
        raise KeepError("no scan is open")
    return save_labels(label_map(state), state.volume, path, overwrite=overwrite)


@dataclass(frozen=True)
class _Measured:
    """What ``core.export.nodule_row`` reads of a nodule."""

    seed_ijk: tuple[int, int, int]
    measurements: Measurements
    model_version: str


def measurement_rows(state: ViewerState,
                     measurements: dict[int, Measurements | None]) -> list[dict[str, Any]]:
    """One row per nodule, in ``core.export.nodule_row``'s columns (label = nodule id, the
    value in the exported label map), then name, status, notes and source."""
    rows = []
    for record in state.records():
        found = measurements.get(record.nodule_id)
        if found is not None:
            row = nodule_row(record.nodule_id, _Measured(record.seed_ijk, found, record.model_version))
        else:  # an empty mask: nothing to measure
            i, j, k = record.seed_ijk
            row = {"label": record.nodule_id, "seed_i": i, "seed_j": j, "seed_k": k,
                   "model_version": record.model_version}
        row.update(name=record.label, status=record.status.value, notes=record.notes,
                   source=state.source)
        rows.append(row)
    return rows


def case_box(record: NoduleRecord, volume: Volume, margin_mm: float = CASE_MARGIN_MM) -> tuple[slice, ...]:
    """The (z, y, x) box around the mask and the model's first mask, plus a margin in mm."""
    crops = [c for c in (record.mask, record.first_mask) if c is not None and c.voxel_count]
    if not crops:
        raise KeepError(f"{record.label}: the mask is empty; draw or segment it before accepting")
    low = np.min([c.offset_zyx for c in crops], axis=0)
    high = np.max([np.add(c.offset_zyx, c.mask.shape) for c in crops], axis=0)
    margin = [math.ceil(margin_mm / s) for s in volume.spacing_zyx]
    return tuple(slice(max(int(a) - m, 0), min(int(b) + m, n))
                 for a, b, m, n in zip(low, high, margin, volume.shape_zyx))


def _packed(crop: MaskCrop, origin_zyx: tuple[int, ...]) -> dict[str, Any]:
    bits = np.packbits(crop.mask.ravel())
    return {"offset_zyx": [int(o - a) for o, a in zip(crop.offset_zyx, origin_zyx)],
            "shape_zyx": list(crop.mask.shape), "encoding": "packbits-c-order-base64",
            "bits": base64.b64encode(bits.tobytes()).decode("ascii")}


def unpack_mask(entry: dict[str, Any]) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A provenance mask entry back to (bool mask, offset in the case's voxels)."""
    shape = tuple(entry["shape_zyx"])
    bits = np.frombuffer(base64.b64decode(entry["bits"]), dtype=np.uint8)
    return np.unpackbits(bits)[:int(np.prod(shape))].reshape(shape).astype(bool), tuple(entry["offset_zyx"])


def dice(a: MaskCrop, b: MaskCrop) -> float:
    """Dice overlap of two crops, computed in the box that holds both (not the whole scan)."""
    total = a.voxel_count + b.voxel_count
    if total == 0:
        return 1.0
    if a.voxel_count == 0 or b.voxel_count == 0:
        return 0.0
    low = np.minimum(a.offset_zyx, b.offset_zyx)
    high = np.maximum(np.add(a.offset_zyx, a.mask.shape), np.add(b.offset_zyx, b.mask.shape))
    shape = tuple(int(v) for v in high - low)
    local = [MaskCrop(c.mask, tuple(int(v) for v in np.subtract(c.offset_zyx, low))).full(shape) for c in (a, b)]
    return mask_dice(local[0], local[1])


def patient_of(state: ViewerState) -> str:
    """The scan's patient id (DICOM), else its file or folder name: groups cases in the split."""
    return state.volume.info.patient_id or Path(state.source).name.split(".")[0] or "scan"


def case_id_for(state: ViewerState, record: NoduleRecord, when: float) -> str:
    stem = patient_of(state)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.-") or "scan"
    return f"{stem}_n{record.nodule_id}_{time.strftime('%Y%m%dT%H%M%S', time.localtime(when))}"


def accept_case(state: ViewerState, record: NoduleRecord, folder: str | Path,
                model_card: dict[str, Any] | None = None) -> str:
    """Write the nodule as a training case (scan crop + label + provenance); return its id.

    Args:
        state: The viewer state holding the scan.
        record: The nodule as the reader corrected it.
        folder: The corrections data set (nnU-Net raw layout, created when missing).
        model_card: The card of the model that made the first mask (its sha256 is recorded).
    """
    volume, when = state.volume, time.time()
    box = case_box(record, volume)
    origin = tuple(s.start for s in box)
    crop = volume.crop(box[0].start, box[0].stop, box[1].start, box[1].stop, box[2].start, box[2].stop)
    labels = record.mask.full(volume.shape_zyx)[box].astype(np.uint8)
    case_id = case_id_for(state, record, when)
    provenance = {
        "source": state.source, "series_uid": state.series_uid, "patient_id": patient_of(state),
        "crop_box_zyx": [[s.start, s.stop] for s in box],
        "seed_ijk": list(record.seed_ijk), "name": record.label, "notes": record.notes,
        "model_version": record.model_version,
        "model_sha256": (model_card or {}).get("sha256", ""),
        "first_mask": None if record.first_mask is None else _packed(record.first_mask, origin),
        "dice_first_vs_accepted": (None if record.first_mask is None
                                   else round(dice(record.first_mask, record.mask), 4)),
        "edited": record.first_mask is None or record.mask is not record.first_mask,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(when)),
        "user": getpass.getuser(),
    }
    try:
        write_case(folder, case_id, crop, labels, provenance)
    except (OSError, RuntimeError) as error:  # SimpleITK reports a failed write as RuntimeError
        raise KeepError(f"{folder}: cannot write the training case {case_id} "
                        f"({why_not_written(error, image_path(Path(folder), case_id))})") from None
    return case_id
