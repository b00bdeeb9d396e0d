"""Nodule measurements from a mask and its scan. Pure functions.

In-plane diameters are measured on the outline a reader sees, one piece at a time: on each axial
slice the mask falls into in-plane pieces (8-connected), and each piece's outline is the convex
hull of the corners of its pixels, in mm. The hull spans a piece's holes, as RECIST measures
across a cavity, but never the gap between two pieces. The long axis is the largest diameter of
any piece on any slice; the short axis is the longest chord of that same piece's hull
perpendicular to the long axis (RECIST).

An outline in several 3D pieces (26-connected: voxels touching at a corner are one piece) or
with an enclosed hole on some slice is flagged, so a reader knows to look before trusting it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull

from .errors import SegmentationError
from .nodule_mask import NoduleMask
from .volume import Volume

SOLID_HU = -300.0
IN_PLANE = np.ones((3, 3), dtype=bool)  # 8-connectivity
IN_SPACE = np.ones((3, 3, 3), dtype=bool)  # 26-connectivity

PointIJK = tuple[float, float, float]


@dataclass(frozen=True)
class Measurements:
    """What a reader reports about one nodule.

    Attributes:
        long_axis_mm: Largest in-plane diameter on any axial slice.
        short_axis_mm: Longest extent perpendicular to the long axis, on the same slice.
        long_axis_ends_ijk: The long axis' two end points as fractional ITK indices (i, j, k).
        short_axis_ends_ijk: The short axis' two end points, likewise.
        mean_axial_diameter_mm: (long + short) / 2.
        volume_mm3: Voxel count times voxel volume.
        equivalent_diameter_mm: Diameter of the sphere of the same volume.
        mean_hu: Mean HU inside the mask.
        sd_hu: Standard deviation of HU inside the mask.
        solid_fraction: Fraction of voxels above -300 HU.
        k_first: First slice holding the nodule.
        k_last: Last slice holding the nodule.
        axis_slice_k: The slice on which both axes lie.
        centroid_ijk: Centre of mass as fractional ITK index (i, j, k).
        centroid_world: Centre of mass in world mm (LPS).
        pieces: 3D connected pieces of the mask (26-connectivity); more than one means the
            outline is split and the axes lie on one of its pieces.
        axis_slice_pieces: In-plane pieces (8-connectivity) on the axis slice.
        holes: Whether any axial slice of the mask encloses a hole.
    """

    long_axis_mm: float
    short_axis_mm: float
    long_axis_ends_ijk: tuple[PointIJK, PointIJK]
    short_axis_ends_ijk: tuple[PointIJK, PointIJK]
    mean_axial_diameter_mm: float
    volume_mm3: float
    equivalent_diameter_mm: float
    mean_hu: float
    sd_hu: float
    solid_fraction: float
    k_first: int
    k_last: int
    axis_slice_k: int
    centroid_ijk: PointIJK
    centroid_world: tuple[float, float, float]
    pieces: int
    axis_slice_pieces: int
    holes: bool

    @property
    def outline_flag(self) -> str:
        """What a reader should check in the outline: '', '2 pieces', 'hole', '2 pieces, hole'."""
        flags = [f"{self.pieces} pieces"] if self.pieces > 1 else []
        return ", ".join(flags + ["hole"] * self.holes)

    def to_row(self) -> dict[str, Any]:
        """A flat table row (mm to 0.01, HU to 0.1, indices to 0.01)."""
        (li0, lj0, _), (li1, lj1, _) = self.long_axis_ends_ijk
        (si0, sj0, _), (si1, sj1, _) = self.short_axis_ends_ijk
        row: dict[str, Any] = {
            "long_axis_mm": round(self.long_axis_mm, 2),
            "short_axis_mm": round(self.short_axis_mm, 2),
            "mean_axial_diameter_mm": round(self.mean_axial_diameter_mm, 2),
            "volume_mm3": round(self.volume_mm3, 2),
            "equivalent_diameter_mm": round(self.equivalent_diameter_mm, 2),
            "mean_hu": round(self.mean_hu, 1), "sd_hu": round(self.sd_hu, 1),
            "solid_fraction": round(self.solid_fraction, 3),
            "k_first": self.k_first, "k_last": self.k_last, "axis_slice_k": self.axis_slice_k,
        }
        names = ("centroid_i", "centroid_j", "centroid_k")
        row.update({n: round(v, 2) for n, v in zip(names, self.centroid_ijk)})
        names = ("centroid_x_mm", "centroid_y_mm", "centroid_z_mm")
        row.update({n: round(v, 2) for n, v in zip(names, self.centroid_world)})
        ends = {"long_axis_i0": li0, "long_axis_j0": lj0, "long_axis_i1": li1, "long_axis_j1": lj1,
                "short_axis_i0": si0, "short_axis_j0": sj0, "short_axis_i1": si1, "short_axis_j1": sj1}
        row.update({n: round(v, 2) for n, v in ends.items()})
        row.update(pieces=self.pieces, axis_slice_pieces=self.axis_slice_pieces, holes=self.holes,
                   outline_flag=self.outline_flag)
        return row


@dataclass(frozen=True)
class AxialAxes:
    """Long and short axis of one piece's outline, end points in mm (x, y)."""

    long_mm: float
    long_ends_xy: np.ndarray
    short_mm: float
    short_ends_xy: np.ndarray


def outline_hull_mm(plane: np.ndarray, spacing_yx: tuple[float, float]) -> np.ndarray:
    """Convex hull (n, 2) of the mask's pixel corners as (x, y) mm, counter-clockwise."""
    edge = plane & ~ndimage.binary_erosion(plane)
    rows, cols = np.nonzero(edge)
    corners = [(cols + dc, rows + dr) for dr in (-0.5, 0.5) for dc in (-0.5, 0.5)]
    points = np.concatenate([np.stack(c, axis=1) for c in corners]).astype(float)
    points *= np.asarray([spacing_yx[1], spacing_yx[0]])
    hull = ConvexHull(points)
    return points[hull.vertices]


def piece_hulls(plane: np.ndarray, spacing_yx: tuple[float, float]) -> list[np.ndarray]:
    """The outline hull (x, y mm, in ``plane``'s frame) of each in-plane piece of one slice."""
    labels, _ = ndimage.label(plane, structure=IN_PLANE)
    hulls = []
    for label, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        corner_xy = np.array([cols.start * spacing_yx[1], rows.start * spacing_yx[0]])
        hulls.append(outline_hull_mm(labels[rows, cols] == label, spacing_yx) + corner_xy)
    return hulls


def longest_chord(hull: np.ndarray) -> tuple[float, np.ndarray]:
    """Largest distance between two hull vertices and the pair (2, 2)."""
    distances = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=-1)
    a, b = np.unravel_index(int(np.argmax(distances)), distances.shape)
    return float(distances[a, b]), hull[[a, b]]


def perpendicular_chord(hull: np.ndarray, direction: np.ndarray) -> tuple[float, np.ndarray]:
    """Longest chord of a convex polygon perpendicular to ``direction`` and its ends (2, 2).

    The chord length along the axis is concave and piecewise linear with kinks at the
    vertices' projections, so its maximum lies at one of them.
    """
    u = direction / np.linalg.norm(direction)
    v = np.array([-u[1], u[0]])
    t, s = hull @ u, hull @ v
    t_next, s_next = np.roll(t, -1), np.roll(s, -1)
    position = t[:, None]  # candidate chord positions x edges
    crossing = (t - position) * (t_next - position) < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = (position - t) / (t_next - t)
    hits = np.where(crossing, s + fraction * (s_next - s), np.nan)
    at_vertex = np.isclose(t, position, atol=1e-9)
    hits = np.concatenate([hits, np.where(at_vertex, s, np.nan)], axis=1)
    low, high = np.nanmin(hits, axis=1), np.nanmax(hits, axis=1)
    best = int(np.argmax(high - low))
    ends = np.stack([t[best] * u + low[best] * v, t[best] * u + high[best] * v])
    return float(high[best] - low[best]), ends


def axis_piece(mask: np.ndarray, spacing_yx: tuple[float, float]) -> tuple[int, int, AxialAxes]:
    """The in-plane piece with the largest long axis over all axial slices of a non-empty mask.

    Returns:
        Its slice (index into ``mask``), the number of pieces on that slice, and its axes
        (the first such piece, slice by slice, on a tie).
    """
    best: tuple[float, int, int, np.ndarray, np.ndarray] | None = None
    for dz, plane in enumerate(mask):
        hulls = piece_hulls(plane, spacing_yx)
        for hull in hulls:
            long_mm, long_ends = longest_chord(hull)
            if best is None or long_mm > best[0]:
                best = (long_mm, dz, len(hulls), hull, long_ends)
    if best is None:
        raise SegmentationError("the nodule mask is empty: nothing to measure")
    long_mm, dz, count, hull, long_ends = best
    short_mm, short_ends = perpendicular_chord(hull, long_ends[1] - long_ends[0])
    return dz, count, AxialAxes(long_mm, long_ends, short_mm, short_ends)


def has_hole(mask: np.ndarray) -> bool:
    """Whether any axial slice encloses background (4-connected, the dual of 8-connected pieces)."""
    return any(not np.array_equal(ndimage.binary_fill_holes(plane), plane) for plane in mask)


def _to_ijk(points_xy: np.ndarray, k: int, spacing_yx: tuple[float, float]) -> tuple[PointIJK, PointIJK]:
    i = points_xy[:, 0] / spacing_yx[1]
    j = points_xy[:, 1] / spacing_yx[0]
    return ((float(i[0]), float(j[0]), float(k)), (float(i[1]), float(j[1]), float(k)))


def measure(mask: NoduleMask, volume: Volume) -> Measurements:
    """All measurements of one nodule.

    Raises:
        SegmentationError: The mask is empty.
    """
    if mask.is_empty:
        raise SegmentationError("the nodule mask is empty: nothing to measure")
    spacing_yx = volume.spacing_zyx[1:]
    k0, j0, i0 = mask.offset_zyx
    offset_xy = np.array([i0 * spacing_yx[1], j0 * spacing_yx[0]])
    dz, axis_slice_pieces, best = axis_piece(mask.mask, spacing_yx)
    axis_k = k0 + dz
    occupied_k = k0 + np.flatnonzero(mask.mask.any(axis=(1, 2)))
    hu = volume.hu[mask.box][mask.mask].astype(np.float64)
    voxel_mm3 = float(np.prod(volume.spacing))
    volume_mm3 = mask.voxel_count * voxel_mm3
    zyx = np.argwhere(mask.mask).mean(axis=0) + np.asarray(mask.offset_zyx)
    centroid_ijk = (float(zyx[2]), float(zyx[1]), float(zyx[0]))
    return Measurements(
        long_axis_mm=best.long_mm, short_axis_mm=best.short_mm,
        long_axis_ends_ijk=_to_ijk(best.long_ends_xy + offset_xy, axis_k, spacing_yx),
        short_axis_ends_ijk=_to_ijk(best.short_ends_xy + offset_xy, axis_k, spacing_yx),
        mean_axial_diameter_mm=(best.long_mm + best.short_mm) / 2.0,
        volume_mm3=volume_mm3,
        equivalent_diameter_mm=float((6.0 * volume_mm3 / np.pi) ** (1.0 / 3.0)),
        mean_hu=float(hu.mean()), sd_hu=float(hu.std()),
        solid_fraction=float(np.mean(hu > SOLID_HU)),
        k_first=int(occupied_k[0]), k_last=int(occupied_k[-1]), axis_slice_k=axis_k,
        centroid_ijk=centroid_ijk,
        centroid_world=tuple(float(v) for v in volume.index_to_world(centroid_ijk)),  # type: ignore[arg-type]
        pieces=int(ndimage.label(mask.mask, structure=IN_SPACE)[1]),
        axis_slice_pieces=axis_slice_pieces, holes=has_hole(mask.mask),
    )

