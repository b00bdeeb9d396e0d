"""The retraining process seen from Qt: start it, follow its progress file, cancel it.

The engine runs detached (``QProcess.startDetached``) with its progress, output and exit status
in files of its run folder (``retrain_runs``): a reader may close the app and leave the run to
finish, and the next start attaches to the same files. A timer reads the new progress lines
and turns them into signals in the GUI thread.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from noduleseg.core.errors import NodulesegError

from .processes import process_alive
from .retrain_runs import (RunFolder, RunProgress, RunRequest, discard_leftovers, engine_args, fold,
                           launcher_args, outcome, parse_lines, write_run_record)

POLL_MS = 250
KILL_AFTER_MS = 8000  # Cancel: SIGTERM, then SIGKILL if the engine has not stopped by then


class TrainingStartError(NodulesegError):
    """The training process could not be started."""


class TrainingProcess(QObject):
    """One run at a time: ``start`` or ``attach``, then ``event`` signals and one ``finished``.

    Args:
        parent: Owner.
        python: Interpreter that runs the engine (this one by default, so any venv works).
    """

    event = Signal(dict)
    progressed = Signal(object)  # RunProgress after each event
    finished = Signal(object)  # RunOutcome

    def __init__(self, parent: QObject | None = None, python: str = sys.executable) -> None:
        super().__init__(parent)
        self.python = python
        self.run: RunFolder | None = None
        self.progress = RunProgress()
        self.pid = 0
        self._offset, self._rest, self._cancelled, self._started = 0, "", False, 0.0
        self._timer = QTimer(self, interval=POLL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self, run: RunFolder, request: RunRequest) -> int:
        """Start the engine for ``request`` with its files in ``run``; return its pid.

        Raises:
            TrainingStartError: A run is already being followed, or the process did not start.
        """
        if self.running:
            raise TrainingStartError("a retraining run is already going; wait for it or cancel it")
        args = launcher_args(run, engine_args(request, run.progress))
        ok, pid = QProcess.startDetached(self.python, args, str(run.path))
        if not ok or not pid:
            raise TrainingStartError(f"cannot start {self.python} -m noduleseg.training.cli")
        write_run_record(run, int(pid), [self.python, *args], request)
        self._follow(run, int(pid))
        return self.pid

    def attach(self, run: RunFolder) -> None:
        """Follow a run started earlier (perhaps by an app that has closed since)."""
        self._follow(run, int(run.record().get("pid", 0)))

    def _follow(self, run: RunFolder, pid: int) -> None:
        self.run, self.pid, self.progress = run, pid, RunProgress()
        self._offset, self._rest, self._cancelled = 0, "", False
        self._started = float(run.record().get("started", time.time()))
        self._timer.start()
        self.poll()

    def _read_events(self) -> None:
        try:
            with open(self.run.progress, "rb") as stream:
                stream.seek(self._offset)
                data = stream.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        events, self._rest = parse_lines(self._rest + data.decode("utf-8", errors="replace"))
        for event in events:
            self.progress = fold(self.progress, event)
            self.event.emit(event)
            self.progressed.emit(self.progress)

    def alive(self) -> bool:
        return self.run is not None and process_alive(self.pid, str(self.run.path))

    def poll(self) -> None:
        """Read new events; finish when the exit status is there or the process is gone."""
        if self.run is None:
            return
        self._read_events()
        status = self.run.exit_status()
        if status is None and self.alive():
            return
        self._read_events()  # lines written just before the end
        self._timer.stop()
        if self._cancelled:
            discard_leftovers(self.run.path.parent.parent, self.progress.run_id, self._started)
        self.finished.emit(outcome(status, self.progress, self.run.stderr_tail(), self._cancelled))

    def cancel(self) -> None:
        """Stop the run: SIGTERM now (the engine stops cleanly), SIGKILL if it lingers."""
        if not self.running or not self.alive():
            return
        self._cancelled = True
        self._signal(signal.SIGTERM)
        QTimer.singleShot(KILL_AFTER_MS, self._kill_if_alive)

    def _kill_if_alive(self) -> None:
        if self.running and self.alive():
            self._signal(getattr(signal, "SIGKILL", signal.SIGTERM))

    def _signal(self, number: int) -> None:
        try:
            os.kill(self.pid, number)
        except ProcessLookupError:
            pass

    def detach(self) -> None:
        """Stop following; the process goes on writing its files."""
        self._timer.stop()

    def wait_stopped(self, timeout_s: float) -> bool:
        """Block until the process is gone (for a closing app); True when it is."""
        deadline = time.monotonic() + timeout_s
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.alive()
