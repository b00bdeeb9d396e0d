"""File > Export and Accept: ask for paths and confirmations, then call ``keeping``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from noduleseg.core.dicom_source import require_dicom_source
from noduleseg.core.errors import NodulesegError
from noduleseg.core.export import write_measurements

from . import keeping
from .assist import MeasurementCache
from .dicom_export import export_dicom, report_path
from .model_service import ModelService
from .qt_state import QtState
from .settings import AppSettings

LABEL_FILTER = "NIfTI (*.nii.gz *.nii);;NRRD (*.nrrd)"
TABLE_FILTER = "CSV (*.csv);;JSON (*.json)"
DICOM_FILTER = "DICOM (*.dcm);;All files (*)"


class Keeper(QObject):
    """Exports and accepted cases for the window.

    Args:
        qstate: The state.
        service: The model service (its card goes into provenance).
        measurements: Shared measurement cache.
        settings: Where the corrections folder is configured.
        parent: The window (parent of dialogs).
    """

    message = Signal(str)  # a line for the status bar

    def __init__(self, qstate: QtState, service: ModelService, measurements: MeasurementCache,
                 settings: AppSettings, parent: QWidget) -> None:
        super().__init__(parent)
        self.qstate, self.service, self.measurements = qstate, service, measurements
        self.settings, self.window = settings, parent

    def _error(self, title: str, error: NodulesegError) -> None:
        QMessageBox.critical(self.window, title, str(error))

    def _ask_path(self, title: str, filters: str, suffix: str,
                  beside: Callable[[Path], list[Path]] = lambda path: []) -> Path | None:
        """A path from the save dialog, or None; ``beside`` names files written with it."""
        stem = Path(self.qstate.state.source).name.split(".")[0] or "labels"
        start = str(Path(self.settings.last_dir()) / f"{stem}{suffix}")
        # Qt's own dialog: the native one asks about overwriting itself; ours asks once.
        name, _ = QFileDialog.getSaveFileName(self.window, title, start, filters,
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if not name:
            return None
        path = Path(name)
        existing = [p for p in (path, *beside(path)) if p.exists()]
        question = (f"{existing[0]} exists. Replace it?" if len(existing) == 1 else
                    f"{' and '.join(map(str, existing))} exist. Replace them?")
        if existing and QMessageBox.question(
                self.window, title, question) != QMessageBox.StandardButton.Yes:
            return None
        self.settings.set_last_dir(str(path.parent))
        return path

    def export_labels(self) -> None:
        if self.qstate.state.volume is None:
            return
        if (path := self._ask_path("Export labels", LABEL_FILTER, "_labels.nii.gz")) is not None:
            self.export_labels_to(path, overwrite=True)

    def export_labels_to(self, path: Path, overwrite: bool = False) -> bool:
        try:
            keeping.export_labels(self.qstate.state, path, overwrite=overwrite)
        except NodulesegError as error:
            self._error("Export labels", error)
            return False
        self.message.emit(f"labels written to {path}")
        return True

    def export_measurements(self) -> None:
        if self.qstate.state.volume is None:
            return
        if (path := self._ask_path("Export measurements", TABLE_FILTER, "_nodules.csv")) is not None:
            self.export_measurements_to(path, overwrite=True)

    def export_measurements_to(self, path: Path, overwrite: bool = False) -> bool:
        state = self.qstate.state
        measured = {r.nodule_id: self.measurements.get(r.mask, state.volume) for r in state.records()}
        try:
            write_measurements(keeping.measurement_rows(state, measured), path, overwrite=overwrite)
        except NodulesegError as error:
            self._error("Export measurements", error)
            return False
        self.message.emit(f"measurements written to {path}")
        return True

    def export_dicom(self) -> None:
        if self.qstate.state.volume is None:
            return
        try:  # a NIfTI scan is refused before the save dialog, not after
            require_dicom_source(self.qstate.state.volume)
        except NodulesegError as error:
            self._error("Export DICOM SEG + SR", error)
            return
        path = self._ask_path("Export DICOM SEG + SR", DICOM_FILTER, "_seg.dcm",
                              beside=lambda seg: [report_path(seg)])
        if path is not None:
            self.export_dicom_to(path, overwrite=True)

    def export_dicom_to(self, path: Path, overwrite: bool = False) -> bool:
        """The nodules as a DICOM SEG at ``path`` and their measurement report beside it."""
        try:
            seg, report = export_dicom(self.qstate.state, path, overwrite=overwrite)
        except NodulesegError as error:
            self._error("Export DICOM SEG + SR", error)
            return False
        self.message.emit(f"DICOM SEG written to {seg}, measurement report to {report}")
        return True

    def accept_selected(self) -> str | None:
        """Save the selected nodule as a training case and mark it accepted; its case id."""
        state = self.qstate.state
        if state.selected is None:
            return None
        record = state.nodules[state.selected]
        folder = self.settings.corrections_dir()
        try:
            case_id = keeping.accept_case(state, record, folder, self.service.card())
        except NodulesegError as error:
            self._error("Accept", error)
            return None
        state.mark_accepted(record.nodule_id, case_id)
        self.message.emit(f"{record.label} accepted: training case {case_id} in {folder}")
        return case_id

    def choose_corrections_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Corrections folder",
                                                  str(self.settings.corrections_dir()))
        if folder:
            self.settings.set_corrections_dir(Path(folder))
            self.message.emit(f"accepted nodules go to {folder}")
