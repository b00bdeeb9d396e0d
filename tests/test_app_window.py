"""The real window, offscreen: open a synthetic DICOM series, outline, paint, erase, undo,
export, accept, and come back after kill -9."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from scipy.ndimage import binary_dilation

from noduleseg.app.model_service import ModelService
from noduleseg.app.dialogs import SeriesPicker
from noduleseg.app.state import Status, Tool
from noduleseg.app.window import MainWindow
from noduleseg.core.cases import list_cases, read_provenance
from noduleseg.core.measure import measure
from noduleseg.core.volume import image_like

from dicom_factory import SeriesSpec, cut_in_header, write_series
from test_app_widgets import drag, viewport_pos


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NODULESEG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write_dicom_series(volume, folder):
    """The volume as a CT series: one file per slice, axial, HU through rescale."""
    folder.mkdir()
    series, study = generate_uid(), generate_uid()
    for k in range(volume.shape_zyx[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.SeriesDescription = "CT", "SYNTH-1", "sphere"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = study, series, k + 1
        ds.ImagePositionPatient = [float(v) for v in volume.index_to_world((0, 0, k))]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [volume.spacing[1], volume.spacing[0]]
        ds.SliceThickness = volume.spacing[2]
        ds.Rows, ds.Columns = volume.shape_zyx[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = volume.hu[k].astype(np.int16).tobytes()
        ds.save_as(folder / f"slice{k:03d}.dcm", enforce_file_format=True)
    return folder


@pytest.fixture
def window(qtbot, home):
    window = MainWindow(service=ModelService(folder=home / "no-model"))
    window.opener.show_dialogs = window.assistant.show_dialogs = False
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def open_and_wait(qtbot, window, path):
    with qtbot.waitSignal(window.opener.opened, timeout=10000):
        window.open_path(path)
    window.view.viewbox.autoRange(padding=0)


def test_open_dicom_paint_erase_undo_export_accept(qtbot, window, sphere_volume, tmp_path):
    folder = write_dicom_series(sphere_volume, tmp_path / "dicom")
    open_and_wait(qtbot, window, folder)
    state = window.state
    assert state.volume.shape_zyx == (32, 64, 64) and np.array_equal(state.volume.hu, sphere_volume.hu)
    assert window.slice_bar.slider.maximum() == 31 and window.table.rowCount() == 0
    # paint a nodule over the sphere with the brush
    state.set_tool(Tool.BRUSH)
    state.set_brush_radius(5)
    view = window.view
    drag(view, [viewport_pos(view, x, 32.5) for x in (26.5, 30.5, 34.5)])
    assert window.table.rowCount() == 1 and window.table.item(0, 8).text() == "edited"
    painted_volume = window.table.item(0, 5).text()
    # erase a part: mask and volume shrink; undo brings them back
    state.set_tool(Tool.ERASER)
    state.set_brush_radius(3)
    drag(view, [viewport_pos(view, x, 32.5) for x in (27.5, 30.5, 33.5)])
    record = state.records()[0]
    assert not record.mask.contains_zyx((16, 32, 30))
    assert float(window.table.item(0, 5).text()) < float(painted_volume)
    window.actions["undo"].trigger()
    assert state.records()[0].mask.contains_zyx((16, 32, 30))
    assert window.table.item(0, 5).text() == painted_volume
    # export keeps the scan's geometry
    target = tmp_path / "labels.nii.gz"
    assert window.keeper.export_labels_to(target)
    image = sitk.ReadImage(str(target))
    assert image.GetOrigin() == pytest.approx(sphere_volume.origin, abs=1e-4)
    assert image.GetSpacing() == pytest.approx(sphere_volume.spacing, abs=1e-4)
    assert sitk.GetArrayFromImage(image)[16, 32, 30] == record.nodule_id
    # accept writes a training case into the corrections folder
    case_id = window.keeper.accept_selected()
    corrections = window.settings.corrections_dir()
    assert list_cases(corrections) == [case_id] and state.records()[0].status is Status.ACCEPTED
    assert read_provenance(corrections, case_id)["source"] == str(folder)
    assert window.table.item(0, 8).text() == "accepted"


def test_open_error_names_the_file_and_app_stays_usable(qtbot, window, sphere_volume, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    window.opener.show_dialogs = True
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a scan")
    with qtbot.waitSignal(window.opener.failed, timeout=10000):
        window.open_path(broken)
    assert len(shown) == 1 and str(broken) in shown[0]
    good = tmp_path / "good.nii.gz"
    sitk.WriteImage(image_like(sphere_volume.hu, sphere_volume), str(good))
    open_and_wait(qtbot, window, good)
    assert window.state.volume.shape_zyx == (32, 64, 64) and str(good) in window.settings.recent_files()


def test_a_damaged_file_beside_the_series_is_named_when_the_scan_opens(qtbot, window, sphere_volume, tmp_path,
                                                                       monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    window.opener.show_dialogs = True
    folder = write_dicom_series(sphere_volume, tmp_path / "series")
    write_dicom_series(sphere_volume, tmp_path / "other")
    scout = folder / "scout.dcm"
    scout.write_bytes((tmp_path / "other" / "slice000.dcm").read_bytes())
    cut_in_header(scout)
    with qtbot.waitSignal(window.opener.warned, timeout=10000) as warned:
        window.open_path(folder)
    assert window.state.volume.shape_zyx == (32, 64, 64)
    assert "scout.dcm skipped" in warned.args[0] and warned.args[0].count("scout.dcm skipped") == 1
    assert len(shown) == 1 and "scout.dcm" in shown[0]
    assert "scout.dcm" in window.statusBar().currentMessage()
    with qtbot.assertNotEmitted(window.opener.warned):
        open_and_wait(qtbot, window, write_dicom_series(sphere_volume, tmp_path / "clean"))


KILLED_SESSION = textwrap.dedent("""
    import os, signal, sys
    from PySide6.QtWidgets import QApplication
    from noduleseg.app.window import MainWindow
    app = QApplication([])
    window = MainWindow()
    window.opener.show_dialogs = False
    def edit():
        state = window.state
        state.begin_stroke(True, 16, (32.0, 30.0))
        state.stroke_to((32.0, 36.0))
        state.end_stroke()
        state.rename(state.selected, "painted")
        window.keeper.accept_selected()
        state.begin_stroke(False, 16, (32.0, 36.0))
        state.end_stroke()
        print(window.saver.path, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    window.open_path(sys.argv[1], then=edit)
    app.exec()
""")


def test_kill_and_restore(qtbot, home, sphere_volume, tmp_path):
    scan = tmp_path / "scan.nii.gz"
    sitk.WriteImage(image_like(sphere_volume.hu, sphere_volume), str(scan))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NODULESEG_HOME": str(home)}
    killed = subprocess.run([sys.executable, "-c", KILLED_SESSION, str(scan)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    accepted = list_cases(home / "corrections")
    assert len(accepted) == 1
    window = MainWindow(service=ModelService(folder=home / "no-model"))
    qtbot.addWidget(window)
    window.opener.show_dialogs = False
    with qtbot.waitSignal(window.opener.opened, timeout=10000):
        assert window.offer_restore("yes") is not None
    (record,) = window.state.records()
    assert record.name == "painted" and record.status is Status.EDITED and record.case_id == accepted[0]
    assert window.table.rowCount() == 1 and window.state.source == str(scan)
    window.state.undo()  # the undo points came back too: before the eraser, it was accepted
    assert window.state.records()[0].status is Status.ACCEPTED
    window.close()
    assert list((home / "sessions").glob("*.npz")) == []


@pytest.fixture
def model_window(qtbot, home, blob_model):
    """The window with the tiny trained model (tests/model_fixtures.py) as its active model."""
    window = MainWindow(service=ModelService(folder=blob_model.folder))
    window.opener.show_dialogs = window.assistant.show_dialogs = False
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def click_and_wait(qtbot, window, i, j):
    """A real left click on voxel (i, j) of the shown slice; the segmented nodule's id."""
    outcomes = []
    window.assistant.segmented.connect(lambda nodule_id: outcomes.append(("segmented", nodule_id)))
    window.assistant.failed.connect(lambda message: outcomes.append(("failed", message)))
    qtbot.mouseClick(window.view.canvas.viewport(), Qt.MouseButton.LeftButton,
                     pos=viewport_pos(window.view, i + 0.5, j + 0.5))
    qtbot.waitUntil(lambda: bool(outcomes), timeout=60000)
    assert outcomes[0][0] == "segmented", outcomes[0][1]
    return outcomes[0][1]


def test_click_outlines_the_sphere_on_every_slice_it_spans(qtbot, model_window, sphere_volume, tmp_path):
    window, state = model_window, model_window.state
    scan = tmp_path / "scan.nii.gz"
    sitk.WriteImage(image_like(sphere_volume.hu, sphere_volume), str(scan))
    open_and_wait(qtbot, window, scan)
    nodule_id = click_and_wait(qtbot, window, 30, 32)
    record = state.nodules[nodule_id]
    assert record.status is Status.AI and record.model_version == "test-blobs"
    assert record.first_mask is record.mask and state.selected == nodule_id
    sphere = sphere_volume.hu > 0
    for k in range(sphere_volume.shape_zyx[0]):
        state.set_slice(k)
        shown = window.view.mask_item.image > 0
        if sphere[k].sum() >= 5:  # the sphere's end slices hold a single voxel
            assert shown[sphere[k]].mean() > 0.8, f"slice {k}"
        if not sphere[max(k - 1, 0):k + 2].any():
            assert not shown.any(), f"slice {k}"
        assert not (shown & ~binary_dilation(sphere[k], iterations=2)).any(), f"slice {k}"
    # in the list with the measurements of its mask
    measured = measure(record.mask, sphere_volume)
    cells = [window.table.item(0, c).text() for c in range(window.table.columnCount())]
    assert cells[3] == f"{measured.long_axis_mm:.1f}" and cells[4] == f"{measured.short_axis_mm:.1f}"
    assert cells[5] == f"{measured.volume_mm3:.0f}" and cells[8] == "AI"
    assert abs(measured.long_axis_mm - 7.7) < 1.5 and int(cells[7]) >= 80  # 11 voxels of 0.7 mm, solid
    assert not window.assistant.busy and not window.progress.isVisible()


def test_ai_nodule_edit_undo_export_accept(qtbot, model_window, sphere_volume, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: shown.append(text))
    window, state = model_window, model_window.state
    folder = write_dicom_series(sphere_volume, tmp_path / "dicom")
    open_and_wait(qtbot, window, folder)
    nodule_id = click_and_wait(qtbot, window, 30, 32)
    first = state.nodules[nodule_id].mask
    table, view = window.table, window.view
    ai_volume, ai_mean_hu = float(table.item(0, 5).text()), float(table.item(0, 6).text())
    # brush lung next to it: more volume, lower mean HU, shown while the stroke is still going
    state.set_tool(Tool.BRUSH)
    state.set_brush_radius(3)
    state.begin_stroke(True, 16, (32.0, 37.0))
    state.stroke_to((32.0, 40.0))
    qtbot.waitUntil(lambda: float(table.item(0, 5).text()) > ai_volume, timeout=2000)
    assert state.stroking and float(table.item(0, 6).text()) < ai_mean_hu
    state.end_stroke()
    assert state.nodules[nodule_id].mask.contains_zyx((16, 32, 39))
    assert table.item(0, 8).text() == "edited"
    # erase the centre with the mouse: smaller mask and volume
    brushed_volume = float(table.item(0, 5).text())
    state.set_tool(Tool.ERASER)
    drag(view, [viewport_pos(view, x, 32.5) for x in (28.5, 30.5, 32.5)])
    assert not state.nodules[nodule_id].mask.contains_zyx((16, 32, 30))
    assert float(table.item(0, 5).text()) < brushed_volume
    # undo twice: the model's own mask, volume and status come back
    window.actions["undo"].trigger()
    window.actions["undo"].trigger()
    record = state.nodules[nodule_id]
    assert record.mask is first and record.status is Status.AI
    assert float(table.item(0, 5).text()) == ai_volume and table.item(0, 8).text() == "AI"
    # labels in the scan's geometry; measurements as the table shows them
    target = tmp_path / "labels.nii.gz"
    assert window.keeper.export_labels_to(target)
    image = sitk.ReadImage(str(target))
    assert image.GetOrigin() == pytest.approx(sphere_volume.origin, abs=1e-4)
    assert image.GetSpacing() == pytest.approx(sphere_volume.spacing, abs=1e-4)
    assert image.GetDirection() == pytest.approx(sphere_volume.direction, abs=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(image) == nodule_id, first.full(sphere_volume.shape_zyx))
    table_csv = tmp_path / "nodules.csv"
    assert window.keeper.export_measurements_to(table_csv)
    (row,) = csv.DictReader(table_csv.open())
    assert row["label"] == str(nodule_id) and row["status"] == "AI" and row["model_version"] == "test-blobs"
    assert f"{float(row['long_axis_mm']):.1f}" == table.item(0, 3).text()
    flags = (row["pieces"], row["axis_slice_pieces"], row["holes"], row["outline_flag"])
    assert flags == ("1", "1", "False", "")
    assert table.item(0, 9).text() == ""  # the flag column: nothing to check
    assert not window.keeper.export_measurements_to(table_csv)  # exists: refused without consent
    assert len(shown) == 1 and str(table_csv) in shown[0]
    assert window.keeper.export_measurements_to(table_csv, overwrite=True)
    # accept: a training case with the model's first mask in its provenance
    case_id = window.keeper.accept_selected()
    corrections = window.settings.corrections_dir()
    provenance = read_provenance(corrections, case_id)
    assert list_cases(corrections) == [case_id] and state.nodules[nodule_id].status is Status.ACCEPTED
    assert provenance["model_version"] == "test-blobs" and provenance["dice_first_vs_accepted"] == 1.0


def test_folder_with_two_series_asks_which_one(qtbot, window, tmp_path):
    short, long = SeriesSpec(n=4, seed=1), SeriesSpec(n=7, seed=2, rows=20, columns=24)
    write_series(tmp_path / "study" / "a", short)
    write_series(tmp_path / "study" / "b", long)
    offered = []

    def choose_short():
        picker = QApplication.activeModalWidget()
        if not isinstance(picker, SeriesPicker):
            return
        poll.stop()
        offered.extend(info.series_uid for info in picker.series)
        picker.table.selectRow(offered.index(short.series_uid))
        picker.accept()

    poll = QTimer(interval=20, timeout=choose_short)
    poll.start()
    progress = []
    window.progress.valueChanged.connect(progress.append)
    open_and_wait(qtbot, window, tmp_path / "study")
    assert sorted(offered) == sorted([short.series_uid, long.series_uid])
    assert window.state.volume.shape_zyx == (4, 12, 16) and window.state.series_uid == short.series_uid
    assert progress[-1] == 100 and any(0 < value < 100 for value in progress)  # the loader's own


def test_model_menu_and_help_dialogs_build(window, home):
    (home / "no-model").mkdir(parents=True)
    (home / "no-model" / "card.json").write_text(json.dumps({"version": "v-test"}))
    window.show_model()
    assert window.model_label.text() == "model v-test"
    from noduleseg.app.dialogs import about_html, shortcuts_html

    assert "LIDC" in about_html(window.service.card()) and "Ctrl+Z" in shortcuts_html()


def test_screenshot_option_segments_the_seed_and_saves(qtbot, home, blob_model, sphere_volume, tmp_path):
    from PySide6.QtGui import QImage

    from noduleseg.app.main import main

    scan, shot = tmp_path / "scan.nii.gz", tmp_path / "shot.png"
    sitk.WriteImage(image_like(sphere_volume.hu, sphere_volume), str(scan))
    code = main([str(scan), "--model", str(blob_model.folder), "--seed", "30,32,16",
                 "--screenshot", str(shot), "--restore", "no"])
    assert code == 0  # 1 when the seed's segmentation failed, 2 when the PNG was not written
    assert not QImage(str(shot)).isNull()
    # The screenshot run must leave the application able to run event loops (later tests,
    # an embedding program): a timer started now still fires.
    fired = []
    QTimer.singleShot(10, lambda: fired.append(True))
    qtbot.waitUntil(lambda: bool(fired), timeout=5_000)


def test_model_menu_switches_to_a_version_and_back_to_the_shipped_model(qtbot, home, blob_model):
    from noduleseg.app.menus import fill_model_menu
    from noduleseg.core.model_io import save_model
    from noduleseg.training.registry import ModelRegistry

    registry = ModelRegistry(home / "models")
    registry.add(lambda folder, version: save_model(folder, blob_model.net, {"version": version},
                                                    blob_model.input, half=False))
    window = MainWindow(service=ModelService(registry_root=home / "models"))
    qtbot.addWidget(window)

    def switch_actions():
        fill_model_menu(window)
        switch = next(a.menu() for a in window.model_menu.actions() if a.text() == "Switch to version")
        return {a.text(): a for a in switch.actions() if a.text()}

    actions = switch_actions()
    assert list(actions) == ["Shipped model", "v0001"] and actions["Shipped model"].isChecked()
    actions["v0001"].trigger()
    assert window.service.version() == "v0001" and not window.service.using_shipped()
    actions = switch_actions()
    assert actions["v0001"].isChecked() and not actions["Shipped model"].isChecked()
    actions["Shipped model"].trigger()
    assert window.service.using_shipped() and registry.current() is None
    assert window.model_label.text() == f"model {window.service.version()}" != "model v0001"
