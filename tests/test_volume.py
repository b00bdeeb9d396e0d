"""Volume geometry helpers agree with SimpleITK's own index <-> world mapping."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from noduleseg.core.volume import Volume, image_like, volume_from_sitk

DIRECTION = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def oblique_volume() -> Volume:
    hu = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    return Volume(hu, spacing=(0.7, 0.8, 2.5), origin=(-10.0, 20.0, -300.0), direction=DIRECTION)


def test_index_to_world_matches_simpleitk():
    volume = oblique_volume()
    image = image_like(volume.hu, volume)
    for ijk in [(0, 0, 0), (5, 4, 3), (2.5, 1.0, 0.5)]:
        expected = image.TransformContinuousIndexToPhysicalPoint(ijk)
        np.testing.assert_allclose(volume.index_to_world(ijk), expected, atol=1e-9)
        np.testing.assert_allclose(volume.world_to_index(expected), ijk, atol=1e-9)


def test_image_like_round_trip_keeps_voxels_and_geometry():
    volume = oblique_volume()
    back = volume_from_sitk(image_like(volume.hu, volume))
    np.testing.assert_array_equal(back.hu, volume.hu)
    assert (back.spacing, back.origin, back.direction) == (volume.spacing, volume.origin,
                                                           volume.direction)
    assert image_like(volume.hu, volume).GetPixel(5, 4, 3) == int(volume.hu[3, 4, 5])


def test_crop_keeps_world_positions():
    volume = oblique_volume()
    part = volume.crop(1, 3, 2, 5, 1, 4)
    assert part.shape_zyx == (2, 3, 3)
    np.testing.assert_allclose(part.index_to_world((0, 0, 0)), volume.index_to_world((1, 2, 1)))
    assert part.hu[0, 0, 0] == volume.hu[1, 2, 1]


def test_float_image_rounds_and_clips_to_int16():
    image = sitk.GetImageFromArray(np.array([[[0.6, -40000.0, 40000.0]]], dtype=np.float32))
    hu = volume_from_sitk(image).hu
    assert hu.dtype == np.int16
    assert hu.ravel().tolist() == [1, -32768, 32767]
