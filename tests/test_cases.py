"""Training cases written in the nnU-Net raw layout, atomically."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.core.cases import list_cases, read_provenance, write_case


def test_case_round_trip_keeps_geometry(tmp_path, sphere_volume):
    labels = (sphere_volume.hu > -500).astype(np.uint8)
    write_case(tmp_path / "ds", "scan1_n1", sphere_volume, labels, {"user": "reader"})
    image = sitk.ReadImage(str(tmp_path / "ds" / "imagesTr" / "scan1_n1_0000.nii.gz"))
    label = sitk.ReadImage(str(tmp_path / "ds" / "labelsTr" / "scan1_n1.nii.gz"))
    for item in (image, label):
        assert np.allclose(item.GetSpacing(), sphere_volume.spacing)
        assert np.allclose(item.GetOrigin(), sphere_volume.origin)
    assert np.array_equal(sitk.GetArrayFromImage(label), labels)
    assert list_cases(tmp_path / "ds") == ["scan1_n1"]
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text())["numTraining"] == 1
    assert read_provenance(tmp_path / "ds", "scan1_n1") == {"user": "reader"}
    assert not list((tmp_path / "ds" / "labelsTr").glob(".*"))  # no temporary left


def test_bad_case_id_is_refused(tmp_path, sphere_volume):
    with pytest.raises(ValueError, match="case id"):
        write_case(tmp_path, "../escape", sphere_volume, np.zeros(sphere_volume.shape_zyx))


def test_written_files_follow_the_umask(tmp_path, sphere_volume):
    import os

    old = os.umask(0o022)
    try:
        write_case(tmp_path / "ds", "c1", sphere_volume, np.zeros(sphere_volume.shape_zyx))
    finally:
        os.umask(old)
    mode = (tmp_path / "ds" / "labelsTr" / "c1.nii.gz").stat().st_mode & 0o777
    assert mode == 0o644
