"""Dialogs: series picker, keyboard shortcuts, about, model card."""

from __future__ import annotations

import json
import platform
from importlib import metadata, resources
from typing import Any

from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QPlainTextEdit,
                               QTableWidget, QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget)

SHORTCUTS = (
    ("Ctrl+O / Ctrl+Shift+O", "open a file / a DICOM folder (or drop one on the window)"),
    ("Up, Down / wheel", "next / previous slice"),
    ("Page Up, Page Down", "10 slices forward / back"),
    ("Ctrl+wheel, middle drag", "zoom, pan"),
    ("right drag", "window (left-right) and level (up-down)"),
    ("1 2 3 4", "window presets: lung, mediastinum, bone, soft tissue"),
    ("S / B / E", "tools: segment (click a nodule or drag a box), brush, eraser"),
    ("[ ] / Shift+wheel", "smaller / larger brush"),
    ("O", "overlay as outline / filled"),
    ("F / K", "fill holes / keep the part connected to the seed"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo the last edit"),
    ("Ctrl+Return", "accept the selected nodule (saves a training case)"),
    ("Delete", "delete the selected nodule"),
    ("Esc", "cancel a running segmentation"),
    ("Ctrl+E / Ctrl+Shift+E", "export labels / measurements"),
)


def _close_box(dialog: QDialog) -> QDialogButtonBox:
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    box.rejected.connect(dialog.reject)
    return box


def text_dialog(parent: QWidget | None, title: str, html: str) -> QDialog:
    dialog = QDialog(parent, windowTitle=title)
    browser = QTextBrowser(openExternalLinks=True)
    browser.setHtml(html)
    layout = QVBoxLayout(dialog)
    layout.addWidget(browser)
    layout.addWidget(_close_box(dialog))
    dialog.resize(560, 460)
    return dialog


def shortcuts_html() -> str:
    rows = "".join(f"<tr><td><b>{keys}</b></td><td>{what}</td></tr>" for keys, what in SHORTCUTS)
    return f"<table cellpadding=3>{rows}</table>"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def attribution_text() -> str:
    path = resources.files("noduleseg.assets") / "demo" / "ATTRIBUTION.md"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def about_html(card: dict[str, Any]) -> str:
    """Versions of NoduleSeg and its libraries, the active model, the data attribution."""
    packages = ("noduleseg", "PySide6-Essentials", "pyqtgraph", "numpy", "SimpleITK", "torch")
    versions = "".join(f"<tr><td>{p}</td><td>{_version(p)}</td></tr>" for p in packages)
    model = ", ".join(f"{k}: {card[k]}" for k in ("version", "created", "architecture") if k in card)
    attribution = attribution_text().replace("\n\n", "<br><br>")
    return (f"<h3>NoduleSeg</h3><p>Annotation assist for lung nodules in chest CT. "
            f"Python {platform.python_version()}.</p><table>{versions}</table>"
            f"<h4>Model</h4><p>{model or 'no model card found'}</p>"
            f"<h4>Data</h4><p>{attribution}</p>")


def card_dialog(parent: QWidget | None, card: dict[str, Any], folder: str) -> QDialog:
    dialog = QDialog(parent, windowTitle=f"Model card: {card.get('version', 'unversioned')}")
    text = QPlainTextEdit(readOnly=True)
    text.setPlainText(f"folder: {folder}\n\n" + (json.dumps(card, indent=2) if card else "no card.json"))
    layout = QVBoxLayout(dialog)
    layout.addWidget(text)
    layout.addWidget(_close_box(dialog))
    dialog.resize(560, 460)
    return dialog


class SeriesPicker(QDialog):
    """Pick one series of a folder that holds several (description, modality, slices)."""

    def __init__(self, series: list[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent, windowTitle="Choose a series")
        self.series = series
        self.table = QTableWidget(len(series), 4)
        self.table.setHorizontalHeaderLabels(("description", "modality", "slices", "series UID"))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for row, info in enumerate(series):
            cells = (info.description, info.modality, str(info.n_slices), info.series_uid)
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(str(text)))
        self.table.selectRow(0)
        self.table.resizeColumnsToContents()
        self.table.doubleClicked.connect(self.accept)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(620, 300)

    def chosen_uid(self) -> str | None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        return self.series[rows.pop()].series_uid if rows else None
