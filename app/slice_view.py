"""The axial view: CT slice, nodule overlay, axis lines, orientation letters, mouse tools.

Mouse: left click segments (Segment tool) or dabs (Brush/Eraser); left drag draws a box to
segment in, or paints; right drag sets window (horizontal) and level (vertical); middle drag
pans; wheel moves through slices, Ctrl+wheel zooms, Shift+wheel sets the brush radius.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsRectItem, QLabel, QVBoxLayout, QWidget

from noduleseg.core.label_map import build as build_label_map

from .assist import MeasurementCache
from .orientation import axial_edges
from .qt_state import QtState
from .state import Tool

PALETTE = ((255, 80, 80), (80, 200, 255), (255, 210, 60), (120, 255, 120), (230, 120, 255),
           (255, 150, 60), (60, 255, 210), (255, 110, 180), (170, 170, 255), (200, 255, 90))
SELECTED_OFFSET = 100  # overlay index of a selected nodule = its colour slot + this


def overlay_lut(opacity: float) -> np.ndarray:
    """256 RGBA entries: 0 clear, 1..10 nodule colours, 101..110 the same, selected (stronger)."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    for slot, rgb in enumerate(PALETTE, start=1):
        lut[slot] = (*rgb, round(255 * opacity))
        lut[slot + SELECTED_OFFSET] = (*rgb, round(255 * min(1.0, opacity + 0.25)))
    return lut


def outline_only(plane: np.ndarray) -> np.ndarray:
    """Keep the pixels of each label that touch another value (4-neighbourhood)."""
    padded = np.pad(plane, 1, mode="edge")
    interior = ((padded[:-2, 1:-1] == plane) & (padded[2:, 1:-1] == plane)
                & (padded[1:-1, :-2] == plane) & (padded[1:-1, 2:] == plane))
    return np.where(interior, 0, plane).astype(np.uint8)


class SliceViewBox(pg.ViewBox):
    """A ViewBox whose mouse gestures are the viewer's, handed to ``SliceView``."""

    def __init__(self, view: "SliceView") -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self._view = view

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._view.left_click(self.mapSceneToView(ev.scenePos()))
        else:
            ev.accept()

    def mouseDragEvent(self, ev, axis=None) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._view.left_drag(ev, self.mapSceneToView(ev.scenePos()))
        elif ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            self._view.right_drag(ev)
        else:
            super().mouseDragEvent(ev, axis)

    def wheelEvent(self, ev, axis=None) -> None:
        modifiers = ev.modifiers()
        steps = 1 if ev.delta() > 0 else -1
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            super().wheelEvent(ev, axis)
        elif modifiers & Qt.KeyboardModifier.ShiftModifier:
            ev.accept()
            self._view.qstate.state.set_brush_radius(self._view.qstate.state.brush_radius + steps)
        else:
            ev.accept()
            self._view.qstate.state.step_slice(steps)  # wheel up = next slice, like Up


class SliceView(QWidget):
    """Draws the state's current slice and turns mouse gestures into state changes.

    Args:
        qstate: The state and its signals.
        measurements: Shared measurement cache (for the long/short axis lines).
    """

    seedClicked = Signal(object)  # (i, j, k)
    boxDragged = Signal(object)  # (i0, j0, i1, j1, k)
    cursorMoved = Signal(object)  # dict(ijk, world, hu) or None

    def __init__(self, qstate: QtState, measurements: MeasurementCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.qstate, self.measurements = qstate, measurements
        self.canvas = pg.GraphicsView()
        self.canvas.setBackground("k")
        self.viewbox = SliceViewBox(self)
        self.canvas.setCentralItem(self.viewbox)
        self.ct_item = pg.ImageItem(axisOrder="row-major")
        self.mask_item = pg.ImageItem(axisOrder="row-major")
        self.mask_item.setLookupTable(overlay_lut(qstate.state.opacity))
        self.long_axis = pg.PlotCurveItem(pen=pg.mkPen((255, 255, 0), width=2))
        self.short_axis = pg.PlotCurveItem(pen=pg.mkPen((0, 255, 255), width=2))
        self.box_item = QGraphicsRectItem()
        self.box_item.setPen(pg.mkPen((255, 255, 0), width=1, style=Qt.PenStyle.DashLine))
        self.brush_item = QGraphicsEllipseItem()
        self.brush_item.setPen(QPen(Qt.GlobalColor.white, 0))
        for item in (self.ct_item, self.mask_item, self.long_axis, self.short_axis, self.box_item,
                     self.brush_item):
            self.viewbox.addItem(item)
        self.box_item.hide()
        self.brush_item.hide()
        self.letters = {edge: self._letter() for edge in ("left", "right", "top", "bottom")}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self._drag_window = None
        self._axes_timer = QTimer(self, singleShot=True, interval=120, timeout=self.draw_axes)
        self.canvas.scene().sigMouseMoved.connect(self._hover)
        qstate.volumeChanged.connect(self._on_volume)
        qstate.sliceChanged.connect(self.redraw)
        qstate.windowChanged.connect(self.draw_ct)
        qstate.nodulesChanged.connect(self._on_nodules)
        qstate.selectionChanged.connect(self._on_nodules)
        qstate.overlayChanged.connect(self._on_overlay)
        qstate.toolChanged.connect(self._update_brush_item)
        if qstate.state.volume is not None:
            self._on_volume()

    def _letter(self) -> QLabel:
        label = QLabel(self.canvas)
        label.setStyleSheet("color: #ffd24a; font-weight: bold; background: transparent;")
        label.hide()
        return label

    # drawing -----------------------------------------------------------------------------
    def _on_volume(self) -> None:
        volume = self.qstate.state.volume
        sx, sy, _ = volume.spacing
        self.viewbox.setAspectLocked(True, ratio=sx / sy)
        for edge, letter in axial_edges(volume.direction).items():
            self.letters[edge].setText(letter)
            self.letters[edge].show()
        self._place_letters()
        self.redraw()
        self.viewbox.autoRange(padding=0.02)

    def redraw(self, *_: object) -> None:
        self.draw_ct()
        self.draw_mask()
        self.draw_axes()

    def draw_ct(self) -> None:
        state = self.qstate.state
        if state.volume is None:
            return
        levels = (state.window.low, state.window.high)
        self.ct_item.setImage(state.volume.hu[state.slice_k], levels=levels, autoLevels=False)

    def overlay_plane(self) -> np.ndarray:
        """The uint8 overlay indices of the current slice (colour slot per nodule)."""
        state = self.qstate.state
        crops = [((r.nodule_id - 1) % len(PALETTE) + 1 + (SELECTED_OFFSET if r.nodule_id == state.selected else 0),
                  r.mask) for r in state.records()]
        plane = build_label_map(crops, state.volume.shape_zyx, k=state.slice_k)
        return outline_only(plane) if state.outline else plane

    def draw_mask(self) -> None:
        if self.qstate.state.volume is None:
            return
        self.mask_item.setImage(self.overlay_plane(), levels=(0, 255), autoLevels=False)

    def draw_axes(self) -> None:
        """Long (yellow) and short (cyan) axis of the selected nodule, on its axis slice."""
        state = self.qstate.state
        record = state.nodules.get(state.selected) if state.selected is not None else None
        found = None if record is None else self.measurements.get(record.mask, state.volume)
        for item, ends in ((self.long_axis, "long_axis_ends_ijk"), (self.short_axis, "short_axis_ends_ijk")):
            if found is None or int(found.axis_slice_k) != state.slice_k:
                item.setData([], [])
                continue
            (i0, j0, _), (i1, j1, _) = getattr(found, ends)
            item.setData([i0 + 0.5, i1 + 0.5], [j0 + 0.5, j1 + 0.5])

    def _on_nodules(self, *_: object) -> None:
        self.draw_mask()
        self._axes_timer.start()

    def _on_overlay(self) -> None:
        self.mask_item.setLookupTable(overlay_lut(self.qstate.state.opacity))
        self.draw_mask()

    # mouse -------------------------------------------------------------------------------
    def voxel_at(self, point: QPointF) -> tuple[int, int, int] | None:
        state = self.qstate.state
        if state.volume is None:
            return None
        ijk = (int(np.floor(point.x())), int(np.floor(point.y())), state.slice_k)
        return ijk if state.volume.contains_index(ijk) else None

    def left_click(self, point: QPointF) -> None:
        state = self.qstate.state
        if state.tool is Tool.SEGMENT:
            if (ijk := self.voxel_at(point)) is not None:
                self.seedClicked.emit(ijk)
        elif state.begin_stroke(state.tool is Tool.BRUSH, state.slice_k, (point.y() - 0.5, point.x() - 0.5)):
            state.end_stroke()

    def left_drag(self, ev, point: QPointF) -> None:
        state = self.qstate.state
        if state.volume is None:
            return
        if state.tool is Tool.SEGMENT:
            self._box_drag(ev, point)
            return
        ji = (point.y() - 0.5, point.x() - 0.5)
        if ev.isStart():  # the drag is recognised after some movement: start where pressed
            down = self.viewbox.mapSceneToView(ev.buttonDownScenePos())
            state.begin_stroke(state.tool is Tool.BRUSH, state.slice_k, (down.y() - 0.5, down.x() - 0.5))
        state.stroke_to(ji)
        self._move_brush_item(point)
        if ev.isFinish():
            state.end_stroke()

    def _box_drag(self, ev, point: QPointF) -> None:
        start = self.viewbox.mapSceneToView(ev.buttonDownScenePos())
        rect = QRectF(start, point).normalized()
        self.box_item.setRect(rect)
        self.box_item.setVisible(not ev.isFinish())
        if ev.isFinish() and rect.width() >= 3 and rect.height() >= 3:
            shape = self.qstate.state.volume.shape_zyx
            i0, j0 = max(int(rect.left()), 0), max(int(rect.top()), 0)
            i1, j1 = min(int(np.ceil(rect.right())), shape[2]), min(int(np.ceil(rect.bottom())), shape[1])
            if i1 > i0 and j1 > j0:
                self.boxDragged.emit((i0, j0, i1, j1, self.qstate.state.slice_k))

    def right_drag(self, ev) -> None:
        """Window/level like ITK-SNAP: right/left widens/narrows, up/down raises/lowers the level."""
        state = self.qstate.state
        if ev.isStart() or self._drag_window is None:
            self._drag_window = state.window
        start = self._drag_window
        delta = ev.screenPos() - ev.buttonDownScreenPos()
        per_pixel = max(start.width, 50.0) / 300.0
        state.set_window_level(start.center - delta.y() * per_pixel, start.width + delta.x() * per_pixel)
        if ev.isFinish():
            self._drag_window = None

    def _hover(self, scene_pos: QPointF) -> None:
        point = self.viewbox.mapSceneToView(scene_pos)
        self._move_brush_item(point)
        state, ijk = self.qstate.state, self.voxel_at(point)
        if ijk is None:
            self.cursorMoved.emit(None)
            return
        world = state.volume.index_to_world(ijk)
        hu = int(state.volume.hu[ijk[2], ijk[1], ijk[0]])
        self.cursorMoved.emit({"ijk": ijk, "world": tuple(float(v) for v in world), "hu": hu})

    def _move_brush_item(self, point: QPointF) -> None:
        radius = self.qstate.state.brush_radius + 0.5
        center = QPointF(np.floor(point.x()) + 0.5, np.floor(point.y()) + 0.5)
        self.brush_item.setRect(QRectF(center.x() - radius, center.y() - radius, 2 * radius, 2 * radius))
        self._update_brush_item()

    def _update_brush_item(self) -> None:
        self.brush_item.setVisible(self.qstate.state.tool in (Tool.BRUSH, Tool.ERASER))

    # layout ------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place_letters()

    def _place_letters(self) -> None:
        width, height = self.canvas.width(), self.canvas.height()
        for edge, label in self.letters.items():
            label.adjustSize()
            x = {"left": 6, "right": width - label.width() - 6}.get(edge, (width - label.width()) // 2)
            y = {"top": 6, "bottom": height - label.height() - 6}.get(edge, (height - label.height()) // 2)
            label.move(x, y)
