"""Errors a user can cause. Each carries a message a person can act on.

The CLI prints ``str(error)`` and exits with status 2; the app shows it in a dialog.
"""

from __future__ import annotations

from pathlib import Path


class NodulesegError(Exception):
    """Base of every error NoduleSeg raises for bad input (never for its own bugs)."""


class VolumeError(NodulesegError):
    """A path cannot be read as a CT volume.

    Args:
        path: The file or folder at fault.
        problem: What is wrong with it, in words a reader understands.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ModelError(NodulesegError):
    """A model folder or file is missing, corrupt or does not match its card."""


class SegmentationError(NodulesegError):
    """A seed or box cannot be segmented (outside the image, nothing found there)."""


class DatasetError(NodulesegError):
    """A training data set is malformed (missing label, geometry mismatch, empty label)."""


# --- Why a path cannot be read as a CT volume (all VolumeError, so callers may catch the base) ---


class VolumeNotFoundError(VolumeError):
    """The path does not exist."""


class EmptyFolderError(VolumeError):
    """The folder holds no files at all (searched recursively)."""


class NotAnImageError(VolumeError):
    """A file is not an image NoduleSeg reads, or a folder holds no DICOM file."""


class CorruptFileError(VolumeError):
    """A DICOM, NIfTI, MetaImage, NRRD or gzip file is truncated or damaged."""


class MissingPixelDataError(VolumeError):
    """A DICOM file of the series has a header but no pixel data."""


class ModalityError(VolumeError):
    """The series or file is not CT (MR, SEG, RTSTRUCT, SR...).

    Args:
        path: The file or folder at fault.
        problem: What is wrong with it.
        modality: The DICOM Modality found ("" when absent).
    """

    def __init__(self, path: str | Path, problem: str, modality: str = "") -> None:
        super().__init__(path, problem)
        self.modality = modality


class SeriesNotFoundError(VolumeError):
    """The requested series UID is not in the folder."""


class NotAVolumeError(VolumeError):
    """Not one 3D scalar volume: a single 2D slice, a 4D/time series or a vector (RGB) image."""


class SliceSpacingError(VolumeError):
    """The slices of a series are not evenly spaced."""


class MissingSlicesError(SliceSpacingError):
    """A gap between two slices is larger than 1.5x the median step: slices are missing."""


class UnevenSpacingError(SliceSpacingError):
    """Slice positions stray from an even grid by more than a tenth of the step."""


class DuplicateSliceError(VolumeError):
    """Two different images claim the same slice position."""


class GeometryError(VolumeError):
    """Gantry tilt, a non-orthogonal direction, or slices that disagree on orientation/size."""


class VolumeTooLargeError(VolumeError):
    """The image would not fit in the memory available now (checked before allocating).

    Args:
        path: The file or folder at fault.
        problem: What is wrong with it.
        needed_bytes: Memory the load would take.
        available_bytes: Memory available when checked.
    """

    def __init__(self, path: str | Path, problem: str, needed_bytes: int = 0,
                 available_bytes: int = 0) -> None:
        super().__init__(path, problem)
        self.needed_bytes = needed_bytes
        self.available_bytes = available_bytes


class InvalidVoxelsError(VolumeError):
    """The image holds NaN or infinite voxel values."""


class LabelMapGivenError(VolumeError):
    """A label map (segmentation, mask) was given where a CT is needed."""


class VolumeWarning(UserWarning):
    """A scan was loaded, but something about it was repaired or deserves a look."""
