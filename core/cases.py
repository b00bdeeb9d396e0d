"""Training cases in the nnU-Net v2 raw layout, as the app saves them and training reads them.

A data set folder holds ``imagesTr/<case>_0000.nii.gz`` (CT, int16 HU),
``labelsTr/<case>.nii.gz`` (uint8 label map, same geometry), optionally
``provenance/<case>.json`` (source scan, model version, the model's first mask, time, user),
and ``dataset.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_path, write_json_atomic
from .errors import DatasetError
from .volume import Volume, image_like

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def dataset_json(n_cases: int) -> dict[str, Any]:
    return {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "nodule": 1},
        "numTraining": n_cases,
        "file_ending": ".nii.gz",
    }


def image_path(dataset: Path, case_id: str) -> Path:
    return dataset / "imagesTr" / f"{case_id}_0000.nii.gz"


def label_path(dataset: Path, case_id: str) -> Path:
    return dataset / "labelsTr" / f"{case_id}.nii.gz"


def provenance_path(dataset: Path, case_id: str) -> Path:
    return dataset / "provenance" / f"{case_id}.json"


def list_cases(dataset: Path) -> list[str]:
    """Case ids that have an image, in sorted order."""
    return sorted(p.name[: -len("_0000.nii.gz")] for p in (dataset / "imagesTr").glob("*_0000.nii.gz"))


def write_case(dataset: str | Path, case_id: str, volume: Volume, labels: np.ndarray,
               provenance: dict[str, Any] | None = None) -> Path:
    """Write one case atomically (image, label, provenance), then refresh ``dataset.json``.

    Args:
        dataset: The data set folder (created when missing).
        case_id: Letters, digits, '_', '.', '-'.
        volume: The CT (or a crop of it, with its own origin).
        labels: Label map (z, y, x) in ``volume``'s geometry; 0 background, n > 0 nodule n.
        provenance: Free JSON-able record; written as ``provenance/<case>.json``.

    Returns:
        The label file's path.
    """
    import SimpleITK as sitk

    dataset = Path(dataset)
    if not CASE_ID.match(case_id):
        raise ValueError(f"case id {case_id!r} must be letters, digits, '_', '.', '-'")
    written: list[Path] = []
    try:
        for path, array, dtype in ((image_path(dataset, case_id), volume.hu, np.int16),
                                   (label_path(dataset, case_id), labels, np.uint8)):
            with atomic_path(path) as temporary:
                sitk.WriteImage(image_like(np.asarray(array, dtype=dtype), volume), str(temporary),
                                useCompression=True)
            written.append(path)
        if provenance is not None:
            write_json_atomic(provenance_path(dataset, case_id), provenance)
    except BaseException:  # a full disk half way: no half case for training to trip over
        for path in written:
            path.unlink(missing_ok=True)
        raise
    write_json_atomic(dataset / "dataset.json", dataset_json(len(list_cases(dataset))))
    return label_path(dataset, case_id)


def read_provenance(dataset: Path, case_id: str) -> dict[str, Any] | None:
    """A case's provenance record, or None when it has none.

    Raises:
        DatasetError: The file is not readable JSON or not a JSON object (the message names it).
    """
    path = provenance_path(dataset, case_id)
    try:
        provenance = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: provenance is not readable JSON ({error}); "
                           "repair or remove it (the case trains without one)") from None
    if not isinstance(provenance, dict):
        raise DatasetError(f"{path}: provenance is not a JSON object; repair or remove it")
    return provenance
