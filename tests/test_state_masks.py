"""Mask crops and the pure edits behind the correction tools (no Qt)."""

from __future__ import annotations

import numpy as np

from noduleseg.core.label_map import build as build_label_map

from noduleseg.app.masks import (MaskCrop, fill_holes, keep_connected, paint_disc,
                                 stroke_points, tight)

SHAPE = (8, 40, 50)


def ball(center_zyx, radius, shape=SHAPE):
    z, y, x = np.ogrid[:shape[0], :shape[1], :shape[2]]
    cz, cy, cx = center_zyx
    return (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= radius ** 2


def test_from_full_is_tight_and_round_trips():
    full = ball((4, 20, 25), 3)
    crop = MaskCrop.from_full(full)
    assert crop.offset_zyx == (1, 17, 22)
    assert crop.mask.shape == (7, 7, 7)
    assert np.array_equal(crop.full(SHAPE), full)
    assert crop.slice_range() == (1, 7)
    assert crop.contains_zyx((4, 20, 25)) and not crop.contains_zyx((0, 0, 0))


def test_paint_grows_the_box_and_erase_clears():
    crop = MaskCrop.from_full(ball((4, 20, 25), 2))
    painted = paint_disc(crop, 4, (20, 35), 2, True, SHAPE)
    assert painted.full(SHAPE)[4, 20, 35] and not crop.full(SHAPE)[4, 20, 35]
    assert painted.offset_zyx[2] == crop.offset_zyx[2] and painted.mask.shape[2] > crop.mask.shape[2]
    erased = paint_disc(painted, 4, (20, 25), 3, False, SHAPE)
    assert not erased.full(SHAPE)[4, 20, 25]
    assert erased.full(SHAPE)[3, 20, 25]  # other slices untouched


def test_paint_clips_to_the_image_and_noop_returns_same_object():
    empty = MaskCrop(np.zeros((0, 0, 0), bool), (0, 0, 0))
    corner = paint_disc(empty, 0, (0, 0), 3, True, SHAPE)
    assert corner.offset_zyx == (0, 0, 0) and corner.full(SHAPE)[0, 3, 0]
    assert paint_disc(corner, 0, (0, 0), 3, True, SHAPE) is corner
    assert paint_disc(corner, 5, (30, 30), 3, False, SHAPE) is corner
    assert paint_disc(corner, 99, (0, 0), 3, True, SHAPE) is corner


def test_fill_holes_closes_a_slice_hole():
    full = ball((4, 20, 25), 4)
    full[4, 19:22, 24:27] = False
    filled = fill_holes(MaskCrop.from_full(full))
    assert filled.full(SHAPE)[4, 20, 25]
    assert fill_holes(filled) is filled


def test_keep_connected_keeps_the_seed_component():
    full = ball((4, 10, 10), 2) | ball((4, 30, 40), 3)
    crop = MaskCrop.from_full(full)
    kept = keep_connected(crop, (4, 10, 10))
    assert kept.full(SHAPE)[4, 10, 10] and not kept.full(SHAPE)[4, 30, 40]
    largest = keep_connected(crop, (0, 0, 0))
    assert largest.full(SHAPE)[4, 30, 40] and not largest.full(SHAPE)[4, 10, 10]


def test_stroke_points_leave_no_gap():
    points = stroke_points((0, 0), (0, 20), 2)
    gaps = np.diff([0.0] + [p[1] for p in points])
    assert points[-1] == (0, 20) and gaps.max() <= 1.0


def test_the_app_s_crops_make_label_maps_by_the_core_rule():
    a, b = MaskCrop.from_full(ball((4, 10, 10), 2)), MaskCrop.from_full(ball((5, 30, 40), 2))
    labels = build_label_map([(3, a), (7, b)], SHAPE)
    assert labels[4, 10, 10] == 3 and labels[5, 30, 40] == 7 and labels[0].max() == 0
    assert np.array_equal(build_label_map([(3, a), (7, b)], SHAPE, k=5), labels[5])
    assert tight(MaskCrop(np.zeros((2, 2, 2), bool), (1, 1, 1))).mask.size == 0
