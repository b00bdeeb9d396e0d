"""Order a series' slices along the slice normal and check that they form one even grid."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dicom_headers import SliceHeader
from .errors import (DuplicateSliceError, GeometryError, MissingSlicesError, NotAVolumeError,
                     UnevenSpacingError)

# Positions closer than this along the normal are the same slice (mm).
SAME_POSITION_MM = 1e-3
ORTHOGONAL_TOLERANCE = 1e-3
GAP_FACTOR = 1.5
UNEVEN_FRACTION = 0.1


@dataclass(frozen=True)
class SliceStack:
    """The ordered slices of one series and the ITK geometry they span.

    Attributes:
        slices: Headers, first slice (smallest position along the normal) first.
        spacing: (column, row, slice) spacing in mm, ITK order.
        origin: Position of the first slice (LPS, mm).
        direction: Row-major 3x3: columns are the row, column and slice-normal directions.
        dropped: Duplicate files (same slice twice) left out, with why.
    """

    slices: tuple[SliceHeader, ...]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    dropped: tuple[str, ...] = ()


def stack_slices(folder: Path, headers: list[SliceHeader],
                 same_pixels: Callable[[SliceHeader, SliceHeader], bool]) -> SliceStack:
    """Order ``headers`` by position along the slice normal and check the grid.

    Args:
        folder: The series' folder (named in errors about the series as a whole).
        headers: One series' slice headers, any order.
        same_pixels: Whether two files at the same position hold identical pixels.

    Raises:
        NotAVolumeError, GeometryError, DuplicateSliceError, MissingSlicesError,
        UnevenSpacingError.
    """
    _require_same_frame(headers)
    row, column, normal = _axes(headers[0])
    ordered = sorted(headers, key=lambda h: (float(np.dot(normal, h.position)), str(h.path)))
    ordered, dropped = _drop_duplicates(ordered, normal, same_pixels)
    if len(ordered) < 2:
        raise NotAVolumeError(ordered[0].path, "a single 2D slice, not a volume: the series "
                              "has only this image; open the folder of the whole CT series")
    positions = np.array([h.position for h in ordered], dtype=float)
    _require_no_tilt(ordered, positions, normal)
    _require_even_steps(folder, ordered, positions @ normal)
    row_spacing, column_spacing = ordered[0].pixel_spacing  # type: ignore[misc]
    # As ITK's series reader: the first-to-last distance over (n - 1).
    slice_spacing = float(np.linalg.norm(positions[-1] - positions[0])) / (len(ordered) - 1)
    direction = np.column_stack([row, column, normal])
    return SliceStack(slices=tuple(ordered),
                      spacing=(column_spacing, row_spacing, slice_spacing),
                      origin=tuple(float(v) for v in positions[0]),  # type: ignore[arg-type]
                      direction=tuple(float(v) for v in direction.ravel()),
                      dropped=tuple(dropped))


def _require_same_frame(headers: list[SliceHeader]) -> None:
    first = headers[0]
    for header in headers:
        if header.position is None or header.orientation is None or header.pixel_spacing is None:
            missing = [name for name, value in (("ImagePositionPatient", header.position),
                                                ("ImageOrientationPatient", header.orientation),
                                                ("PixelSpacing", header.pixel_spacing))
                       if value is None]
            raise GeometryError(header.path, f"no {', '.join(missing)} in the header: the slice "
                                "cannot be placed in space; export the series with geometry")
        if (header.rows, header.columns) != (first.rows, first.columns):
            raise GeometryError(header.path, f"{header.rows}x{header.columns} pixels, but "
                                f"{first.path.name} has {first.rows}x{first.columns}: "
                                "not one series of equal slices")
        if not np.allclose(header.orientation, first.orientation, atol=ORTHOGONAL_TOLERANCE) or \
                not np.allclose(header.pixel_spacing, first.pixel_spacing, atol=1e-4):
            raise GeometryError(header.path, f"orientation or pixel spacing differs from "
                                f"{first.path.name}: the series mixes differently placed images")


def _axes(header: SliceHeader) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    row = np.asarray(header.orientation[:3], dtype=float)  # type: ignore[index]
    column = np.asarray(header.orientation[3:], dtype=float)  # type: ignore[index]
    lengths = (np.linalg.norm(row), np.linalg.norm(column))
    if min(lengths) < 1e-6 or abs(float(np.dot(row, column))) > ORTHOGONAL_TOLERANCE * \
            lengths[0] * lengths[1] or max(abs(n - 1.0) for n in lengths) > 0.01:
        raise GeometryError(header.path, f"ImageOrientationPatient {header.orientation} has "
                            "non-orthogonal or non-unit row/column directions: the image is "
                            "sheared; NoduleSeg needs an orthogonal grid")
    row, column = row / lengths[0], column / lengths[1]
    normal = np.cross(row, column)
    return row, column, normal / np.linalg.norm(normal)


def _drop_duplicates(ordered: list[SliceHeader], normal: np.ndarray,
                     same_pixels: Callable[[SliceHeader, SliceHeader], bool]
                     ) -> tuple[list[SliceHeader], list[str]]:
    kept = [ordered[0]]
    dropped: list[str] = []
    for header in ordered[1:]:
        previous = kept[-1]
        apart = float(np.dot(normal, np.subtract(header.position, previous.position)))
        if apart > SAME_POSITION_MM:
            kept.append(header)
            continue
        if header.sop_uid == previous.sop_uid or same_pixels(previous, header):
            dropped.append(f"{header.path} duplicates {previous.path.name} (same slice at "
                           f"{_mm(header.position)}); left out")
            continue
        raise DuplicateSliceError(header.path, f"a different image at the same slice position "
                                  f"{_mm(header.position)} as {previous.path.name}: the folder "
                                  "mixes two acquisitions; keep one series per folder or pick "
                                  "one with series_uid")
    return kept, dropped


def _require_no_tilt(ordered: list[SliceHeader], positions: np.ndarray,
                     normal: np.ndarray) -> None:
    offsets = positions - positions[0]
    lateral = offsets - np.outer(offsets @ normal, normal)
    worst = int(np.argmax(np.linalg.norm(lateral, axis=1)))
    # Half a pixel of drift over the whole series would misplace an exported label map.
    half_pixel = 0.5 * min(ordered[0].pixel_spacing)  # type: ignore[arg-type]
    if np.linalg.norm(lateral[worst]) > half_pixel:
        raise GeometryError(ordered[worst].path, f"slice positions drift "
                            f"{np.linalg.norm(lateral[worst]):.2f} mm sideways from the slice "
                            "normal (gantry tilt or a sheared stack); resample the series to an "
                            "orthogonal grid first (e.g. 3D Slicer, dcm2niix)")


def _require_even_steps(folder: Path, ordered: list[SliceHeader], along: np.ndarray) -> None:
    steps = np.diff(along)
    median = float(np.median(steps))
    gaps = np.flatnonzero(steps > GAP_FACTOR * median)
    if gaps.size:
        k = int(gaps[0])
        missing = int(round(steps[k] / median)) - 1
        raise MissingSlicesError(folder, f"slices missing: {steps[k]:.2f} mm between "
                                 f"{ordered[k].path.name} and {ordered[k + 1].path.name} where "
                                 f"the step is {median:.2f} mm (about {max(missing, 1)} slice(s) "
                                 f"gone, {gaps.size} gap(s) in all); copy the complete series")
    grid = along[0] + (along[-1] - along[0]) * np.arange(len(along)) / (len(along) - 1)
    stray = np.abs(along - grid)
    worst = int(np.argmax(stray))
    if stray[worst] > UNEVEN_FRACTION * median:
        raise UnevenSpacingError(folder, f"uneven slice spacing: steps range "
                                 f"{steps.min():.2f}-{steps.max():.2f} mm and "
                                 f"{ordered[worst].path.name} lies {stray[worst]:.2f} mm off an "
                                 "even grid; resample the series to even spacing first")


def _mm(position: object) -> str:
    return "(" + ", ".join(f"{float(v):.2f}" for v in position) + ") mm"  # type: ignore[union-attr]
