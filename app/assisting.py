"""Clicks, boxes and seed tables to outlines: the model runs in a worker (busy cursor, Esc cancels)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressBar, QWidget

from noduleseg.core.seeds import SeedTable

from . import assist
from .assist import MeasurementCache, Outline, SeedOutlines
from .model_service import ModelService
from .qt_state import QtState
from .state import Status
from .workers import Job, start

MAX_LISTED = 30  # failed rows named in one message


class Assistant(QObject):
    """Starts segmentations and adds their outlines to the state as AI nodules.

    Args:
        qstate: The state.
        service: Which model to use (loaded on the first click).
        measurements: Cache that receives the model's own measurements.
        parent: The window (parent of dialogs).
        progress_bar: Shown while the model runs.
    """

    segmented = Signal(int)  # nodule id
    seedsImported = Signal(list, list)  # nodule ids, one line per failed row
    failed = Signal(str)
    cancelled = Signal()
    busyChanged = Signal(bool)

    def __init__(self, qstate: QtState, service: ModelService, measurements: MeasurementCache,
                 parent: QWidget, progress_bar: QProgressBar) -> None:
        super().__init__(parent)
        self.qstate, self.service, self.measurements = qstate, service, measurements
        self.window, self.progress_bar = parent, progress_bar
        self.job: Job | None = None
        self._volume = None
        self.show_dialogs = True

    @property
    def busy(self) -> bool:
        return self.job is not None

    def segment_seed(self, seed_ijk: tuple[int, int, int]) -> bool:
        """Outline the nodule under a clicked voxel; False when busy or no scan."""
        volume = self.qstate.state.volume
        return self._start(lambda p, c: assist.segment_seed(self.service, volume, seed_ijk, p, c),
                           f"segmenting at {seed_ijk}")

    def segment_box(self, box_ijk: tuple[int, int, int, int, int]) -> bool:
        """Outline the nodule inside an axial box (i0, j0, i1, j1, k)."""
        volume = self.qstate.state.volume
        return self._start(lambda p, c: assist.segment_in_box(self.service, volume, box_ijk, p, c),
                           "segmenting in the box")

    def segment_table(self, table: SeedTable, name: str) -> bool:
        """Outline every row of a seed table (``name`` is shown); the nodules are added together."""
        volume = self.qstate.state.volume
        return self._start(lambda p, c: assist.segment_rows(self.service, volume, table, p, c),
                           f"{len(table.rows)} seeds from {name}", self._table_done)

    def finish_import(self, nodule_ids: list[int], failures: list[str]) -> None:
        """Say what a seed table gave: the failed rows by line, in one message."""
        self.seedsImported.emit(nodule_ids, failures)
        if failures and self.show_dialogs:
            shown = failures[:MAX_LISTED] + ([f"... and {len(failures) - MAX_LISTED} more"]
                                             if len(failures) > MAX_LISTED else [])
            QMessageBox.warning(self.window, "Import seeds",
                                f"{len(nodule_ids)} of {len(nodule_ids) + len(failures)} seeds outlined. "
                                "These rows failed:\n\n" + "\n".join(shown))

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _start(self, work: Callable, label: str, done: Callable | None = None) -> bool:
        if self.job is not None or self.qstate.state.volume is None:
            return False
        job = Job(work)
        job.signals.progress.connect(lambda f: self.progress_bar.setValue(round(f * 100)))
        job.signals.done.connect(lambda result: (done or self._done)(job, result))
        job.signals.failed.connect(lambda message: self._end(job) and self._report(message))
        job.signals.cancelled.connect(lambda: self._end(job) and self.cancelled.emit())
        self.job, self._volume = job, self.qstate.state.volume
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat(f"{label}: %p% (Esc cancels)")
        self.progress_bar.show()
        self.busyChanged.emit(True)
        QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        start(job)
        return True

    def _end(self, job: Job) -> bool:
        if job is not self.job:
            return False
        self.job = None
        self.progress_bar.hide()
        self.busyChanged.emit(False)
        QApplication.restoreOverrideCursor()
        return True

    def _done(self, job: Job, outline: Outline) -> None:
        if not self._end(job) or self.qstate.state.volume is not self._volume:
            return  # replaced, or another scan was opened meanwhile
        if outline.mask.voxel_count == 0:
            self._report("The model found no nodule there.")
            return
        self.segmented.emit(self._add(outline))

    def _table_done(self, job: Job, result: SeedOutlines) -> None:
        if not self._end(job) or self.qstate.state.volume is not self._volume:
            return
        self.finish_import([self._add(outline) for outline in result.outlines],
                           [str(failure) for failure in result.failures])

    def _add(self, outline: Outline) -> int:
        """The outline as a new AI nodule (selected); its id."""
        if outline.measurements is not None:
            self.measurements.put(outline.mask, outline.measurements)
        return self.qstate.state.add_nodule(outline.mask, outline.seed_ijk, outline.model_version,
                                            Status.AI, first_mask=outline.mask)

    def _report(self, message: str) -> None:
        self.failed.emit(message)
        if self.show_dialogs:
            QMessageBox.warning(self.window, "Segmentation", message)
