"""Export of segmented nodules: a measurements table (CSV or JSON) and a label map.

The label map itself is written by ``labels_io.save_labels`` in the scan's geometry and built by
``core.label_map`` (label n = n-th nodule); this module writes the table, atomically.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import label_map
from .atomic import why_not_written, write_json_atomic, write_text_atomic
from .labels_io import ExportError
from .nodule_mask import NoduleMask

TABLE_SUFFIXES = (".csv", ".json")
MAX_LABELS = label_map.MAX_LABEL


def nodule_row(label: int, nodule: Any) -> dict[str, Any]:
    """One table row for a ``segment.Nodule``: label, seed, model version, measurements."""
    i, j, k = nodule.seed_ijk
    return {"label": label, "seed_i": i, "seed_j": j, "seed_k": k,
            **nodule.measurements.to_row(), "model_version": nodule.model_version}


def write_measurements(rows: Sequence[dict[str, Any]], path: str | Path,
                       overwrite: bool = False) -> Path:
    """Write one row per nodule as CSV or JSON (chosen by the suffix), atomically.

    Args:
        rows: Flat dicts (e.g. ``Measurements.to_row()`` or ``nodule_row``); CSV columns are
            the keys in order of first appearance.
        path: Target ``.csv`` or ``.json``.
        overwrite: Replace an existing file; refused otherwise.

    Raises:
        ExportError: Unknown suffix, the file exists and ``overwrite`` is False, or the write
            failed (full disk, no permission): nothing is left behind, an older file stays whole.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ExportError(f"{path}: measurements are written as .csv or .json")
    if path.exists() and not overwrite:
        raise ExportError(f"{path}: file exists; choose another name or allow overwriting")
    try:
        if suffix == ".json":
            write_json_atomic(path, list(rows))
        else:
            write_text_atomic(path, _csv_text(rows))
    except OSError as error:
        raise ExportError(f"{path}: not written: {why_not_written(error, path)}") from None
    return path


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def labels_from_nodules(nodule_masks: Sequence[NoduleMask], shape: tuple[int, int, int]) -> np.ndarray:
    """A uint8 label map (z, y, x): 0 background, n for the n-th nodule (1-based), built by the
    one rule of ``core.label_map`` (where two nodules overlap, the earlier keeps the voxel).

    Raises:
        ExportError: More than 255 nodules, or a nodule outside ``shape``.
    """
    if len(nodule_masks) > MAX_LABELS:
        raise ExportError(f"{len(nodule_masks)} nodules do not fit a uint8 label map (at most {MAX_LABELS})")
    try:
        return label_map.build(list(enumerate(nodule_masks, start=1)), shape)
    except label_map.LabelMapError as error:
        raise ExportError(str(error)) from None
