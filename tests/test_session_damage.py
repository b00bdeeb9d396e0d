"""Damaged session files and a second app on the same sessions folder, without Qt.

A damaged file is refused with a ``DamagedSessionError`` that says why, set aside under a new
name (never deleted), and the newest readable crashed session is offered instead. A running
app's session (its lock held) is never offered, restored or removed by another app.
"""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from noduleseg.app.masks import MaskCrop
from noduleseg.app.session import (FORMAT, AutoSaver, DamagedSessionError, orphaned_sessions, read_session,
                                   session_bytes)
from noduleseg.app.session_lock import lock_path
from noduleseg.app.session_recovery import claim_orphans, recover
from noduleseg.app.state import ViewerState


@pytest.fixture
def state(sphere_volume):
    state = ViewerState()
    state.set_volume(sphere_volume, "/scans/sphere.nii.gz")
    state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16), "v7")
    return state


@pytest.fixture
def dead_pid():
    """The pid of a process that has exited (a crashed app's)."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(gone.stdout)


def crashed(folder, state, pid, stamp, data=None):
    """A session file as a killed app leaves it (no lock held)."""
    folder.mkdir(exist_ok=True)
    path = folder / f"session-{pid}-{stamp}.npz"
    path.write_bytes(session_bytes(state, 0.0) if data is None else data)
    os.utime(path, (stamp, stamp))
    return path


def npz_with_meta(meta) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    return buffer.getvalue()


def good_meta(state):
    with zipfile.ZipFile(io.BytesIO(session_bytes(state, 0.0))) as archive:
        return json.loads(np.lib.format.read_array(archive.open("meta.npy")).tobytes())


@pytest.mark.parametrize("damage, problem", [
    (lambda good, meta: good[: len(good) // 2], "truncated or damaged"),
    (lambda good, meta: b"", "truncated or damaged"),
    (lambda good, meta: b'{"format": 1}', "not a NoduleSeg session file"),
    (lambda good, meta: npz_with_meta([1, 2]), "not a JSON object"),
    (lambda good, meta: npz_with_meta({**meta, "format": 0}), "older NoduleSeg (session format 0"),
    (lambda good, meta: npz_with_meta({k: v for k, v in meta.items() if k != "format"}),
     "older NoduleSeg (session format None"),
    (lambda good, meta: npz_with_meta({**meta, "format": FORMAT + 1}), f"newer NoduleSeg (session format {FORMAT + 1}"),
    (lambda good, meta: npz_with_meta({k: v for k, v in meta.items() if k != "current"}), "incomplete or malformed"),
    (lambda good, meta: npz_with_meta({**meta, "records": [{"nodule_id": "x"}]}), "incomplete or malformed"),
])
def test_each_kind_of_damage_is_refused_with_its_reason(state, tmp_path, damage, problem):
    path = tmp_path / "session-1-2.npz"
    path.write_bytes(damage(session_bytes(state, 0.0), good_meta(state)))
    with pytest.raises(DamagedSessionError) as refused:
        read_session(path)
    assert problem in refused.value.problem
    assert str(refused.value).startswith(f"{path}: ")


def test_a_damaged_newest_session_is_set_aside_and_the_older_one_offered(state, tmp_path, dead_pid):
    folder = tmp_path / "sessions"
    older = crashed(folder, state, dead_pid, 1000)
    damaged = session_bytes(state, 0.0)[:300]
    newest = crashed(folder, state, dead_pid, 2000, data=damaged)
    recovery = recover(folder)
    assert recovery.saved is not None and recovery.saved.path == older
    (aside,) = recovery.set_aside
    assert aside.path == newest and not newest.exists()
    assert aside.moved_to.name.startswith(f"{newest.name}.damaged-")
    assert aside.moved_to.read_bytes() == damaged  # kept, not deleted
    assert str(newest) in aside.message() and "truncated or damaged" in aside.message()
    assert orphaned_sessions(folder) == []  # claimed by this recovery while it decides
    recovery.finish()
    assert not older.exists() and aside.moved_to.exists()
    assert recover(folder).saved is None  # the set-aside file is not offered again


def test_only_damaged_sessions_leave_nothing_to_offer(state, tmp_path, dead_pid):
    folder = tmp_path / "sessions"
    crashed(folder, state, dead_pid, 1000, data=b"not a session")
    recovery = recover(folder)
    assert recovery.saved is None and len(recovery.set_aside) == 1
    assert [p.name.split(".damaged-")[0] for p in folder.iterdir()] == [f"session-{dead_pid}-1000.npz"]


def test_two_apps_in_one_folder_keep_their_own_files(state, sphere_volume, tmp_path):
    folder = tmp_path / "sessions"
    first, second = AutoSaver(state, folder), AutoSaver(ViewerState(), folder)
    assert first.path != second.path  # even when started in the same millisecond
    first.save()
    saved_first = first.path.read_bytes()
    second.state.set_volume(sphere_volume, "/scans/other.nii.gz")  # a new scan: second clears its own file
    second.state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16))
    assert first.path.read_bytes() == saved_first
    assert orphaned_sessions(folder) == [] and claim_orphans(folder) == []
    assert recover(folder).saved is None
    second.close()
    assert first.path.read_bytes() == saved_first and not second.path.exists()
    first.close()
    assert list(folder.iterdir()) == []


def test_a_crashed_session_is_claimed_by_one_app_only(state, tmp_path, dead_pid):
    folder = tmp_path / "sessions"
    path = crashed(folder, state, dead_pid, 1000)
    first = recover(folder)
    assert first.saved is not None and recover(folder).saved is None  # the second start sees it claimed
    first.release()  # the reader said no: the file stays, for the next start
    again = recover(folder)
    assert path.exists() and again.saved is not None and again.saved.path == path
    again.finish()


def test_a_free_lock_is_a_crash_even_when_the_pid_is_reused(state, tmp_path):
    folder = tmp_path / "sessions"
    path = crashed(folder, state, os.getpid(), 1000)  # this live process's pid, but no app holds it
    lock_path(path).touch()
    assert orphaned_sessions(folder) == [path]


LIVE_APP = textwrap.dedent("""
    import sys
    from pathlib import Path
    from noduleseg.app.session import AutoSaver
    from noduleseg.app.state import ViewerState
    saver = AutoSaver(ViewerState(), Path(sys.argv[1]))
    saver.save()
    print(saver.path, flush=True)
    sys.stdin.read()  # runs until the test closes stdin
    saver.close()
""")


def test_another_running_process_keeps_its_session_until_it_ends(tmp_path):
    folder = tmp_path / "sessions"
    app = subprocess.Popen([sys.executable, "-c", LIVE_APP, str(folder)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        path = folder / os.path.basename(app.stdout.readline().strip())
        before = path.read_bytes()
        assert orphaned_sessions(folder) == [] and recover(folder).saved is None
        assert path.read_bytes() == before
    finally:
        app.stdin.close()
        app.wait(timeout=60)
    assert app.returncode == 0 and not path.exists()  # its clean exit removed it


def test_a_full_disk_stops_the_autosave_not_the_editing(state, sphere_volume, tmp_path, monkeypatch):
    told = []
    saver = AutoSaver(state, tmp_path / "sessions", on_error=told.append)
    assert saver.save()
    saved = saver.path.read_bytes()

    def full(target, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr("noduleseg.app.session.write_bytes_atomic", full)
    nodule_id = state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16))
    assert nodule_id in state.nodules and saver.path.read_bytes() == saved  # the last good save stays
    assert len(told) == 1 and told[0].startswith(f"{saver.path}: the session cannot be autosaved (the disk is full")
    monkeypatch.undo()
    state.undo()
    assert saver.problem == "" and saver.path.read_bytes() != saved
    saver.close()
