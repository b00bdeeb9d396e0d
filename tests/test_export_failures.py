"""Exports that cannot be written (full disk, no permission): a clear message naming the file and
the reason, no partial file, an older file whole, and the session untouched."""

from __future__ import annotations

import errno
import os
import pathlib
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from noduleseg.app.keeping import KeepError, accept_case
from noduleseg.app.masks import MaskCrop
from noduleseg.app.model_service import ModelService
from noduleseg.app.state import ViewerState
from noduleseg.app.window import MainWindow
from noduleseg.core.export import write_measurements
from noduleseg.core.labels_io import ExportError, save_labels

ROWS = [{"label": 1, "long_axis_mm": 12.5}]


def full_disk_after(limit: int):
    """A write that puts ``limit`` bytes on disk, then fails as a full disk does."""
    def write(path, data):
        with open(path, "wb") as stream:
            stream.write(bytes(data)[:limit])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return write


def no_permission(*args, **kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), kwargs.get("dir"))


def sitk_full_disk(image, name, *args, **kwargs):
    pathlib.Path(name).write_bytes(b"\x1f\x8b half a label map")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "old.csv").write_text("old table\n")
    (folder / "old.nii.gz").write_bytes(b"old labels")
    return folder


def left_behind(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("name", ["old.csv", "new.csv", "new.json"])
def test_a_full_disk_leaves_no_partial_table_and_the_old_file_whole(folder, monkeypatch, name):
    before = left_behind(folder)
    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk_after(5))
    with pytest.raises(ExportError) as refused:
        write_measurements(ROWS, folder / name, overwrite=True)
    assert str(refused.value).startswith(f"{folder / name}: not written: the disk is full")
    monkeypatch.undo()
    assert left_behind(folder) == before


def test_a_full_disk_leaves_no_partial_label_map(folder, sphere_volume, monkeypatch):
    before = left_behind(folder)
    monkeypatch.setattr("noduleseg.core.labels_io.sitk.WriteImage", sitk_full_disk)
    labels = (sphere_volume.hu > 0).astype(np.uint8)
    for name in ("old.nii.gz", "new.nrrd"):
        with pytest.raises(ExportError, match="the disk is full") as refused:
            save_labels(labels, sphere_volume, folder / name, overwrite=True)
        assert str(refused.value).startswith(f"{folder / name}: not written:")
    assert left_behind(folder) == before


def test_a_folder_without_write_permission_is_named(folder, sphere_volume, monkeypatch):
    monkeypatch.setattr("noduleseg.core.atomic.tempfile.mkstemp", no_permission)
    with pytest.raises(ExportError, match=f"no permission to write in {folder}; choose another folder"):
        write_measurements(ROWS, folder / "m.csv")
    with pytest.raises(ExportError, match=f"no permission to write in {folder}"):
        save_labels(np.zeros(sphere_volume.shape_zyx, np.uint8), sphere_volume, folder / "l.nii.gz")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the test above simulates it")
def test_a_really_read_only_folder_is_named(folder):
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(ExportError, match="no permission to write"):
            write_measurements(ROWS, folder / "m.csv")
    finally:
        os.chmod(folder, 0o755)
    assert not (folder / "m.csv").exists()


def test_accept_on_a_full_disk_leaves_no_half_case(sphere_volume, tmp_path, monkeypatch):
    state = ViewerState()
    state.set_volume(sphere_volume, "/scans/sphere.nii.gz")
    nodule_id = state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16))
    written = []

    def label_fails(image, name, *args, **kwargs):  # the image goes through, the label map does not
        if written:
            raise RuntimeError("itk::ERROR: NiftiImageIO: could not write")
        written.append(name)
        pathlib.Path(name).write_bytes(b"\x1f\x8b image")

    monkeypatch.setattr("SimpleITK.WriteImage", label_fails)
    monkeypatch.setattr("noduleseg.core.atomic.shutil.disk_usage", lambda path: SimpleNamespace(free=0))
    with pytest.raises(KeepError, match="the disk is full"):
        accept_case(state, state.nodules[nodule_id], tmp_path / "corrections")
    assert [p for p in (tmp_path / "corrections").rglob("*") if p.is_file()] == []


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, sphere_volume):
    monkeypatch.setenv("NODULESEG_HOME", str(tmp_path / "home"))
    window = MainWindow(service=ModelService(folder=tmp_path / "no-model"))
    qtbot.addWidget(window)
    window.state.set_volume(sphere_volume, str(tmp_path / "scan.nii.gz"))
    window.state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16))
    return window


@pytest.mark.parametrize("export, target", [("export_labels_to", "labels.nii.gz"),
                                            ("export_measurements_to", "nodules.csv")])
def test_the_app_names_file_and_reason_and_leaves_the_session_alone(window, folder, monkeypatch, export, target):
    session, records = window.saver.path.read_bytes(), window.state.records()
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append((title, text)))
    monkeypatch.setattr("noduleseg.core.labels_io.sitk.WriteImage", sitk_full_disk)
    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk_after(3))
    assert getattr(window.keeper, export)(folder / target) is False
    monkeypatch.undo()
    ((title, text),) = shown
    assert title.startswith("Export") and text.startswith(f"{folder / target}: not written: the disk is full")
    assert not (folder / target).exists() and len(list(folder.iterdir())) == 2
    assert window.saver.path.read_bytes() == session and window.state.records() == records
    assert window.state.history.can_undo  # the edit history is as it was
