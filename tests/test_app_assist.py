"""The Assistant controller's threading with a tiny stand-in for the model call (busy, one at a
time, cancel, errors); the real model is driven in test_app_window.py."""

from __future__ import annotations

import time

import pytest
from PySide6.QtWidgets import QProgressBar, QWidget

from noduleseg.app import assist
from noduleseg.app.assist import MeasurementCache, Outline, measure_crop
from noduleseg.app.assisting import Assistant
from noduleseg.app.masks import MaskCrop
from noduleseg.app.model_service import ModelService
from noduleseg.app.qt_state import QtState
from noduleseg.app.state import Status, ViewerState
from noduleseg.core.errors import SegmentationError


@pytest.fixture
def assistant(qtbot, sphere_volume, tmp_path):
    state = ViewerState()
    state.set_volume(sphere_volume, "synthetic")
    parent = QWidget()
    qtbot.addWidget(parent)
    helper = Assistant(QtState(state), ModelService(folder=tmp_path), MeasurementCache(lambda c, v: None),
                       parent, QProgressBar())
    helper.show_dialogs = False
    return helper


def stand_in(mask, measurements=None):
    """Like ``assist.segment_seed``: progress while it works, None once cancelled."""
    def segment_seed(service, volume, seed_ijk, progress, cancel):
        for step in range(5):
            if cancel():
                return None
            progress(step / 5)
            time.sleep(0.02)
        return Outline(mask, seed_ijk, "stand-in", measurements)
    return segment_seed


def test_outline_becomes_a_selected_ai_nodule(qtbot, assistant, sphere_volume, monkeypatch):
    mask = MaskCrop.from_full(sphere_volume.hu > 0)
    measured = measure_crop(mask, sphere_volume)
    monkeypatch.setattr(assist, "segment_seed", stand_in(mask, measured))
    with qtbot.waitSignal(assistant.segmented, timeout=5000) as done:
        assert assistant.segment_seed((30, 32, 16))
        assert assistant.busy and not assistant.segment_seed((1, 1, 1))  # one at a time
    state = assistant.qstate.state
    record = state.nodules[done.args[0]]
    assert record.status is Status.AI and record.first_mask is mask and record.model_version == "stand-in"
    assert state.selected == record.nodule_id and not assistant.busy
    assert assistant.measurements.get(mask, sphere_volume) is measured  # not measured again


def test_cancel_adds_nothing(qtbot, assistant, sphere_volume, monkeypatch):
    monkeypatch.setattr(assist, "segment_seed", stand_in(MaskCrop.from_full(sphere_volume.hu > 0)))
    with qtbot.waitSignal(assistant.cancelled, timeout=5000):
        assistant.segment_seed((30, 32, 16))
        assistant.cancel()
    assert assistant.qstate.state.records() == [] and not assistant.busy


def test_errors_are_reported(qtbot, assistant, monkeypatch):
    def fails(*args):
        raise SegmentationError("seed (0, 0, 0) is in air: nothing to outline there")
    monkeypatch.setattr(assist, "segment_seed", fails)
    with qtbot.waitSignal(assistant.failed, timeout=5000) as failed:
        assistant.segment_seed((0, 0, 0))
    assert "nothing to outline" in failed.args[0] and assistant.qstate.state.records() == []


def test_real_model_outlines_boxes_and_cancels(blob_model, sphere_volume):
    service = ModelService(folder=blob_model.folder)
    outline = assist.segment_seed(service, sphere_volume, (30, 32, 16))
    assert outline.model_version == "test-blobs" and outline.mask.contains_zyx((16, 32, 30))
    assert outline.measurements.volume_mm3 == measure_crop(outline.mask, sphere_volume).volume_mm3
    boxed = assist.segment_in_box(service, sphere_volume, (22, 24, 38, 40, 16))
    assert boxed.mask.contains_zyx((16, 32, 30)) and not boxed.mask.contains_zyx((16, 10, 10))
    assert assist.segment_seed(service, sphere_volume, (30, 32, 16), cancel=lambda: True) is None
    with pytest.raises(SegmentationError):
        assist.segment_seed(service, sphere_volume, (8, 8, 4))  # plain lung: nothing there


def test_escape_cancels_the_real_model(qtbot, assistant, blob_model):
    assistant.service = ModelService(folder=blob_model.folder)
    with qtbot.waitSignal(assistant.cancelled, timeout=10000):
        assert assistant.segment_seed((30, 32, 16))
        assistant.cancel()  # polled before the first slice: nothing is added
    assert assistant.qstate.state.records() == [] and not assistant.busy
