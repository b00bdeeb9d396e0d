"""The window at start-up with damaged autosaved sessions, and two windows on one sessions folder."""

from __future__ import annotations

import subprocess
import sys

import pytest
import SimpleITK as sitk
from PySide6.QtWidgets import QMessageBox

from noduleseg.app.masks import MaskCrop
from noduleseg.app.model_service import ModelService
from noduleseg.app.session import session_bytes
from noduleseg.app.state import ViewerState
from noduleseg.app.window import MainWindow
from noduleseg.core.volume import image_like


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NODULESEG_HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "sessions").mkdir(parents=True)
    return tmp_path / "home"


@pytest.fixture
def warnings(monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    return shown


@pytest.fixture
def crashed(home, sphere_volume, tmp_path):
    """Write a crashed app's session file (its process gone) on a real scan with one nodule."""
    scan = tmp_path / "scan.nii.gz"
    sitk.WriteImage(image_like(sphere_volume.hu, sphere_volume), str(scan))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    state = ViewerState()
    state.set_volume(sphere_volume, str(scan))
    state.rename(state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16)), "kept")

    def write(stamp: int, cut: int | None = None):
        path = home / "sessions" / f"session-{gone.stdout.strip()}-{stamp}.npz"
        data = session_bytes(state, 0.0)
        path.write_bytes(data if cut is None else data[:cut])
        return path
    return write


def make_window(qtbot):
    window = MainWindow(service=ModelService())
    window.opener.show_dialogs = False
    qtbot.addWidget(window)
    return window


def test_a_damaged_session_is_named_set_aside_and_the_app_starts_empty(qtbot, home, crashed, warnings):
    damaged = crashed(1000, cut=200)
    window = make_window(qtbot)
    assert window.offer_restore("yes") is None
    assert window.state.volume is None and window.state.records() == []
    (text,) = warnings
    assert f"The autosaved session {damaged} cannot be restored: the file is truncated or damaged" in text
    assert "set aside as session-" in text and "NoduleSeg starts without it" in text
    (aside,) = (home / "sessions").glob("*.damaged-*")
    assert aside.name.startswith(damaged.name) and not damaged.exists()
    assert str(damaged) in window.statusBar().currentMessage()
    window.close()
    assert make_window(qtbot).offer_restore("yes") is None and len(warnings) == 1  # said once, not each start


def test_after_setting_a_damaged_one_aside_the_older_session_is_restored(qtbot, home, crashed, warnings):
    older, newest = crashed(1000), crashed(2000, cut=300)
    window = make_window(qtbot)
    with qtbot.waitSignal(window.opener.opened, timeout=10000):
        assert window.offer_restore("yes") == older
    assert [r.name for r in window.state.records()] == ["kept"]
    assert len(warnings) == 1 and str(newest) in warnings[0]
    assert not older.exists() and window.saver.path.exists()  # the restored work now lives in this window's file
    window.close()


def test_a_second_window_neither_offers_nor_touches_the_first_ones_session(qtbot, home, sphere_volume, warnings):
    first = make_window(qtbot)
    first.state.set_volume(sphere_volume, "/scans/a.nii.gz")
    first.state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16))
    saved = first.saver.path.read_bytes()
    second = make_window(qtbot)
    assert second.saver.path != first.saver.path
    assert second.offer_restore("yes") is None and second.state.volume is None
    second.state.set_volume(sphere_volume, "/scans/b.nii.gz")
    second.state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16))
    second.close()
    assert first.saver.path.read_bytes() == saved and not second.saver.path.exists()
    assert warnings == []
    first.close()
    assert list((home / "sessions").iterdir()) == []
