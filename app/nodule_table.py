"""The nodule list: one row per nodule with its measurements and status.

Selecting a row selects the nodule (and the window jumps to its central slice); the name cell
is editable (rename). Measurements are refreshed at most every 150 ms while a brush drags. The
narrow last column marks an outline to check (in several pieces, or with a hole); its tooltip
says what and how the axes were measured.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from noduleseg.core.measure import Measurements

from .assist import MeasurementCache
from .qt_state import QtState
from .state import NoduleRecord

COLUMNS = ("id", "name", "slices", "long mm", "short mm", "volume mm³", "mean HU", "solid %", "status", "!")
NAME_COLUMN = 1
FLAG_COLUMN = 9
FLAG_HEADER_TIP = "! marks an outline to check: in several pieces, or with a hole on a slice"


def flag_tip(measured: Measurements | None) -> str:
    """The flag cell's tooltip: what to check and how the axes were measured ('' if nothing)."""
    if measured is None or not measured.outline_flag:
        return ""
    tip = f"Outline: {measured.outline_flag}."
    if measured.pieces > 1:
        tip += (f" The axes lie within one piece on slice {measured.axis_slice_k}, never across "
                "a gap; the volume counts every piece. K keeps the piece at the seed.")
    if measured.holes:
        tip += " The axes span the hole, as RECIST measures across a cavity; F fills holes."
    return tip


def row_cells(record: NoduleRecord, measured: Measurements | None) -> list[str]:
    """The texts of one row; '–' where nothing is measured (an empty mask)."""
    span = record.mask.slice_range()
    slices = "–" if span is None else f"{span[0]}–{span[1]}"

    def value(name: str, fmt: str, scale: float = 1.0) -> str:
        return "–" if measured is None else format(getattr(measured, name) * scale, fmt)

    return [str(record.nodule_id), record.label, slices, value("long_axis_mm", ".1f"),
            value("short_axis_mm", ".1f"), value("volume_mm3", ".0f"), value("mean_hu", ".0f"),
            value("solid_fraction", ".0f", 100.0), record.status.value, "!" if flag_tip(measured) else ""]


class NoduleTable(QTableWidget):
    """Rows of nodules, bound both ways to the state's nodules and selection."""

    def __init__(self, qstate: QtState, measurements: MeasurementCache, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.qstate, self.measurements = qstate, measurements
        self.setHorizontalHeaderLabels(COLUMNS)
        self.horizontalHeaderItem(FLAG_COLUMN).setToolTip(FLAG_HEADER_TIP)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                             | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self._refresh_timer = QTimer(self, singleShot=True, interval=150, timeout=self.refresh)
        qstate.volumeChanged.connect(self.refresh)
        qstate.nodulesChanged.connect(self._on_nodules)
        qstate.selectionChanged.connect(self._show_selection)
        self.itemSelectionChanged.connect(self._select_in_state)
        self.itemChanged.connect(self._rename)
        self.refresh()

    def _on_nodules(self, *_: object) -> None:
        if self.qstate.state.stroking:
            if not self._refresh_timer.isActive():
                self._refresh_timer.start()
        else:
            self.refresh()

    def refresh(self) -> None:
        state = self.qstate.state
        records = state.records() if state.volume is not None else []
        with QSignalBlocker(self):
            self.setRowCount(len(records))
            for row, record in enumerate(records):
                measured = self.measurements.get(record.mask, state.volume)
                for column, text in enumerate(row_cells(record, measured)):
                    item = QTableWidgetItem(text)
                    item.setData(Qt.ItemDataRole.UserRole, record.nodule_id)
                    if column != NAME_COLUMN:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    if column == NAME_COLUMN and record.notes:
                        item.setToolTip(record.notes)
                    if column == FLAG_COLUMN:
                        item.setToolTip(flag_tip(measured))
                    self.setItem(row, column, item)
        self._show_selection(state.selected)

    def row_of(self, nodule_id: int | None) -> int | None:
        for row in range(self.rowCount()):
            if self.item(row, 0).data(Qt.ItemDataRole.UserRole) == nodule_id:
                return row
        return None

    def _show_selection(self, nodule_id: object) -> None:
        row = self.row_of(nodule_id)  # type: ignore[arg-type]
        with QSignalBlocker(self):
            self.clearSelection()
            if row is not None:
                self.selectRow(row)

    def _select_in_state(self) -> None:
        rows = {index.row() for index in self.selectedIndexes()}
        nodule_id = self.item(rows.pop(), 0).data(Qt.ItemDataRole.UserRole) if rows else None
        state = self.qstate.state
        state.select(nodule_id)
        if nodule_id is not None:
            state.set_slice(state.nodules[nodule_id].central_slice())

    def _rename(self, item: QTableWidgetItem) -> None:
        if item.column() == NAME_COLUMN:
            nodule_id = item.data(Qt.ItemDataRole.UserRole)
            self.qstate.state.rename(nodule_id, item.text().strip())
