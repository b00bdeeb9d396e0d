"""The end of a run in the Training panel: the new version against the active one, by nodule
size, on the validation cases and on the reader's accepted nodules; Activate or Keep."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from .model_compare import BandRow, Comparison, band_table
from .retrain_state import VersionScore


def _dice(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.horizontalHeader().setStretchLastSection(True)
    return table


def fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))
    table.resizeColumnsToContents()
    rows_height = sum(table.rowHeight(r) for r in range(table.rowCount()))
    table.setFixedHeight(table.horizontalHeader().height() + rows_height + 2 * table.frameWidth() + 2)


def band_rows(rows: list[BandRow], held_out: bool) -> list[list[str]]:
    return [[r.band, str(r.n), *([str(r.held_out)] if held_out else []), _dice(r.active), _dice(r.new)]
            for r in rows]


def version_rows(scores: list[VersionScore], active: str) -> list[list[str]]:
    return [[s.version + (" (active)" if s.version == active else ""), str(s.n), _dice(s.mean),
             _dice(s.recent_mean)] for s in scores]


class ComparisonView(QWidget):
    """Shows a ``Comparison``; Activate and Keep say what the reader decided."""

    activateRequested = Signal(str)
    kept = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.version = ""
        self.title = QLabel(wordWrap=True)
        self.validation = _table(["size", "nodules", "active Dice", "new Dice"])
        self.mine = _table(["size", "nodules", "not trained on", "active Dice", "new Dice"])
        self.note = QLabel(wordWrap=True)
        self.activate_button, self.keep_button = QPushButton("Activate"), QPushButton("Keep")
        self.activate_button.setToolTip("make the new version the one the next click uses "
                                        "(the registry's gate applies)")
        self.keep_button.setToolTip("keep the new version registered but leave the active model")
        self.activate_button.clicked.connect(lambda: self.activateRequested.emit(self.version))
        self.keep_button.clicked.connect(self._keep)
        buttons = QHBoxLayout()
        buttons.addWidget(self.activate_button)
        buttons.addWidget(self.keep_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(QLabel("Fixed validation cases (engine patches):"))
        layout.addWidget(self.validation)
        layout.addWidget(QLabel("Your accepted nodules (segmented again from the seed):"))
        layout.addWidget(self.mine)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        self.hide()

    def show_pending(self, version: str, text: str) -> None:
        self.version = version
        self.title.setText(text)
        fill(self.validation, [])
        fill(self.mine, [])
        self.note.clear()
        self.set_decided(False)
        self.show()

    def show_comparison(self, comparison: Comparison) -> None:
        self.version = comparison.new_version
        self.title.setText(f"<b>{comparison.new_version}</b> (new) against <b>{comparison.active_version}</b> "
                           f"(active): mean Dice per nodule size")
        fill(self.validation, band_rows(band_table(comparison.validation), held_out=False))
        fill(self.mine, band_rows(band_table(comparison.mine), held_out=True))
        notes = []
        if comparison.validation_note:
            notes.append(f"Validation: the active model is not scored: {comparison.validation_note}.")
        if not comparison.mine:
            notes.append("No accepted nodules with a seed to compare on yet.")
        elif any(not s.held_out for s in comparison.mine):
            notes.append("Nodules the new version trained on favour it; 'not trained on' counts the others.")
        self.note.setText(" ".join(notes))
        self.set_decided(False)
        self.show()

    def set_decided(self, decided: bool) -> None:
        self.activate_button.setEnabled(not decided)
        self.keep_button.setEnabled(not decided)

    def _keep(self) -> None:
        self.set_decided(True)
        self.kept.emit(self.version)
