"""The window's menus and shortcuts, built as data: (menu, key, text, shortcut, slot)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from noduleseg.core.errors import NodulesegError
from noduleseg.core.windowing import DISPLAY_PRESETS

from . import label_import, seed_import
from .dialogs import about_html, card_dialog, shortcuts_html, text_dialog
from .state import Tool

if TYPE_CHECKING:
    from .window import MainWindow

Key = QKeySequence.StandardKey


def _action(window: "MainWindow", text: str, slot, shortcut=None) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
    action.triggered.connect(lambda checked=False: slot())
    window.addAction(action)  # shortcuts work while the menu bar is hidden too
    return action


def _open_file(window: "MainWindow") -> None:
    name, _ = QFileDialog.getOpenFileName(window, "Open a CT file", window.settings.last_dir(),
                                          "CT (*.nii *.nii.gz *.mha *.mhd *.nrrd *.dcm);;All files (*)")
    if name:
        window.settings.set_last_dir(str(Path(name).parent))
        window.open_path(name)


def _open_folder(window: "MainWindow") -> None:
    folder = QFileDialog.getExistingDirectory(window, "Open a DICOM folder", window.settings.last_dir())
    if folder:
        window.settings.set_last_dir(folder)
        window.open_path(folder)


def build(window: "MainWindow") -> dict[str, QAction]:
    """Create the menu bar; return the actions other widgets show as buttons."""
    state, bar = window.state, window.menuBar()
    a: dict[str, QAction] = {}
    file_menu = bar.addMenu("&File")
    a["open_file"] = _action(window, "Open file...", partial(_open_file, window), Key.Open)
    a["open_folder"] = _action(window, "Open DICOM folder...", partial(_open_folder, window), "Ctrl+Shift+O")
    window.recent_menu = file_menu.addMenu("Open recent")
    a["export_labels"] = _action(window, "Export labels...", window.keeper.export_labels, "Ctrl+E")
    a["export_measurements"] = _action(window, "Export measurements...", window.keeper.export_measurements,
                                       "Ctrl+Shift+E")
    a["export_dicom"] = _action(window, "Export DICOM SEG + SR...", window.keeper.export_dicom)
    a["corrections"] = _action(window, "Corrections folder...", window.keeper.choose_corrections_dir)
    a["quit"] = _action(window, "Quit", window.close, Key.Quit)
    file_menu.addActions([a["open_file"], a["open_folder"]])
    file_menu.insertMenu(None, window.recent_menu)
    a["import_seeds"] = _action(window, "Import seeds...", partial(seed_import.choose_and_import, window))
    a["open_labels"] = _action(window, "Open labels...", partial(label_import.choose_and_open, window))
    file_menu.addActions([a["open_labels"], a["import_seeds"]])
    file_menu.addSeparator()
    file_menu.addActions([a["export_labels"], a["export_measurements"], a["export_dicom"], a["corrections"]])
    file_menu.addSeparator()
    file_menu.addAction(a["quit"])
    fill_recent(window)

    edit = bar.addMenu("&Edit")
    a["undo"] = _action(window, "Undo", state.undo, Key.Undo)
    a["redo"] = _action(window, "Redo", state.redo, [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    a["fill"] = _action(window, "Fill holes", partial(window.on_selected, "fill"), "F")
    a["connected"] = _action(window, "Keep connected", partial(window.on_selected, "connected"), "K")
    a["accept"] = _action(window, "Accept", window.keeper.accept_selected, "Ctrl+Return")
    a["delete"] = _action(window, "Delete", partial(window.on_selected, "delete"), Key.Delete)
    a["cancel"] = _action(window, "Cancel", window.assistant.cancel)
    a["cancel"].setToolTip("cancel the running segmentation (Esc)")
    edit.addActions([a["undo"], a["redo"]])
    edit.addSeparator()
    edit.addActions([a["fill"], a["connected"], a["accept"], a["delete"]])

    view = bar.addMenu("&View")
    for number, window_preset in enumerate(DISPLAY_PRESETS, start=1):
        view.addAction(_action(window, f"{window_preset.name} window", partial(state.set_window, window_preset),
                               str(number)))
    view.addSeparator()
    a["outline"] = _action(window, "Outline overlay", lambda: state.set_overlay(outline=not state.outline), "O")
    a["reset_zoom"] = _action(window, "Fit slice", lambda: window.view.viewbox.autoRange(padding=0.02), "Ctrl+0")
    moves = (("Next slice", 1, [Qt.Key.Key_Up]), ("Previous slice", -1, [Qt.Key.Key_Down]),
             ("10 slices forward", 10, [Qt.Key.Key_PageUp]), ("10 slices back", -10, [Qt.Key.Key_PageDown]))
    view.addActions([a["outline"], a["reset_zoom"]])
    view.addSeparator()
    for text, step, keys in moves:
        view.addAction(_action(window, text, partial(state.step_slice, step), [QKeySequence(k) for k in keys]))

    tools = bar.addMenu("&Tools")
    group = QActionGroup(window)
    for tool, key in ((Tool.SEGMENT, "S"), (Tool.BRUSH, "B"), (Tool.ERASER, "E")):
        a[tool.value] = _action(window, tool.value.capitalize(), partial(state.set_tool, tool), key)
        a[tool.value].setCheckable(True)
        group.addAction(a[tool.value])
        tools.addAction(a[tool.value])
    a[Tool.SEGMENT.value].setChecked(True)
    window.qstate.toolChanged.connect(lambda: a[state.tool.value].setChecked(True))
    tools.addSeparator()
    tools.addAction(_action(window, "Smaller brush", lambda: state.set_brush_radius(state.brush_radius - 1), "["))
    tools.addAction(_action(window, "Larger brush", lambda: state.set_brush_radius(state.brush_radius + 1), "]"))

    window.model_menu = bar.addMenu("&Model")
    window.model_menu.aboutToShow.connect(partial(fill_model_menu, window))
    fill_model_menu(window)

    help_menu = bar.addMenu("&Help")
    help_menu.addAction(_action(window, "Keyboard shortcuts",
                                lambda: text_dialog(window, "Keyboard shortcuts", shortcuts_html()).exec(),
                                Key.HelpContents))
    help_menu.addAction(_action(window, "About NoduleSeg",
                                lambda: text_dialog(window, "About NoduleSeg", about_html(window.service.card())).exec()))
    return a


def fill_recent(window: "MainWindow") -> None:
    window.recent_menu.clear()
    for path in window.settings.recent_files():
        window.recent_menu.addAction(path, partial(window.open_path, path))
    window.recent_menu.setEnabled(bool(window.settings.recent_files()))


def fill_model_menu(window: "MainWindow") -> None:
    """Active version and its card; the registered versions to switch to."""
    menu, service = window.model_menu, window.service
    menu.clear()
    active = service.version()
    menu.addAction(f"Active: {active}").setEnabled(False)
    menu.addAction("Model card...", lambda: card_dialog(window, service.card(), str(service.active_dir())).exec())
    versions, damaged = service.versions(), service.damaged_versions()
    switch = menu.addMenu("Switch to version")
    switch.setEnabled(bool(versions) or bool(damaged))
    shipped = switch.addAction("Shipped model", partial(_use_shipped, window))
    shipped.setCheckable(True)
    shipped.setChecked(service.using_shipped())
    switch.addSeparator()
    for version, _folder in versions:
        action = switch.addAction(version, partial(_switch_model, window, version))
        action.setCheckable(True)
        action.setChecked(version == active)
    for version, problem in damaged:
        action = next((a for a in switch.actions() if a.text() == version), None) or switch.addAction(version)
        action.setText(f"{version} (damaged)")
        action.setToolTip(problem)
        action.setEnabled(False)
    if problem := service.problem():
        menu.addAction("Active version unusable: shipped model used").setToolTip(problem)


def _use_shipped(window: "MainWindow") -> None:
    try:
        window.service.use_shipped()
    except NodulesegError as error:
        QMessageBox.critical(window, "Switch model", str(error))
        return
    window.report_model_problem()


def _switch_model(window: "MainWindow", version: str) -> None:
    try:
        window.service.activate(version)
    except NodulesegError as error:
        answer = QMessageBox.question(window, "Switch model", f"{error}\n\nActivate {version} anyway?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            window.service.activate(version, force=True)
        except NodulesegError as second:
            QMessageBox.critical(window, "Switch model", str(second))
            return
    window.report_model_problem()

