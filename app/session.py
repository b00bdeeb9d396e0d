"""Session autosave: the scan's path, the nodules and the undo points, after every edit.

One file per running app (per window), ``session-<pid>-<start ms>.npz`` in
``data_dir()/"sessions"``, written atomically (the old file or the complete new one, even under
kill -9), beside a ``.lock`` file the app holds locked while it runs (``session_lock``). A clean
exit removes both; a file whose lock is free is a crashed session the next start offers to
restore (``session_recovery``). The npz holds the masks as arrays and a JSON ``meta`` entry
describing records and edits (schema ``FORMAT``); records and masks shared by several undo
points are stored once.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from noduleseg.core.atomic import why_not_written, write_bytes_atomic
from noduleseg.core.errors import NodulesegError
from noduleseg.core.paths import data_dir
from noduleseg.core.windowing import Window

from .history import Edit, History
from .masks import MaskCrop
from .session_lock import SessionLock, is_orphan
from .state import HISTORY, VOLUME, NoduleRecord, Status, ViewerState

FORMAT = 1
SAVED_UNDO_POINTS = 50
PATTERN = "session-*-*.npz"


class SessionError(NodulesegError):
    """A session cannot be restored (its file is damaged, or the scan changed since)."""


class DamagedSessionError(SessionError):
    """A session file cannot be read back: truncated, not a session, or an unknown schema.

    Args:
        path: The session file.
        problem: What is wrong with it, in words a reader understands.
    """

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(f"{self.path}: {problem}")


def sessions_dir() -> Path:
    return data_dir() / "sessions"


@dataclass(frozen=True)
class SavedSession:
    """What a session file holds, ready to put back into a ``ViewerState``."""

    path: Path
    source: str
    series_uid: str | None
    slice_k: int
    window: Window
    records: list[NoduleRecord]
    history: History
    next_id: int
    saved: float


class _Pool:
    """Numbers records and masks so that shared ones are written once."""

    def __init__(self) -> None:
        self.masks: dict[int, tuple[int, MaskCrop]] = {}
        self.records: dict[int, tuple[int, dict[str, Any]]] = {}

    def mask(self, crop: MaskCrop | None) -> int | None:
        if crop is None:
            return None
        return self.masks.setdefault(id(crop), (len(self.masks), crop))[0]

    def record(self, record: NoduleRecord | None) -> int | None:
        if record is None:
            return None
        if id(record) not in self.records:
            entry = {"nodule_id": record.nodule_id, "mask": self.mask(record.mask),
                     "seed_ijk": list(record.seed_ijk), "status": record.status.value,
                     "name": record.name, "notes": record.notes,
                     "model_version": record.model_version,
                     "first_mask": self.mask(record.first_mask), "case_id": record.case_id}
            self.records[id(record)] = (len(self.records), entry)
        return self.records[id(record)][0]


def session_bytes(state: ViewerState, started: float) -> bytes:
    """The state as npz bytes (masks + JSON meta)."""
    pool = _Pool()
    current = [pool.record(r) for r in state.records()]
    edits = {name: [[e.nodule_id, pool.record(e.before), pool.record(e.after), e.what]
                    for e in stack[-SAVED_UNDO_POINTS:]]
             for name, stack in (("done", state.history.done), ("undone", state.history.undone))}
    meta = {"format": FORMAT, "pid": os.getpid(), "started": started, "saved": time.time(),
            "source": state.source, "series_uid": state.series_uid, "slice_k": state.slice_k,
            "window": [state.window.name, state.window.center, state.window.width],
            "next_id": state.next_id, "current": current, **edits,
            "records": [entry for _, entry in sorted(pool.records.values(), key=lambda e: e[0])]}
    arrays = {}
    for index, crop in pool.masks.values():
        arrays[f"mask{index}"] = crop.mask
        arrays[f"offset{index}"] = np.asarray(crop.offset_zyx, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    return buffer.getvalue()


def read_session(path: str | Path) -> SavedSession:
    """Read a session file back.

    Raises:
        DamagedSessionError: The file is missing, truncated, not a NoduleSeg session, or of a
            schema this version does not read.
    """
    path = Path(path)
    meta, masks = _read_npz(path)
    _check_format(path, meta)
    try:
        return _parse(path, meta, masks)
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise DamagedSessionError(path, f"its contents are incomplete or malformed ({error!r})") from None


def _read_npz(path: Path) -> tuple[dict[str, Any], dict[int, MaskCrop]]:
    """The JSON meta entry and the masks of a session file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes().decode())
            masks = {int(k[4:]): MaskCrop(data[k].astype(bool), tuple(int(v) for v in data[f"offset{k[4:]}"]))
                     for k in data.files if k.startswith("mask")}
    except FileNotFoundError:
        raise DamagedSessionError(path, "the file is gone") from None
    except (EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DamagedSessionError(path, f"the file is truncated or damaged ({error})") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DamagedSessionError(path, f"not a NoduleSeg session file ({error})") from None
    if not isinstance(meta, dict):
        raise DamagedSessionError(path, "not a NoduleSeg session file (its meta entry is not a JSON object)")
    if any(crop.mask.ndim != 3 or len(crop.offset_zyx) != 3 for crop in masks.values()):
        raise DamagedSessionError(path, "its contents are malformed (a mask is not 3D)")
    return meta, masks


def _check_format(path: Path, meta: dict[str, Any]) -> None:
    found = meta.get("format")
    if found == FORMAT:
        return
    if isinstance(found, int) and found > FORMAT:
        raise DamagedSessionError(path, f"written by a newer NoduleSeg (session format {found}; this "
                                        f"version reads format {FORMAT})")
    raise DamagedSessionError(path, f"written by an older NoduleSeg (session format {found}; this "
                                    f"version reads format {FORMAT})")


def _parse(path: Path, meta: dict[str, Any], masks: dict[int, MaskCrop]) -> SavedSession:
    records = [NoduleRecord(int(e["nodule_id"]), masks[e["mask"]], tuple(int(v) for v in e["seed_ijk"]),
                            Status(e["status"]), str(e["name"]), str(e["notes"]), str(e["model_version"]),
                            None if e["first_mask"] is None else masks[e["first_mask"]], str(e["case_id"]))
               for e in meta["records"]]
    history = History()
    for name in ("done", "undone"):
        getattr(history, name).extend(
            Edit(int(n), None if b is None else records[b], None if a is None else records[a], str(what))
            for n, b, a, what in meta[name])
    name, center, width = meta["window"]
    series_uid = meta["series_uid"]
    return SavedSession(path, str(meta["source"]), None if series_uid is None else str(series_uid),
                        int(meta["slice_k"]), Window(str(name), float(center), float(width)),
                        [records[i] for i in meta["current"]], history, int(meta["next_id"]),
                        float(meta["saved"]))


def restore_into(state: ViewerState, saved: SavedSession) -> None:
    """Put a saved session's nodules back into ``state``, whose scan must already be loaded.

    Raises:
        SessionError: A mask does not fit the loaded scan (the file changed since).
    """
    shape = state.volume.shape_zyx
    for record in saved.records:
        stop = [o + n for o, n in zip(record.mask.offset_zyx, record.mask.mask.shape)]
        if any(s > n for s, n in zip(stop, shape)) or min(record.mask.offset_zyx) < 0:
            raise SessionError(f"{saved.source}: the scan no longer matches the saved session "
                               f"({record.label} lies outside its {shape} voxels)")
    state.set_window(saved.window)
    state.restore(saved.records, saved.history, saved.next_id, saved.slice_k)


def orphaned_sessions(folder: Path | None = None) -> list[Path]:
    """Session files no running app holds (it crashed or was killed), newest first."""
    folder = folder or sessions_dir()
    return sorted((p for p in folder.glob(PATTERN) if is_orphan(p)), key=_mtime, reverse=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile (another app restored it): last
        return 0.0


class AutoSaver:
    """Writes the session after every committed edit; removes it on a clean exit.

    The file is this app's own (its pid and start time in the name, its lock held), so a
    second app on the same folder neither overwrites nor restores it while this one runs.

    Args:
        state: The state to save.
        folder: The sessions folder (``sessions_dir()`` by default).
        on_error: Called with a message when a save fails (disk full, folder not writable);
            editing goes on, and the next edit tries again.
    """

    def __init__(self, state: ViewerState, folder: Path | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.state = state
        self.on_error = on_error
        self.problem = ""
        self.started = time.time()
        self.path, self.lock = _own_session_file(folder or sessions_dir(), self.started)
        state.add_listener(self._on_change)

    def _on_change(self, event: str, detail: object) -> None:
        if event == HISTORY:
            self.save()
        elif event == VOLUME:
            self.path.unlink(missing_ok=True)  # a new scan: nothing of the old one to restore

    def save(self) -> bool:
        """Write the session now; False (and ``on_error``) when it cannot be written."""
        try:
            write_bytes_atomic(self.path, session_bytes(self.state, self.started))
        except OSError as error:
            self.problem = f"{self.path}: the session cannot be autosaved ({why_not_written(error, self.path)})"
            if self.on_error is not None:
                self.on_error(self.problem)
            return False
        self.problem = ""
        return True

    def close(self) -> None:
        """A clean exit: stop saving and remove the file."""
        self.state.remove_listener(self._on_change)
        self.path.unlink(missing_ok=True)
        if self.lock is not None:
            self.lock.release(remove=True)


def _own_session_file(folder: Path, started: float) -> tuple[Path, SessionLock | None]:
    """A session file name no other app or window uses, with its lock taken.

    Two windows of one process may start in the same millisecond: the next free one is taken.
    Without a writable folder there is no lock; saving then reports the problem.
    """
    stamp = int(started * 1000)
    for offset in range(1000):
        path = folder / f"session-{os.getpid()}-{stamp + offset}.npz"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = SessionLock.take(path, create=True)
        except OSError:
            return path, None
        if lock is not None and not path.exists():
            return path, lock
        if lock is not None:
            lock.release()
    raise SessionError(f"{folder}: no free session file name for process {os.getpid()}")
