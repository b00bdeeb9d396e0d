"""Keeping work without Qt: label export geometry, training cases with provenance, model service."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.app.keeping import (KeepError, accept_case, dice, export_labels, label_map,
                                   unpack_mask)
from noduleseg.app.masks import MaskCrop, paint_disc
from noduleseg.app.model_service import ModelService
from noduleseg.app.state import ViewerState
from noduleseg.core.cases import image_path, label_path, list_cases, read_provenance
from noduleseg.core.labels_io import ExportError


@pytest.fixture
def state(sphere_volume):
    state = ViewerState()
    state.set_volume(sphere_volume, "/scans/sphere.nii.gz")
    return state


def test_label_export_has_the_scan_geometry(state, sphere_volume, tmp_path):
    state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16))
    second = state.add_nodule(MaskCrop.from_full(np.pad(np.ones((2, 2, 2), bool), ((3, 27), (3, 59), (3, 59)))), (4, 4, 4))
    path = export_labels(state, tmp_path / "labels.nii.gz")
    image = sitk.ReadImage(str(path))
    assert image.GetSpacing() == pytest.approx(sphere_volume.spacing)
    assert image.GetOrigin() == pytest.approx(sphere_volume.origin)
    labels = sitk.GetArrayFromImage(image)
    assert labels[16, 32, 30] == 1 and labels[4, 4, 4] == second
    assert np.array_equal(labels, label_map(state))
    with pytest.raises(ExportError, match="file exists"):
        export_labels(state, path)


def test_accept_writes_a_case_with_provenance(state, sphere_volume, tmp_path):
    first = MaskCrop.from_full(sphere_volume.hu > 0)
    nodule_id = state.add_nodule(first, (30, 32, 16), "v3", first_mask=first)
    state.begin_stroke(False, 16, (32, 30))
    state.end_stroke()
    record = state.nodules[nodule_id]
    case_id = accept_case(state, record, tmp_path / "corrections", {"sha256": "abc"})
    dataset = tmp_path / "corrections"
    assert list_cases(dataset) == [case_id]
    image = sitk.ReadImage(str(image_path(dataset, case_id)))
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(label_path(dataset, case_id))))
    provenance = read_provenance(dataset, case_id)
    k0, j0, i0 = (b[0] for b in provenance["crop_box_zyx"])
    assert np.allclose(image.GetOrigin(), sphere_volume.index_to_world((i0, j0, k0)))
    assert label.sum() == record.mask.voxel_count and label.shape[2] < sphere_volume.shape_zyx[2]
    assert sitk.GetArrayFromImage(image)[16 - k0, 32 - j0, 30 - i0] == 40
    first_mask, offset = unpack_mask(provenance["first_mask"])
    assert first_mask.sum() == first.voxel_count
    assert provenance["model_version"] == "v3" and provenance["model_sha256"] == "abc"
    assert 0.5 < provenance["dice_first_vs_accepted"] < 1.0 and provenance["user"]
    assert json.loads(json.dumps(provenance)) == provenance


def test_accepting_an_empty_mask_is_refused(state, tmp_path):
    nodule_id = state.add_nodule(MaskCrop(np.zeros((0, 0, 0), bool), (0, 0, 0)), (1, 1, 1))
    with pytest.raises(KeepError, match="mask is empty"):
        accept_case(state, state.nodules[nodule_id], tmp_path)


def test_dice_of_crops():
    a = paint_disc(MaskCrop(np.zeros((0, 0, 0), bool), (0, 0, 0)), 2, (10, 10), 3, True, (5, 30, 30))
    b = paint_disc(a, 2, (10, 16), 3, True, (5, 30, 30))
    assert dice(a, a) == 1.0
    assert dice(a, b) == pytest.approx(2 * a.voxel_count / (a.voxel_count + b.voxel_count))


def test_model_service_reads_cards_without_torch(tmp_path):
    (tmp_path / "card.json").write_text(json.dumps({"version": "tiny-1"}))
    service = ModelService(folder=tmp_path)
    assert service.version() == "tiny-1" and not service.loaded and service.versions() == []


def test_accepted_cases_of_one_scan_share_a_patient_for_the_split(state, sphere_volume, tmp_path):
    from noduleseg.training.data import load_case

    dataset = tmp_path / "corrections"
    case_ids = []
    mask = MaskCrop.from_full(sphere_volume.hu > 0)
    for _ in range(2):
        nodule_id = state.add_nodule(mask, (30, 32, 16), "v3", first_mask=mask)
        case_ids.append(accept_case(state, state.nodules[nodule_id], dataset, {"sha256": "abc"}))
    patients = {load_case(dataset, case_id).patient_id for case_id in case_ids}
    assert len(case_ids) == 2 and len(set(case_ids)) == 2
    assert patients == {read_provenance(dataset, case_ids[0])["patient_id"]}
