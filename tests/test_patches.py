"""Patches at a fixed mm/pixel and their way back to the native grid."""

from __future__ import annotations

import numpy as np

from noduleseg.core.patches import PatchGeometry, paste_patch, sample_mask_patch, sample_patch, sample_planes
from noduleseg.core.windowing import LUNG, MEDIASTINUM, apply_window, encode_channels, encode_planes


def disc(shape, centre, radius):
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius ** 2


def test_patch_keeps_physical_size():
    slice_mask = disc((200, 200), (100.0, 80.0), 20)  # 20 px * 0.5 mm = 10 mm radius
    geometry = PatchGeometry((100.0, 80.0), mm_per_px=1.0, size=64, spacing_yx=(0.5, 0.5))
    patch = sample_mask_patch(slice_mask, geometry)
    area_mm2 = patch.sum() * 1.0
    assert abs(area_mm2 - np.pi * 10 ** 2) / (np.pi * 100) < 0.05
    assert patch[31:33, 31:33].all() and not patch[0, 0]


def test_outside_the_slice_is_air():
    geometry = PatchGeometry((0.0, 0.0), mm_per_px=1.0, size=16, spacing_yx=(1.0, 1.0))
    patch = sample_patch(np.zeros((10, 10)), geometry)
    assert patch[0, 0] == -1024.0 and patch[-1, -1] == 0.0


def test_paste_round_trip_recovers_the_mask():
    slice_mask = disc((120, 140), (60.3, 71.7), 12)
    geometry = PatchGeometry((60.3, 71.7), mm_per_px=0.5, size=64, spacing_yx=(0.7, 0.7))
    patch = sample_mask_patch(slice_mask, geometry).astype(np.float32)
    box, values = paste_patch(patch, geometry, slice_mask.shape)
    back = np.zeros(slice_mask.shape, bool)
    back[box] = values >= 0.5
    dice = 2 * (back & slice_mask).sum() / (back.sum() + slice_mask.sum())
    assert dice > 0.95


def test_windows_map_hu_to_unit_range():
    assert apply_window(np.array([-1350, -600, 150]), LUNG).tolist() == [0.0, 0.5, 1.0]
    assert encode_channels(np.zeros((5, 4, 4))).shape == (5, 3, 4, 4)


def test_planes_are_slices_above_and_below_interpolated_in_z_and_held_at_the_ends():
    hu = np.stack([np.full((20, 20), 100.0 * k) for k in range(5)])  # slice k is 100 k HU
    geometry = PatchGeometry((10.0, 10.0), mm_per_px=1.0, size=8, spacing_yx=(1.0, 1.0))
    planes = sample_planes(hu, 2, geometry, (-1.0, 0.0, 0.5))
    assert planes.shape == (3, 8, 8)
    assert planes[:, 4, 4].tolist() == [100.0, 200.0, 250.0]
    assert sample_planes(hu, 0, geometry, (-2.0, 0.0, 9.0))[:, 4, 4].tolist() == [0.0, 0.0, 400.0]


def test_each_plane_goes_through_its_own_window():
    hu = np.stack([np.full((4, 4), -600.0), np.full((4, 4), 40.0)])
    encoded = encode_planes(hu, (LUNG, MEDIASTINUM))
    assert encoded.shape == (2, 4, 4) and encoded[0, 0, 0] == 0.5 and encoded[1, 0, 0] == 0.5
