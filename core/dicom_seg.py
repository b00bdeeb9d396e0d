"""Nodules as a DICOM Segmentation (SEG) of the scan's own series, written with highdicom.

One binary segment per nodule, in the order given (segment n = n-th nodule), labelled with the
nodule's name and coded as SNOMED CT "Morphologically abnormal structure" / "Nodule" in the
"Lung". How the outline was made becomes the segment's algorithm type: AUTOMATIC (the model's
own outline), SEMIAUTOMATIC (the model's outline corrected by a reader) or MANUAL (drawn by
hand); the first two name the algorithm "NoduleSeg" and the model version. Frame k of the
segmentation is derived from source image k (``dicom_source``), so it lines up voxel for voxel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import Protocol

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from .atomic import atomic_path, why_not_written
from .dicom_source import DicomSourceError, source_datasets
from .labels_io import ExportError
from .nodule_mask import NoduleMask
from .volume import Volume

ALGORITHM_NAME = "NoduleSeg"
MANUFACTURER = "NoduleSeg"
FINDING_CATEGORY = codes.SCT.MorphologicallyAbnormalStructure  # SCT 49755003
FINDING_TYPE = codes.SCT.Nodule  # SCT 27925004
ANATOMY = codes.SCT.Lung  # SCT 39607008
SEG_SERIES_NUMBER = 901
SEG_SERIES_DESCRIPTION = "NoduleSeg nodules"


class Outline(str, Enum):
    """How a nodule's outline was made; the values are DICOM's SegmentAlgorithmType."""

    AUTOMATIC = "AUTOMATIC"  # the model's outline, untouched
    SEMIAUTOMATIC = "SEMIAUTOMATIC"  # the model's outline, corrected by a reader
    MANUAL = "MANUAL"  # drawn by hand, no model involved


@dataclass(frozen=True)
class NoduleOutline:
    """One nodule to write as a segment.

    Attributes:
        name: The segment label (the name the reader sees).
        mask: The nodule's voxels in the scan.
        made_by: How the outline was made (the segment's algorithm type).
        model_version: Version of the model that made the first outline ("" for MANUAL).
    """

    name: str
    mask: NoduleMask
    made_by: Outline
    model_version: str = ""


class _Segmented(Protocol):
    mask: NoduleMask
    model_version: str


def automatic_outlines(nodules: Sequence[_Segmented]) -> list[NoduleOutline]:
    """The model's untouched outlines (e.g. ``segment.Nodule``), named "nodule n" as label n of
    the label map."""
    return [NoduleOutline(f"nodule {n}", nodule.mask, Outline.AUTOMATIC, nodule.model_version)
            for n, nodule in enumerate(nodules, start=1)]


def software_version() -> str:
    try:
        return metadata.version("noduleseg")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_segmentation(volume: Volume, outlines: Sequence[NoduleOutline]) -> hd.seg.Segmentation:
    """The SEG dataset of ``outlines`` over the volume's source series (in memory).

    Raises:
        DicomSourceError: The volume has no (unchanged) DICOM source.
        ExportError: No nodules, or a nodule without voxels or outside the scan.
    """
    _require_outlines(volume, outlines)
    sources = source_datasets(volume)
    # Only the slices the nodules span become frames; every image of the series is referenced.
    k0 = min(o.mask.offset_zyx[0] for o in outlines)
    k1 = max(o.mask.offset_zyx[0] + o.mask.mask.shape[0] for o in outlines)
    pixels = np.zeros((k1 - k0, *volume.shape_zyx[1:], len(outlines)), dtype=bool)
    for n, outline in enumerate(outlines):
        (z, y, x), mask = outline.mask.box, outline.mask.mask
        pixels[z.start - k0:z.stop - k0, y, x, n] = mask
    others = sources[:k0] + sources[k1:]
    try:
        return hd.seg.Segmentation(
            source_images=sources[k0:k1], further_source_images=others or None,
            pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[_description(n, o) for n, o in enumerate(outlines, start=1)],
            series_instance_uid=generate_uid(), series_number=SEG_SERIES_NUMBER,
            sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
            manufacturer_model_name=ALGORITHM_NAME, software_versions=software_version(),
            # Software has no serial number, but the SEG's equipment module requires one.
            device_serial_number="0", series_description=SEG_SERIES_DESCRIPTION,
            content_label="NODULES", content_description="Lung nodules outlined with NoduleSeg")
    except ValueError as error:  # the inputs are checked above: what is left is in the headers
        raise DicomSourceError(volume.info.source, f"no DICOM SEG can be built over this series' "
                               f"headers ({error})") from None


def write_dicom_seg(volume: Volume, outlines: Sequence[NoduleOutline], path: str | Path, *,
                    overwrite: bool = False) -> Path:
    """Write the nodules as a DICOM Segmentation of the scan's source series, atomically.

    Args:
        volume: The scan, loaded from DICOM (``VolumeInfo`` names its folder and series).
        outlines: One segment each, in order (segment n = n-th outline).
        path: The file to write (conventionally ``.dcm``).
        overwrite: Replace an existing file; refused otherwise.

    Returns:
        ``path``.

    Raises:
        DicomSourceError: The scan was not loaded from DICOM, or its files are gone or changed.
        ExportError: The file exists (and not ``overwrite``), no nodules, an empty nodule, or the
            write failed: nothing is left behind, an older file stays whole.
    """
    path = Path(path)
    refuse_existing(path, overwrite)
    return save_dataset(build_segmentation(volume, outlines), path)


def segment_label(number: int, name: str) -> str:
    """A nodule's name as a SegmentLabel (LO: at most 64 characters, no backslash)."""
    return name.replace("\\", "/")[:64] or f"nodule {number}"


def refuse_existing(path: Path, overwrite: bool) -> None:
    """Raise ExportError when ``path`` exists and may not be replaced."""
    if path.exists() and not overwrite:
        raise ExportError(f"{path}: file exists; choose another name or allow overwriting")


def save_dataset(dataset: pydicom.Dataset, path: Path) -> Path:
    """Write a DICOM dataset atomically (the old file or the whole new one, never half)."""
    try:
        with atomic_path(path) as temporary:
            dataset.save_as(temporary, enforce_file_format=True)
    except OSError as error:
        raise ExportError(f"{path}: not written: {why_not_written(error, path)}") from None
    return path


def algorithm(outline: NoduleOutline) -> hd.AlgorithmIdentificationSequence | None:
    """The algorithm that made the outline (none for a manual one)."""
    if outline.made_by is Outline.MANUAL:
        return None
    return hd.AlgorithmIdentificationSequence(
        name=ALGORITHM_NAME, family=codes.cid7162.ArtificialIntelligence,
        version=outline.model_version or "unknown")


def _description(number: int, outline: NoduleOutline) -> hd.seg.SegmentDescription:
    return hd.seg.SegmentDescription(
        segment_number=number, segment_label=segment_label(number, outline.name),
        segmented_property_category=FINDING_CATEGORY, segmented_property_type=FINDING_TYPE,
        algorithm_type=outline.made_by.value, algorithm_identification=algorithm(outline),
        tracking_uid=generate_uid(), tracking_id=outline.name, anatomic_regions=[ANATOMY])


def _require_outlines(volume: Volume, outlines: Sequence[NoduleOutline]) -> None:
    if not outlines:
        raise ExportError(f"{volume.info.source or 'this scan'}: no nodules to write; outline "
                          "one first")
    for outline in outlines:
        if outline.mask.is_empty:
            raise ExportError(f"{outline.name} has no voxels: outline it or delete it before "
                              "writing DICOM SEG")
        box = outline.mask.box
        if any(s.start < 0 or s.stop > n for s, n in zip(box, volume.shape_zyx)):
            raise ExportError(f"{outline.name} reaches outside the scan's "
                              f"{volume.shape_zyx} voxels")
