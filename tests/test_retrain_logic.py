"""The panel's pure parts, without Qt: run files and events, my-data Dice, size-band comparison."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from noduleseg.app.model_compare import NoduleScore, band_table
from noduleseg.app.processes import process_alive
from noduleseg.app.retrain_runs import (RunProgress, RunRequest, discard_leftovers, engine_args, fold,
                                        list_run_folders, new_run_folder, outcome, parse_lines)
from noduleseg.app.retrain_state import AcceptedNodule, accepted_nodules, from_provenance, running_means
from noduleseg.app.training_settings import TrainingSettingsError, parse_engine_args
from noduleseg.core.cases import write_case
from noduleseg.core.volume import Volume

RUN_START = {"event": "run_start", "run_id": "abc", "stages": [{"name": "decoder+enc5", "epochs": 2},
                                                               {"name": "+enc4", "epochs": 1}]}


def events_of(text):
    return parse_lines(text)[0]


def test_parse_lines_keeps_the_incomplete_tail_and_skips_stray_output():
    events, rest = parse_lines('{"event": "run_start"}\nWarning: something\n[1, 2]\n{"event": "ep')
    assert events == [{"event": "run_start"}] and rest == '{"event": "ep'
    more, rest = parse_lines(rest + 'och", "loss": 1.0}\n')
    assert more == [{"event": "epoch", "loss": 1.0}] and rest == ""


def test_fold_tracks_stage_epochs_boundaries_and_fraction():
    progress = RunProgress()
    stream = [RUN_START,
              {"event": "stage_start", "stage": "decoder+enc5", "index": 0},
              {"event": "epoch", "epoch": 0, "loss": 1.5, "val_dice": 0.2, "eta_s": 20.0},
              {"event": "epoch", "epoch": 1, "loss": 1.2, "val_dice": 0.4, "eta_s": 10.0},
              {"event": "stage_start", "stage": "+enc4", "index": 1}]
    fractions = []
    for event in stream:
        progress = fold(progress, event)
        fractions.append(progress.fraction)
    assert fractions == [0.0, 0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), pytest.approx(2 / 3)]
    assert progress.boundaries == ((0, "decoder+enc5"), (2, "+enc4"))
    assert progress.loss == (1.5, 1.2) and progress.val_dice == (0.2, 0.4) and progress.eta_s == 10.0
    assert (progress.stage, progress.epoch_in_stage, progress.run_id) == (1, 0, "abc")
    done = fold(progress, {"event": "done", "version": "v0003", "val_dice": 0.5})
    assert done.fraction == 1.0 and outcome(0, done, "").version == "v0003"


def test_outcome_names_what_went_wrong():
    error = fold(RunProgress(), {"event": "error", "message": "x: no label map y.nii.gz"})
    assert outcome(2, error, "noduleseg-train: x").message == "training stopped: x: no label map y.nii.gz"
    flag = outcome(2, RunProgress(), "usage: ...\nnoduleseg-train: error: unrecognized arguments: --bogus")
    assert not flag.ok and flag.message.endswith("unrecognized arguments: --bogus") and "exit status 2" in flag.message
    killed = outcome(None, RunProgress(), "")
    assert killed.status is None and "killed" in killed.message
    cancelled = outcome(130, fold(RunProgress(), {"event": "error", "message": "interrupted"}), "", cancelled=True)
    assert cancelled.cancelled and "cancelled" in cancelled.message


def test_engine_args_train_bsft_from_the_active_version_without_activating(tmp_path):
    request = RunRequest((tmp_path / "corrections", tmp_path / "lidc"), tmp_path / "models", "v0004",
                         ("--stage-epochs", "1"))
    args = engine_args(request, tmp_path / "p.jsonl")
    assert args[:3] == ["train", str(tmp_path / "corrections"), str(tmp_path / "lidc")]
    joined = " ".join(args)
    assert "--strategy bsft" in joined and "--from v0004" in joined and "--no-activate" in joined
    assert f"--out {tmp_path / 'models'}" in joined and f"--progress-json {tmp_path / 'p.jsonl'}" in joined
    assert args[-2:] == ["--stage-epochs", "1"]


def test_extra_flags_cannot_override_what_the_panel_sets():
    assert parse_engine_args("--stage-epochs 1,1 --device cpu") == ["--stage-epochs", "1,1", "--device", "cpu"]
    with pytest.raises(TrainingSettingsError, match="--out is set by the Training panel"):
        parse_engine_args("--out=/elsewhere")
    with pytest.raises(TrainingSettingsError, match="quotation"):
        parse_engine_args("--config 'unclosed")


def test_run_folders_are_hidden_listed_in_order_and_seen_once(tmp_path):
    first, second = new_run_folder(tmp_path), new_run_folder(tmp_path)
    for run in (first, second):
        run.run_file.write_text(json.dumps({"pid": 0}))
    assert first.path.parent.name.startswith(".") and list_run_folders(tmp_path) == [first, second]
    assert not first.seen
    first.mark_seen()
    assert first.seen and not second.seen
    second.status_file.write_text("2\n")
    assert (first.exit_status(), second.exit_status()) == (None, 2)


def test_process_alive_follows_a_real_process_and_checks_its_command():
    code = "import time; print('ready', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code, "marker-xyz"], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"ready\n"  # exec is over: the command line is final
        assert process_alive(child.pid, "marker-xyz")
        if os.path.exists(f"/proc/{child.pid}/cmdline"):
            assert process_alive(child.pid, "another-run")  # too young to tell: may be inside exec
            assert not process_alive(child.pid, "another-run", exec_grace_s=0)  # a reused pid
    finally:
        child.kill()
        child.wait()
    assert not process_alive(child.pid)


def test_process_alive_trusts_a_process_still_inside_exec():
    """Right after a fork, /proc shows the parent's command line: not yet a reason to give up."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert process_alive(child.pid, "a-marker-its-command-never-holds")
    finally:
        child.kill()
        child.wait()


def test_discard_leftovers_removes_only_this_run_and_fresh_staging(tmp_path):
    (tmp_path / ".runs" / "abc").mkdir(parents=True)
    (tmp_path / ".runs" / "other").mkdir()
    old = tmp_path / ".staging-old"
    old.mkdir()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / ".staging-new"
    fresh.mkdir()
    (tmp_path / "v0001").mkdir()
    removed = discard_leftovers(tmp_path, "abc", since=time.time() - 60)
    assert sorted(p.name for p in removed) == [".staging-new", "abc"]
    assert (tmp_path / ".runs" / "other").exists() and old.exists() and (tmp_path / "v0001").exists()


def nodule(version, dice, when):
    return AcceptedNodule(Path("."), f"c{when}", version, dice, when, (1, 2, 3))


def test_running_means_per_version_in_acceptance_order():
    nodules = [nodule("v0002", 0.9, "2025-02-01"), nodule("v0001", 0.5, "2025-01-01"),
               nodule("v0001", 0.7, "2025-01-02"), nodule("", 1.0, "2025-01-03"),
               nodule("v0001", None, "2025-01-04"), nodule("v0002", 0.7, "2025-02-02")]
    scores = running_means(nodules)
    assert [s.version for s in scores] == ["v0001", "v0002"]  # hand-drawn ones left out
    assert scores[0].running == pytest.approx((0.5, 0.6)) and scores[0].n == 2
    assert scores[1].mean == pytest.approx(0.8) and scores[1].recent_mean == pytest.approx(0.8)


def test_accepted_nodules_read_provenance_and_move_the_seed_into_the_crop(tmp_path):
    volume = Volume(np.full((4, 8, 8), -800, np.int16), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    labels = np.zeros((4, 8, 8), np.uint8)
    labels[2, 3:5, 3:5] = 1
    write_case(tmp_path, "a", volume, labels, {"seed_ijk": [13, 23, 7], "crop_box_zyx": [[5, 9], [20, 28], [10, 18]],
                                               "model_version": "v0001", "dice_first_vs_accepted": 0.8,
                                               "time": "2025-01-01T10:00:00"})
    (tmp_path / "provenance" / "orphan.json").write_text("{}")  # no image: not a case
    (found,) = accepted_nodules(tmp_path)
    assert (found.case_id, found.model_version, found.dice_first) == ("a", "v0001", 0.8)
    assert found.seed_ijk == (3, 3, 2)
    assert from_provenance(tmp_path, "b", {"seed_ijk": [1, 2, 3]}).seed_ijk == (1, 2, 3)


def test_band_table_uses_the_metrics_size_bands():
    scores = [NoduleScore("a", 4.0, 0.2, 0.6), NoduleScore("b", 5.0, 0.4, 0.8, held_out=False),
              NoduleScore("c", 12.0, 0.9, 0.7)]
    rows = {r.band: r for r in band_table(scores)}
    assert set(rows) == {"<6 mm", "10-20 mm", "all"}
    assert (rows["<6 mm"].n, rows["<6 mm"].held_out) == (2, 1)
    assert rows["<6 mm"].active == pytest.approx(0.3) and rows["<6 mm"].new == pytest.approx(0.7)
    assert rows["all"].new == pytest.approx(0.7) and rows["all"].active == pytest.approx(0.5)
    assert band_table([NoduleScore("a", 4.0, None, 0.5)])[0].active is None
