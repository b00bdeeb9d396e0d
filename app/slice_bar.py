"""Slice slider and number under the view, both bound to the state's slice."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget

from .qt_state import QtState


class SliceBar(QWidget):
    """A slider and a spin box for slice k (0-based, as in voxel indices)."""

    def __init__(self, qstate: QtState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.qstate = qstate
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows belong to the window
        self.number = QSpinBox()
        self.total = QLabel("/ -")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("slice k"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.number)
        layout.addWidget(self.total)
        self.slider.valueChanged.connect(qstate.state.set_slice)
        self.number.valueChanged.connect(qstate.state.set_slice)
        qstate.volumeChanged.connect(self._on_volume)
        qstate.sliceChanged.connect(self._show)
        self.setEnabled(False)
        if qstate.state.volume is not None:
            self._on_volume()

    def _on_volume(self) -> None:
        last = self.qstate.state.volume.shape_zyx[0] - 1
        for widget in (self.slider, self.number):
            with QSignalBlocker(widget):
                widget.setRange(0, last)
        self.total.setText(f"/ {last}")
        self.setEnabled(True)
        self._show(self.qstate.state.slice_k)

    def _show(self, k: int) -> None:
        for widget in (self.slider, self.number):
            with QSignalBlocker(widget):
                widget.setValue(k)
