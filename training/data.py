"""Training data sets in the nnU-Net v2 raw layout: checked first, then loaded as cases.

Every refusal is a ``DatasetError`` that names the file at fault and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from noduleseg.core import cases
from noduleseg.core.errors import DatasetError
from noduleseg.core.volume import Volume, VolumeInfo, volume_from_sitk

if TYPE_CHECKING:  # SimpleITK loads where files are read: cases built in memory need none of it
    import SimpleITK as sitk

GEOMETRY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ReferenceNodule:
    """What the LIDC readers said of one labelled nodule.

    Attributes:
        label: Its value in the case's label map.
        readers: Readers who outlined it.
        diameter_mm: Median of the readers' diameters (their longest axial diameter).
        texture: Median LIDC texture, 1 ground glass .. 5 solid.
    """

    label: int
    readers: int | None = None
    diameter_mm: float | None = None
    texture: float | None = None


@dataclass(frozen=True)
class LidcRecord:
    """A case's ``lidc`` provenance record (``convert.lidc_record``), validated when read.

    Attributes:
        crop_of: For a crop, the label of the nodule it was cut around (the other labels are
            nodules cut by its edge); None for a whole scan.
        nodules: The readers' figures per label.
    """

    crop_of: int | None
    nodules: tuple[ReferenceNodule, ...]

    @classmethod
    def from_provenance(cls, provenance: dict[str, Any] | None, source: Path) -> "LidcRecord | None":
        record = (provenance or {}).get("lidc")
        if record is None:
            return None
        try:
            crop_of = None if record["crop_of"] is None else int(record["crop_of"])
            nodules = tuple(ReferenceNodule(int(n["label"]), _optional(n, "readers", int),
                                            _optional(n, "diameter_mm", float), _optional(n, "texture", float))
                            for n in record["nodules"])
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetError(f"{source}: the lidc record is malformed ({error!r})") from None
        return cls(crop_of, nodules)

    def nodule(self, label: int) -> ReferenceNodule | None:
        return next((n for n in self.nodules if n.label == label), None)


def _optional(record: dict[str, Any], name: str, kind: type) -> Any:
    return None if record.get(name) is None else kind(record[name])


@dataclass(frozen=True, eq=False)
class TrainCase:
    """One scan (or crop) with its nodule label map.

    Attributes:
        case_id: Unique over all data sets (``<dataset folder>/<case>`` when names clash).
        patient_id: Groups cases for the split: the provenance's patient, else the case id.
        volume: The CT.
        labels: uint8 (z, y, x); label n = nodule n.
        provenance: The case's provenance JSON, if any.
        synthetic: Labels of simulated nodules (added in memory by ``synthetic.simulate``).
        lidc: The readers' record of a LIDC case (a crop's nodule, diameters, textures).
    """

    case_id: str
    patient_id: str
    volume: Volume
    labels: np.ndarray
    provenance: dict[str, Any] | None = None
    synthetic: tuple[int, ...] = ()
    lidc: LidcRecord | None = None

    def nodule_ids(self) -> list[int]:
        return [int(v) for v in np.unique(self.labels) if v > 0]

    @property
    def is_crop(self) -> bool:
        """A crop around one nodule: what lies past its edge is unknown, not air."""
        return self.lidc is not None and self.lidc.crop_of is not None

    def whole_nodules(self) -> list[int]:
        """Labels of the nodules the case holds whole (a crop: its own nodule only; the others
        are cut by its edge). Training samples them; evaluation scores them."""
        if self.is_crop:
            return [self.lidc.crop_of] if self.lidc.crop_of in self.nodule_ids() else []
        return self.nodule_ids()


def read_image(path: Path, what: str) -> "sitk.Image":
    import SimpleITK as sitk

    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unreadable"
        raise DatasetError(f"{path}: cannot read the {what} ({first_line})") from None


def geometry_of(image: "sitk.Image") -> tuple[tuple[float, ...], ...]:
    """(size, spacing, origin, direction) of an image, ITK order."""
    return image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection()


def check_geometry(expected_geometry: tuple[tuple[float, ...], ...], label: "sitk.Image",
                   label_file: Path) -> None:
    """Refuse a label map whose size, spacing, origin or direction differ from the image's."""
    names = ("size", "spacing", "origin", "direction")
    for name, expected, found in zip(names, expected_geometry, geometry_of(label)):
        if not np.allclose(expected, found, atol=GEOMETRY_TOLERANCE, rtol=GEOMETRY_TOLERANCE):
            raise DatasetError(f"{label_file}: label {name} {tuple(round(v, 4) for v in found)} differs "
                               f"from the image's {tuple(round(v, 4) for v in expected)}; "
                               "save the label map in the image's geometry")


def label_array(label: "sitk.Image", label_file: Path) -> np.ndarray:
    import SimpleITK as sitk

    if label.GetNumberOfComponentsPerPixel() != 1:
        raise DatasetError(f"{label_file}: label map has several components per voxel; need one")
    array = sitk.GetArrayFromImage(label)
    integer = {sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16,
               sitk.sitkUInt32, sitk.sitkInt32, sitk.sitkUInt64, sitk.sitkInt64}
    if label.GetPixelID() not in integer:
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise DatasetError(f"{label_file}: label map holds non-integer values "
                               f"({label.GetPixelIDTypeAsString()}); labels must be whole numbers")
    if array.min() < 0 or array.max() > 255:
        raise DatasetError(f"{label_file}: labels range {array.min()}..{array.max()}; need 0..255")
    if not array.any():
        raise DatasetError(f"{label_file}: label map is empty (no nodule voxel); "
                           "remove the case or outline its nodule")
    return array.astype(np.uint8)


def load_case(dataset: Path, case_id: str, unique_id: str | None = None) -> TrainCase:
    """Check and load one case of ``dataset``.

    Raises:
        DatasetError: Missing or unreadable label, geometry mismatch, empty or non-integer
            labels, a 2D or multi-component image.
    """
    image_file, label_file = cases.image_path(dataset, case_id), cases.label_path(dataset, case_id)
    if not label_file.exists():
        raise DatasetError(f"{image_file}: no label map {label_file.name} in {label_file.parent}")
    image = read_image(image_file, "image")
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise DatasetError(f"{image_file}: need a 3D single-channel CT, found "
                           f"{image.GetDimension()}D with {image.GetNumberOfComponentsPerPixel()} channels")
    labels = nodule_ids(dataset, case_id, geometry_of(image))
    provenance = cases.read_provenance(dataset, case_id)
    patient = str((provenance or {}).get("patient_id") or case_id)
    lidc = LidcRecord.from_provenance(provenance, cases.provenance_path(dataset, case_id))
    import SimpleITK as sitk

    volume = volume_from_sitk(sitk.Cast(image, sitk.sitkFloat32), VolumeInfo(source=str(image_file)))
    return TrainCase(unique_id or case_id, patient, volume, labels, provenance, lidc=lidc)


def _checked_labels(path: Path, geometry: tuple[tuple[float, ...], ...], what: str) -> np.ndarray:
    label = read_image(path, what)
    if label.GetDimension() != 3:
        raise DatasetError(f"{path}: need a 3D {what}, found {label.GetDimension()}D")
    check_geometry(geometry, label, path)
    return label_array(label, path)


def nodule_ids(dataset: Path, case_id: str, geometry: tuple[tuple[float, ...], ...]) -> np.ndarray:
    """Which nodule each voxel of a case belongs to (0 none, 1, 2, ...): its ``instancesTr`` map
    where it has one (checked against its class labels), else the 3D pieces of its class labels.

    Raises:
        DatasetError: An unreadable, empty, non-integer or misplaced map, or an instance map whose
            nodules are not where the class labels say.
    """
    label_file = cases.label_path(dataset, case_id)
    classes = _checked_labels(label_file, geometry, "label map")
    instance_file = cases.instance_path(dataset, case_id)
    if not instance_file.exists():
        if classes.max() > cases.NODULE_CLASS:
            raise DatasetError(f"{label_file}: labels above {cases.NODULE_CLASS} without {instance_file.name} "
                               "in instancesTr/; nodule ids belong there (cases.migrate_instances)")
        ids, _ = ndimage.label(classes > 0, structure=np.ones((3, 3, 3), dtype=bool))
        return ids.astype(np.uint8)
    ids = _checked_labels(instance_file, geometry, "instance map")
    if not np.array_equal(ids > 0, classes > 0):
        raise DatasetError(f"{instance_file}: its nodules are not where {label_file.name} marks nodules; "
                           "rewrite the case")
    return ids


def load_datasets(datasets: Sequence[str | Path]) -> list[TrainCase]:
    """Check and load every case of every data set folder.

    Raises:
        DatasetError: A folder is missing or has no cases, a label has no image, or any case
            fails ``load_case``.
    """
    if not datasets:
        raise DatasetError("no data set given; pass at least one nnU-Net raw folder")
    loaded: list[TrainCase] = []
    seen: set[str] = set()
    for dataset in map(Path, datasets):
        if not (dataset / "imagesTr").is_dir():
            raise DatasetError(f"{dataset}: not an nnU-Net raw data set (no imagesTr/ folder)")
        ids = cases.list_cases(dataset)
        orphans = [(case_id, path) for case_id, path in cases.list_label_files(dataset) if case_id not in ids]
        if orphans:
            case_id, path = orphans[0]
            raise DatasetError(f"{path}: label map without an image {cases.image_path(dataset, case_id).name} "
                               "in imagesTr/")
        cases.migrate_instances(dataset)
        if not ids:
            raise DatasetError(f"{dataset}: no cases in imagesTr/ (need <case>_0000.nii.gz)")
        for case_id in ids:
            unique = case_id if case_id not in seen else f"{dataset.name}/{case_id}"
            seen.add(unique)
            loaded.append(load_case(dataset, case_id, unique))
    return loaded
