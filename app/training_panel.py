"""The Training dock: retrain on the accepted corrections, follow it live, compare, switch.

"Retrain on my corrections" runs ``noduleseg-train`` in its own process (``TrainingProcess``):
BSFT from the active version (whose validation patients the engine keeps), on the corrections
folder plus the data sets listed in the settings, activation left to the reader. The app stays
usable; closing it asks whether to stop the run or leave it to finish, and the next start
picks the result up. Below the run: the reader's own first-mask Dice per model version.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from noduleseg.core.case_check import INCOMPLETE, incomplete_cases, set_aside_cases
from noduleseg.core.cases import list_cases
from noduleseg.core.errors import NodulesegError

from . import workers
from .model_compare import Comparison, compare_versions
from .model_service import ModelService
from .retrain_runs import RunOutcome, RunProgress, RunRequest, list_run_folders, new_run_folder
from .retrain_state import my_data
from .settings import AppSettings
from .training_plot import TrainingPlot
from .training_process import TrainingProcess
from .training_result import ComparisonView, _table, fill, version_rows
from .training_settings import TrainingSettings, TrainingSettingsDialog

STOP, LEAVE = "stop", "leave"
COMPARISON_STOP_S = 30.0  # longest wait for a cancelled comparison (it checks between nodules)


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "--:--"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes:02d}:{secs:02d}"


def stage_text(progress: RunProgress) -> str:
    if progress.done:
        return f"done: {progress.epochs_done} epochs in {len(progress.stages)} stages"
    if progress.stage < 0:
        return "starting: loading data and the model..."
    epochs = progress.stage_epochs[progress.stage] if progress.stage < len(progress.stage_epochs) else 0
    return (f"stage {progress.stage + 1}/{len(progress.stages)} {progress.stages[progress.stage]}, "
            f"epoch {progress.epoch_in_stage}/{epochs}")


class TrainingPanel(QWidget):
    """Retraining, its progress and result, and the reader's own Dice per model version.

    Args:
        service: The app's model service (active version, registry, activation).
        settings: App settings (corrections folder; the INI file the training keys share).
        parent: Owner.
    """

    modelChanged = Signal()
    message = Signal(str)

    def __init__(self, service: ModelService, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service, self.settings = service, settings
        self.training_settings = TrainingSettings(settings.path)
        self.show_dialogs = True
        self.close_policy: str | None = None  # None: ask; STOP or LEAVE (tests, scripts)
        self.process = TrainingProcess(self)
        self.outcome: RunOutcome | None = None
        self.comparison: Comparison | None = None
        self._job: workers.Job | None = None
        self._job_finished = threading.Event()
        self._build()
        self.process.progressed.connect(self._show_progress)
        self.process.finished.connect(self._finished)
        self.result.activateRequested.connect(self.activate)
        self.result.kept.connect(lambda v: self._say(f"{v} kept; the active model stays {self.service.version()}"))
        self.refresh_my_data()
        self.pick_up()

    def _build(self) -> None:
        self.retrain_button = QPushButton("Retrain on my corrections")
        self.cancel_button = QPushButton("Cancel", enabled=False)
        self.settings_button = QPushButton("Settings...")
        self.retrain_button.clicked.connect(self.retrain)
        self.cancel_button.clicked.connect(self.process.cancel)
        self.settings_button.clicked.connect(lambda: TrainingSettingsDialog(self.training_settings, self).exec())
        buttons = QHBoxLayout()
        for button in (self.retrain_button, self.cancel_button, self.settings_button):
            buttons.addWidget(button)
        self.stage_label, self.status_label = QLabel("no run yet"), QLabel(wordWrap=True)
        self.bar = QProgressBar(textVisible=True, format="%p%")
        self.plot = TrainingPlot()
        self.result = ComparisonView()
        self.my_data = _table(["version", "nodules", "mean Dice", "last 10"])
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.stage_label)
        layout.addWidget(self.bar)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status_label)
        layout.addWidget(self.result)
        layout.addWidget(QLabel("How well does the model do on my data (first mask vs accepted, Dice):"))
        layout.addWidget(self.my_data)
        self.skipped_label = QLabel(wordWrap=True, visible=False)
        self.skipped_label.setStyleSheet("color: #b00020;")
        layout.addWidget(self.skipped_label)

    # starting and following --------------------------------------------------------------
    def corrections(self) -> list[Path]:
        return [self.settings.corrections_dir()]

    def _say(self, text: str, error: bool = False) -> None:
        self.status_label.setStyleSheet("color: #b00020;" if error else "")
        self.status_label.setText(text)
        self.message.emit(text)

    def _error(self, text: str) -> None:
        self._say(text, error=True)
        if self.show_dialogs:
            QMessageBox.warning(self, "Retraining", text)

    def retrain(self) -> bool:
        """Start a run; False (with a message) when there is nothing to train on or it cannot start."""
        folder = self.corrections()[0]
        if folder.is_dir() and not self._set_aside_incomplete(folder):
            return False
        if not folder.is_dir() or not list_cases(folder):
            self._error(f"No accepted corrections yet in {folder}. Accept corrected nodules "
                        "(Ctrl+Return) first; each becomes a training case.")
            return False
        registry = self.service.registry()
        if registry is None:
            self._error("Retraining needs noduleseg.training, which is not installed")
            return False
        try:
            current = registry.current()
            request = RunRequest((folder, *self.training_settings.datasets()), registry.root,
                                 current.version if current is not None else "auto",
                                 tuple(self.training_settings.engine_args()))
            self.process.start(new_run_folder(registry.root), request)
        except (NodulesegError, OSError) as error:
            self._error(f"Cannot start retraining: {error}")
            return False
        self._running(f"retraining from {request.source if request.source != 'auto' else 'the shipped model'}...")
        return True

    def _set_aside_incomplete(self, folder: Path) -> bool:
        """Offer to move half-written cases out of training's way; False when the reader says no."""
        incomplete = incomplete_cases(folder)
        if not incomplete:
            return True
        listed = "\n".join(f"- {case.problem}" for case in incomplete)
        answer = QMessageBox.question(
            self, "Retraining", f"{len(incomplete)} case(s) in {folder} are incomplete and would stop "
                                f"training:\n{listed}\n\nMove them to {folder / INCOMPLETE} (nothing is "
                                "deleted) and retrain on the others?")
        if answer != QMessageBox.StandardButton.Yes:
            self._say(f"Not started: {len(incomplete)} incomplete case(s) in {folder}; {incomplete[0].problem}",
                      error=True)
            return False
        try:
            moved = set_aside_cases(folder, incomplete)
        except OSError as error:
            self._error(f"Cannot move the incomplete cases aside: {error}")
            return False
        self._say(f"{len(incomplete)} incomplete case(s) moved to {moved}")
        self.refresh_my_data()
        return True

    def _running(self, text: str) -> None:
        self.outcome, self.comparison = None, None
        self.plot.clear_run()
        self.result.hide()
        self.bar.setValue(0)
        self.retrain_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._say(text)

    def pick_up(self) -> None:
        """Follow (or show the end of) a run an earlier app left; older unseen runs are marked seen."""
        registry = self.service.registry()
        runs = [r for r in list_run_folders(registry.root) if not r.seen] if registry is not None else []
        if not runs:
            return
        for old in runs[:-1]:
            old.mark_seen()
        self._running("following a retraining run started earlier...")
        self.process.attach(runs[-1])

    def _show_progress(self, progress: RunProgress) -> None:
        self.stage_label.setText(stage_text(progress))
        self.bar.setValue(round(100 * progress.fraction))
        self.bar.setFormat(f"%p%  ETA {format_eta(progress.eta_s)}")
        self.plot.show_progress(progress)

    def _finished(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        if self.process.run is not None:
            self.process.run.mark_seen()
        self.retrain_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.refresh_my_data()
        if not outcome.ok:
            self.stage_label.setText("no new version")
            (self._say if outcome.cancelled else self._error)(outcome.message)
            return
        self.bar.setValue(100)
        self.bar.setFormat("%p%  done")
        self._say(outcome.message + "; comparing with the active model...")
        self.result.show_pending(outcome.version, f"{outcome.version}: comparing with the active model...")
        self.compare(outcome.version)

    # comparing and activating ------------------------------------------------------------
    def compare(self, version: str) -> None:
        registry = self.service.registry()
        new_folder, active_folder = registry.get(version).folder, self.service.active_dir()
        corrections, finished = self.corrections(), threading.Event()

        def work(progress, cancel) -> Comparison:
            try:
                return compare_versions(new_folder, active_folder, corrections, progress, cancel)
            finally:
                finished.set()

        self._job, self._job_finished = workers.Job(work), finished
        self._job.signals.done.connect(self._compared)
        self._job.signals.failed.connect(lambda text: self._error(f"Comparison failed: {text}"))
        workers.start(self._job)

    def _compared(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self.result.show_comparison(comparison)
        self._say(f"{self.outcome.message if self.outcome else comparison.new_version}: Activate it or Keep "
                  "the active model (any version can be switched back from the Model menu).")

    def activate(self, version: str) -> bool:
        """Activate ``version`` through the registry's gate; forcing past it asks first."""
        try:
            self.service.activate(version)
        except NodulesegError as refused:
            answer = QMessageBox.question(self, "Activate model", f"{refused}\n\nActivate {version} anyway?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
            try:
                self.service.activate(version, force=True)
            except NodulesegError as error:
                self._error(str(error))
                return False
        self.result.set_decided(True)
        self._say(f"{version} is active: the next click uses it")
        self.refresh_my_data()
        self.modelChanged.emit()
        return True

    def refresh_my_data(self, *_: object) -> None:
        scores, skipped = my_data(self.corrections())
        fill(self.my_data, version_rows(scores, self.service.version()))
        self.skipped_label.setText("Left out (incomplete or damaged):\n" + "\n".join(c.problem for c in skipped)
                                   if skipped else "")
        self.skipped_label.setVisible(bool(skipped))

    # closing -----------------------------------------------------------------------------
    def stop_comparison(self) -> None:
        """Cancel a running comparison and wait for it: its signals die with the panel."""
        if self._job is not None:
            self._job.cancel()
            self._job_finished.wait(COMPARISON_STOP_S)

    def closeEvent(self, event) -> None:
        self.stop_comparison()
        self.process.detach()  # a bare panel closing leaves a run to finish, like LEAVE
        super().closeEvent(event)

    def confirm_close(self) -> bool:
        """Before the app closes: stop the run or leave it running (asks unless ``close_policy``).

        Returns:
            False when the reader cancelled closing.
        """
        if not self.process.running:
            self.stop_comparison()
            return True
        policy = self.close_policy or self._ask_close()
        if policy == STOP:
            self.process.cancel()
            self.process.wait_stopped(10.0)
            self.process.poll()
        elif policy == LEAVE:
            self.process.detach()
        if policy in (STOP, LEAVE):
            self.stop_comparison()
            return True
        return False

    def _ask_close(self) -> str | None:
        box = QMessageBox(QMessageBox.Icon.Question, "Retraining is running",
                          "A retraining run is still going. Stop it, or leave it to finish in the "
                          "background? (The next start shows its result.)", parent=self)
        stop = box.addButton("Stop training", QMessageBox.ButtonRole.DestructiveRole)
        leave = box.addButton("Leave it running", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return STOP if clicked == stop else LEAVE if clicked == leave else None
