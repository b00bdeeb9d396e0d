"""load_volume on NIfTI, MetaImage and NRRD files, and their refusals."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.core import load_volume
from noduleseg.core.errors import (CorruptFileError, GeometryError, InvalidVoxelsError,
                                   NotAVolumeError, VolumeTooLargeError)

SPACING = (0.7, 0.8, 2.5)
ORIGIN = (-10.0, 20.0, -300.0)
DIRECTION = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def hu_array(dtype=np.int16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(-1024, 1500, size=(6, 10, 12)).astype(dtype)


def write(path, array, spacing=SPACING, origin=ORIGIN, direction=DIRECTION):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    image.SetDirection(direction)
    sitk.WriteImage(image, str(path))
    return path


@pytest.mark.parametrize("name", ["ct.nii", "ct.nii.gz", "ct.mhd", "ct.mha", "ct.nrrd"])
def test_formats_load_with_geometry(tmp_path, name):
    hu = hu_array()
    volume = load_volume(write(tmp_path / name, hu))
    np.testing.assert_array_equal(volume.hu, hu)
    assert volume.hu.dtype == np.int16
    np.testing.assert_allclose(volume.spacing, SPACING, atol=1e-6)
    np.testing.assert_allclose(volume.origin, ORIGIN, atol=1e-5)
    np.testing.assert_allclose(volume.direction, DIRECTION, atol=1e-6)
    assert volume.info.source == str(tmp_path / name)


def test_float_image_rounded_padding_to_air_and_clipped(tmp_path):
    values = hu_array(np.float32) + 0.4
    values[0, 0, :3] = (-3024.0, -2000.0, 40000.0)
    hu = load_volume(write(tmp_path / "f.nii.gz", values)).hu
    assert hu.dtype == np.int16
    assert tuple(hu[0, 0, :3]) == (-1024, -1024, 32767)
    np.testing.assert_array_equal(hu[1:], np.rint(values[1:]).astype(np.int16))


def test_progress_ends_at_1(tmp_path):
    seen: list[float] = []
    load_volume(write(tmp_path / "ct.nii.gz", hu_array()), progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0


def test_truncated_nifti(tmp_path):
    path = write(tmp_path / "ct.nii", hu_array())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 500])
    with pytest.raises(CorruptFileError,
                       match="ct.nii: truncated file: 1440 bytes of voxels expected, 940 found"):
        load_volume(path)


def test_truncated_gzip(tmp_path):
    path = write(tmp_path / "ct.nii.gz", hu_array())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="damaged or truncated file"):
        load_volume(path)


def test_corrupt_gzip_stream(tmp_path):
    path = tmp_path / "ct.nii.gz"
    raw = gzip.compress(write(tmp_path / "plain.nii", hu_array()).read_bytes())
    damaged = bytearray(raw)
    damaged[len(raw) // 2: len(raw) // 2 + 64] = b"\xff" * 64
    path.write_bytes(bytes(damaged))
    with pytest.raises(CorruptFileError, match="ct.nii.gz"):
        load_volume(path)


def test_garbage_named_nifti(tmp_path):
    path = tmp_path / "scan.nii.gz"
    path.write_bytes(b"this is not an image" * 10)
    with pytest.raises(CorruptFileError, match="cannot read the image header"):
        load_volume(path)


def test_single_2d_slice(tmp_path):
    path = write(tmp_path / "one.nii.gz", hu_array()[:1])
    with pytest.raises(NotAVolumeError, match="single 2D slice .12x10x1."):
        load_volume(path)


def test_2d_image(tmp_path):
    image = sitk.GetImageFromArray(hu_array()[0])
    sitk.WriteImage(image, str(tmp_path / "flat.nrrd"))
    with pytest.raises(NotAVolumeError, match="single 2D slice"):
        load_volume(tmp_path / "flat.nrrd")


def test_4d_image(tmp_path):
    frames = [sitk.GetImageFromArray(hu_array()) for _ in range(3)]
    sitk.WriteImage(sitk.JoinSeries(frames), str(tmp_path / "t.nii.gz"))
    with pytest.raises(NotAVolumeError, match="4D image .12x10x6x3."):
        load_volume(tmp_path / "t.nii.gz")


def test_vector_image(tmp_path):
    rgb = np.zeros((6, 10, 12, 3), dtype=np.uint8)
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp_path / "rgb.nii.gz"))
    with pytest.raises(NotAVolumeError, match="vector image .3 values per voxel"):
        load_volume(tmp_path / "rgb.nii.gz")


def test_non_orthogonal_direction(tmp_path):
    path = write(tmp_path / "skew.mha", hu_array(), direction=(1, 0.3, 0, 0, 1, 0, 0, 0, 1))
    with pytest.raises(GeometryError, match="non-orthogonal direction"):
        load_volume(path)


def test_header_too_large_refused_before_reading(tmp_path):
    path = write(tmp_path / "huge.nii", hu_array())
    header = bytearray(path.read_bytes()[:352])
    header[42:48] = struct.pack("<hhh", 20000, 20000, 2000)  # dim[1..3]
    path.write_bytes(bytes(header) + b"\0" * 1000)
    with pytest.raises(VolumeTooLargeError, match="20000x20000x2000 voxels") as caught:
        load_volume(path)
    assert caught.value.needed_bytes == 20000 * 20000 * 2000 * 4


@pytest.mark.parametrize("name", ["f.nii.gz", "f.nii", "f.mha"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_voxels(tmp_path, bad, name):
    # ITK's NIfTI reader silently turns NaN/inf into 0: the loader must look first.
    values = hu_array(np.float32)
    values[3, 4, 5] = bad
    values[3, 0, 0] = bad
    with pytest.raises(InvalidVoxelsError, match="2 NaN/infinite voxel values") as caught:
        load_volume(write(tmp_path / name, values))
    assert caught.value.path.name == name
