"""Pixels of an ordered DICOM series -> one int16 HU array, slice by slice, no big copies."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import SimpleITK as sitk

from .dicom_geometry import SliceStack
from .dicom_headers import SliceHeader
from .errors import CorruptFileError, MissingPixelDataError, NotAVolumeError
from .hu_convert import slice_to_hu


# A rescale beyond these cannot be CT: HU run from -1024 to a few thousand, stored values are
# at most 32 bits. (Real series use slope 1 or so and intercept -1024, -1000 or -8192.)
MAX_ABS_SLOPE = 1e4
MAX_ABS_INTERCEPT = 1e6


def check_pixel_headers(slices: tuple[SliceHeader, ...] | list[SliceHeader]) -> None:
    """Refuse files without pixels, an empty or unusable image size, multi-frame or colour files,
    a rescale that cannot give HU, and truncated raw pixel data.

    Raises:
        MissingPixelDataError, NotAVolumeError, CorruptFileError.
    """
    for header in slices:
        if header.rows < 1 or header.columns < 1:
            raise NotAVolumeError(header.path, f"the header gives {header.rows}x{header.columns} "
                                  "pixels (Rows x Columns missing or 0): no image to load")
        if not (math.isfinite(header.slope) and math.isfinite(header.intercept)) or \
                abs(header.slope) > MAX_ABS_SLOPE or abs(header.intercept) > MAX_ABS_INTERCEPT:
            raise CorruptFileError(header.path, f"RescaleSlope {header.slope:g} / RescaleIntercept "
                                   f"{header.intercept:g} cannot turn stored values into HU; the "
                                   "header is damaged")
        if not header.has_pixels:
            raise MissingPixelDataError(header.path, "DICOM file without pixel data (a header "
                                        "only); copy the complete series again")
        if header.samples_per_pixel != 1:
            raise NotAVolumeError(header.path, f"colour/vector image ({header.samples_per_pixel} "
                                  "samples per pixel), not a CT slice")
        if header.frames != 1:
            raise NotAVolumeError(header.path, f"multi-frame DICOM ({header.frames} frames in "
                                  "one file) is not supported; convert it to one file per slice "
                                  "or to NIfTI (e.g. dcm2niix)")
        if header.pixel_offset is not None and \
                header.file_size < header.pixel_offset + header.expected_pixel_bytes:
            raise CorruptFileError(header.path, f"truncated DICOM file: the pixel data needs "
                                   f"{header.expected_pixel_bytes} bytes, the file ends after "
                                   f"{header.file_size - header.pixel_offset}; copy it again")


def read_stack_hu(stack: SliceStack, progress: Callable[[float], None] | None = None
                  ) -> np.ndarray:
    """The stack's voxels as int16 HU, shape (slices, rows, columns).

    Rescale slope/intercept applied; padding (PixelPaddingValue, <= -2000 HU) becomes air.
    """
    first = stack.slices[0]
    hu = np.empty((len(stack.slices), first.rows, first.columns), dtype=np.int16)
    for k, header in enumerate(stack.slices):
        _slice_into(header, hu[k])
        if progress is not None and k % 8 == 0:
            progress(k / len(stack.slices))
    if progress is not None:
        progress(1.0)
    return hu


def same_pixels(a: SliceHeader, b: SliceHeader) -> bool:
    """Whether two files hold identical HU images (a copied file of the same slice)."""
    if (a.rows, a.columns) != (b.rows, b.columns):
        return False
    first = np.empty((a.rows, a.columns), dtype=np.int16)
    second = np.empty_like(first)
    _slice_into(a, first)
    _slice_into(b, second)
    return bool(np.array_equal(first, second))


def _slice_into(header: SliceHeader, out: np.ndarray) -> None:
    if header.pixel_offset is not None:
        values = _raw_values(header)
        slice_to_hu(values, out, header.slope, header.intercept, _padding_hu(header))
    else:
        # GDCM decodes compressed syntaxes and applies the rescale itself.
        values = _gdcm_values(header)
        slice_to_hu(values, out, 1.0, 0.0, _padding_hu(header))


def _raw_values(header: SliceHeader) -> np.ndarray:
    kind = "i" if header.signed else "u"
    dtype = np.dtype(f"<{kind}{header.bits_allocated // 8}")
    count = header.rows * header.columns
    try:
        values = np.fromfile(header.path, dtype=dtype, count=count, offset=header.pixel_offset)
    except (OSError, ValueError) as error:
        raise CorruptFileError(header.path, f"cannot read pixel data ({error})") from error
    if values.size != count:
        raise CorruptFileError(header.path, "truncated DICOM file: pixel data ends early; "
                               "copy it again")
    values = values.reshape(header.rows, header.columns)
    unused = header.bits_allocated - header.bits_stored
    if 0 < unused < header.bits_allocated:
        # Keep only the stored bits (sign-extending signed values), as the standard says.
        if header.signed:
            values = (values << unused) >> unused
        else:
            values = values & ((1 << header.bits_stored) - 1)
    return values


def _gdcm_values(header: SliceHeader) -> np.ndarray:
    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileName(str(header.path))
    try:
        image = reader.Execute()
    except RuntimeError as error:
        raise CorruptFileError(header.path, f"cannot decode the pixel data (transfer syntax "
                               f"{header.transfer_syntax}): {_first_line(error)}") from error
    values = sitk.GetArrayFromImage(image)
    if values.size != header.rows * header.columns:
        raise NotAVolumeError(header.path, f"decoded {values.shape} values, expected one "
                              f"{header.rows}x{header.columns} slice")
    return values.reshape(header.rows, header.columns)


def _padding_hu(header: SliceHeader) -> tuple[float, float] | None:
    if header.padding is None:
        return None
    ends = sorted(float(np.rint(v * header.slope + header.intercept)) for v in header.padding)
    return ends[0], ends[1]


def _first_line(error: Exception) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__

