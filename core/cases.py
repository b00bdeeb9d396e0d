"""Training cases in the nnU-Net v2 raw layout, as the app saves them and training reads them.

A data set folder holds ``imagesTr/<case>_0000<ending>`` (CT, int16 HU), ``labelsTr/<case><ending>``
(uint8 class labels as ``dataset.json`` names them: 0 background, 1 nodule, the same geometry),
optionally ``instancesTr/<case><ending>`` (which nodule each voxel belongs to: 1, 2, ... where
a case holds more than one) and ``provenance/<case>.json`` (source scan, model version, the
model's first mask, time, user), and ``dataset.json``, whose ``file_ending`` (``.nii.gz`` unless
it says otherwise) every path here honours. nnU-Net reads such a folder as it is; the instance
ids are NoduleSeg's own, beside it.

Data sets written before the instances existed kept the nodule ids in ``labelsTr``;
``migrate_instances`` moves them into ``instancesTr`` and leaves class labels behind (nothing
is lost), and ``training.data`` does that on first use.
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


FILE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".mha")
DEFAULT_ENDING = ".nii.gz"
NODULE_CLASS = 1


def dataset_json(n_cases: int, ending: str = DEFAULT_ENDING) -> dict[str, Any]:
    return {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, "nodule": NODULE_CLASS},
        "numTraining": n_cases,
        "file_ending": ending,
    }


def file_ending(dataset: Path) -> str:
    """The data set's ``file_ending`` from its ``dataset.json`` (``.nii.gz`` without one).

    Raises:
        DatasetError: ``dataset.json`` is not JSON, or names an ending NoduleSeg cannot read.
    """
    path = Path(dataset) / "dataset.json"
    try:
        ending = json.loads(path.read_text(encoding="utf-8")).get("file_ending", DEFAULT_ENDING)
    except FileNotFoundError:
        return DEFAULT_ENDING
    except (OSError, ValueError, AttributeError) as error:
        raise DatasetError(f"{path}: not a readable dataset.json ({error})") from None
    if ending not in FILE_ENDINGS:
        raise DatasetError(f"{path}: file_ending {ending!r} is not one of {', '.join(FILE_ENDINGS)}")
    return ending


def image_path(dataset: Path, case_id: str) -> Path:
    return Path(dataset) / "imagesTr" / f"{case_id}_0000{file_ending(dataset)}"


def label_path(dataset: Path, case_id: str) -> Path:
    return Path(dataset) / "labelsTr" / f"{case_id}{file_ending(dataset)}"


def instance_path(dataset: Path, case_id: str) -> Path:
    return Path(dataset) / "instancesTr" / f"{case_id}{file_ending(dataset)}"


def provenance_path(dataset: Path, case_id: str) -> Path:
    return dataset / "provenance" / f"{case_id}.json"


def list_cases(dataset: Path) -> list[str]:
    """Case ids that have an image, in sorted order."""
    suffix = "_0000" + file_ending(dataset)
    return sorted(p.name[: -len(suffix)] for p in (Path(dataset) / "imagesTr").glob("*" + suffix))


def list_label_files(dataset: Path) -> list[tuple[str, Path]]:
    """(case id, file) of every label map in ``labelsTr``, sorted."""
    ending = file_ending(dataset)
    return sorted((p.name[: -len(ending)], p) for p in (Path(dataset) / "labelsTr").glob("*" + ending))


def write_case(dataset: str | Path, case_id: str, volume: Volume, labels: np.ndarray,
               provenance: dict[str, Any] | None = None) -> Path:
    """Write one case atomically (image, label, provenance), then refresh ``dataset.json``.

    Args:
        dataset: The data set folder (created when missing).
        case_id: Letters, digits, '_', '.', '-'.
        volume: The CT (or a crop of it, with its own origin).
        labels: Nodule ids (z, y, x) in ``volume``'s geometry; 0 background, n > 0 nodule n.
            ``labelsTr`` gets the class labels (nodule 1); where there is more than one nodule,
            ``instancesTr`` gets the ids.
        provenance: Free JSON-able record; written as ``provenance/<case>.json``.

    Returns:
        The label file's path.
    """
    dataset = Path(dataset)
    if not CASE_ID.match(case_id):
        raise ValueError(f"case id {case_id!r} must be letters, digits, '_', '.', '-'")
    ending = file_ending(dataset)
    ids = np.asarray(labels, dtype=np.uint8)
    files = [(image_path(dataset, case_id), volume.hu, np.int16),
             (label_path(dataset, case_id), (ids > 0).astype(np.uint8) * NODULE_CLASS, np.uint8)]
    if ids.max(initial=0) > 1:
        files.append((instance_path(dataset, case_id), ids, np.uint8))
    else:
        instance_path(dataset, case_id).unlink(missing_ok=True)
    written: list[Path] = []
    try:
        for path, array, dtype in files:
            _write_image(path, np.asarray(array, dtype=dtype), volume)
            written.append(path)
        if provenance is not None:
            write_json_atomic(provenance_path(dataset, case_id), provenance)
    except BaseException:  # a full disk half way: no half case for training to trip over
        for path in written:
            path.unlink(missing_ok=True)
        raise
    write_json_atomic(dataset / "dataset.json", dataset_json(len(list_cases(dataset)), ending))
    return label_path(dataset, case_id)


def _write_image(path: Path, array: np.ndarray, volume: Volume) -> None:
    import SimpleITK as sitk

    with atomic_path(path) as temporary:
        sitk.WriteImage(image_like(array, volume), str(temporary), useCompression=True)


def migrate_instances(dataset: Path) -> list[str]:
    """Move nodule ids kept in ``labelsTr`` (data sets written before ``instancesTr``) into
    ``instancesTr``, leaving class labels; returns the cases moved. Each case is done in two
    atomic steps (ids copied, then labels rewritten), so an interruption loses nothing and the
    next call finishes it.
    """
    import SimpleITK as sitk

    moved = []
    for case_id, label_file in list_label_files(dataset):
        try:
            image = sitk.ReadImage(str(label_file))
        except RuntimeError:  # an unreadable map: reading the case names it
            continue
        ids = sitk.GetArrayViewFromImage(image)
        if ids.max(initial=0) <= 1:
            continue
        instances = instance_path(dataset, case_id)
        if not instances.exists():
            instances.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(instances) as temporary:
                sitk.WriteImage(image, str(temporary), useCompression=True)
        classes = sitk.GetImageFromArray((ids > 0).astype(np.uint8) * NODULE_CLASS)
        classes.CopyInformation(image)
        with atomic_path(label_file) as temporary:
            sitk.WriteImage(classes, str(temporary), useCompression=True)
        moved.append(case_id)
    return moved


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
