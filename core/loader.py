"""``load_volume``: the one way in, for DICOM folders and files, NIfTI, MetaImage and NRRD."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .dicom_geometry import SliceStack, stack_slices
from .dicom_headers import (SliceHeader, looks_like_dicom, name_skipped, read_slice_header,
                            scan_headers)
from .dicom_pixels import check_pixel_headers, read_stack_hu, same_pixels
from .dicom_series import choose_series, require_ct, scan_series
from .errors import (CorruptFileError, GeometryError, NotAnImageError, NotAVolumeError, SeriesNotFoundError,
                     SliceSpacingError, VolumeNotFoundError, VolumeWarning)
from .image_file import IMAGE_SUFFIXES, is_image_file_name, read_image_file
from .memory_check import require_memory
from .volume import Volume, VolumeInfo

log = logging.getLogger(__name__)

Progress = Callable[[float], None]
# Share of the progress bar spent reading headers (the rest is pixels).
_HEADER_SHARE = 0.3


def load_volume(path: str | Path, series_uid: str | None = None,
                progress: Progress | None = None) -> Volume:
    """Load a CT volume as int16 HU with its ITK geometry.

    Args:
        path: A DICOM folder (searched recursively; with several series the CT series with
            the most slices is taken, see ``list_series``), one DICOM file of a series (its
            whole series is loaded from its folder), or a .nii/.nii.gz, .mhd/.mha or
            .nrrd/.nhdr file.
        series_uid: The DICOM series to load from a folder with several.
        progress: Called with the fraction done, 0..1.

    Returns:
        The volume; padding voxels (PixelPaddingValue, <= -2000 HU) set to -1024 HU.

    Raises:
        VolumeError: A subclass saying why the path is not a loadable CT (the message names
            the file and the problem). A duplicate file of a slice only warns (VolumeWarning),
            and so does a DICOM file whose header cannot be read: it is skipped (a gap it
            leaves in the series is refused, naming it).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise VolumeNotFoundError(path, "no such file or folder")
    if path.is_dir():
        groups, unreadable = scan_series(path, _part(progress, 0.0, _HEADER_SHARE))
        return check_volume(path, _load_dicom(path, groups, unreadable, series_uid, progress))
    if is_image_file_name(path):
        return check_volume(path, read_image_file(path, progress))
    if looks_like_dicom(path):
        return check_volume(path, _load_dicom_file(path, series_uid, progress))
    raise NotAnImageError(path, f"not an image NoduleSeg reads: open a DICOM file or folder, "
                          f"or a {', '.join(IMAGE_SUFFIXES)} file")


def check_volume(path: Path, volume: Volume) -> Volume:
    """The last guard of every reader: voxels on every axis, a finite grid with positive spacing.

    Raises:
        NotAVolumeError: An axis without voxels. GeometryError: A spacing, origin or direction
            that is not finite, or a spacing that is not positive.
    """
    if volume.hu.ndim != 3 or min(volume.hu.shape) < 1:
        raise NotAVolumeError(path, f"the image has shape {volume.hu.shape} (slices, rows, "
                              "columns): an axis without voxels")
    spacing = np.asarray(volume.spacing, dtype=float)
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise GeometryError(path, f"voxel spacing {volume.spacing} mm is not positive and finite: "
                            "the header's spacing is damaged")
    if not np.all(np.isfinite(volume.origin)) or not np.all(np.isfinite(volume.direction)):
        raise GeometryError(path, f"origin {volume.origin} or direction {volume.direction} is not "
                            "finite: the header's geometry is damaged")
    return volume


def _load_dicom_file(path: Path, series_uid: str | None, progress: Progress | None) -> Volume:
    header = read_slice_header(path)
    require_ct(path, header)
    if series_uid is not None and series_uid != header.series_uid:
        raise SeriesNotFoundError(path, f"the file belongs to series {header.series_uid}, not "
                                  f"the requested {series_uid}")
    # Its series: the DICOM files beside it with the same SeriesInstanceUID.
    siblings = sorted(p for p in path.parent.iterdir() if p.is_file() and p != path)
    headers, _, unreadable = scan_headers(siblings, _part(progress, 0.0, _HEADER_SHARE))
    group = [header] + [h for h in headers if h.series_uid == header.series_uid]
    return _load_dicom(path.parent, {header.series_uid: group}, unreadable, header.series_uid,
                       progress)


def _load_dicom(folder: Path, groups: dict[str, list[SliceHeader]],
                unreadable: list[CorruptFileError], series_uid: str | None,
                progress: Progress | None) -> Volume:
    headers = choose_series(folder, groups, series_uid)
    check_pixel_headers(headers)
    stack = _stack(folder, headers, unreadable)
    for note in stack.dropped:
        log.warning(note)
        warnings.warn(note, VolumeWarning, stacklevel=3)
    first = stack.slices[0]
    require_memory(folder, len(stack.slices) * first.rows * first.columns * 2,
                   f"{first.columns}x{first.rows}x{len(stack.slices)} voxels of int16")
    hu = read_stack_hu(stack, _part(progress, _HEADER_SHARE, 1.0))
    info = VolumeInfo(patient_id=first.patient_id, study_description=first.study_description,
                      series_description=first.series_description, series_uid=first.series_uid,
                      modality=first.modality, source=str(folder))
    return Volume(hu=hu, spacing=stack.spacing, origin=stack.origin, direction=stack.direction,
                  info=info)


def _stack(folder: Path, headers: list[SliceHeader],
           unreadable: list[CorruptFileError]) -> SliceStack:
    """``stack_slices``, whose gap or uneven-spacing refusal also names the skipped files.

    A file skipped as unreadable beside the series is the likely missing slice.
    """
    try:
        return stack_slices(folder, headers, same_pixels)
    except SliceSpacingError as error:
        series_folders = {header.path.parent for header in headers}
        beside = [skipped for skipped in unreadable if skipped.path.parent in series_folders]
        if not beside:
            raise
        raise type(error)(error.path, f"{error.problem}; {len(beside)} file(s) beside the "
                          f"series were skipped as unreadable and may be the missing slice(s): "
                          f"{name_skipped(folder, beside)}") from error


def _part(progress: Progress | None, start: float, end: float) -> Progress | None:
    """Map a sub-task's 0..1 onto [start, end] of the caller's progress."""
    if progress is None:
        return None
    return lambda fraction: progress(start + (end - start) * min(max(fraction, 0.0), 1.0))
