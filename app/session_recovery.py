"""Crashed sessions at start-up: claim them, read the newest that can be read, set damaged ones aside.

A session file that cannot be read (truncated, not a session, an older or newer schema) is
renamed ``<name>.damaged-<time>`` in the same folder: nothing is deleted, and the next start
does not trip over it again. No Qt here; ``restoring`` asks the reader and tells them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .session import PATTERN, DamagedSessionError, SavedSession, read_session
from .session_lock import SessionLock, claim

DAMAGED = "damaged"


@dataclass(frozen=True)
class SetAside:
    """A damaged session file and where it went.

    Attributes:
        path: The file as it was found.
        problem: Why it cannot be read.
        moved_to: Its new name, or None when it could not be renamed.
        why_not_moved: The reason it stayed ("" when it moved).
    """

    path: Path
    problem: str
    moved_to: Path | None
    why_not_moved: str = ""

    def message(self) -> str:
        """One paragraph for the reader, naming the file."""
        where = (f"It was set aside as {self.moved_to.name} in the same folder."
                 if self.moved_to is not None else
                 f"It could not be set aside ({self.why_not_moved}) and stays where it is.")
        return f"The autosaved session {self.path} cannot be restored: {self.problem}. {where}"


def set_aside(path: Path, problem: str, now: float | None = None) -> SetAside:
    """Rename a damaged session file to ``<name>.damaged-<time>`` beside it."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(time.time() if now is None else now))
    target = path.with_name(f"{path.name}.{DAMAGED}-{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.{DAMAGED}-{stamp}-{number}")
    try:
        path.rename(target)
    except OSError as error:
        return SetAside(path, problem, None, error.strerror or str(error))
    return SetAside(path, problem, target)


@dataclass
class Recovery:
    """What a start found: the newest readable crashed session and the files it holds.

    Attributes:
        saved: The session to offer, or None.
        claims: The crashed session files this app holds locked (``saved``'s and older ones).
        set_aside: Damaged files renamed on the way.
    """

    saved: SavedSession | None = None
    claims: list[tuple[Path, SessionLock]] = field(default_factory=list)
    set_aside: list[SetAside] = field(default_factory=list)

    def release(self) -> None:
        """Let the files go untouched (the reader said no): the next start offers them again."""
        for _path, lock in self.claims:
            lock.release()
        self.claims = []

    def finish(self) -> None:
        """The restored work is saved in this app's own session: remove the crashed files."""
        for path, lock in self.claims:
            path.unlink(missing_ok=True)
            lock.release(remove=True)
        self.claims = []


def claim_orphans(folder: Path) -> list[tuple[Path, SessionLock]]:
    """Crashed session files in ``folder`` that no other app holds, claimed, newest first."""
    claims = []
    for path in folder.glob(PATTERN):
        lock = claim(path)
        if lock is None:
            continue
        try:
            claims.append((path.stat().st_mtime, path, lock))
        except OSError:  # restored and removed by another app meanwhile
            lock.release(remove=True)
    return [(path, lock) for _, path, lock in sorted(claims, key=lambda c: c[0], reverse=True)]


def recover(folder: Path) -> Recovery:
    """Claim the crashed sessions; read the newest readable one; set damaged ones aside."""
    recovery = Recovery()
    for path, lock in claim_orphans(folder):
        if recovery.saved is None:
            try:
                recovery.saved = read_session(path)
            except DamagedSessionError as error:
                recovery.set_aside.append(set_aside(path, error.problem))
                lock.release(remove=True)
                continue
        recovery.claims.append((path, lock))
    return recovery
