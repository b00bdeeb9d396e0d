"""The side panel: tool, brush radius, window preset, overlay style, nodule actions, notes."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QFormLayout, QGridLayout,
                               QGroupBox, QLabel, QLineEdit, QPushButton, QSizePolicy, QSlider, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from noduleseg.core.windowing import DISPLAY_PRESETS

from .qt_state import QtState
from .state import BRUSH_RADIUS_RANGE, Tool

TOOL_LABELS = {Tool.SEGMENT: "Segment (S)", Tool.BRUSH: "Brush (B)", Tool.ERASER: "Eraser (E)"}
CUSTOM = "custom"


class ToolPanel(QWidget):
    """Controls bound both ways to the state.

    Args:
        qstate: The state and its signals.
        actions: Nodule actions shown as buttons ("fill", "connected", "accept", "delete").
    """

    def __init__(self, qstate: QtState, actions: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.qstate = qstate
        state = qstate.state
        self.tool_buttons = QButtonGroup(self)
        tools = QGroupBox("Tool")
        tools_layout = QVBoxLayout(tools)
        for tool, text in TOOL_LABELS.items():
            button = QPushButton(text, checkable=True)
            button.setProperty("tool", tool.value)
            self.tool_buttons.addButton(button)
            tools_layout.addWidget(button)
        self.radius = QSpinBox(minimum=BRUSH_RADIUS_RANGE[0], maximum=BRUSH_RADIUS_RANGE[1], suffix=" px")
        form = QFormLayout()
        form.addRow("Brush radius ([ ])", self.radius)
        tools_layout.addLayout(form)

        display = QGroupBox("Display")
        display_form = QFormLayout(display)
        self.preset = QComboBox()
        self.preset.addItems([w.name for w in DISPLAY_PRESETS] + [CUSTOM])
        self.level_label = QLabel()
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.outline = QCheckBox("Outline only (O)")
        display_form.addRow("Window", self.preset)
        display_form.addRow("", self.level_label)
        display_form.addRow("Overlay opacity", self.opacity)
        display_form.addRow("", self.outline)

        nodule = QGroupBox("Nodule")
        grid = QGridLayout(nodule)
        for index, key in enumerate(("fill", "connected", "accept", "delete")):
            button = QToolButton()
            button.setDefaultAction(actions[key])
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            grid.addWidget(button, index // 2, index % 2)
        self.notes = QLineEdit(placeholderText="notes on the selected nodule")
        grid.addWidget(self.notes, 2, 0, 1, 2)

        layout = QVBoxLayout(self)
        for box in (tools, display, nodule):
            layout.addWidget(box)
        layout.addStretch(1)

        self.tool_buttons.buttonClicked.connect(lambda b: state.set_tool(Tool(b.property("tool"))))
        self.radius.valueChanged.connect(state.set_brush_radius)
        self.preset.activated.connect(self._choose_preset)
        self.opacity.valueChanged.connect(lambda v: state.set_overlay(opacity=v / 100))
        self.outline.toggled.connect(lambda on: state.set_overlay(outline=on))
        self.notes.editingFinished.connect(self._save_notes)
        qstate.toolChanged.connect(self._show_tool)
        qstate.windowChanged.connect(self._show_window)
        qstate.overlayChanged.connect(self._show_overlay)
        qstate.selectionChanged.connect(self._show_notes)
        qstate.nodulesChanged.connect(self._show_notes)
        self._show_tool()
        self._show_window()
        self._show_overlay()
        self._show_notes()

    def _choose_preset(self, index: int) -> None:
        if index < len(DISPLAY_PRESETS):
            self.qstate.state.set_window(DISPLAY_PRESETS[index])

    def _save_notes(self) -> None:
        state = self.qstate.state
        if state.selected is not None:
            state.set_notes(state.selected, self.notes.text())

    def _show_tool(self) -> None:
        state = self.qstate.state
        for button in self.tool_buttons.buttons():
            with QSignalBlocker(button):
                button.setChecked(button.property("tool") == state.tool.value)
        with QSignalBlocker(self.radius):
            self.radius.setValue(state.brush_radius)

    def _show_window(self) -> None:
        window = self.qstate.state.window
        names = [w.name for w in DISPLAY_PRESETS]
        with QSignalBlocker(self.preset):
            self.preset.setCurrentIndex(names.index(window.name) if window in DISPLAY_PRESETS else len(names))
        self.level_label.setText(f"level {window.center:.0f} / width {window.width:.0f} HU")

    def _show_overlay(self) -> None:
        state = self.qstate.state
        with QSignalBlocker(self.opacity):
            self.opacity.setValue(round(state.opacity * 100))
        with QSignalBlocker(self.outline):
            self.outline.setChecked(state.outline)

    def _show_notes(self, *_: object) -> None:
        state = self.qstate.state
        record = state.nodules.get(state.selected) if state.selected is not None else None
        self.notes.setEnabled(record is not None)
        if not self.notes.hasFocus():
            self.notes.setText("" if record is None else record.notes)
