"""Widgets both ways (offscreen): a state change redraws them; user input changes the state."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from noduleseg.app.assist import MeasurementCache
from noduleseg.app.masks import MaskCrop
from noduleseg.app.nodule_table import FLAG_COLUMN, NAME_COLUMN, NoduleTable
from noduleseg.app.qt_state import QtState
from noduleseg.app.slice_bar import SliceBar
from noduleseg.app.slice_view import SliceView
from noduleseg.app.state import Status, Tool, ViewerState
from noduleseg.app.tool_panel import ToolPanel
from noduleseg.core.windowing import BONE, LUNG


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NODULESEG_HOME", str(tmp_path / "home"))


@pytest.fixture
def qstate(qtbot, sphere_volume):
    state = ViewerState()
    state.set_volume(sphere_volume, "synthetic")
    return QtState(state)


@pytest.fixture
def view(qtbot, qstate):
    view = SliceView(qstate, MeasurementCache())
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    qtbot.waitExposed(view)
    view.viewbox.autoRange(padding=0)
    return view


def viewport_pos(view: SliceView, i: float, j: float) -> QPoint:
    scene = view.viewbox.mapViewToScene(QPointF(i, j))
    return view.canvas.mapFromScene(scene)


def send_mouse(view, kind, pos, button, buttons, modifiers=Qt.KeyboardModifier.NoModifier):
    viewport = view.canvas.viewport()
    event = QMouseEvent(kind, QPointF(pos), QPointF(viewport.mapToGlobal(pos)), button, buttons, modifiers)
    QApplication.sendEvent(viewport, event)


def drag(view, points, button=Qt.MouseButton.LeftButton):
    send_mouse(view, QEvent.Type.MouseButtonPress, points[0], button, button)
    for pos in points[1:]:
        QTest.qWait(20)  # pyqtgraph drops mouse moves closer than its rate limit
        send_mouse(view, QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, button)
    send_mouse(view, QEvent.Type.MouseButtonRelease, points[-1], button, Qt.MouseButton.NoButton)


def wheel(view, pos, steps, modifiers=Qt.KeyboardModifier.NoModifier):
    viewport = view.canvas.viewport()
    event = QWheelEvent(QPointF(pos), QPointF(viewport.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, event)


def test_slice_bar_both_ways(qtbot, qstate):
    bar = SliceBar(qstate)
    qtbot.addWidget(bar)
    assert bar.slider.maximum() == 31 and bar.slider.value() == 16
    qstate.state.set_slice(5)
    assert bar.slider.value() == 5 and bar.number.value() == 5
    bar.slider.setValue(20)
    assert qstate.state.slice_k == 20 and bar.number.value() == 20
    bar.number.setValue(3)
    assert qstate.state.slice_k == 3


def test_view_draws_slice_window_and_overlay(view, qstate, sphere_volume):
    state = qstate.state
    assert np.array_equal(view.ct_item.image, sphere_volume.hu[16])
    state.set_slice(2)
    assert np.array_equal(view.ct_item.image, sphere_volume.hu[2])
    state.set_window(BONE)
    assert tuple(view.ct_item.levels) == (BONE.low, BONE.high)
    nodule_id = state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16))
    assert view.mask_item.image.max() == 0  # slice 2 has no nodule
    state.set_slice(16)
    plane = view.mask_item.image
    assert plane[32, 30] > 0 and plane[0, 0] == 0
    state.set_overlay(outline=True)
    assert view.mask_item.image[32, 30] == 0 and view.mask_item.image[32, 25] > 0
    state.select(None)
    assert view.mask_item.image[32, 25] == nodule_id  # unselected colour slot
    assert view.letters["left"].text() == "R" and view.letters["bottom"].text() == "P"


def test_axis_lines_are_drawn_on_their_slice_only(qtbot, view, qstate, sphere_volume):
    state = qstate.state
    state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 16))
    measured = view.measurements.get(state.records()[0].mask, sphere_volume)
    state.set_slice(measured.axis_slice_k)
    qtbot.waitUntil(lambda: view.long_axis.xData is not None and len(view.long_axis.xData) == 2)
    spacing_x, spacing_y = sphere_volume.spacing[:2]
    for item, length_mm in ((view.long_axis, measured.long_axis_mm), (view.short_axis, measured.short_axis_mm)):
        dx, dy = np.diff(item.xData)[0] * spacing_x, np.diff(item.yData)[0] * spacing_y
        assert np.hypot(dx, dy) == pytest.approx(length_mm)
        assert abs(np.mean(item.xData) - 30.5) < 1 and abs(np.mean(item.yData) - 32.5) < 1  # on the sphere
    state.set_slice(measured.axis_slice_k + 2)
    assert len(view.long_axis.xData) == 0 and len(view.short_axis.xData) == 0


def test_click_emits_the_seed_voxel(qtbot, view):
    with qtbot.waitSignal(view.seedClicked, timeout=2000) as seen:
        qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=viewport_pos(view, 30.5, 32.5))
    assert seen.args[0] == (30, 32, 16)


def test_brush_drag_paints_and_eraser_drag_erases(qtbot, view, qstate):
    state = qstate.state
    state.set_tool(Tool.BRUSH)
    state.set_brush_radius(2)
    drag(view, [viewport_pos(view, x, 10.5) for x in (10.5, 20.5, 30.5, 40.5)])
    (record,) = state.records()
    full = record.mask.full(state.volume.shape_zyx)
    assert full[16, 10, 10:41].all() and record.status is Status.EDITED
    assert view.mask_item.image[10, 25] > 0
    state.set_tool(Tool.ERASER)
    drag(view, [viewport_pos(view, x, 10.5) for x in (18.5, 24.5, 30.5)])
    erased = state.nodules[record.nodule_id].mask.full(state.volume.shape_zyx)
    assert not erased[16, 10, 20:29].any() and erased[16, 10, 12]
    assert [e.what for e in state.history.done] == ["brush", "erase"]


def test_wheel_moves_slices_and_shift_wheel_sets_radius(view, qstate):
    center = viewport_pos(view, 32, 32)
    wheel(view, center, 1)
    assert qstate.state.slice_k == 17
    wheel(view, center, -2)
    assert qstate.state.slice_k == 16  # one event, one slice, whatever the distance
    radius = qstate.state.brush_radius
    wheel(view, center, 1, Qt.KeyboardModifier.ShiftModifier)
    assert qstate.state.brush_radius == radius + 1


def test_right_drag_sets_window_level(view, qstate):
    start = qstate.state.window
    a, b = viewport_pos(view, 20, 20), viewport_pos(view, 20, 20) + QPoint(60, -40)
    drag(view, [a, a + QPoint(30, -20), b], Qt.MouseButton.RightButton)
    assert qstate.state.window.name == "custom"
    assert qstate.state.window.width > start.width and qstate.state.window.center > start.center


def test_table_both_ways(qtbot, qstate, sphere_volume):
    table = NoduleTable(qstate, MeasurementCache())
    qtbot.addWidget(table)
    state = qstate.state
    nodule_id = state.add_nodule(MaskCrop.from_full(sphere_volume.hu > 0), (30, 32, 12), "v1")
    assert table.rowCount() == 1 and table.item(0, 8).text() == "AI" and table.item(0, 2).text() == "11–21"
    volume_mm3 = float(np.count_nonzero(sphere_volume.hu > 0) * np.prod(sphere_volume.spacing))
    assert table.item(0, 5).text() == f"{volume_mm3:.0f}"
    # 11 voxels of 0.7 mm across; every voxel 40 HU, all solid
    assert 7.7 <= float(table.item(0, 3).text()) <= 8.2 and float(table.item(0, 4).text()) >= 7.0
    assert table.item(0, 6).text() == "40" and table.item(0, 7).text() == "100"
    assert table.item(0, FLAG_COLUMN).text() == "" and table.item(0, FLAG_COLUMN).toolTip() == ""
    state.select(None)
    state.set_slice(0)
    table.selectRow(0)
    assert state.selected == nodule_id and state.slice_k == 16  # jumped to the central slice
    table.item(0, NAME_COLUMN).setText("right upper")
    assert state.nodules[nodule_id].name == "right upper"
    state.delete_nodule(nodule_id)
    assert table.rowCount() == 0


def test_table_flags_an_outline_in_pieces_or_with_a_hole(qtbot, qstate, sphere_volume):
    table = NoduleTable(qstate, MeasurementCache())
    qtbot.addWidget(table)
    state = qstate.state
    mask = sphere_volume.hu > 0
    mask[16, 32, 28] = False  # a hole inside the sphere
    mask[16, 31:34, 44:47] = True  # a speck apart from it, on the sphere's widest slice
    nodule_id = state.add_nodule(MaskCrop.from_full(mask), (30, 32, 16), "v1")
    flag = table.item(0, FLAG_COLUMN)
    assert flag.text() == "!" and flag.toolTip().startswith("Outline: 2 pieces, hole.")
    assert "slice 16" in flag.toolTip()
    assert float(table.item(0, 3).text()) <= 8.2  # the sphere's 11 voxels of 0.7 mm, not up to the speck
    assert "hole" in table.horizontalHeaderItem(FLAG_COLUMN).toolTip()
    assert state.keep_connected(nodule_id)
    assert table.item(0, FLAG_COLUMN).toolTip().startswith("Outline: hole.")
    assert state.fill_holes(nodule_id)
    assert table.item(0, FLAG_COLUMN).text() == "" and table.item(0, FLAG_COLUMN).toolTip() == ""


def test_tool_panel_both_ways(qtbot, qstate):
    from PySide6.QtGui import QAction

    actions = {key: QAction(key) for key in ("fill", "connected", "accept", "delete")}
    panel = ToolPanel(qstate, actions)
    qtbot.addWidget(panel)
    state = qstate.state
    brush = next(b for b in panel.tool_buttons.buttons() if b.property("tool") == "brush")
    qtbot.mouseClick(brush, Qt.MouseButton.LeftButton)
    assert state.tool is Tool.BRUSH
    state.set_tool(Tool.ERASER)
    assert not brush.isChecked()
    state.set_window(BONE)
    assert panel.preset.currentText() == "bone"
    panel.preset.setCurrentIndex(0)
    panel.preset.activated.emit(0)
    assert state.window == LUNG
    panel.opacity.setValue(80)
    assert state.opacity == pytest.approx(0.8)
    state.set_brush_radius(9)
    assert panel.radius.value() == 9
