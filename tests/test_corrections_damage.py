"""A corrections folder with half-written cases: listed as skipped, named by training, set aside whole.

Accept writes image, label map and provenance one after another; each kind of half-written or
damaged case is built here from a whole one. The accepted-nodule listing skips it and says
which, training's data check refuses it naming the file, and Retrain moves it (never deletes
it) into ``incomplete/`` once the reader agrees.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from noduleseg.app.model_service import ModelService
from noduleseg.app.retrain_state import list_corrections
from noduleseg.app.settings import AppSettings
from noduleseg.app.training_panel import TrainingPanel
from noduleseg.core.case_check import incomplete_cases, set_aside_cases
from noduleseg.core.cases import image_path, label_path, list_cases, provenance_path, write_case
from noduleseg.core.errors import DatasetError
from noduleseg.training.data import load_datasets


def whole_case(folder, sphere_volume, case_id, dice):
    labels = (sphere_volume.hu > 0).astype(np.uint8)
    write_case(folder, case_id, sphere_volume, labels, {
        "seed_ijk": [30, 32, 16], "crop_box_zyx": [[0, s] for s in labels.shape], "model_version": "v0001",
        "dice_first_vs_accepted": dice, "time": f"2025-01-01T12:00:0{case_id[-1]}", "patient_id": "P1"})


DAMAGE = {  # what a crash, a full disk or a hand edit leaves, and the words that name it
    "no label": (lambda f, c: label_path(f, c).unlink(), "is an image without its label map"),
    "no image": (lambda f, c: image_path(f, c).unlink(), "is a label map without its image"),
    "only provenance": (lambda f, c: (image_path(f, c).unlink(), label_path(f, c).unlink()),
                        "has neither an image nor a label map"),
    "provenance not JSON": (lambda f, c: provenance_path(f, c).write_text('{"seed_ijk": [30, 3'),
                            "is not readable JSON"),
    "zero-byte image": (lambda f, c: image_path(f, c).write_bytes(b""), "is empty (0 bytes)"),
    "zero-byte label": (lambda f, c: label_path(f, c).write_bytes(b""), "is empty (0 bytes)"),
}


@pytest.fixture
def corrections(tmp_path, sphere_volume):
    folder = tmp_path / "corrections"
    for index, dice in enumerate((0.6, 0.8, 0.9), start=1):
        whole_case(folder, sphere_volume, f"scan_n{index}_1", dice)
    return folder


def files_of(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_the_listing_skips_the_broken_case_and_names_it(corrections, kind):
    damage, words = DAMAGE[kind]
    damage(corrections, "scan_n2_1")
    listing = list_corrections(corrections)
    assert [n.case_id for n in listing.nodules] == ["scan_n1_1", "scan_n3_1"]
    assert [n.dice_first for n in listing.nodules] == [0.6, 0.9]
    (skipped,) = listing.skipped
    assert skipped.case_id == "scan_n2_1" and words in skipped.problem and "scan_n2_1" in skipped.problem


@pytest.mark.parametrize("kind", [k for k in DAMAGE if k != "only provenance"])
def test_training_refuses_the_broken_case_naming_the_file(corrections, kind):
    damage, _ = DAMAGE[kind]
    damage(corrections, "scan_n2_1")
    with pytest.raises(DatasetError, match="scan_n2_1"):
        load_datasets([corrections])


def test_setting_aside_moves_every_file_and_leaves_whole_cases_for_training(corrections):
    DAMAGE["no label"][0](corrections, "scan_n2_1")
    DAMAGE["provenance not JSON"][0](corrections, "scan_n3_1")
    before = files_of(corrections)
    moved = set_aside_cases(corrections, incomplete_cases(corrections), now=0)
    after = files_of(corrections)
    kept = {path.relative_to(moved.relative_to(corrections)): data for path, data in after.items()
            if str(path).startswith("incomplete")}
    assert set(kept) == {p for p in before if "scan_n2_1" in str(p) or "scan_n3_1" in str(p)}
    assert all(before[path] == data for path, data in kept.items())  # nothing lost
    assert [case.case_id for case in load_datasets([corrections])] == ["scan_n1_1"]
    assert json.loads((corrections / "dataset.json").read_text())["numTraining"] == 1
    assert incomplete_cases(corrections) == []


@pytest.fixture
def panel(qtbot, corrections, tmp_path, monkeypatch):
    monkeypatch.setenv("NODULESEG_HOME", str(tmp_path / "home"))
    settings = AppSettings()
    settings.set_corrections_dir(corrections)
    panel = TrainingPanel(ModelService(), settings)
    panel.show_dialogs = False
    qtbot.addWidget(panel)
    started = []
    monkeypatch.setattr(panel.process, "start", lambda run, request: started.append(request) or 1)
    panel.started = started
    return panel


def test_the_panel_lists_what_it_left_out(panel, corrections):
    assert not panel.skipped_label.isVisibleTo(panel)
    DAMAGE["zero-byte image"][0](corrections, "scan_n2_1")
    panel.refresh_my_data()
    assert panel.skipped_label.isVisibleTo(panel) and "scan_n2_1_0000.nii.gz is empty" in panel.skipped_label.text()
    assert panel.my_data.item(0, 1).text() == "2"  # the two whole nodules still count


def test_retrain_moves_broken_cases_aside_only_when_the_reader_agrees(panel, corrections, monkeypatch):
    DAMAGE["no image"][0](corrections, "scan_n2_1")
    before = files_of(corrections)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert not panel.retrain()
    assert "scan_n2_1.nii.gz is a label map without its image" in asked[0]
    assert files_of(corrections) == before and panel.started == []
    assert "incomplete case" in panel.status_label.text()
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    assert panel.retrain()
    assert len(panel.started) == 1 and panel.started[0].datasets[0] == corrections
    assert list_cases(corrections) == ["scan_n1_1", "scan_n3_1"] and incomplete_cases(corrections) == []
    assert sorted(p.name for p in (corrections / "incomplete").rglob("*.*")) == ["scan_n2_1.json", "scan_n2_1.nii.gz"]
