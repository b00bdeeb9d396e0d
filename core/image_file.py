"""Single-file volumes: NIfTI (.nii, .nii.gz), MetaImage (.mhd+.raw, .mha), NRRD (.nrrd, .nhdr)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import CorruptFileError, GeometryError, InvalidVoxelsError, NotAVolumeError
from .hu_convert import count_non_finite, slice_to_hu
from .memory_check import require_memory
from .nifti_check import check_nifti_data
from .volume import Volume, VolumeInfo

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".mhd", ".mha", ".nrrd", ".nhdr")
ORTHOGONAL_TOLERANCE = 1e-3
_PIXEL_BYTES = {sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2,
                sitk.sitkUInt32: 4, sitk.sitkInt32: 4, sitk.sitkFloat32: 4}


def is_image_file_name(path: Path) -> bool:
    """Whether the name ends in a suffix this module reads."""
    return path.name.lower().endswith(IMAGE_SUFFIXES)


def read_image_file(path: Path, progress: Callable[[float], None] | None = None) -> Volume:
    """Read a 3D scalar image file (values taken as HU) as an int16 Volume.

    Raises:
        CorruptFileError, NotAVolumeError, VolumeTooLargeError, GeometryError,
        InvalidVoxelsError.
    """
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    _run(path, reader.ReadImageInformation, "cannot read the image header")
    size = _check_shape(path, reader)
    pixel_bytes = _PIXEL_BYTES.get(reader.GetPixelID(), 8)
    n_voxels = int(np.prod(size, dtype=np.int64))
    require_memory(path, n_voxels * (pixel_bytes + 2),
                   f"{'x'.join(map(str, size))} voxels of "
                   f"{sitk.GetPixelIDValueAsString(reader.GetPixelID())}")
    _check_direction(path, reader.GetDirection())
    if path.name.lower().endswith((".nii", ".nii.gz")):
        check_nifti_data(path)
    if progress is not None:
        progress(0.0)
    image = _run(path, reader.Execute, "cannot read the voxels (truncated or damaged file?)")
    if image.GetDimension() == 4:  # a 4D file with one time point
        image = image[:, :, :, 0]
    hu = _to_hu(path, sitk.GetArrayViewFromImage(image), progress)
    return Volume(hu=hu, spacing=tuple(image.GetSpacing()), origin=tuple(image.GetOrigin()),
                  direction=tuple(image.GetDirection()), info=VolumeInfo(source=str(path)))


def _run(path: Path, call: Callable[[], object], what: str) -> object:
    try:
        return call()
    except RuntimeError as error:
        detail = _itk_reason(error)
        raise CorruptFileError(path, f"{what}: {detail}; the file is damaged, truncated or not "
                               "a NIfTI/MetaImage/NRRD image") from error


def _check_shape(path: Path, reader: sitk.ImageFileReader) -> tuple[int, ...]:
    size = tuple(int(n) for n in reader.GetSize())
    shown = "x".join(map(str, size))
    if reader.GetNumberOfComponents() != 1:
        raise NotAVolumeError(path, f"vector image ({reader.GetNumberOfComponents()} values per "
                              f"voxel, e.g. RGB), size {shown}: a CT volume has one HU per voxel")
    if len(size) > 3 and any(n > 1 for n in size[3:]):
        raise NotAVolumeError(path, f"{len(size)}D image ({shown}): one 3D CT volume is needed; "
                              "split out the time point or channel you want first")
    if not size or min(size) < 1:
        raise NotAVolumeError(path, f"the header gives size {shown}: an axis without voxels, no "
                              "image to load")
    if len(size) < 3 or size[2] < 2:
        raise NotAVolumeError(path, f"a single 2D slice ({shown}), not a volume: open the "
                              "whole CT scan")
    return size[:3]


def _check_direction(path: Path, direction: tuple[float, ...]) -> None:
    n = int(round(len(direction) ** 0.5))
    matrix = np.asarray(direction, dtype=float).reshape(n, n)
    if not np.allclose(matrix.T @ matrix, np.eye(n), atol=ORTHOGONAL_TOLERANCE):
        shown = tuple(float(v) for v in np.round(direction, 4))
        raise GeometryError(path, f"non-orthogonal direction matrix {shown} "
                            "(a sheared grid, e.g. gantry tilt): resample to an orthogonal grid "
                            "first (e.g. 3D Slicer)")


def _to_hu(path: Path, values: np.ndarray, progress: Callable[[float], None] | None
           ) -> np.ndarray:
    values = values.reshape(values.shape[-3:])
    hu = np.empty(values.shape, dtype=np.int16)
    for k in range(values.shape[0]):
        bad = count_non_finite(values[k])
        if bad:
            raise InvalidVoxelsError(path, f"{bad} NaN/infinite voxel values on slice {k} (and "
                                     "maybe more): not a valid CT; fix or re-export the file")
        slice_to_hu(values[k], hu[k])
        if progress is not None and k % 16 == 0:
            progress(k / values.shape[0])
    if progress is not None:
        progress(1.0)
    return hu


def _itk_reason(error: RuntimeError) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = lines[-1] if lines else type(error).__name__
    return reason.removeprefix("sitk::ERROR:").strip()
