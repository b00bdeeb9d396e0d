"""Data set checks and the converter: every refusal names the file at fault."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.core import cases
from noduleseg.core.errors import DatasetError
from noduleseg.core.volume import image_like
from noduleseg.training.convert import convert_case
from noduleseg.training.data import load_datasets
from noduleseg.training.toy import toy_case, write_toy_dataset


def test_loads_a_valid_data_set_with_patients_from_provenance(tmp_path):
    dataset = write_toy_dataset(tmp_path / "ds", n_cases=2, n_nodules=2)
    loaded = load_datasets([dataset])
    assert [c.case_id for c in loaded] == ["toy000", "toy001"]
    assert [c.patient_id for c in loaded] == ["patient000", "patient001"]
    assert loaded[0].nodule_ids() == [1, 2]
    assert loaded[0].labels.dtype == np.uint8 and loaded[0].volume.hu.dtype == np.int16


def test_case_ids_clashing_across_data_sets_stay_unique(tmp_path):
    first = write_toy_dataset(tmp_path / "a", n_cases=1)
    second = write_toy_dataset(tmp_path / "b", n_cases=1, seed=1)
    assert [c.case_id for c in load_datasets([first, second])] == ["toy000", "b/toy000"]


def test_refuses_a_missing_label_naming_the_image(tmp_path):
    dataset = write_toy_dataset(tmp_path / "ds", n_cases=2)
    cases.label_path(dataset, "toy001").unlink()
    with pytest.raises(DatasetError, match="toy001_0000.nii.gz: no label map toy001.nii.gz"):
        load_datasets([dataset])


def test_refuses_a_label_without_image(tmp_path):
    dataset = write_toy_dataset(tmp_path / "ds", n_cases=2)
    cases.image_path(dataset, "toy001").unlink()
    with pytest.raises(DatasetError, match="toy001.nii.gz: label map without an image"):
        load_datasets([dataset])


def _write_label(dataset, case_id, array, like, pixel=None, spacing=None):
    image = image_like(array, like)
    if pixel is not None:
        image = sitk.Cast(image, pixel)
    if spacing is not None:
        image.SetSpacing(spacing)
    sitk.WriteImage(image, str(cases.label_path(dataset, case_id)))


def test_refuses_geometry_mismatch(tmp_path):
    dataset = write_toy_dataset(tmp_path / "ds", n_cases=1)
    volume, labels = toy_case(0)
    _write_label(dataset, "toy000", labels, volume, spacing=(0.8, 0.7, 1.25))
    with pytest.raises(DatasetError, match=r"toy000.nii.gz: label spacing .* differs from the image's"):
        load_datasets([dataset])


def test_refuses_an_empty_label(tmp_path):
    dataset = write_toy_dataset(tmp_path / "ds", n_cases=1)
    volume, labels = toy_case(0)
    _write_label(dataset, "toy000", np.zeros_like(labels), volume)
    with pytest.raises(DatasetError, match="toy000.nii.gz: label map is empty"):
        load_datasets([dataset])


def test_refuses_non_integer_labels_but_accepts_whole_floats(tmp_path):
    dataset = write_toy_dataset(tmp_path / "ds", n_cases=1)
    volume, labels = toy_case(0)
    _write_label(dataset, "toy000", labels.astype(np.float32), volume)
    assert load_datasets([dataset])[0].nodule_ids() == [1]
    _write_label(dataset, "toy000", labels.astype(np.float32) * 0.5, volume)
    with pytest.raises(DatasetError, match="non-integer values"):
        load_datasets([dataset])


def test_refuses_a_folder_that_is_no_data_set(tmp_path):
    with pytest.raises(DatasetError, match="no imagesTr"):
        load_datasets([tmp_path])
    (tmp_path / "imagesTr").mkdir()
    with pytest.raises(DatasetError, match="no cases"):
        load_datasets([tmp_path])


def test_convert_writes_a_case_that_loads_back(tmp_path):
    volume, labels = toy_case(3, n_nodules=2)
    sitk.WriteImage(image_like(volume.hu, volume), str(tmp_path / "scan.nrrd"))
    sitk.WriteImage(image_like(labels, volume), str(tmp_path / "labels.nii.gz"))
    convert_case(tmp_path / "scan.nrrd", tmp_path / "labels.nii.gz", tmp_path / "ds", "scan1", patient_id="P7")
    (case,) = load_datasets([tmp_path / "ds"])
    assert case.patient_id == "P7" and case.nodule_ids() == [1, 2]
    np.testing.assert_array_equal(case.labels, labels)
    np.testing.assert_array_equal(case.volume.hu, volume.hu)
    assert case.provenance["source_labels"].endswith("labels.nii.gz")


def test_convert_refuses_labels_in_another_geometry(tmp_path):
    volume, labels = toy_case(3)
    sitk.WriteImage(image_like(volume.hu, volume), str(tmp_path / "scan.nii.gz"))
    sitk.WriteImage(image_like(labels[:-1], volume.crop(0, volume.shape_zyx[0] - 1)), str(tmp_path / "labels.nii.gz"))
    with pytest.raises(DatasetError, match="labels.nii.gz: label size"):
        convert_case(tmp_path / "scan.nii.gz", tmp_path / "labels.nii.gz", tmp_path / "ds", "scan1")
    assert not (tmp_path / "ds").exists()


def write_crops_folder(root, rows):
    """A folder laid out as the shared lidc_crops: crops.csv and crops/<name>_ct|_label.nii.gz."""
    (root / "crops").mkdir(parents=True)
    header = "crop,patient,series_uid,readers,diameter_mm,volume_mm3,texture,malignancy,subtlety,calcification"
    lines = [header]
    for n, (name, patient, texture) in enumerate(rows):
        volume, labels = toy_case(n, n_nodules=2)
        sitk.WriteImage(image_like(volume.hu, volume), str(root / "crops" / f"{name}_ct.nii.gz"))
        sitk.WriteImage(image_like(labels, volume), str(root / "crops" / f"{name}_label.nii.gz"))
        lines.append(f"{name},{patient},1.2.3,4,7.5,120.0,{texture},3,4,6")
    (root / "crops.csv").write_text("\n".join(lines) + "\n")


def test_convert_crops_keeps_patients_readers_and_which_nodule_is_whole(tmp_path):
    from noduleseg.training.convert import convert_crops
    write_crops_folder(tmp_path / "crops", [("P1_01", "P1", 5.0), ("P1_02", "P1", 1.5), ("P2_01", "P2", 3.0)])
    assert len(convert_crops(tmp_path / "crops", tmp_path / "ds")) == 3
    loaded = {c.case_id: c for c in load_datasets([tmp_path / "ds"])}
    assert sorted(loaded) == ["P1_01", "P1_02", "P2_01"]
    case = loaded["P1_02"]
    assert case.patient_id == "P1" and case.is_crop and case.nodule_ids() == [1, 2]
    assert case.whole_nodules() == [1]  # label 2 reaches in from outside: a nodule, never whole here
    reference = case.lidc.nodule(1)
    assert (reference.readers, reference.diameter_mm, reference.texture) == (4, 7.5, 1.5)


def test_convert_crops_refuses_a_folder_without_its_table(tmp_path):
    from noduleseg.training.convert import convert_crops
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="crops.csv: cannot read the nodule table"):
        convert_crops(tmp_path / "empty", tmp_path / "ds")


def test_a_malformed_lidc_record_is_refused_naming_the_provenance(tmp_path):
    import json
    volume, labels = toy_case(1)
    cases.write_case(tmp_path / "ds", "c1", volume, labels, {"patient_id": "p", "lidc": {"crop_of": "x", "nodules": []}})
    with pytest.raises(DatasetError, match="c1.json: the lidc record is malformed"):
        load_datasets([tmp_path / "ds"])
    assert json.loads((tmp_path / "ds" / "provenance" / "c1.json").read_text())["lidc"]["crop_of"] == "x"
