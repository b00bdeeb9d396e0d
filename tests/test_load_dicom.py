"""load_volume on synthetic DICOM series: order, HU, geometry, series choice, warnings."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom_factory import SeriesSpec, cut_in_header, make_slice, write_series
from pydicom.uid import RLELossless

from noduleseg.core import list_series, load_volume
from noduleseg.core.errors import VolumeWarning


def sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def assert_same_geometry(volume, image: sitk.Image) -> None:
    assert volume.size_ijk == image.GetSize()
    np.testing.assert_allclose(volume.spacing, image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(volume.origin, image.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(volume.direction, image.GetDirection(), atol=1e-6)


def test_slices_ordered_by_position_not_name_or_instance_number(tmp_path):
    files, stored = write_series(tmp_path / "series")
    assert sorted(files) != files  # names are shuffled against positions
    volume = load_volume(tmp_path / "series")
    assert volume.hu.dtype == np.int16
    np.testing.assert_array_equal(volume.hu, stored - 1024)
    assert volume.spacing == pytest.approx((0.7, 0.8, 2.5))  # SliceThickness (9.9) ignored
    assert volume.info.modality == "CT"
    assert volume.info.patient_id == "SYNTH-1"
    assert volume.info.series_description == "Synthetic CT"


@pytest.mark.parametrize("orientation", [
    (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),                  # axial
    (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),                 # coronal
    (0.866025, 0.5, 0.0, -0.5, 0.866025, 0.0),       # oblique, still orthogonal
])
def test_geometry_and_hu_equal_simpleitk_series_reader(tmp_path, orientation):
    write_series(tmp_path / "s", SeriesSpec(orientation=orientation))
    volume = load_volume(tmp_path / "s")
    image = sitk_series(tmp_path / "s")
    assert_same_geometry(volume, image)
    np.testing.assert_array_equal(volume.hu, sitk.GetArrayFromImage(image))


def test_fractional_rescale_slope_applied(tmp_path):
    spec = SeriesSpec(slope=0.5, intercept=-1000.0)
    _, stored = write_series(tmp_path / "s", spec)
    volume = load_volume(tmp_path / "s")
    np.testing.assert_array_equal(volume.hu, np.rint(stored * 0.5 - 1000).astype(np.int16))


def test_padding_values_become_air(tmp_path):
    spec = SeriesSpec(n=4, padding_value=-1500, intercept=-1024.0)
    stored = spec.stored()
    stored[:, 0, :] = -1500      # PixelPaddingValue -> HU -2524
    stored[:, 1, :] = -976       # HU -2000: padding by value
    stored[:, 2, :] = -100       # HU -1124: real (if odd) data, kept
    folder = tmp_path / "s"
    folder.mkdir()
    for k, position in enumerate(spec.positions()):
        make_slice(spec, k, stored[k], position).save_as(folder / f"{k}.dcm",
                                                         enforce_file_format=True)
    hu = load_volume(folder).hu
    assert (hu[:, 0:2, :] == -1024).all()
    assert (hu[:, 2, :] == -1124).all()
    np.testing.assert_array_equal(hu[:, 3:, :], stored[:, 3:, :] - 1024)


def test_nested_tcia_layout_found_recursively(tmp_path):
    series = tmp_path / "LIDC-X" / "1.2.3-study" / "4.5.6-series"
    _, stored = write_series(series)
    (tmp_path / "LIDC-X" / "notes.xml").write_text("<reads/>")
    volume = load_volume(tmp_path / "LIDC-X")
    np.testing.assert_array_equal(volume.hu, stored - 1024)


def test_single_file_loads_its_whole_series(tmp_path):
    files, stored = write_series(tmp_path / "s")
    volume = load_volume(files[3])
    np.testing.assert_array_equal(volume.hu, stored - 1024)


def test_progress_runs_from_0_to_1(tmp_path):
    write_series(tmp_path / "s", SeriesSpec(n=20))
    seen: list[float] = []
    load_volume(tmp_path / "s", progress=seen.append)
    assert seen[-1] == pytest.approx(1.0)
    assert all(0.0 <= a <= b <= 1.0 for a, b in zip(seen, seen[1:]))
    assert len(seen) >= 3


def test_rle_compressed_series_decodes_like_uncompressed(tmp_path):
    files, stored = write_series(tmp_path / "s")
    for path in files:
        ds = pydicom.dcmread(path)
        ds.compress(RLELossless)
        ds.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == RLELossless
    np.testing.assert_array_equal(load_volume(tmp_path / "s").hu, stored - 1024)


def test_duplicate_file_of_a_slice_loads_with_warning(tmp_path):
    files, stored = write_series(tmp_path / "s")
    shutil.copy(files[4], tmp_path / "s" / "copy_of_slice.dcm")
    with pytest.warns(VolumeWarning, match="duplicates"):
        volume = load_volume(tmp_path / "s")
    np.testing.assert_array_equal(volume.hu, stored - 1024)


def write_cut_scout(folder: Path) -> Path:
    """A one-slice DICOM of another series (a scout), truncated inside its header."""
    scout = SeriesSpec(n=1, seed=5)
    path = folder / "scout.dcm"
    make_slice(scout, 0, scout.stored()[0], scout.positions()[0]).save_as(
        path, enforce_file_format=True)
    cut_in_header(path)
    return path


@pytest.mark.parametrize("open_file", [False, True])
def test_unreadable_file_of_another_series_is_skipped_with_warning(tmp_path, open_file):
    files, stored = write_series(tmp_path / "s")
    scout = write_cut_scout(tmp_path / "s")
    with pytest.warns(VolumeWarning, match="damaged or truncated DICOM") as warned:
        volume = load_volume(files[3] if open_file else tmp_path / "s")
    np.testing.assert_array_equal(volume.hu, stored - 1024)
    assert any(str(scout) in str(warning.message) for warning in warned)


def test_list_series_skips_an_unreadable_file_with_warning(tmp_path):
    spec = SeriesSpec(n=4)
    write_series(tmp_path / "s", spec)
    scout = write_cut_scout(tmp_path / "s")
    with pytest.warns(VolumeWarning, match="scout.dcm skipped") as warned:
        found = list_series(tmp_path)
    assert [info.series_uid for info in found] == [spec.series_uid]
    assert any(str(scout) in str(warning.message) for warning in warned)


def test_folder_with_several_series_takes_ct_with_most_slices(tmp_path, caplog):
    write_series(tmp_path / "a", SeriesSpec(n=5, seed=1))
    long_spec = SeriesSpec(n=12, seed=2)
    _, stored = write_series(tmp_path / "b", long_spec)
    write_series(tmp_path / "c", SeriesSpec(n=20, modality="MR", seed=3))
    with caplog.at_level(logging.INFO, logger="noduleseg.core"):
        volume = load_volume(tmp_path)
    assert volume.info.series_uid == long_spec.series_uid
    np.testing.assert_array_equal(volume.hu, stored - 1024)
    assert long_spec.series_uid in caplog.text and "3 series" in caplog.text


def test_series_uid_picks_a_series(tmp_path):
    short_spec = SeriesSpec(n=5, seed=1)
    _, stored = write_series(tmp_path / "a", short_spec)
    write_series(tmp_path / "b", SeriesSpec(n=12, seed=2))
    volume = load_volume(tmp_path, series_uid=short_spec.series_uid)
    np.testing.assert_array_equal(volume.hu, stored - 1024)


def test_list_series_describes_every_series(tmp_path):
    ct, mr = SeriesSpec(n=6, seed=1), SeriesSpec(n=3, modality="MR", seed=2)
    ct_files, _ = write_series(tmp_path / "a", ct)
    write_series(tmp_path / "b", mr)
    found = {info.series_uid: info for info in list_series(tmp_path)}
    assert set(found) == {ct.series_uid, mr.series_uid}
    assert (found[ct.series_uid].modality, found[ct.series_uid].n_slices) == ("CT", 6)
    assert (found[mr.series_uid].modality, found[mr.series_uid].n_slices) == ("MR", 3)
    assert found[ct.series_uid].files == tuple(sorted(ct_files))
    assert found[ct.series_uid].patient_id == "SYNTH-1"
    assert found[ct.series_uid].study_description == "Synthetic chest"
    assert found[mr.series_uid].description == "Synthetic MR"
