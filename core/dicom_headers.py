"""DICOM slice headers, read fast (pixel data deferred) into small frozen records."""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement

from .errors import CorruptFileError, VolumeWarning

log = logging.getLogger(__name__)

# Raw little-endian pixel data can be read straight from the file at its offset.
_RAW_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
_PIXEL_DATA = 0x7FE00010
_UNDEFINED_LENGTH = 0xFFFFFFFF
# The header elements NoduleSeg reads; pydicom skips the values of all others (faster).
_TAGS_READ = [0x00080005, 0x00080018, 0x00080060, 0x00081030, 0x0008103E, 0x00100020,
              0x0020000E, 0x00200011, 0x00200013, 0x00200032, 0x00200037, 0x00280002,
              0x00280008, 0x00280010, 0x00280011, 0x00280030, 0x00280100, 0x00280101,
              0x00280103, 0x00280120, 0x00281052, 0x00281053, 0x00281054, 0x00280121,
              _PIXEL_DATA]
# Errors pydicom raises on damaged files (it has no single base class for them).

@dataclass(frozen=True)
class SliceHeader:
    """What one DICOM file says about itself: identity, geometry and pixel encoding.

    Attributes:
        path: The file.
        series_uid, sop_uid, modality, patient_id, study_description, series_description,
        series_number, instance_number: Identity, as in the header ("" / 0 when absent).
        position: ImagePositionPatient (x, y, z) mm, or None.
        orientation: ImageOrientationPatient (row x, y, z, column x, y, z), or None.
        pixel_spacing: PixelSpacing (between rows, between columns) mm, or None.
        rows, columns, samples_per_pixel, frames: Image shape.
        bits_allocated, bits_stored, signed: Pixel encoding.
        slope, intercept: RescaleSlope / RescaleIntercept (1, 0 when absent).
        padding: PixelPaddingValue (and range limit) as stored values, or None.
        transfer_syntax: Transfer syntax UID.
        pixel_offset: Byte offset of raw little-endian pixel data in the file; None when
            compressed, absent or encoded otherwise.
        has_pixels: Whether the file holds PixelData.
        file_size: Size of the file in bytes.
    """

    path: Path
    series_uid: str
    sop_uid: str
    modality: str
    patient_id: str
    study_description: str
    series_description: str
    series_number: int
    instance_number: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    rows: int
    columns: int
    samples_per_pixel: int
    frames: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    slope: float
    intercept: float
    padding: tuple[int, int] | None
    transfer_syntax: str
    pixel_offset: int | None
    has_pixels: bool
    file_size: int

    @property
    def expected_pixel_bytes(self) -> int:
        """Bytes of uncompressed pixel data the header promises."""
        return self.rows * self.columns * self.samples_per_pixel * self.frames * \
            self.bits_allocated // 8


def looks_like_dicom(path: Path) -> bool:
    """Cheap sniff: the 'DICM' marker at byte 128, or a raw file starting with group 0x0008."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(132)
    except OSError:
        return False
    if len(head) == 132 and head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and head[0:2] == b"\x08\x00" and head[3:4] == b"\x00"


def read_slice_header(path: Path) -> SliceHeader:
    """Parse one DICOM file's header; its pixel data stays on disk.

    Raises:
        CorruptFileError: The file looks like DICOM but cannot be parsed.
    """
    try:
        ds = pydicom.dcmread(path, defer_size=1024, force=not _has_preamble(path),
                             specific_tags=_TAGS_READ)
        cut_short = _ends_inside_header(ds)
        header = _header_from_dataset(path, ds)
    except Exception as error:  # noqa: BLE001 - pydicom meets damaged bytes with many types (unknown
        # VR, odd value lengths, zlib and memory errors): every one means this file cannot be read
        raise CorruptFileError(path, f"damaged or truncated DICOM file ({type(error).__name__}: "
                               f"{_short(error)}); remove it or export the series again") from error
    if cut_short:
        raise CorruptFileError(path, "damaged or truncated DICOM file (it ends inside the "
                               "header); remove it or export the series again")
    if not header.series_uid or not header.sop_uid:
        # Every DICOM image has both; pydicom reads a garbled or cut header as "nothing".
        raise CorruptFileError(path, "damaged or truncated DICOM file (no SeriesInstanceUID or "
                               "SOPInstanceUID could be read); remove it or export the series "
                               "again")
    return header


def iter_files(folder: Path) -> Iterator[Path]:
    """Every regular file below ``folder``, sorted, hidden files and folders skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def scan_headers(files: list[Path], progress: Callable[[float], None] | None = None
                 ) -> tuple[list[SliceHeader], list[Path], list[CorruptFileError]]:
    """Headers of the DICOM files among ``files``; damaged ones are skipped, with a warning.

    DICOMDIR index files are counted as non-DICOM (they hold no image). A file that looks like
    DICOM but whose header cannot be read warns (VolumeWarning naming it and the problem) and
    is left out: one damaged file, say a scout or a dose report, must not block the other
    series of the folder.

    Returns:
        The headers, the files that are not DICOM, and why each skipped file was skipped.
    """
    headers: list[SliceHeader] = []
    others: list[Path] = []
    unreadable: list[CorruptFileError] = []
    for n, path in enumerate(files):
        if path.name.upper() == "DICOMDIR" or not looks_like_dicom(path):
            others.append(path)
            continue
        try:
            headers.append(read_slice_header(path))
        except CorruptFileError as error:
            _warn_skipped(error)
            unreadable.append(error)
        if progress is not None and n % 16 == 0:
            progress(n / max(len(files), 1))
    return headers, others, unreadable


def name_skipped(folder: Path, unreadable: list[CorruptFileError]) -> str:
    """The skipped files, relative to ``folder``, for a message: 'a.dcm, b.dcm and 2 more'."""
    names = [os.path.relpath(error.path, folder) for error in unreadable]
    shown = ", ".join(names[:3])
    return shown if len(names) <= 3 else f"{shown} and {len(names) - 3} more"


def _warn_skipped(error: CorruptFileError) -> None:
    note = f"{error.path} skipped: {error.problem}"
    log.warning(note)
    # Points at the caller of load_volume / list_series (via scan_series or _load_dicom_file).
    warnings.warn(note, VolumeWarning, stacklevel=5)


def _has_preamble(path: Path) -> bool:
    with open(path, "rb") as stream:
        stream.seek(128)
        return stream.read(4) == b"DICM"


def _ends_inside_header(ds: pydicom.Dataset) -> bool:
    """Whether a header value read is shorter than its stated length: the file ends in it.

    pydicom keeps such a stub silently; a SeriesInstanceUID cut to '1.2.' would make the file
    a bogus series of its own.
    """
    for tag in ds.keys():
        if tag == _PIXEL_DATA:
            continue  # short pixel data is refused, naming the file, when the pixels are read
        element = ds.get_item(tag)
        if isinstance(element, RawDataElement) and element.value is not None and \
                element.length != _UNDEFINED_LENGTH and len(element.value) < element.length:
            return True
    return False


def _header_from_dataset(path: Path, ds: pydicom.Dataset) -> SliceHeader:
    syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or
                 "1.2.840.10008.1.2")
    has_pixels = _PIXEL_DATA in ds
    signed = _int(ds.get("PixelRepresentation")) == 1
    bits_allocated = _int(ds.get("BitsAllocated"), 16)
    return SliceHeader(
        path=path,
        series_uid=_text(ds, 0x0020000E),
        sop_uid=_text(ds, 0x00080018),
        modality=_text(ds, 0x00080060).upper(),
        patient_id=str(ds.get("PatientID", "") or ""),
        study_description=str(ds.get("StudyDescription", "") or ""),
        series_description=str(ds.get("SeriesDescription", "") or ""),
        series_number=_int(_text(ds, 0x00200011)),
        instance_number=_int(_text(ds, 0x00200013)),
        position=_floats(ds, 0x00200032, 3),
        orientation=_floats(ds, 0x00200037, 6),
        pixel_spacing=_floats(ds, 0x00280030, 2),
        rows=_int(ds.get("Rows")),
        columns=_int(ds.get("Columns")),
        samples_per_pixel=_int(ds.get("SamplesPerPixel"), 1),
        frames=max(_int(_text(ds, 0x00280008), 1), 1),
        bits_allocated=bits_allocated,
        bits_stored=_int(ds.get("BitsStored"), bits_allocated),
        signed=signed,
        slope=_float(_text(ds, 0x00281053), 1.0) or 1.0,
        intercept=_float(_text(ds, 0x00281052), 0.0),
        padding=_padding(ds, bits_allocated, signed),
        transfer_syntax=syntax,
        pixel_offset=_raw_pixel_offset(ds, syntax) if has_pixels else None,
        has_pixels=has_pixels,
        file_size=path.stat().st_size,
    )


def _text(ds: pydicom.Dataset, tag: int) -> str:
    """An ASCII-valued element (UI, CS, DS, IS) as text, without pydicom's slow conversion."""
    element = ds.get_item(tag)
    if element is None:
        return ""
    value = element.value
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace").strip("\x00 ")
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value).strip()


def _raw_pixel_offset(ds: pydicom.Dataset, syntax: str) -> int | None:
    if syntax not in _RAW_SYNTAXES or int(ds.get("BitsAllocated", 0) or 0) not in (8, 16, 32):
        return None
    element = ds.get_item(_PIXEL_DATA)
    offset = getattr(element, "file_tell", None)
    return int(offset) if offset is not None else None


def _padding(ds: pydicom.Dataset, bits_allocated: int, signed: bool) -> tuple[int, int] | None:
    value = ds.get("PixelPaddingValue")
    if value is None:
        return None
    limit = ds.get("PixelPaddingRangeLimit", value)
    low, high = sorted((_as_stored(value, bits_allocated, signed),
                        _as_stored(limit, bits_allocated, signed)))
    return low, high


def _as_stored(value: object, bits: int, signed: bool) -> int:
    """PixelPaddingValue is often written as US even for signed pixels (63536 = -2000)."""
    number = int(value)  # type: ignore[call-overload]
    if signed and number >= 2 ** (bits - 1):
        number -= 2 ** bits
    return number


def _int(value: object, default: int = 0) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def _float(text: str, default: float) -> float:
    """A DS value; a missing one gives ``default``, an unreadable one NaN (refused later)."""
    if not text.strip():
        return default
    try:
        return float(text.split("\\")[0])
    except ValueError:
        return float("nan")


def _floats(ds: pydicom.Dataset, tag: int, count: int) -> tuple[float, ...] | None:
    """``count`` finite numbers of a DS element, else None (treated as missing)."""
    try:
        numbers = tuple(float(v) for v in _text(ds, tag).split("\\"))
    except ValueError:
        return None
    return numbers if len(numbers) == count and all(math.isfinite(v) for v in numbers) else None


def _short(error: Exception, limit: int = 120) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + "..."
