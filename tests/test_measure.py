"""Measurements on synthetic shapes whose answers are known, with anisotropic voxels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from noduleseg.core.errors import SegmentationError
from noduleseg.core.measure import measure, perpendicular_chord
from noduleseg.core.nodule_mask import NoduleMask
from noduleseg.core.volume import Volume

SPACING = (0.6, 0.8, 2.0)  # x, y, z mm


def volume_with(mask: np.ndarray, inside_hu: int = 40, spacing=SPACING,
                origin=(-50.0, 20.0, -300.0)) -> Volume:
    hu = np.full(mask.shape, -850, dtype=np.int16)
    hu[mask] = inside_hu
    return Volume(hu, spacing=spacing, origin=origin)


def ellipsoid(shape, centre_zyx, semi_axes_mm_zyx, spacing_zyx, angle_deg=0.0):
    """Voxels of an ellipsoid; in-plane axes turned by ``angle_deg`` from x."""
    z, y, x = (np.arange(n) * s - c * s for n, c, s in zip(shape, centre_zyx, spacing_zyx))
    z, y, x = np.meshgrid(z, y, x, indexing="ij")
    a = math.radians(angle_deg)
    u, v = x * math.cos(a) + y * math.sin(a), -x * math.sin(a) + y * math.cos(a)
    cz, cy, cx = semi_axes_mm_zyx
    return (z / cz) ** 2 + (v / cy) ** 2 + (u / cx) ** 2 <= 1.0


def test_sphere_volume_diameter_and_slice_range():
    shape, centre = (20, 60, 80), (10, 30, 40)
    mask = ellipsoid(shape, centre, (8.0, 8.0, 8.0), SPACING[::-1])
    m = measure(NoduleMask.from_full(mask), volume_with(mask))
    true_volume = 4 / 3 * math.pi * 8.0 ** 3
    assert abs(m.volume_mm3 - true_volume) / true_volume < 0.05
    assert m.equivalent_diameter_mm == pytest.approx(16.0, abs=0.4)
    assert m.long_axis_mm == pytest.approx(16.0, abs=1.0)
    assert m.short_axis_mm == pytest.approx(16.0, abs=1.0)
    assert (m.k_first, m.k_last) == (6, 14)  # |z| <= 8 mm at 2 mm slices around k = 10
    assert m.axis_slice_k == 10
    assert (m.pieces, m.axis_slice_pieces, m.holes, m.outline_flag) == (1, 1, False, "")


def test_ellipse_axes_follow_its_orientation():
    shape, centre = (5, 90, 120), (2, 45, 60)
    mask = ellipsoid(shape, centre, (3.0, 6.0, 15.0), SPACING[::-1], angle_deg=30.0)
    m = measure(NoduleMask.from_full(mask), volume_with(mask))
    assert m.long_axis_mm == pytest.approx(30.0, abs=1.2)
    assert m.short_axis_mm == pytest.approx(12.0, abs=1.2)
    assert m.mean_axial_diameter_mm == pytest.approx((m.long_axis_mm + m.short_axis_mm) / 2)
    (i0, j0, k0), (i1, j1, _) = m.long_axis_ends_ijk
    dx, dy = (i1 - i0) * SPACING[0], (j1 - j0) * SPACING[1]
    angle = math.degrees(math.atan2(dy, dx)) % 180
    assert angle == pytest.approx(30.0, abs=4.0)
    assert math.hypot(dx, dy) == pytest.approx(m.long_axis_mm)
    (a0, b0, _), (a1, b1, _) = m.short_axis_ends_ijk
    sx, sy = (a1 - a0) * SPACING[0], (b1 - b0) * SPACING[1]
    assert abs(sx * dx + sy * dy) < 1e-6 * m.long_axis_mm * m.short_axis_mm
    assert k0 == m.axis_slice_k == 2


def test_square_has_its_diagonals_as_axes():
    mask = np.zeros((1, 12, 12), bool)
    mask[0, 3:8, 4:9] = True
    m = measure(NoduleMask.from_full(mask), volume_with(mask, spacing=(1.0, 1.0, 1.0)))
    assert m.long_axis_mm == pytest.approx(5 * math.sqrt(2))
    assert m.short_axis_mm == pytest.approx(5 * math.sqrt(2))
    ends = sorted(m.long_axis_ends_ijk)
    assert ends[0][:2] in ((3.5, 2.5), (3.5, 7.5))


def disc(shape_yx, centre_yx, radius_mm, spacing_yx=SPACING[1::-1]):
    """Pixels within ``radius_mm`` of a centre given in pixels (row, column)."""
    y, x = (np.arange(n)[:, None] * s - c * s for n, c, s in zip(shape_yx, centre_yx, spacing_yx))
    return (y ** 2 + x.T ** 2) <= radius_mm ** 2


def test_two_pieces_on_a_slice_are_measured_apart_and_flagged():
    mask = np.zeros((3, 50, 120), bool)
    small = disc((50, 120), (12, 20), 3.0)  # first in raster order, so the larger is not just the first
    large = disc((50, 120), (30, 80), 6.0)
    mask[1] = small | large
    m = measure(NoduleMask.from_full(mask), volume_with(mask))
    assert m.long_axis_mm == pytest.approx(12.0, abs=0.8)  # the larger disc, not the ~40 mm span
    assert m.short_axis_mm == pytest.approx(12.0, abs=0.8)
    for i, j, k in m.long_axis_ends_ijk + m.short_axis_ends_ijk:
        assert math.hypot((i - 80) * SPACING[0], (j - 30) * SPACING[1]) <= 6.0 + SPACING[1]
        assert k == 1
    assert (m.pieces, m.axis_slice_pieces, m.holes) == (2, 2, False)
    assert m.outline_flag == "2 pieces"
    row = m.to_row()
    flags = (row["pieces"], row["axis_slice_pieces"], row["holes"], row["outline_flag"])
    assert flags == (2, 2, False, "2 pieces")


def test_ring_is_measured_across_its_hole_and_flagged():
    ring = disc((60, 80), (30, 40), 8.0) & ~disc((60, 80), (30, 40), 4.0)
    mask = np.stack([ring] * 3)
    m = measure(NoduleMask.from_full(mask), volume_with(mask))
    assert m.long_axis_mm == pytest.approx(16.0, abs=1.0)  # the outer diameter
    assert m.short_axis_mm == pytest.approx(16.0, abs=1.0)
    assert (m.pieces, m.axis_slice_pieces, m.holes) == (1, 1, True)
    assert m.outline_flag == "hole"


def test_pieces_in_3d_and_on_the_axis_slice_differ():
    mask = np.zeros((4, 30, 30), bool)
    mask[0:2, 5:20, 5:10] = True  # a U seen from the side: two legs on slices 0-1 ...
    mask[0:2, 5:20, 20:25] = True
    mask[2, 5:20, 5:25] = True  # ... joined on slice 2
    mask[3, 25:28, 26:29] = True  # a separate speck touching nothing
    mask[1, 8:12, 5:7] = False  # a notch open to the outside is no hole
    m = measure(NoduleMask.from_full(mask), volume_with(mask, spacing=(1.0, 1.0, 1.0)))
    assert m.axis_slice_k == 2 and m.axis_slice_pieces == 1
    assert m.pieces == 2 and not m.holes and m.outline_flag == "2 pieces"
    legs = measure(NoduleMask.from_full(mask[:2]), volume_with(mask[:2], spacing=(1.0, 1.0, 1.0)))
    assert legs.axis_slice_pieces == 2 and legs.pieces == 2
    assert legs.long_axis_mm == pytest.approx(math.hypot(15, 5))  # one leg's diagonal


def test_pieces_touching_at_a_corner_are_one_piece():
    mask = np.zeros((2, 10, 10), bool)
    mask[0, 2:5, 2:5] = True
    mask[0, 5:8, 5:8] = True  # touches the first square at one corner, in plane
    mask[1, 8:10, 8:10] = True  # touches the second square across slices at one corner
    m = measure(NoduleMask.from_full(mask), volume_with(mask, spacing=(1.0, 1.0, 1.0)))
    assert m.axis_slice_pieces == 1 and m.pieces == 1 and m.outline_flag == ""
    assert m.long_axis_mm == pytest.approx(6 * math.sqrt(2))  # across both squares


def test_hole_and_pieces_together():
    mask = np.zeros((1, 12, 20), bool)
    mask[0, 2:7, 2:7] = True
    mask[0, 4, 4] = False
    mask[0, 2:5, 12:15] = True
    m = measure(NoduleMask.from_full(mask), volume_with(mask, spacing=(1.0, 1.0, 1.0)))
    assert m.holes and m.outline_flag == "2 pieces, hole"


def test_perpendicular_chord_of_a_rectangle():
    rectangle = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 4.0], [0.0, 4.0]])
    length, ends = perpendicular_chord(rectangle, np.array([1.0, 0.0]))
    assert length == pytest.approx(4.0)
    assert abs(ends[0, 0] - ends[1, 0]) < 1e-9


def test_intensity_statistics_and_solid_fraction():
    mask = np.zeros((4, 10, 10), bool)
    mask[1:3, 2:6, 2:6] = True
    vol = volume_with(mask)
    hu = vol.hu.copy()
    hu[1] = np.where(mask[1], -500, hu[1])  # half ground glass, half solid (40 HU)
    m = measure(NoduleMask.from_full(mask), vol.with_hu(hu))
    assert m.solid_fraction == pytest.approx(0.5)
    assert m.mean_hu == pytest.approx(-230.0)
    assert m.sd_hu == pytest.approx(270.0)


def test_centroid_in_voxels_and_world():
    mask = np.zeros((6, 10, 12), bool)
    mask[2:5, 4:7, 6:9] = True  # centre k=3, j=5, i=7
    direction = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    vol = Volume(np.zeros(mask.shape, np.int16), SPACING, (10.0, 20.0, 30.0), direction)
    m = measure(NoduleMask.from_full(mask), vol)
    assert m.centroid_ijk == pytest.approx((7.0, 5.0, 3.0))
    # x = 10 + 0*7*0.6 + 1*5*0.8, y = 20 - 7*0.6, z = 30 + 3*2
    assert m.centroid_world == pytest.approx((14.0, 15.8, 36.0))


def test_empty_mask_is_refused():
    empty = NoduleMask.from_full(np.zeros((3, 4, 5), bool))
    with pytest.raises(SegmentationError, match="empty"):
        measure(empty, volume_with(np.zeros((3, 4, 5), bool)))


def test_row_is_flat_and_rounded():
    mask = ellipsoid((9, 40, 40), (4, 20, 20), (6.0, 6.0, 6.0), SPACING[::-1])
    row = measure(NoduleMask.from_full(mask), volume_with(mask)).to_row()
    assert all(isinstance(v, (int, float)) for n, v in row.items() if n != "outline_flag")
    assert (row["pieces"], row["axis_slice_pieces"], row["holes"], row["outline_flag"]) == (1, 1, False, "")
    assert row["k_first"] <= row["axis_slice_k"] <= row["k_last"]
    assert row["long_axis_mm"] == round(row["long_axis_mm"], 2)


def test_nodule_mask_round_trip():
    full = np.zeros((5, 6, 7), bool)
    full[1:3, 2, 3:6] = True
    nodule = NoduleMask.from_full(full)
    assert nodule.offset_zyx == (1, 2, 3) and nodule.mask.shape == (2, 1, 3)
    assert np.array_equal(nodule.full(full.shape), full)
    rebuilt = NoduleMask.from_slices({1: ((slice(0, 6), slice(0, 7)), full[1]),
                                      2: ((slice(2, 3), slice(3, 6)), full[2, 2:3, 3:6])})
    assert rebuilt.offset_zyx == (1, 2, 3) and np.array_equal(rebuilt.full(full.shape), full)
