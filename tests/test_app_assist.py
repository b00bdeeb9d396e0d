"""The Assistant controller with a tiny stand-in for core.segment (unit test only)."""

from __future__ import annotations

import time

import pytest
from PySide6.QtWidgets import QProgressBar, QWidget

from noduleseg.app import assist
from noduleseg.app.assist import MeasurementCache, Outline
from noduleseg.app.assisting import Assistant
from noduleseg.app.masks import MaskCrop
from noduleseg.app.model_service import ModelService
from noduleseg.app.qt_state import QtState
from noduleseg.app.state import Status, ViewerState
from noduleseg.core.errors import SegmentationError


@pytest.fixture
def assistant(qtbot, sphere_volume, monkeypatch, tmp_path):
    monkeypatch.setattr(assist, "segmentation_available", lambda: True)
    state = ViewerState()
    state.set_volume(sphere_volume, "synthetic")
    parent = QWidget()
    qtbot.addWidget(parent)
    helper = Assistant(QtState(state), ModelService(folder=tmp_path), MeasurementCache(lambda c, v: None),
                       parent, QProgressBar())
    helper.show_dialogs = False
    return helper


def stand_in(mask):
    def segment_seed(service, volume, seed_ijk, progress, cancel):
        for step in range(5):
            if cancel():
                raise SegmentationError("cancelled")
            progress(step / 5)
            time.sleep(0.02)
        return Outline(mask, seed_ijk, "stand-in", measurements="measured")
    return segment_seed


def test_outline_becomes_a_selected_ai_nodule(qtbot, assistant, sphere_volume, monkeypatch):
    mask = MaskCrop.from_full(sphere_volume.hu > 0)
    monkeypatch.setattr(assist, "segment_seed", stand_in(mask))
    with qtbot.waitSignal(assistant.segmented, timeout=5000) as done:
        assert assistant.segment_seed((30, 32, 16))
        assert assistant.busy and not assistant.segment_seed((1, 1, 1))  # one at a time
    state = assistant.qstate.state
    record = state.nodules[done.args[0]]
    assert record.status is Status.AI and record.first_mask is mask and record.model_version == "stand-in"
    assert state.selected == record.nodule_id and not assistant.busy
    assert assistant.measurements.get(mask, sphere_volume) == "measured"


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
