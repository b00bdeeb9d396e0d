"""Every way a DICOM path can fail to be a CT volume raises its own VolumeError subclass."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_factory import SeriesSpec, cut_in_header, make_slice, write_series

from noduleseg.core import load_volume, memory_check
from noduleseg.core.errors import (CorruptFileError, DuplicateSliceError, EmptyFolderError,
                                   GeometryError, MissingPixelDataError, MissingSlicesError,
                                   ModalityError, NotAnImageError, NotAVolumeError,
                                   SeriesNotFoundError, UnevenSpacingError, VolumeError,
                                   VolumeNotFoundError, VolumeTooLargeError, VolumeWarning)


def write_at(folder: Path, spec: SeriesSpec, positions: list) -> list[Path]:
    """Write ``spec``'s slices at explicit positions (one per file)."""
    folder.mkdir(parents=True, exist_ok=True)
    stored = spec.stored()
    files = []
    for k, position in enumerate(positions):
        path = folder / f"slice{k:03d}.dcm"
        make_slice(spec, k % spec.n, stored[k % spec.n], position).save_as(
            path, enforce_file_format=True)
        files.append(path)
    return files


def test_missing_path(tmp_path):
    with pytest.raises(VolumeNotFoundError, match="no such file or folder") as caught:
        load_volume(tmp_path / "nowhere")
    assert caught.value.path == tmp_path / "nowhere"
    assert str(tmp_path / "nowhere") in str(caught.value)


def test_empty_folder(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(EmptyFolderError, match="empty"):
        load_volume(tmp_path / "empty")


def test_folder_without_dicom(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "scan.xml").write_text("<a/>")
    with pytest.raises(NotAnImageError, match="no DICOM file among its 2 files"):
        load_volume(tmp_path)


def test_file_that_is_not_an_image(tmp_path):
    path = tmp_path / "report.txt"
    path.write_text("not a scan")
    with pytest.raises(NotAnImageError, match="not an image") as caught:
        load_volume(path)
    assert "report.txt" in str(caught.value)


def test_truncated_dicom_pixel_data(tmp_path):
    files, _ = write_series(tmp_path / "s")
    data = files[2].read_bytes()
    files[2].write_bytes(data[: len(data) - 100])
    with pytest.raises(CorruptFileError, match="truncated") as caught:
        load_volume(tmp_path / "s")
    assert caught.value.path == files[2]


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_slice_with_corrupt_header_is_skipped_and_its_gap_refused(tmp_path, damage):
    files, _ = write_series(tmp_path / "s")
    if damage == "garbage":
        data = files[4].read_bytes()
        files[4].write_bytes(data[:132] + b"\x02\x00\x10\x00UI\xff\xff" + b"garbage" * 5)
    else:
        cut_in_header(files[4])
    with pytest.warns(VolumeWarning, match="damaged or truncated DICOM") as warned, \
            pytest.raises(MissingSlicesError, match="slices missing: 5.00 mm") as caught:
        load_volume(tmp_path / "s")
    assert any(str(files[4]) in str(warning.message) for warning in warned)
    assert "skipped as unreadable" in str(caught.value)
    assert files[4].name in str(caught.value)


def test_gap_refusal_names_no_unreadable_file_from_another_folder(tmp_path):
    files, _ = write_series(tmp_path / "ct")
    files[6].unlink()
    other, _ = write_series(tmp_path / "dose", SeriesSpec(n=1, seed=5))
    cut_in_header(other[0])
    with pytest.warns(VolumeWarning, match="dose"), \
            pytest.raises(MissingSlicesError, match="slices missing") as caught:
        load_volume(tmp_path)
    assert "skipped as unreadable" not in str(caught.value)


def test_folder_whose_only_dicom_is_unreadable(tmp_path):
    files, _ = write_series(tmp_path / "s", SeriesSpec(n=1))
    cut_in_header(files[0])
    (tmp_path / "s" / "notes.txt").write_text("hello")
    with pytest.warns(VolumeWarning, match=files[0].name), \
            pytest.raises(CorruptFileError, match="no readable DICOM file") as caught:
        load_volume(tmp_path / "s")
    assert caught.value.path == tmp_path / "s"
    assert files[0].name in str(caught.value)


def test_corrupt_dicom_file_opened_directly(tmp_path):
    files, _ = write_series(tmp_path / "s")
    cut_in_header(files[4])
    with pytest.raises(CorruptFileError, match="damaged or truncated DICOM") as caught:
        load_volume(files[4])
    assert caught.value.path == files[4]


def test_dicom_without_pixel_data(tmp_path):
    files, _ = write_series(tmp_path / "s")
    ds = pydicom.dcmread(files[5])
    del ds.PixelData
    ds.save_as(files[5], enforce_file_format=True)
    with pytest.raises(MissingPixelDataError, match="without pixel data") as caught:
        load_volume(tmp_path / "s")
    assert caught.value.path == files[5]


@pytest.mark.parametrize("modality", ["MR", "SEG", "RTSTRUCT", "SR"])
def test_non_ct_folder_names_the_modality(tmp_path, modality):
    write_series(tmp_path / "s", SeriesSpec(modality=modality))
    with pytest.raises(ModalityError, match=f"only {modality} series") as caught:
        load_volume(tmp_path / "s")
    assert caught.value.modality == modality


def test_non_ct_file_names_the_modality(tmp_path):
    files, _ = write_series(tmp_path / "s", SeriesSpec(modality="SEG"))
    with pytest.raises(ModalityError, match="SEG .a segmentation object., not CT"):
        load_volume(files[0])


def test_unknown_series_uid(tmp_path):
    write_series(tmp_path / "s")
    with pytest.raises(SeriesNotFoundError, match="no series 1.2.3.4 here"):
        load_volume(tmp_path / "s", series_uid="1.2.3.4")


def test_single_slice_is_not_a_volume(tmp_path):
    write_series(tmp_path / "s", SeriesSpec(n=1))
    with pytest.raises(NotAVolumeError, match="single 2D slice"):
        load_volume(tmp_path / "s")


def test_multi_frame_file_refused(tmp_path):
    files, _ = write_series(tmp_path / "s", SeriesSpec(n=3))
    ds = pydicom.dcmread(files[0])
    ds.NumberOfFrames = 2
    ds.save_as(files[0], enforce_file_format=True)
    with pytest.raises(NotAVolumeError, match="multi-frame"):
        load_volume(tmp_path / "s")


def test_missing_slices(tmp_path):
    files, _ = write_series(tmp_path / "s", SeriesSpec(n=10))
    files[6].unlink()
    with pytest.raises(MissingSlicesError, match="slices missing: 5.00 mm") as caught:
        load_volume(tmp_path / "s")
    assert files[5].name in str(caught.value) and files[7].name in str(caught.value)


def test_uneven_spacing(tmp_path):
    spec = SeriesSpec(n=10)
    z = np.concatenate([np.arange(5) * 2.5, 10.0 + 3.5 + np.arange(5) * 2.5])  # one 3.5 step
    files = write_at(tmp_path / "s", spec, [(-10.0, -20.0, -100.0 + v) for v in z])
    with pytest.raises(UnevenSpacingError, match="uneven slice spacing: steps range 2.50-3.50"):
        load_volume(tmp_path / "s")
    assert len(files) == 10


def test_conflicting_slices_at_one_position(tmp_path):
    spec = SeriesSpec(n=4)
    positions = spec.positions()
    write_at(tmp_path / "s", spec, positions)
    other = SeriesSpec(n=4, series_uid=spec.series_uid, seed=9)  # different pixels
    make_slice(other, 1, other.stored()[1] + 7, positions[2]).save_as(
        tmp_path / "s" / "other.dcm", enforce_file_format=True)
    with pytest.raises(DuplicateSliceError, match="different image at the same slice position"):
        load_volume(tmp_path / "s")


def test_gantry_tilt(tmp_path):
    spec = SeriesSpec(n=6)
    shift = math.tan(math.radians(15)) * spec.step
    write_at(tmp_path / "s", spec, [(-10.0, -20.0 + k * shift, -100.0 + k * spec.step)
                                    for k in range(spec.n)])
    with pytest.raises(GeometryError, match="gantry tilt"):
        load_volume(tmp_path / "s")


def test_non_orthogonal_orientation(tmp_path):
    write_series(tmp_path / "s", SeriesSpec(orientation=(1.0, 0.0, 0.0, 0.3, 0.953939, 0.0)))
    with pytest.raises(GeometryError, match="non-orthogonal"):
        load_volume(tmp_path / "s")


def test_series_too_large_for_memory(tmp_path, monkeypatch):
    write_series(tmp_path / "s")
    monkeypatch.setattr(memory_check, "available_memory_bytes", lambda: 64 * 2**20)
    with pytest.raises(VolumeTooLargeError, match="too large to load: 16x12x10 voxels") as caught:
        load_volume(tmp_path / "s")
    assert caught.value.available_bytes == 64 * 2**20


def test_every_refusal_is_a_volume_error():
    for error in (CorruptFileError, DuplicateSliceError, EmptyFolderError, GeometryError,
                  MissingPixelDataError, MissingSlicesError, ModalityError, NotAnImageError,
                  NotAVolumeError, SeriesNotFoundError, UnevenSpacingError,
                  VolumeNotFoundError, VolumeTooLargeError):
        assert issubclass(error, VolumeError)
