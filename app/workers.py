"""Long core calls in a worker thread: progress, result and errors come back as Qt signals."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from noduleseg.core.errors import NodulesegError


class JobSignals(QObject):
    """What a job reports; delivered in the GUI thread (queued across threads)."""

    progress = Signal(float)
    done = Signal(object)
    failed = Signal(str)  # a user-facing message
    cancelled = Signal()


class Job(QRunnable):
    """Run ``work(progress, cancel)`` in the thread pool.

    ``work`` gets a progress callback (0..1) and a cancel query, the plain callables core
    functions take. A ``NodulesegError`` becomes ``failed`` with its message; a cancelled run
    (the query said yes and the work raised, or returned) becomes ``cancelled``. Other
    exceptions are bugs: they are reported through ``failed`` too, with their type named, so
    the app stays usable.
    """

    def __init__(self, work: Callable[[Callable[[float], None], Callable[[], bool]], Any]) -> None:
        super().__init__()
        self.work = work
        self.signals = JobSignals()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            result = self.work(self.signals.progress.emit, self._cancel.is_set)
        except NodulesegError as error:
            if self._cancel.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.failed.emit(str(error))
        except Exception as error:  # a bug in a worker must not take the window down
            self.signals.failed.emit(f"unexpected {type(error).__name__}: {error}")
        else:
            if self._cancel.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.done.emit(result)


def start(job: Job) -> Job:
    QThreadPool.globalInstance().start(job)
    return job
