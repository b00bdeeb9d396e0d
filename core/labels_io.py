"""Label maps on disk in exactly the scan's geometry (NIfTI or NRRD): written atomically, and read
back as nodules of the open scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .atomic import atomic_path, why_not_written
from .errors import NodulesegError
from .nodule_mask import NoduleMask
from .volume import Volume, image_like

LABEL_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".seg.nrrd")


class ExportError(NodulesegError):
    """A label map cannot be written where asked."""


def save_labels(labels: np.ndarray, like: Volume, path: str | Path, overwrite: bool = False) -> Path:
    """Write a label map (z, y, x; 0 background, n nodule n) with ``like``'s exact geometry.

    Args:
        labels: Integer or boolean array shaped like ``like.hu``.
        like: The scan whose spacing, origin and direction the file gets.
        path: Target ``.nii.gz``, ``.nii`` or ``.nrrd``.
        overwrite: Replace an existing file; refused otherwise.

    Raises:
        ExportError: Wrong suffix, an existing file, labels that do not fit, or the write failed
            (full disk, no permission): nothing is left behind, an older file stays whole.
    """
    path = Path(path)
    if not path.name.lower().endswith(LABEL_SUFFIXES):
        raise ExportError(f"{path}: label maps are written as {', '.join(LABEL_SUFFIXES)}")
    if path.exists() and not overwrite:
        raise ExportError(f"{path}: file exists; choose another name or allow overwriting")
    if tuple(labels.shape) != like.shape_zyx:
        raise ExportError(f"{path}: label shape {labels.shape} differs from the scan's {like.shape_zyx}")
    if labels.size and int(labels.max()) > 255:
        raise ExportError(f"{path}: more than 255 labels do not fit a uint8 label map")
    image = image_like(np.asarray(labels, dtype=np.uint8), like)
    try:
        with atomic_path(path) as temporary:
            sitk.WriteImage(image, str(temporary), useCompression=True)
    except (OSError, RuntimeError) as error:  # SimpleITK reports a failed write as RuntimeError
        raise ExportError(f"{path}: not written: {why_not_written(error, path)}") from None
    return path


class LabelImportError(NodulesegError):
    """A label map cannot be read as nodules of the open scan."""


GEOMETRY_TOLERANCE = 1e-3


def load_labels(path: str | Path, like: Volume) -> list[tuple[int, NoduleMask]]:
    """The nodules of a label map (NIfTI or NRRD) drawn on ``like``: one per label value.

    Raises:
        LabelImportError: An unreadable file, another grid than the scan's (size, spacing, origin,
            direction), values that are not whole numbers 0..255, or no label at all.
    """
    path = Path(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        reason = [line for line in str(error).splitlines() if line.strip()][-1:] or ["unreadable"]
        raise LabelImportError(f"{path}: cannot read the label map ({reason[0].strip()})") from None
    _require_same_grid(path, image, like)
    values = sitk.GetArrayFromImage(image)
    if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)) or values.min() < 0 \
            or values.max() > 255:
        raise LabelImportError(f"{path}: values must be whole labels 0..255 (found {values.min()}..{values.max()})")
    ids = [int(v) for v in np.unique(values) if v > 0]
    if not ids:
        raise LabelImportError(f"{path}: no label in it (every voxel 0)")
    return [(label, NoduleMask.from_full(values == label)) for label in ids]


def _require_same_grid(path: Path, image: sitk.Image, like: Volume) -> None:
    found = {"size": image.GetSize(), "spacing": image.GetSpacing(), "origin": image.GetOrigin(),
             "direction": image.GetDirection()}
    expected = {"size": like.size_ijk, "spacing": like.spacing, "origin": like.origin, "direction": like.direction}
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise LabelImportError(f"{path}: a label map is one 3D value per voxel; this is "
                               f"{image.GetDimension()}D with {image.GetNumberOfComponentsPerPixel()} values")
    for name, value in found.items():
        if not np.allclose(value, expected[name], atol=GEOMETRY_TOLERANCE, rtol=GEOMETRY_TOLERANCE):
            raise LabelImportError(f"{path}: its {name} {tuple(round(v, 4) for v in value)} differs from the "
                                   f"open scan's {tuple(round(v, 4) for v in expected[name])}: the labels belong "
                                   "to another scan or grid")
