"""Session autosave: the scan's path, the nodules and the undo points, after every edit.

One file per running app, ``session-<pid>-<start>.npz`` in ``data_dir()/"sessions"``, written
atomically (the old file or the complete new one, even under kill -9). A clean exit removes
it; a file whose process is gone is a crashed session the next start offers to restore.
The npz holds the masks as arrays and a JSON ``meta`` entry describing records and edits;
records and masks shared by several undo points are stored once.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from noduleseg.core.atomic import write_bytes_atomic
from noduleseg.core.errors import NodulesegError
from noduleseg.core.paths import data_dir
from noduleseg.core.windowing import Window

from .history import Edit, History
from .masks import MaskCrop
from .processes import process_alive
from .state import HISTORY, VOLUME, NoduleRecord, Status, ViewerState

FORMAT = 1
SAVED_UNDO_POINTS = 50


class SessionError(NodulesegError):
    """A session file cannot be read back."""


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
        SessionError: The file is missing, truncated or not a NoduleSeg session.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes().decode())
            masks = {int(k[4:]): MaskCrop(data[k].astype(bool), tuple(int(v) for v in data[f"offset{k[4:]}"]))
                     for k in data.files if k.startswith("mask")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise SessionError(f"{path}: not a readable session file ({error})") from None
    if meta.get("format") != FORMAT:
        raise SessionError(f"{path}: session format {meta.get('format')} is not {FORMAT}")
    records = [NoduleRecord(e["nodule_id"], masks[e["mask"]], tuple(e["seed_ijk"]), Status(e["status"]),
                            e["name"], e["notes"], e["model_version"],
                            None if e["first_mask"] is None else masks[e["first_mask"]], e["case_id"])
               for e in meta["records"]]
    history = History()
    for name in ("done", "undone"):
        getattr(history, name).extend(
            Edit(n, None if b is None else records[b], None if a is None else records[a], what)
            for n, b, a, what in meta[name])
    name, center, width = meta["window"]
    return SavedSession(path, meta["source"], meta["series_uid"], int(meta["slice_k"]),
                        Window(name, float(center), float(width)), [records[i] for i in meta["current"]],
                        history, int(meta["next_id"]), float(meta["saved"]))


def restore_into(state: ViewerState, saved: SavedSession) -> None:
    """Put a saved session's nodules back into ``state``, whose scan must already be loaded.

    Raises:
        SessionError: A mask does not fit the loaded scan (the file changed since).
    """
    shape = state.volume.shape_zyx
    for record in saved.records:
        stop = [o + n for o, n in zip(record.mask.offset_zyx, record.mask.mask.shape)]
        if any(s > n for s, n in zip(stop, shape)):
            raise SessionError(f"{saved.source}: the scan no longer matches the saved session "
                               f"({record.label} lies outside its {shape} voxels)")
    state.set_window(saved.window)
    state.restore(saved.records, saved.history, saved.next_id, saved.slice_k)


def orphaned_sessions(folder: Path | None = None) -> list[Path]:
    """Session files left by processes that are gone (crashed or killed), newest first."""
    folder = folder or sessions_dir()
    orphans = []
    for path in folder.glob("session-*-*.npz"):
        pid = path.stem.split("-")[1]
        if pid.isdigit() and not process_alive(int(pid)):
            orphans.append(path)
    return sorted(orphans, key=lambda p: p.stat().st_mtime, reverse=True)


class AutoSaver:
    """Writes the session after every committed edit; removes it on a clean exit."""

    def __init__(self, state: ViewerState, folder: Path | None = None) -> None:
        self.state = state
        self.started = time.time()
        folder = folder or sessions_dir()
        self.path = folder / f"session-{os.getpid()}-{int(self.started * 1000)}.npz"
        state.add_listener(self._on_change)

    def _on_change(self, event: str, detail: object) -> None:
        if event == HISTORY:
            self.save()
        elif event == VOLUME:
            self.path.unlink(missing_ok=True)  # a new scan: nothing of the old one to restore

    def save(self) -> None:
        write_bytes_atomic(self.path, session_bytes(self.state, self.started))

    def close(self) -> None:
        """A clean exit: stop saving and remove the file."""
        self.state.remove_listener(self._on_change)
        self.path.unlink(missing_ok=True)
