"""Hostile files: seeded damage to real and made scans (``fuzzing.py``) must load a sane volume
or be refused with a VolumeError naming the file; and the classes of damage the fuzzer found,
each pinned by a test of its own."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from dicom_factory import SeriesSpec, write_series

import fuzzing
from noduleseg.core import load_volume
from noduleseg.core.errors import CorruptFileError, GeometryError, NotAVolumeError, VolumeWarning

CASES = 600  # about 10 s; `make fuzz N=5000` runs more


def test_seeded_damage_loads_sanely_or_is_refused_naming_the_file():
    failures: list[str] = []
    records = fuzzing.run(CASES, seed=0, report=failures.append)
    assert len(records) == CASES
    families = {r["family"] for r in records}
    assert families == {f.name for f in fuzzing.FAMILIES}
    outcomes = {r["outcome"] for r in records}
    assert {"loaded", "refused"} <= outcomes  # the damage is real: some cases are refused
    assert not failures, "\n".join(failures[:10])


def test_the_oracle_catches_a_refusal_that_does_not_name_the_file(tmp_path, monkeypatch):
    from noduleseg.core import loader
    from noduleseg.core.errors import VolumeError

    def anonymous(path, *args, **kwargs):
        raise VolumeError("elsewhere", "something is wrong")
    monkeypatch.setattr(loader, "load_volume", anonymous)
    (tmp_path / "case-00001").mkdir()
    assert fuzzing.judge(tmp_path / "case-00001" / "x.nii")["outcome"].startswith("failed")


def _set(path, keyword, value, vr=None):
    ds = pydicom.dcmread(path)
    if vr is None:
        setattr(ds, keyword, value)
    else:
        ds.add_new(pydicom.datadict.tag_for_keyword(keyword), vr, value)
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize("keyword", ["Rows", "Columns"])
def test_zero_rows_or_columns_in_every_file_is_refused(tmp_path, keyword):
    files, _ = write_series(tmp_path / "s", SeriesSpec(n=3))
    for path in files:
        _set(path, keyword, 0)
    with pytest.raises(NotAVolumeError, match="Rows x Columns missing or 0") as caught:
        load_volume(tmp_path / "s")
    assert str(tmp_path / "s") in str(caught.value)


@pytest.mark.parametrize("intercept", ["-1e30", "1e10", "NaN"])
def test_an_impossible_rescale_is_refused_naming_the_file(tmp_path, intercept):
    files, _ = write_series(tmp_path / "s", SeriesSpec(n=3))
    fuzzing._rewrite(files[1], lambda ds: ds.add_new(0x00281052, "LO", intercept))
    fuzzing._mark_vr(files[1], 0x00281052, "DS")
    with pytest.raises(CorruptFileError, match="RescaleIntercept") as caught:
        load_volume(tmp_path / "s")
    assert files[1].name in str(caught.value)


def test_random_bytes_in_a_header_skip_the_file_instead_of_escaping(tmp_path):
    files, _ = write_series(tmp_path / "s", SeriesSpec(n=4))
    data = bytearray(files[0].read_bytes())
    at = data.find(b"\x28\x00\x03\x01US")  # PixelRepresentation's VR becomes unknown bytes
    data[at + 4:at + 6] = b"\x55\xe6"
    files[0].write_bytes(bytes(data))
    with pytest.warns(VolumeWarning, match=f"{files[0].name} skipped: damaged or truncated DICOM file"):
        volume = load_volume(tmp_path / "s")  # the damaged slice was an end slice: three remain
    assert volume.shape_zyx[0] == 3


def test_a_non_finite_position_is_a_missing_position(tmp_path):
    files, _ = write_series(tmp_path / "s", SeriesSpec(n=3))
    fuzzing._rewrite(files[1], lambda ds: ds.add_new(0x00200032, "LO", "0\\0\\inf"))
    fuzzing._mark_vr(files[1], 0x00200032, "DS")
    with pytest.raises(GeometryError, match="no ImagePositionPatient"):
        load_volume(tmp_path / "s")


def _nifti(tmp_path, name="scan.nii.gz"):
    image = sitk.GetImageFromArray(np.zeros((4, 6, 8), np.int16) - 700)
    sitk.WriteImage(image, str(tmp_path / name))
    return tmp_path / name


@pytest.mark.parametrize("offset", [float("inf"), float("nan"), 1e30, -5.0])
def test_a_nifti_vox_offset_that_is_no_position_is_refused(tmp_path, offset):
    path = _nifti(tmp_path)
    data = bytearray(gzip.decompress(path.read_bytes()))
    struct.pack_into("<f", data, 108, offset)
    path.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(CorruptFileError, match="vox_offset") as caught:
        load_volume(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("size", ["0 6 5", ""])
def test_a_metaimage_without_voxels_is_refused(tmp_path, size):
    path = _nifti(tmp_path, "scan.mhd")
    text = path.read_text().replace("DimSize = 8 6 4", f"DimSize = {size}" if size else "")
    if not size:
        text = text.replace("NDims = 3", "NDims = 0")
    path.write_text(text)
    with pytest.raises((NotAVolumeError, CorruptFileError)) as caught:
        load_volume(path)
    assert str(path) in str(caught.value)


def test_a_non_finite_direction_is_refused_by_the_last_guard(tmp_path):
    path = _nifti(tmp_path, "scan.nii")
    data = bytearray(path.read_bytes())
    struct.pack_into("<h", data, 252, 0)  # qform off: the sform decides
    struct.pack_into("<h", data, 254, 1)
    struct.pack_into("<12f", data, 280, *([float("nan")] + [0.0] * 11))
    path.write_bytes(bytes(data))
    with pytest.raises((GeometryError, CorruptFileError)) as caught:
        load_volume(path)
    assert str(path) in str(caught.value)
