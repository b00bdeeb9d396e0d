"""Label maps keep the scan's geometry, are written atomically, and never overwrite silently."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.core.labels_io import ExportError, save_labels
from noduleseg.core.volume import Volume


@pytest.fixture
def oblique_volume() -> Volume:
    direction = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    return Volume(np.zeros((4, 5, 6), np.int16), (0.6, 0.7, 2.5), (10.0, -20.0, 30.0), direction)


@pytest.mark.parametrize("name", ["labels.nii.gz", "labels.nrrd"])
def test_geometry_survives(tmp_path, oblique_volume, name):
    labels = np.zeros(oblique_volume.shape_zyx, np.uint8)
    labels[1, 2, 3] = 2
    save_labels(labels, oblique_volume, tmp_path / name)
    image = sitk.ReadImage(str(tmp_path / name))
    assert np.allclose(image.GetSpacing(), oblique_volume.spacing)
    assert np.allclose(image.GetOrigin(), oblique_volume.origin)
    assert np.allclose(image.GetDirection(), oblique_volume.direction)
    assert np.array_equal(sitk.GetArrayFromImage(image), labels)


def test_refuses_to_overwrite_unless_asked(tmp_path, oblique_volume):
    labels = np.zeros(oblique_volume.shape_zyx, np.uint8)
    target = save_labels(labels, oblique_volume, tmp_path / "l.nii.gz")
    with pytest.raises(ExportError, match="exists"):
        save_labels(labels, oblique_volume, target)
    labels[0, 0, 0] = 1
    save_labels(labels, oblique_volume, target, overwrite=True)
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(target)))[0, 0, 0] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["l.nii.gz"]


def test_wrong_shape_is_refused(tmp_path, oblique_volume):
    with pytest.raises(ExportError, match="differs"):
        save_labels(np.zeros((1, 1, 1)), oblique_volume, tmp_path / "l.nii.gz")


def test_a_label_map_comes_back_as_the_nodules_it_holds(tmp_path):
    from noduleseg.core.labels_io import load_labels
    from noduleseg.training.toy import toy_case
    volume, ids = toy_case(3, n_nodules=2)
    ids = ids.copy()
    ids[ids == 2] = 7  # ids need not be consecutive
    path = save_labels(ids, volume, tmp_path / "l.nii.gz")
    nodules = load_labels(path, volume)
    assert [label for label, _ in nodules] == [1, 7]
    for label, mask in nodules:
        np.testing.assert_array_equal(mask.full(volume.shape_zyx), ids == label)


def test_labels_of_another_grid_or_without_labels_are_refused_naming_the_file(tmp_path):
    from noduleseg.core.labels_io import LabelImportError, load_labels
    from noduleseg.training.toy import toy_case
    volume, ids = toy_case(3, n_nodules=1)
    moved = Volume(volume.hu, volume.spacing, (volume.origin[0] + 5.0, *volume.origin[1:]), volume.direction)
    path = save_labels(ids, moved, tmp_path / "moved.nii.gz")
    with pytest.raises(LabelImportError, match="moved.nii.gz: its origin .* differs from the open scan's"):
        load_labels(path, volume)
    empty = save_labels(np.zeros_like(ids), volume, tmp_path / "empty.nrrd")
    with pytest.raises(LabelImportError, match="empty.nrrd: no label in it"):
        load_labels(empty, volume)
    (tmp_path / "junk.nii.gz").write_bytes(b"not an image")
    with pytest.raises(LabelImportError, match="junk.nii.gz: cannot read the label map"):
        load_labels(tmp_path / "junk.nii.gz", volume)
