"""Training cases are valid nnU-Net v2 raw data: class labels in labelsTr, nodule ids beside them
in instancesTr, dataset.json's file_ending honoured, older data sets moved over with nothing lost."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.core import cases
from noduleseg.core.errors import DatasetError
from noduleseg.core.volume import image_like
from noduleseg.training.data import load_datasets
from noduleseg.training.toy import toy_case


def read(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_labels_hold_classes_and_instances_hold_the_nodule_ids(tmp_path):
    volume, ids = toy_case(2, n_nodules=2)
    cases.write_case(tmp_path / "ds", "c1", volume, ids, {"patient_id": "p"})
    assert set(np.unique(read(cases.label_path(tmp_path / "ds", "c1")))) == {0, 1}
    np.testing.assert_array_equal(read(cases.instance_path(tmp_path / "ds", "c1")), ids)
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["labels"] == {"background": 0, "nodule": 1} and meta["file_ending"] == ".nii.gz"
    (case,) = load_datasets([tmp_path / "ds"])
    np.testing.assert_array_equal(case.labels, ids)
    one = (ids == 1).astype(np.uint8)
    cases.write_case(tmp_path / "ds", "c1", volume, one)  # rewritten with one nodule: no stale ids
    assert not cases.instance_path(tmp_path / "ds", "c1").exists()


def test_an_older_data_set_with_ids_in_labels_is_moved_over_on_first_use(tmp_path):
    volume, ids = toy_case(4, n_nodules=2)
    dataset = tmp_path / "old"
    for folder in ("imagesTr", "labelsTr"):
        (dataset / folder).mkdir(parents=True)
    sitk.WriteImage(image_like(volume.hu, volume), str(dataset / "imagesTr" / "c1_0000.nii.gz"))
    sitk.WriteImage(image_like(ids, volume), str(dataset / "labelsTr" / "c1.nii.gz"))
    (case,) = load_datasets([dataset])
    np.testing.assert_array_equal(case.labels, ids)  # nothing lost
    assert set(np.unique(read(dataset / "labelsTr" / "c1.nii.gz"))) == {0, 1}
    np.testing.assert_array_equal(read(dataset / "instancesTr" / "c1.nii.gz"), ids)
    assert cases.migrate_instances(dataset) == []  # done once


def test_an_interrupted_move_is_finished_without_loss(tmp_path):
    volume, ids = toy_case(4, n_nodules=2)
    dataset = tmp_path / "ds"
    cases.write_case(dataset, "c1", volume, ids)
    sitk.WriteImage(image_like(ids, volume), str(cases.label_path(dataset, "c1")))  # as if cut short
    assert cases.migrate_instances(dataset) == ["c1"]
    assert read(cases.label_path(dataset, "c1")).max() == 1
    np.testing.assert_array_equal(load_datasets([dataset])[0].labels, ids)


def test_class_labels_alone_give_one_id_per_separate_nodule(tmp_path):
    volume, ids = toy_case(5, n_nodules=2)
    dataset = tmp_path / "ds"
    cases.write_case(dataset, "c1", volume, ids)
    cases.instance_path(dataset, "c1").unlink()  # a data set from elsewhere: classes only
    labels = load_datasets([dataset])[0].labels
    assert labels.max() == 2
    assert {len(np.unique(labels[ids == n])) for n in (1, 2)} == {1}  # each nodule one id


def test_an_instance_map_that_disagrees_with_the_classes_is_refused(tmp_path):
    volume, ids = toy_case(6, n_nodules=2)
    dataset = tmp_path / "ds"
    cases.write_case(dataset, "c1", volume, ids)
    moved = np.roll(ids, 3, axis=2)
    sitk.WriteImage(image_like(moved, volume), str(cases.instance_path(dataset, "c1")))
    with pytest.raises(DatasetError, match="c1.nii.gz: its nodules are not where"):
        load_datasets([dataset])


def test_the_file_ending_of_dataset_json_is_honoured(tmp_path):
    volume, ids = toy_case(7, n_nodules=2)
    dataset = tmp_path / "nrrd"
    dataset.mkdir()
    (dataset / "dataset.json").write_text(json.dumps(cases.dataset_json(0, ".nrrd")))
    cases.write_case(dataset, "c1", volume, ids)
    assert (dataset / "imagesTr" / "c1_0000.nrrd").exists() and (dataset / "instancesTr" / "c1.nrrd").exists()
    assert cases.list_cases(dataset) == ["c1"]
    np.testing.assert_array_equal(load_datasets([dataset])[0].labels, ids)
    (dataset / "dataset.json").write_text(json.dumps(cases.dataset_json(1, ".png")))
    with pytest.raises(DatasetError, match="dataset.json: file_ending '.png'"):
        load_datasets([dataset])


def test_nnunet_accepts_the_data_set(tmp_path):
    verify = pytest.importorskip("nnunetv2.experiment_planning.verify_dataset_integrity",
                                 reason="nnunetv2 is not installed (it is not a dependency; "
                                        "pip install nnunetv2 to run nnU-Net's own check)")
    dataset = tmp_path / "Dataset501_Nodules"
    for n in range(2):
        volume, ids = toy_case(n, n_nodules=2)
        cases.write_case(dataset, f"c{n}", volume, ids)
    verify.verify_dataset_integrity(str(dataset), num_processes=1)  # raises on any problem
