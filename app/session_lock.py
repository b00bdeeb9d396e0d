"""Which autosaved sessions belong to a running app, and claiming the ones that do not.

Every app holds an OS lock (``fcntl.flock``) on its session's ``.lock`` file for as long as it
runs. The lock goes with the process however it ends, so a session whose lock can be taken is
a crashed one even when its pid has since been reused, and neither a second app nor a second
window of the same process ever takes a session that is still being written. Restoring
claims a crashed session with the same lock, so two apps starting at once cannot both restore
(and then delete) it. Where there is no ``fcntl`` (Windows) or no lock file (a session from
before locks), the pid in the file name decides, as it did before.
"""

from __future__ import annotations

import os
from pathlib import Path

from .processes import process_alive

try:
    import fcntl
except ImportError:  # Windows: the pid check is all there is
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = ".lock"


def lock_path(session: Path) -> Path:
    """The lock file beside a session file (``session-<pid>-<ms>.lock``)."""
    return session.with_suffix(LOCK_SUFFIX)


def session_pid(session: Path) -> int | None:
    """The pid in a session file's name (``session-<pid>-<ms>.npz``), or None."""
    parts = session.name.split("-")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None


class SessionLock:
    """An exclusive lock on one session's lock file, held until ``release``.

    Args:
        path: The lock file.
        handle: Its open file descriptor (the lock lives as long as it is open).
    """

    def __init__(self, path: Path, handle: int | None) -> None:
        self.path = path
        self.handle = handle  # None: nothing to hold (the folder takes no lock file)

    @classmethod
    def take(cls, session: Path, create: bool = False) -> "SessionLock | None":
        """Lock ``session``'s lock file; None when someone holds it or (unless ``create``) it is missing.

        Raises:
            OSError: The lock file cannot be opened or locked here (no permission, no locks).
        """
        path = lock_path(session)
        try:
            handle = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
        except FileNotFoundError:
            return None
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(handle)
                if isinstance(error, BlockingIOError):
                    return None
                raise
        return cls(path, handle)

    @property
    def held(self) -> bool:
        return self.handle is not None

    def release(self, remove: bool = False) -> None:
        """Let go of the lock; ``remove`` deletes the lock file first (its session is gone)."""
        if self.handle is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self.handle)
        self.handle = None


def claim(session: Path) -> SessionLock | None:
    """Claim a crashed session for this app; None when its app still runs or another claimed it."""
    if fcntl is not None and lock_path(session).exists():
        try:
            return SessionLock.take(session)
        except OSError:
            pass  # a lock that cannot be tested here (no permission, no locks on the mount)
    pid = session_pid(session)  # no usable lock file: a session from before locks, or no flock
    if pid is None or process_alive(pid):
        return None
    try:
        return SessionLock.take(session, create=True)
    except OSError:  # a folder that takes no lock file: the pid said it is a crash
        return SessionLock(lock_path(session), None)


def is_orphan(session: Path) -> bool:
    """Whether no running app holds ``session`` (it crashed or was killed)."""
    lock = claim(session)
    if lock is None:
        return False
    lock.release(remove=not session.exists())
    return True
