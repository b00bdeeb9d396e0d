"""Opening scans in a worker thread: series picking, progress, errors as dialogs.

A folder's series are listed first (``core.list_series``); with several, the reader
picks one. ``load_volume``'s progress callback drives the progress bar. What the loader
warns about (a file left out as a duplicate or as unreadable) is shown once the scan is open.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QMessageBox, QProgressBar, QWidget

from noduleseg.core import list_series, load_volume

from .dialogs import SeriesPicker
from .qt_state import QtState
from .workers import Job, start

Then = Callable[[], None] | None


class _ThreadWarnings(logging.Handler):
    """Collects the warnings ``noduleseg.core`` logs in one thread, each message once."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread, self.notes = threading.get_ident(), []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and (note := record.getMessage()) not in self.notes:
            self.notes.append(note)


@contextmanager
def core_warnings() -> Iterator[list[str]]:
    """The warnings the core logs in this thread inside the block (a list, filled as they come)."""
    handler, logger = _ThreadWarnings(), logging.getLogger("noduleseg.core")
    logger.addHandler(handler)
    try:
        yield handler.notes
    finally:
        logger.removeHandler(handler)


def open_work(path: Path, series_uid: str | None) -> Callable[..., tuple[str, Any, list[str]]]:
    """The worker's job: ("series", [SeriesInfo...], []) when a choice is needed, else
    ("volume", volume, the loader's warnings)."""

    def work(progress: Callable[[float], None], cancel: Callable[[], bool]) -> tuple[str, Any, list[str]]:
        with core_warnings() as notes:
            if path.is_dir() and series_uid is None:
                series = list_series(path)
                if len(series) > 1:
                    return "series", series, []  # the chosen series' load warns again
                uid = series[0].series_uid
            else:
                uid = series_uid
            return "volume", load_volume(path, uid, progress), notes

    return work


class Opener(QObject):
    """Opens a path into the state without blocking the window.

    Args:
        qstate: The state the volume goes into.
        parent: The window (parent of dialogs).
        progress_bar: Shown while loading.
    """

    opened = Signal(str)  # the path, once its volume is in the state
    failed = Signal(str)
    warned = Signal(str)  # what the loader left out, once the volume is shown

    def __init__(self, qstate: QtState, parent: QWidget, progress_bar: QProgressBar) -> None:
        super().__init__(parent)
        self.qstate, self.window, self.progress_bar = qstate, parent, progress_bar
        self.job: Job | None = None
        self.show_dialogs = True

    @property
    def busy(self) -> bool:
        return self.job is not None

    def open(self, path: str | Path, series_uid: str | None = None, then: Then = None) -> None:
        """Load ``path`` (file or folder); ``then`` runs after the volume is shown."""
        path = Path(path).expanduser()
        if self.job is not None:
            self.job.cancel()
        job = Job(open_work(path, series_uid))
        job.signals.progress.connect(self._progress)
        job.signals.done.connect(lambda result: self._done(job, path, series_uid, result, then))
        job.signals.failed.connect(lambda message: self._failed(job, message))
        self.job = job
        self.progress_bar.setRange(0, 0)  # busy until the loader reports progress
        self.progress_bar.setFormat(f"opening {path.name}")
        self.progress_bar.show()
        start(job)

    def _progress(self, fraction: float) -> None:
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(round(fraction * 100))

    def _finish(self, job: Job) -> bool:
        if job is not self.job:
            return False  # an older open that was replaced
        self.job = None
        self.progress_bar.hide()
        return True

    def _done(self, job: Job, path: Path, series_uid: str | None, result: tuple[str, Any, list[str]],
              then: Then) -> None:
        if not self._finish(job):
            return
        kind, value, notes = result
        if kind == "series":
            picker = SeriesPicker(value, self.window)
            if picker.exec() == QDialog.DialogCode.Accepted and picker.chosen_uid():
                self.open(path, picker.chosen_uid(), then)
            return
        self.qstate.state.set_volume(value, str(path), series_uid or value.info.series_uid or None)
        self.opened.emit(str(path))
        if notes:
            self.warned.emit("\n".join(notes))
            if self.show_dialogs:
                QMessageBox.warning(self.window, "Opened with warnings", "\n".join(notes))
        if then is not None:
            then()

    def _failed(self, job: Job, message: str) -> None:
        if not self._finish(job):
            return
        self.failed.emit(message)
        if self.show_dialogs:
            QMessageBox.critical(self.window, "Cannot open the scan", message)
