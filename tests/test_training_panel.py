"""The Training panel driving REAL ``noduleseg-train`` processes on tiny synthetic corrections.

The parent is the tiny blob model registered as v0001; the corrections are toy spheres written
the way Accept writes them (crop, label, provenance with the seed). Engine flags from the
settings keep each run to a couple of tiny epochs.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox
from scipy import ndimage

from noduleseg.app.model_compare import revalidate
from noduleseg.app.model_service import ModelService
from noduleseg.app.processes import process_alive
from noduleseg.app.retrain_runs import list_run_folders
from noduleseg.app.settings import AppSettings
from noduleseg.app.training_panel import LEAVE, TrainingPanel
from noduleseg.app.training_settings import TrainingSettings
from noduleseg.core.cases import write_case
from noduleseg.core.model_io import load_model, save_model
from noduleseg.training.registry import ModelRegistry
from noduleseg.training.toy import toy_case

SHOT = os.environ.get("NODULESEG_PANEL_SCREENSHOT")  # docs/training_panel.png: a longer run (see README)
STAGE_EPOCHS = "2,2,1,1,1" if SHOT else "1,1,0,0,0"
N_EPOCHS = sum(int(e) for e in STAGE_EPOCHS.split(","))
FAST = f"--stage-epochs {STAGE_EPOCHS} --batch-size 8 --beyond-end 1 --negative-ratio 0.25 --device cpu"
RUN_TIMEOUT_MS = 120_000  # the real engine process, on a loaded 2-core machine


def write_corrections(folder: Path, n_cases: int = 4) -> list[str]:
    """Toy cases as Accept writes them: the whole toy scan as the crop, seed at the sphere's centre."""
    ids = []
    for index in range(n_cases):
        volume, labels = toy_case(100 + index)
        k, j, i = (int(round(v)) for v in ndimage.center_of_mass(labels > 0))
        case_id = f"toy{index}_n1_2025010{index}T120000"
        write_case(folder, case_id, volume, labels, {
            "seed_ijk": [i, j, k], "crop_box_zyx": [[0, s] for s in labels.shape], "model_version": "v0001",
            "dice_first_vs_accepted": 0.5 + 0.1 * index, "time": f"2025-01-0{index + 1}T12:00:00",
            "first_mask": None, "edited": True})
        ids.append(case_id)
    return ids


@pytest.fixture
def home(tmp_path, monkeypatch, blob_model):
    """NODULESEG_HOME with a registry holding the tiny parent v0001 (active) and 4 corrections."""
    home = tmp_path / "home"
    monkeypatch.setenv("NODULESEG_HOME", str(home))
    registry = ModelRegistry(home / "models")
    parent = registry.add(lambda folder, version: save_model(folder, blob_model.net, {"version": version},
                                                             blob_model.input, half=False))
    registry.activate(parent.version)
    write_corrections(home / "corrections")
    TrainingSettings(home / "noduleseg.ini").set_engine_args(FAST)
    yield home
    for run in list_run_folders(home / "models"):  # a failed test must not leave an engine running
        pid = int(run.record().get("pid", 0))
        if process_alive(pid, str(run.path)):
            os.kill(pid, signal.SIGKILL)


def make_panel(qtbot) -> TrainingPanel:
    panel = TrainingPanel(ModelService(), AppSettings())
    panel.show_dialogs = False
    qtbot.addWidget(panel)
    return panel


def test_a_run_completes_registers_compares_and_activation_switches_the_next_click(home, qtbot, monkeypatch):
    panel = make_panel(qtbot)
    events = []
    panel.process.event.connect(events.append)
    assert panel.retrain()
    assert not panel.retrain_button.isEnabled() and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert panel.outcome.ok, panel.outcome.message
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "done" and kinds.count("epoch") == N_EPOCHS
    assert kinds.count("stage_start") == 5
    assert events[0]["parent"] == "version:v0001"  # started from the active version
    assert panel.bar.value() == 100 and panel.stage_label.text() == f"done: {N_EPOCHS} epochs in 5 stages"
    assert len(panel.plot.loss.getData()[0]) == N_EPOCHS
    assert len(panel.plot.stage_lines) == (5 if SHOT else 3)  # stages without epochs share a line

    registry = ModelRegistry(home / "models")
    assert [e.version for e in registry.versions()] == ["v0001", "v0002"]
    assert registry.current().version == "v0001"  # the reader decides, not the engine
    card = registry.get("v0002").card
    assert card["parent"]["version"] == "v0001" and card["strategy"] == "bsft"

    qtbot.waitUntil(lambda: panel.comparison is not None, timeout=RUN_TIMEOUT_MS)
    comparison = panel.comparison
    assert (comparison.new_version, comparison.active_version) == ("v0002", "v0001")
    val_cases = set(card["split"]["val_cases"])
    assert {s.case for s in comparison.validation} == val_cases
    assert all(s.active is not None for s in comparison.validation), comparison.validation_note
    assert len(comparison.mine) == 4
    assert {s.case for s in comparison.mine if s.held_out} == val_cases
    assert panel.result.isVisibleTo(panel) and panel.result.mine.rowCount() >= 2  # a band + "all"
    assert panel.result.mine.item(panel.result.mine.rowCount() - 1, 0).text() == "all"
    # the validation patches rebuilt from the card are the engine's: the new model scores as its card says
    again, note = revalidate(card, load_model(registry.get("v0002").folder))
    assert note == "" and again.keys() == {(r["case"], r["label"]) for r in card["metrics"]["per_nodule"]}
    for row in card["metrics"]["per_nodule"]:
        assert again[(row["case"], row["label"])] == pytest.approx(row["dice"], abs=0.05)

    if SHOT:
        panel.resize(520, 760)
        qtbot.wait(200)
        assert panel.grab().save(SHOT)

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert panel.activate("v0002")
    assert panel.service.version() == "v0002"
    assert panel.service.get().version == "v0002"  # the model the next click loads
    assert not panel.result.activate_button.isEnabled()


def test_cancel_stops_the_process_and_leaves_no_half_version(home, qtbot):
    TrainingSettings(home / "noduleseg.ini").set_engine_args(FAST.replace("1,1,0,0,0", "3"))
    panel = make_panel(qtbot)
    epochs = []
    panel.process.event.connect(lambda e: e["event"] == "epoch" and epochs.append(e))
    assert panel.retrain()
    qtbot.waitUntil(lambda: bool(epochs), timeout=RUN_TIMEOUT_MS)
    run, pid = panel.process.run, panel.process.pid
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert panel.outcome.cancelled and not panel.outcome.ok
    qtbot.waitUntil(lambda: not process_alive(pid, str(run.path)), timeout=10_000)
    assert run.exit_status() == 130  # SIGTERM took the engine's own interrupt path
    root = home / "models"
    assert [e.version for e in ModelRegistry(root).versions()] == ["v0001"]
    assert not list(root.glob(".staging-*"))
    assert not (root / ".runs").exists() or not any((root / ".runs").iterdir())
    assert panel.retrain_button.isEnabled() and "cancelled" in panel.status_label.text()


def test_a_run_left_running_at_close_is_picked_up_by_the_next_start(home, qtbot):
    first = make_panel(qtbot)
    started = []
    first.process.event.connect(lambda e: e["event"] == "stage_start" and started.append(e))
    assert first.retrain()
    qtbot.waitUntil(lambda: bool(started), timeout=RUN_TIMEOUT_MS)
    first.close_policy = LEAVE
    assert first.confirm_close()
    pid, run = first.process.pid, first.process.run
    assert not first.process.running and process_alive(pid, str(run.path))
    first.close()

    second = make_panel(qtbot)  # "the next start"
    assert second.process.run == run and second.process.running
    qtbot.waitUntil(lambda: second.outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert second.outcome.ok and second.outcome.version == "v0002"
    assert len(second.plot.loss.getData()[0]) == N_EPOCHS  # the whole curve, replayed from the file
    assert run.seen and [r for r in list_run_folders(home / "models") if not r.seen] == []
    third = make_panel(qtbot)
    assert not third.process.running and third.outcome is None  # a result is shown once


def test_engine_errors_reach_the_reader(home, qtbot):
    broken = home / "broken"
    write_corrections(broken, n_cases=1)
    next((broken / "labelsTr").iterdir()).unlink()
    TrainingSettings(home / "noduleseg.ini").set_datasets([broken])
    panel = make_panel(qtbot)
    assert panel.retrain()
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=RUN_TIMEOUT_MS)
    assert not panel.outcome.ok and panel.outcome.status == 2
    assert "no label map" in panel.outcome.message and "no label map" in panel.status_label.text()
    assert [e.version for e in ModelRegistry(home / "models").versions()] == ["v0001"]


def test_no_corrections_yet_is_said_before_anything_starts(home, qtbot, tmp_path):
    AppSettings().set_corrections_dir(tmp_path / "empty")
    panel = make_panel(qtbot)
    assert not panel.retrain()
    assert "No accepted corrections yet" in panel.status_label.text()
    assert not panel.process.running and list_run_folders(home / "models") == []


def test_my_data_shows_the_running_mean_per_version(home, qtbot):
    panel = make_panel(qtbot)
    table = panel.my_data
    assert table.rowCount() == 1
    assert table.item(0, 0).text() == "v0001 (active)" and table.item(0, 1).text() == "4"
    assert float(table.item(0, 2).text()) == pytest.approx(np.mean([0.5, 0.6, 0.7, 0.8]), abs=1e-3)
