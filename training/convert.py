"""Scans + label maps -> training cases in the nnU-Net raw layout (the path users' cases take).

``convert_case`` takes any scan ``load_volume`` reads (DICOM folder, NIfTI, MetaImage, NRRD)
and a label map in its geometry; ``convert_lidc`` does the shared LIDC folders and
``convert_crops`` the shared LIDC nodule crops (one case per crop, its nodule label 1).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from noduleseg.core.cases import CASE_ID, write_case
from noduleseg.core.errors import DatasetError, VolumeError
from noduleseg.core.loader import load_volume

from .data import check_geometry, label_array, read_image


def convert_case(image: str | Path, labels: str | Path, dataset: str | Path, case_id: str,
                 patient_id: str | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write one scan and its label map as case ``case_id`` of ``dataset``.

    Args:
        image: A scan ``load_volume`` reads.
        labels: Label map file in the scan's geometry (label n = nodule n).
        dataset: Output data set folder (created when missing).
        case_id: Letters, digits, '_', '.', '-'.
        patient_id: Groups cases of one patient in the split (default: the case id).
        extra: More provenance fields (the ``lidc`` record of ``lidc_record``).

    Returns:
        The written label file.

    Raises:
        DatasetError: Bad case id, unreadable labels, geometry mismatch, empty labels.
        VolumeError: The scan cannot be read.
    """
    if not CASE_ID.match(case_id):
        raise DatasetError(f"case id {case_id!r}: use letters, digits, '_', '.', '-' only")
    volume = load_volume(image)
    labels_path = Path(labels)
    label_image = read_image(labels_path, "label map")
    geometry = (volume.size_ijk, volume.spacing, volume.origin, volume.direction)
    check_geometry(geometry, label_image, labels_path)
    label_map = label_array(label_image, labels_path)
    provenance = {"source_image": str(Path(image).resolve()), "source_labels": str(labels_path.resolve()),
                  "patient_id": patient_id or case_id, "model_version": None,
                  "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  "user": "noduleseg-train convert",
                  "nodules": int(len(np.unique(label_map)) - 1), **(extra or {})}
    return write_case(dataset, case_id, volume, label_map, provenance)


def lidc_scan(folder: Path) -> tuple[Path, Path]:
    """The scan (``dicom/`` folder or ``*_ct.nii.gz``) and ``*_nodules.nii.gz`` of a LIDC folder."""
    labels = sorted(folder.glob("*_nodules.nii.gz"))
    images = [folder / "dicom"] if (folder / "dicom").is_dir() else sorted(folder.glob("*_ct.nii.gz"))
    if not labels or not images:
        raise DatasetError(f"{folder}: need a dicom/ folder or *_ct.nii.gz and a *_nodules.nii.gz")
    return images[0], labels[0]


def convert_lidc(root: str | Path, out: str | Path) -> list[Path]:
    """Convert every ``LIDC-IDRI-*`` folder under ``root`` into cases of data set ``out``.

    Raises:
        DatasetError: No LIDC folder under ``root`` or a folder lacks its scan or labels.
    """
    root = Path(root)
    folders = sorted(p for p in root.glob("LIDC-IDRI-*") if p.is_dir())
    if not folders:
        raise DatasetError(f"{root}: no LIDC-IDRI-* folders here")
    written = []
    for folder in folders:
        image, labels = lidc_scan(folder)
        table = labels.with_name(labels.name.replace("_nodules.nii.gz", "_nodules.csv"))
        nodules = ([_nodule_record(row, int(row["nodule"]), table) for row in _read_table(table)]
                   if table.exists() else [])
        try:
            written.append(convert_case(image, labels, out, folder.name, patient_id=folder.name,
                                        extra=lidc_record(nodules, crop_of=None)))
        except VolumeError as error:
            raise DatasetError(str(error)) from None
    return written


# LIDC table columns kept per nodule in a case's provenance (``lidc.nodules``): what evaluation
# groups nodules by (the readers' diameter and texture). Crops add calcification and subtlety.
LIDC_FIELDS = {"readers": int, "diameter_mm": float, "volume_mm3": float, "texture": float,
               "malignancy": float, "subtlety": float, "calcification": float}


def _read_table(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the nodule table ({error.strerror})") from None


def _nodule_record(row: dict[str, str], label: int, path: Path) -> dict[str, Any]:
    """One nodule's LIDC figures (columns missing from the table are left out)."""
    try:
        record = {name: kind(row[name]) for name, kind in LIDC_FIELDS.items() if row.get(name, "") != ""}
    except ValueError as error:
        raise DatasetError(f"{path}: a value of nodule {label} is not a number ({error})") from None
    return {"label": label, **record}


def lidc_record(nodules: list[dict[str, Any]], crop_of: int | None, series_uid: str | None = None) -> dict:
    """The ``lidc`` provenance record: per-label reader figures and, for a crop, its nodule's label
    (other labels in a crop are nodules cut by its edge: never background, never whole)."""
    return {"lidc": {"crop_of": crop_of, "series_uid": series_uid, "nodules": nodules}}


def convert_crops(root: str | Path, out: str | Path,
                  progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Convert the shared LIDC nodule crops (``crops.csv`` + ``crops/``) into cases of ``out``.

    Each crop becomes case ``<patient>_<nn>`` with its label map unchanged: label 1 is the
    crop's nodule, labels 2.. are other nodules reaching into the crop. The provenance holds the
    patient and the ``lidc`` record (``lidc_record``) that tells training and evaluation the case
    is a crop of nodule 1, with its readers, diameter and texture.

    Args:
        root: The ``lidc_crops`` folder.
        out: Output data set folder.
        progress: Called with (crops done, crops in all).

    Raises:
        DatasetError: No ``crops.csv``, a crop's files missing or unreadable.
    """
    root = Path(root)
    rows = _read_table(root / "crops.csv")
    written = []
    for index, row in enumerate(rows):
        name = row.get("crop", "")
        image, labels = root / "crops" / f"{name}_ct.nii.gz", root / "crops" / f"{name}_label.nii.gz"
        extra = lidc_record([_nodule_record(row, 1, root / "crops.csv")], crop_of=1,
                            series_uid=row.get("series_uid") or None)
        try:
            written.append(convert_case(image, labels, out, name, patient_id=row.get("patient") or None,
                                        extra=extra))
        except VolumeError as error:
            raise DatasetError(str(error)) from None
        if progress is not None:
            progress(index + 1, len(rows))
    return written
