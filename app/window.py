"""The main window: composes the view, the panels, the menus and the controllers.

Layout: tools on the left, the axial view with its slice bar in the middle, the nodule list
on the right (a later Training panel docks beside it). Behaviour lives in the widgets and
controllers; this class wires them and owns the session autosave.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QToolButton, QVBoxLayout, QWidget)

from . import menus
from .assist import MeasurementCache
from .assisting import Assistant
from .keep_actions import Keeper
from .model_service import ModelService
from .nodule_table import NoduleTable
from .opening import Opener
from .qt_state import QtState
from .restoring import Restorer
from .session import AutoSaver
from .settings import AppSettings
from .slice_bar import SliceBar
from .slice_view import SliceView
from .state import ViewerState
from .tool_panel import ToolPanel
from .training_panel import TrainingPanel


class MainWindow(QMainWindow):
    """NoduleSeg's window.

    Args:
        service: The model service (``ModelService()`` follows the registry).
        settings: App settings (recent files, corrections folder).
        measurements: Measurement cache (injectable for tests).
        sessions: Folder of autosaved sessions (``data_dir()/"sessions"`` by default).
    """

    def __init__(self, service: ModelService | None = None, settings: AppSettings | None = None,
                 measurements: MeasurementCache | None = None, sessions: Path | None = None) -> None:
        super().__init__()
        self.setWindowTitle("NoduleSeg")
        self.setAcceptDrops(True)
        self.state = ViewerState()
        self.qstate = QtState(self.state, self)
        self.service = service or ModelService()
        self.settings = settings or AppSettings()
        self.measurements = measurements or MeasurementCache()
        self.sessions = sessions
        self._model_problem = ""
        self.saver = AutoSaver(self.state, sessions, on_error=self._autosave_failed)

        self.progress = QProgressBar(maximumWidth=320, textVisible=True)
        self.progress.hide()
        self.view = SliceView(self.qstate, self.measurements)
        self.slice_bar = SliceBar(self.qstate)
        self.table = NoduleTable(self.qstate, self.measurements)
        self.opener = Opener(self.qstate, self, self.progress)
        self.restorer = Restorer(self.state, self.saver, self.opener, self)
        self.assistant = Assistant(self.qstate, self.service, self.measurements, self, self.progress)
        self.keeper = Keeper(self.qstate, self.service, self.measurements, self.settings, self)
        self.actions = menus.build(self)
        self.panel = ToolPanel(self.qstate, self.actions)
        self.training = TrainingPanel(self.service, self.settings, self)
        self._compose()
        self._connect()

    # composition -------------------------------------------------------------------------
    def _compose(self) -> None:
        center = QWidget()
        layout = QVBoxLayout(center)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.slice_bar)
        self.setCentralWidget(center)
        self.tools_dock = self._dock("Tools", self.panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.nodules_dock = self._dock("Nodules", self.table, Qt.DockWidgetArea.RightDockWidgetArea)
        self.training_dock = self._dock("Training", self.training, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.nodules_dock, self.training_dock)
        self.nodules_dock.raise_()
        self.cursor_label, self.window_label, self.model_label = QLabel(), QLabel(), QLabel()
        cancel = QToolButton()
        cancel.setDefaultAction(self.actions["cancel"])
        bar = self.statusBar()
        bar.addWidget(self.cursor_label, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(cancel)
        bar.addPermanentWidget(self.window_label)
        bar.addPermanentWidget(self.model_label)
        self.resize(1320, 820)
        self.resizeDocks([self.tools_dock, self.nodules_dock], [250, 470], Qt.Orientation.Horizontal)
        self.cancel_button = cancel
        cancel.hide()

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        self.view.seedClicked.connect(self.assistant.segment_seed)
        self.view.boxDragged.connect(self.assistant.segment_box)
        self.view.cursorMoved.connect(self._show_cursor)
        self.opener.opened.connect(self._opened)
        self.opener.warned.connect(self._warned)
        self.keeper.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.restorer.message.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.assistant.segmented.connect(self._segmented)
        self.assistant.failed.connect(self.show_model)  # a version that failed to load: shipped now
        self.assistant.busyChanged.connect(self.cancel_button.setVisible)
        self.training.modelChanged.connect(self.show_model)
        self.training.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.keeper.message.connect(self.training.refresh_my_data)
        self.qstate.windowChanged.connect(self._show_window)
        self.qstate.historyChanged.connect(self._update_actions)
        self.qstate.selectionChanged.connect(self._update_actions)
        self.qstate.volumeChanged.connect(self._update_actions)
        self._show_window()
        self._update_actions()
        self.show_model()

    # status ------------------------------------------------------------------------------
    def _show_cursor(self, where: dict | None) -> None:
        if where is None:
            self.cursor_label.clear()
            return
        (i, j, k), (x, y, z) = where["ijk"], where["world"]
        self.cursor_label.setText(f"voxel i {i}, j {j}, k {k}   world {x:.1f}, {y:.1f}, {z:.1f} mm"
                                  f"   {where['hu']} HU")

    def _show_window(self) -> None:
        window = self.state.window
        self.window_label.setText(f"{window.name} W {window.width:.0f} L {window.center:.0f}")

    def show_model(self) -> None:
        """The active model in the status bar; why the registry's choice is not used, if so."""
        problem = self.service.problem()
        suffix = " (active version unusable: shipped model used)" if problem else ""
        self.model_label.setText(f"model {self.service.version()}{suffix}")
        self.model_label.setToolTip(problem)
        if problem and problem != self._model_problem:
            self.statusBar().showMessage(problem, 30000)
        self._model_problem = problem

    def report_model_problem(self) -> str:
        """Tell the reader in a dialog when the registry's active model cannot be used; the problem."""
        self.show_model()
        if self._model_problem:
            QMessageBox.warning(self, "Model", self._model_problem)
        return self._model_problem

    def _update_actions(self, *_: object) -> None:
        has_volume, selected = self.state.volume is not None, self.state.selected is not None
        self.actions["undo"].setEnabled(self.state.history.can_undo)
        self.actions["redo"].setEnabled(self.state.history.can_redo)
        for key in ("fill", "connected", "accept", "delete"):
            self.actions[key].setEnabled(selected)
        for key in ("export_labels", "export_measurements", "export_dicom", "import_seeds", "open_labels"):
            self.actions[key].setEnabled(has_volume)
        title = Path(self.state.source).name if self.state.source else ""
        self.setWindowTitle(f"NoduleSeg - {title}" if title else "NoduleSeg")

    def _opened(self, path: str) -> None:
        self.measurements.clear()
        self.settings.add_recent(path)
        menus.fill_recent(self)

    def _warned(self, notes: str) -> None:
        self.statusBar().showMessage(notes.replace("\n", "; "), 15000)

    def _segmented(self, nodule_id: int) -> None:
        self.statusBar().showMessage(f"{self.state.nodules[nodule_id].label} outlined", 5000)
        self.show_model()

    # nodule commands (menu actions) ------------------------------------------------------
    def on_selected(self, command: str) -> None:
        """Run a nodule command ("fill", "connected", "delete") on the selected nodule."""
        nodule_id = self.state.selected
        if nodule_id is None:
            return
        if command == "fill" and not self.state.fill_holes(nodule_id):
            self.statusBar().showMessage("no holes to fill", 3000)
        elif command == "connected" and not self.state.keep_connected(nodule_id):
            self.statusBar().showMessage("the mask is already one connected part", 3000)
        elif command == "delete":
            self.state.delete_nodule(nodule_id)

    # opening, drag and drop, session restore ---------------------------------------------
    def open_path(self, path: str | Path, then=None) -> None:
        self.opener.open(path, then=then)

    def dragEnterEvent(self, event) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    def offer_restore(self, mode: str = "ask") -> Path | None:
        """Offer the newest crashed session ("ask"), restore it ("yes") or leave it ("no").

        Damaged session files are set aside and named in one message first.

        Returns:
            The session file being restored, or None.
        """
        saved = self.restorer.offer(mode)
        return saved.path if saved is not None else None

    def _autosave_failed(self, text: str) -> None:
        self.statusBar().showMessage(text, 15000)

    def closeEvent(self, event) -> None:
        if not self.training.confirm_close():  # a retraining run: stop it, leave it, or stay
            event.ignore()
            return
        self.assistant.cancel()
        self.saver.close()
        self.restorer.close()
        super().closeEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.assistant.cancel()
        super().keyPressEvent(event)

