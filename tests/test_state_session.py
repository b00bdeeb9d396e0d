"""Session autosave without Qt: round trip, undo points, crashed-session detection."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from noduleseg.app.masks import MaskCrop
from noduleseg.app.session import (AutoSaver, SessionError, orphaned_sessions, read_session,
                                   restore_into)
from noduleseg.app.state import Status, ViewerState
from noduleseg.core.windowing import BONE


@pytest.fixture
def edited_state(sphere_volume):
    state = ViewerState()
    state.set_volume(sphere_volume, "/scans/sphere.nii.gz", "1.2.3")
    state.set_window(BONE)
    nodule_id = state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16), "v7",
                                 first_mask=MaskCrop.from_full(sphere_volume.hu > 0))
    state.rename(nodule_id, "left lower")
    state.begin_stroke(True, 16, (32, 40))
    state.end_stroke()
    state.mark_accepted(nodule_id, "case-1")
    state.undo()
    state.set_slice(20)
    return state


def test_autosave_after_every_edit_and_round_trip(edited_state, sphere_volume, tmp_path):
    saver = AutoSaver(edited_state, tmp_path)
    assert not saver.path.exists()  # nothing written until an edit
    edited_state.redo()
    assert saver.path.exists()
    saved = read_session(saver.path)
    assert (saved.source, saved.series_uid, saved.slice_k) == ("/scans/sphere.nii.gz", "1.2.3", 20)
    (record,) = saved.records
    original = edited_state.records()[0]
    assert record.name == "left lower" and record.status is Status.ACCEPTED and record.case_id == "case-1"
    assert np.array_equal(record.mask.full(sphere_volume.shape_zyx), original.mask.full(sphere_volume.shape_zyx))
    assert record.first_mask.voxel_count == original.first_mask.voxel_count
    assert [e.what for e in saved.history.done] == ["add", "rename", "brush", "accept"]

    fresh = ViewerState()
    fresh.set_volume(sphere_volume, saved.source)
    restore_into(fresh, saved)
    assert fresh.window == BONE and fresh.slice_k == 20
    fresh.undo()
    fresh.undo()  # back before the brush stroke
    assert fresh.nodules[record.nodule_id].mask.voxel_count < record.mask.voxel_count
    assert fresh.nodules[record.nodule_id].status is Status.AI
    saver.close()
    assert not saver.path.exists()


def test_restore_refuses_a_scan_that_does_not_fit(edited_state, tmp_path):
    saver = AutoSaver(edited_state, tmp_path)
    saver.save()
    small = ViewerState()
    small.set_volume(edited_state.volume.crop(0, 10))
    with pytest.raises(SessionError, match="no longer matches"):
        restore_into(small, read_session(saver.path))


def test_unreadable_file_is_a_session_error(tmp_path):
    broken = tmp_path / "session-1-2.npz"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SessionError, match="truncated or damaged"):
        read_session(broken)


def test_only_sessions_of_gone_processes_are_orphans(edited_state, tmp_path):
    live = AutoSaver(edited_state, tmp_path)
    live.save()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = tmp_path / f"session-{gone.stdout.strip()}-1.npz"
    dead.write_bytes(live.path.read_bytes())
    assert orphaned_sessions(tmp_path) == [dead]
