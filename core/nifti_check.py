"""Checks ITK's NIfTI reader skips: short voxel data, and NaN/inf (which ITK turns into 0)."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import CorruptFileError, InvalidVoxelsError

_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4",
           1024: "i8", 1280: "u8"}
_CHUNK_BYTES = 8 * 2**20
MAX_OFFSET = 2**40  # no file holds its voxels a terabyte in
_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile, struct.error)


def check_nifti_data(path: Path) -> None:
    """Refuse a NIfTI file whose voxel data is cut short, or whose float voxels hold NaN/inf.

    Integer files are checked by size (the gzip trailer for .nii.gz) without decompressing;
    float files are streamed once to count non-finite values.

    Raises:
        CorruptFileError: Truncated or damaged data.
        InvalidVoxelsError: NaN or infinite voxel values.
    """
    compressed = path.name.lower().endswith(".gz")
    try:
        with _open(path, compressed) as stream:
            layout = _layout(stream.read(540))
        if layout == "bad offset":
            raise CorruptFileError(path, "the header's vox_offset is not a byte position in the file "
                                   "(NaN, infinite, negative or huge): the header is damaged")
        if layout is None:
            return  # not a plain scalar NIfTI: ITK's own checks apply
        dtype, offset, n_bytes = layout
        if dtype.kind == "f":
            _stream_check(path, compressed, dtype, offset, n_bytes)
        elif _stored_size(path, compressed) != (offset + n_bytes) % (2**32 if compressed
                                                                     else 2**64):
            _stream_check(path, compressed, dtype, offset, n_bytes)
    except _READ_ERRORS as error:
        raise CorruptFileError(path, f"damaged or truncated file ({error}); copy or export it "
                               "again") from error


def _open(path: Path, compressed: bool) -> BinaryIO:
    return gzip.open(path, "rb") if compressed else open(path, "rb")  # type: ignore[return-value]


def _layout(head: bytes) -> tuple[np.dtype, int, int] | str | None:
    """(dtype, voxel offset, voxel bytes) from a NIfTI-1 or NIfTI-2 header, None if unknown,
    "bad offset" where vox_offset cannot be a position in a file."""
    for endian in "<>":
        size = struct.unpack(f"{endian}i", head[:4])[0]
        if size == 348:
            dims = struct.unpack(f"{endian}8h", head[40:56])
            code = struct.unpack(f"{endian}h", head[70:72])[0]
            stated = struct.unpack(f"{endian}f", head[108:112])[0]
            if not math.isfinite(stated) or not 0 <= stated < MAX_OFFSET:
                return "bad offset"
            offset = int(stated)
        elif size == 540:
            code = struct.unpack(f"{endian}h", head[12:14])[0]
            dims = struct.unpack(f"{endian}8q", head[16:80])
            offset = struct.unpack(f"{endian}q", head[168:176])[0]
            if not 0 <= offset < MAX_OFFSET:
                return "bad offset"
        else:
            continue
        if code not in _DTYPES or not 1 <= dims[0] <= 7:
            return None
        dtype = np.dtype(endian + _DTYPES[code])
        n_voxels = int(np.prod([max(int(d), 1) for d in dims[1:dims[0] + 1]], dtype=np.int64))
        return dtype, max(offset, size), n_voxels * dtype.itemsize
    return None


def _stored_size(path: Path, compressed: bool) -> int:
    """File size, or for gzip the trailer's uncompressed size (mod 2**32), without inflating."""
    if not compressed:
        return path.stat().st_size
    with open(path, "rb") as stream:
        stream.seek(-4, 2)
        return struct.unpack("<I", stream.read(4))[0]


def _stream_check(path: Path, compressed: bool, dtype: np.dtype, offset: int,
                  n_bytes: int) -> None:
    chunk = _CHUNK_BYTES - _CHUNK_BYTES % dtype.itemsize
    seen = bad = 0
    with _open(path, compressed) as stream:
        stream.seek(offset)
        while seen < n_bytes:
            block = stream.read(min(chunk, n_bytes - seen))
            if not block:
                break
            seen += len(block)
            if dtype.kind == "f":
                values = np.frombuffer(block[: len(block) - len(block) % dtype.itemsize], dtype)
                bad += values.size - int(np.count_nonzero(np.isfinite(values)))
    if seen < n_bytes:
        raise CorruptFileError(path, f"truncated file: {n_bytes} bytes of voxels expected, "
                               f"{seen} found; copy or export it again")
    if bad:
        raise InvalidVoxelsError(path, f"{bad} NaN/infinite voxel values: not a valid CT; fix "
                                 "or re-export the file")
