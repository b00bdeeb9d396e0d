"""Undo and redo: a bounded stack of edits, each a nodule's record before and after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_LIMIT = 200


@dataclass(frozen=True)
class Edit:
    """One undoable change to one nodule.

    Attributes:
        nodule_id: The nodule changed.
        before: Its record before (None: the edit created it).
        after: Its record after (None: the edit deleted it).
        what: A few words for menus ("brush", "delete", ...).
    """

    nodule_id: int
    before: Any
    after: Any
    what: str


class History:
    """Edits done (undo stack) and undone (redo stack); a new edit clears the redo stack."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.done: list[Edit] = []
        self.undone: list[Edit] = []

    def clear(self) -> None:
        self.done.clear()
        self.undone.clear()

    def push(self, edit: Edit) -> None:
        self.done.append(edit)
        del self.done[:-self.limit]
        self.undone.clear()

    def undo(self) -> Edit | None:
        if not self.done:
            return None
        edit = self.done.pop()
        self.undone.append(edit)
        return edit

    def redo(self) -> Edit | None:
        if not self.undone:
            return None
        edit = self.undone.pop()
        self.done.append(edit)
        return edit

    @property
    def can_undo(self) -> bool:
        return bool(self.done)

    @property
    def can_redo(self) -> bool:
        return bool(self.undone)
