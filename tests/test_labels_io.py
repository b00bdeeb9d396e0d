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
