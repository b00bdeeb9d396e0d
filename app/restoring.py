"""Restoring a crashed session at start-up: offer it, reopen its scan, put the nodules back.

Damaged session files are set aside (``session_recovery``) and named in one message; the app
then starts as if there had been none.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from noduleseg.core.errors import NodulesegError

from .opening import Opener
from .session import AutoSaver, SavedSession, restore_into
from .session_recovery import Recovery, recover
from .state import ViewerState

TITLE = "Restore session"


class Restorer(QObject):
    """Offers the newest crashed session and restores it into the window's state.

    Args:
        state: The viewer state.
        saver: This window's autosaver (the restored work is saved there first).
        opener: Opens the session's scan.
        parent: The window (parent of dialogs).
    """

    message = Signal(str)  # a line for the status bar

    def __init__(self, state: ViewerState, saver: AutoSaver, opener: Opener, parent: QWidget) -> None:
        super().__init__(parent)
        self.state, self.saver, self.opener, self.window = state, saver, opener, parent
        self.show_dialogs = True
        self.recovery = Recovery()

    def offer(self, mode: str = "ask") -> SavedSession | None:
        """Offer the newest crashed session ("ask"), restore it ("yes") or leave it ("no").

        Returns:
            The session being restored, or None.
        """
        if mode == "no":
            return None
        self.recovery = recover(self.saver.path.parent)
        if self.recovery.set_aside:
            self._warn("\n\n".join(s.message() for s in self.recovery.set_aside)
                       + "\n\nNoduleSeg starts without it.")
        saved = self.recovery.saved
        if saved is None or (mode == "ask" and not self._ask(saved)):
            self.recovery.release()
            return None
        self.opener.open(saved.source, saved.series_uid, then=lambda: self._restore(saved))
        return saved

    def _ask(self, saved: SavedSession) -> bool:
        answer = QMessageBox.question(
            self.window, TITLE, f"NoduleSeg did not close cleanly. Restore the session on {saved.source} "
                                f"with {len(saved.records)} nodule(s)?")
        return answer == QMessageBox.StandardButton.Yes

    def _restore(self, saved: SavedSession) -> None:
        try:
            restore_into(self.state, saved)
        except NodulesegError as error:
            self.recovery.release()
            self._warn(str(error))
            return
        if self.saver.save():  # the restored work is safe before the old files go
            self.recovery.finish()
        self.message.emit(f"session restored: {len(saved.records)} nodule(s)")

    def close(self) -> None:
        """The window closes: crashed files still claimed stay for the next start."""
        self.recovery.release()

    def _warn(self, text: str) -> None:
        self.message.emit(text.replace("\n\n", " "))
        if self.show_dialogs:
            QMessageBox.warning(self.window, TITLE, text)
