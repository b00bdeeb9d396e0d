"""File > Import seeds in the real window, offscreen, with the tiny trained model."""

from __future__ import annotations

import pytest
import SimpleITK as sitk
from PySide6.QtWidgets import QFileDialog, QMessageBox

from noduleseg.app.model_service import ModelService
from noduleseg.app.state import Status
from noduleseg.app.window import MainWindow
from noduleseg.core.volume import image_like


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NODULESEG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def window(qtbot, home, blob_model, monkeypatch):
    window = MainWindow(service=ModelService(folder=blob_model.folder))
    window.opener.show_dialogs = False
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def messages(monkeypatch):
    shown = []
    for kind in ("warning", "critical"):
        monkeypatch.setattr(QMessageBox, kind, lambda parent, title, text, kind=kind: shown.append((kind, text)))
    return shown


def open_scan(qtbot, window, volume, path):
    sitk.WriteImage(image_like(volume.hu, volume), str(path))
    with qtbot.waitSignal(window.opener.opened, timeout=10000):
        window.open_path(path)


def choose(monkeypatch, path):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), ""))


def test_import_seeds_adds_the_nodules_and_names_failed_rows_in_one_message(qtbot, window, sphere_volume,
                                                                             tmp_path, monkeypatch, messages):
    assert not window.actions["import_seeds"].isEnabled()  # no scan yet
    open_scan(qtbot, window, sphere_volume, tmp_path / "scan.nii.gz")
    assert window.actions["import_seeds"].isEnabled()
    world = sphere_volume.index_to_world((30, 32, 16))
    table = tmp_path / "seeds.csv"
    table.write_text("# two good rows, three bad\n"
                     "scan,x,y,z\n"
                     f"scan.nii.gz,{world[0]},{world[1]},{world[2]}\n"  # 3: the sphere
                     "scan.nii.gz,900,900,900\n"                        # 4: outside
                     "scan.nii.gz,a,b,c\n"                              # 5: unparsable
                     "other.nii.gz,0,0,0\n"                             # another scan's row
                     "scan,{},{},{}\n".format(*sphere_volume.index_to_world((8, 8, 4)))  # 7: lung only
                     + "scan,{},{},{}\n".format(*sphere_volume.index_to_world((31, 33, 15))))  # 8: sphere
    choose(monkeypatch, table)
    with qtbot.waitSignal(window.assistant.seedsImported, timeout=60000) as imported:
        window.actions["import_seeds"].trigger()
    ids, failures = imported.args
    records = window.state.records()
    assert [r.nodule_id for r in records] == ids and len(ids) == 2
    assert [r.seed_ijk for r in records] == [(30, 32, 16), (31, 33, 15)]
    assert all(r.status is Status.AI and r.model_version == "test-blobs" for r in records)
    assert records[0].mask.contains_zyx((16, 32, 30)) and not records[0].mask.contains_zyx((4, 8, 8))
    assert [line.split(":")[0] for line in failures] == ["line 4", "line 5", "line 7"]
    assert "outside the image" in failures[0] and "no nodule found" in failures[2]
    assert window.table.rowCount() == 2 and not window.assistant.busy
    assert len(messages) == 1 and messages[0][0] == "warning"
    assert "2 of 5 seeds outlined" in messages[0][1] and all(line in messages[0][1] for line in failures)
    window.state.undo()  # each nodule is its own undo step
    assert [r.seed_ijk for r in window.state.records()] == [(30, 32, 16)]


def test_a_table_that_cannot_be_used_adds_nothing_and_says_why(qtbot, window, sphere_volume, tmp_path,
                                                               monkeypatch, messages):
    open_scan(qtbot, window, sphere_volume, tmp_path / "scan.nii.gz")
    table = tmp_path / "seeds.csv"
    table.write_text("row,column,slice\n1,2,3\n")
    choose(monkeypatch, table)
    with qtbot.waitSignal(window.assistant.failed, timeout=5000) as failed:
        window.actions["import_seeds"].trigger()
    assert "names no coordinate columns" in failed.args[0]
    assert messages == [("critical", failed.args[0])] and window.state.records() == []
    table.write_text("i,j,k\n99,0,0\n")  # every row fails before the model runs
    with qtbot.waitSignal(window.assistant.seedsImported, timeout=5000) as imported:
        window.actions["import_seeds"].trigger()
    assert imported.args == [[], ["line 2: voxel (99, 0, 0) lies outside the image (size i x j x k = 64x64x32)"]]
    assert window.state.records() == [] and not window.assistant.busy
