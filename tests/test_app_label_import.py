"""File > Open labels in the real window, offscreen: a label map or a DICOM SEG of the open scan
becomes imported nodules with measurements; labels of another scan add nothing and say why."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PySide6.QtWidgets import QFileDialog, QMessageBox

from noduleseg.app.model_service import ModelService
from noduleseg.app.state import Status
from noduleseg.app.window import MainWindow
from noduleseg.core.labels_io import save_labels
from noduleseg.core.volume import Volume, image_like
from noduleseg.training.toy import toy_case


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NODULESEG_HOME", str(tmp_path / "home"))


@pytest.fixture
def window(qtbot, blob_model):
    window = MainWindow(service=ModelService(folder=blob_model.folder))
    window.opener.show_dialogs = False
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def open_scan(qtbot, window, volume, path):
    sitk.WriteImage(image_like(volume.hu, volume), str(path))
    with qtbot.waitSignal(window.opener.opened, timeout=10000):
        window.open_path(path)


def test_a_label_map_becomes_imported_nodules_one_undo_step_each(qtbot, window, tmp_path, monkeypatch):
    volume, ids = toy_case(8, n_nodules=2)
    assert not window.actions["open_labels"].isEnabled()
    open_scan(qtbot, window, volume, tmp_path / "scan.nii.gz")
    assert window.actions["open_labels"].isEnabled()
    save_labels(ids, volume, tmp_path / "theirs.nii.gz")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "theirs.nii.gz"), ""))
    window.actions["open_labels"].trigger()
    records = window.state.records()
    assert [(r.status, r.label, r.notes) for r in records] == [
        (Status.IMPORTED, f"label {n}", "imported from theirs.nii.gz") for n in (1, 2)]
    for record, label in zip(records, (1, 2)):
        np.testing.assert_array_equal(record.mask.full(volume.shape_zyx), ids == label)
        i, j, k = record.seed_ijk
        assert ids[k, j, i] == label  # the seed lies in its nodule
    assert window.measurements.get(records[0].mask, volume).long_axis_mm > 0  # measured as any nodule
    window.state.undo()
    assert len(window.state.records()) == 1


def test_labels_of_another_scan_add_nothing_and_say_why(qtbot, window, tmp_path, monkeypatch):
    volume, ids = toy_case(8, n_nodules=1)
    open_scan(qtbot, window, volume, tmp_path / "scan.nii.gz")
    other = Volume(volume.hu, (1.0, 1.0, 1.0), volume.origin, volume.direction)
    save_labels(ids, other, tmp_path / "other.nii.gz")
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "other.nii.gz"), ""))
    window.actions["open_labels"].trigger()
    assert window.state.records() == [] and len(shown) == 1
    assert "other.nii.gz: its spacing" in shown[0] and "open scan's" in shown[0]
