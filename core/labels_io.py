"""Label maps on disk in exactly the scan's geometry (NIfTI or NRRD), written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .atomic import atomic_path, why_not_written
from .errors import NodulesegError
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
