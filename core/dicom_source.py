"""The DICOM images a volume was loaded from, re-read in the loader's slice order.

DICOM outputs (SEG, SR) reference the images they derive from, so slice k of the volume must be
source image k. The series is found again from ``VolumeInfo`` (its folder and series UID), its
headers are ordered by ``dicom_geometry.stack_slices`` exactly as ``load_volume`` ordered them,
and the grid they span is checked against the volume's before anything is written.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom

from .dicom_geometry import SliceStack, stack_slices
from .dicom_pixels import same_pixels
from .dicom_series import scan_series
from .errors import NodulesegError, VolumeError, VolumeWarning
from .volume import Volume

# A grid that moved by less than this (mm, or direction cosine) is the same grid.
GRID_TOLERANCE = 1e-3
# Type 2 patient and study attributes DICOM outputs copy from their source; a source may leave
# them out, and empty is the value the standard gives "unknown".
_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                 "StudyID", "StudyDate", "StudyTime", "ReferringPhysicianName")


class DicomSourceError(NodulesegError):
    """DICOM output needs the scan's DICOM images, and they are not there (a NIfTI, NRRD or
    MetaImage scan), gone, changed, or lack what a DICOM output must reference.

    Args:
        scan: The scan's file or folder (named in the message).
        problem: What is wrong, in words a reader can act on.
    """

    def __init__(self, scan: str | Path, problem: str) -> None:
        self.scan = Path(scan)
        self.problem = problem
        super().__init__(f"{self.scan}: {problem}")


def require_dicom_source(volume: Volume) -> Path:
    """The folder of the volume's DICOM series, without reading it (a quick check up front).

    Raises:
        DicomSourceError: The volume was not loaded from DICOM.
    """
    scan = volume.info.source or "this scan"
    if not volume.info.series_uid or not volume.info.source:
        raise DicomSourceError(scan, "DICOM SEG and SR output needs a DICOM source, and this scan "
                               "was read from a NIfTI, NRRD or MetaImage file; open the scan's "
                               "DICOM series to write them, or export the label map (NIfTI/NRRD)")
    return Path(volume.info.source)


def source_datasets(volume: Volume) -> list[pydicom.Dataset]:
    """The headers (no pixel data) of the volume's source images: item k is slice k.

    Raises:
        DicomSourceError: Not a DICOM volume; its series is no longer readable in its folder;
            the files span another grid than the volume; or a header lacks the StudyInstanceUID
            or FrameOfReferenceUID a DICOM output must share with its source.
    """
    folder = require_dicom_source(volume)
    stack = _restack(folder, volume.info.series_uid)
    _require_same_grid(folder, stack, volume)
    datasets = []
    for header in stack.slices:
        try:
            dataset = pydicom.dcmread(header.path, stop_before_pixels=True, force=True)
        except Exception as error:  # noqa: BLE001 - pydicom meets damaged bytes with many types
            raise DicomSourceError(header.path, f"the source image cannot be read again "
                                   f"({type(error).__name__}); copy the series again") from error
        datasets.append(_complete(header.path, dataset))
    return datasets


def _restack(folder: Path, series_uid: str) -> SliceStack:
    try:
        with warnings.catch_warnings():  # the loader already said what it skipped
            warnings.simplefilter("ignore", VolumeWarning)
            groups, _ = scan_series(folder)
            if series_uid not in groups:
                raise DicomSourceError(folder, f"the scan's series {series_uid} is no longer in "
                                       "this folder; DICOM output references the source images, "
                                       "so open the series again from where it is now")
            return stack_slices(folder, groups[series_uid], same_pixels)
    except VolumeError as error:
        raise DicomSourceError(folder, f"the scan's DICOM series cannot be read again for DICOM "
                               f"output ({error})") from None


def _require_same_grid(folder: Path, stack: SliceStack, volume: Volume) -> None:
    first = stack.slices[0]
    shape = (len(stack.slices), first.rows, first.columns)
    same = shape == volume.shape_zyx and all(
        np.allclose(a, b, atol=GRID_TOLERANCE) for a, b in (
            (stack.spacing, volume.spacing), (stack.origin, volume.origin),
            (stack.direction, volume.direction)))
    if not same:
        raise DicomSourceError(folder, f"the DICOM files here no longer match the open scan "
                               f"(they hold {shape[0]} slices of {shape[1]}x{shape[2]} from origin "
                               f"{_mm(stack.origin)}, the scan {volume.shape_zyx[0]} of "
                               f"{volume.shape_zyx[1]}x{volume.shape_zyx[2]} from "
                               f"{_mm(volume.origin)}); open the series again and export then")


def _complete(path: Path, dataset: pydicom.Dataset) -> pydicom.Dataset:
    """Refuse a header without the UIDs an output must share; give absent Type 2 values."""
    for keyword in ("StudyInstanceUID", "FrameOfReferenceUID"):
        if not str(dataset.get(keyword, "") or ""):
            raise DicomSourceError(path, f"the source image has no {keyword}, which a DICOM "
                                   "SEG or SR must share with it to line up; export the series "
                                   "with its full header (anonymisers sometimes remove it)")
    for keyword in _TYPE2_COPIED:
        if keyword not in dataset:
            setattr(dataset, keyword, "")
    return dataset


def _mm(point: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in point) + ") mm"
