"""File > Import seeds: a seed table (``core.seeds``) for the open scan becomes AI nodules.

The table is read and placed in the scan here (small, quick); the rows are segmented in the
Assistant's worker, and every row that failed (unreadable, outside the scan, no nodule found) is
named by its line in one message.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMessageBox

from noduleseg.core.errors import NodulesegError
from noduleseg.core.seeds import read_seed_table

if TYPE_CHECKING:
    from .window import MainWindow

SEED_FILTER = "Seed tables (*.csv *.tsv *.txt);;All files (*)"


def choose_and_import(window: "MainWindow") -> None:
    """Ask for a seed table, then ``import_seeds``."""
    if window.state.volume is None:
        return
    name, _ = QFileDialog.getOpenFileName(window, "Import seeds", window.settings.last_dir(), SEED_FILTER)
    if name:
        window.settings.set_last_dir(str(Path(name).parent))
        import_seeds(window, Path(name))


def import_seeds(window: "MainWindow", path: Path) -> bool:
    """Segment each row of ``path`` in the open scan (world x, y, z as the table says, else LPS).

    Returns:
        Whether segmentation started (False: no scan, busy, or no row to segment; said why).
    """
    state, assistant = window.state, window.assistant
    if state.volume is None:
        return False
    try:
        table = read_seed_table(path, state.volume, source=state.source or None)
    except NodulesegError as error:
        if assistant.show_dialogs:
            QMessageBox.critical(window, "Import seeds", str(error))
        assistant.failed.emit(str(error))
        return False
    if not table.rows:
        assistant.finish_import([], [str(failure) for failure in table.failures])
        return False
    return assistant.segment_table(table, path.name)
