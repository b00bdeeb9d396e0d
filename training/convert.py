"""Scans + label maps -> training cases in the nnU-Net raw layout (the path users' cases take).

``convert_case`` takes any scan ``load_volume`` reads (DICOM folder, NIfTI, MetaImage, NRRD)
and a label map in its geometry; ``convert_lidc`` does the shared LIDC folders.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from noduleseg.core.cases import CASE_ID, write_case
from noduleseg.core.errors import DatasetError, VolumeError
from noduleseg.core.loader import load_volume

from .data import check_geometry, label_array, read_image


def convert_case(image: str | Path, labels: str | Path, dataset: str | Path, case_id: str,
                 patient_id: str | None = None) -> Path:
    """Write one scan and its label map as case ``case_id`` of ``dataset``.

    Args:
        image: A scan ``load_volume`` reads.
        labels: Label map file in the scan's geometry (label n = nodule n).
        dataset: Output data set folder (created when missing).
        case_id: Letters, digits, '_', '.', '-'.
        patient_id: Groups cases of one patient in the split (default: the case id).

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
                  "nodules": int(len(np.unique(label_map)) - 1)}
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
        try:
            written.append(convert_case(image, labels, out, folder.name, patient_id=folder.name))
        except VolumeError as error:
            raise DatasetError(str(error)) from None
    return written
