"""The viewer state without Qt: slices, windows, nodules, brush strokes, statuses, undo/redo."""

from __future__ import annotations

import numpy as np
import pytest

from noduleseg.app.masks import MaskCrop
from noduleseg.app.state import HISTORY, NODULES, SLICE, Status, ViewerState
from noduleseg.core.windowing import MEDIASTINUM


@pytest.fixture
def state(sphere_volume):
    state = ViewerState()
    state.set_volume(sphere_volume, "synthetic")
    return state


@pytest.fixture
def events(state):
    seen = []
    state.add_listener(lambda event, detail: seen.append(event))
    return seen


def sphere_crop(volume):
    return MaskCrop.from_full(volume.hu > 0)


def test_slice_clamps_and_notifies(state, events):
    assert state.slice_k == 16
    state.set_slice(99)
    assert state.slice_k == 31 and events == [SLICE]
    state.step_slice(-40)
    assert state.slice_k == 0
    state.set_slice(0)
    assert events == [SLICE, SLICE]


def test_window_level_and_presets(state):
    state.set_window(MEDIASTINUM)
    assert state.window.center == 40
    state.set_window_level(-100, -5)
    assert state.window.name == "custom" and state.window.width == 1.0


def test_add_select_rename_delete_undo_redo(state, sphere_volume, events):
    nodule_id = state.add_nodule(sphere_crop(sphere_volume), (30, 32, 16), "v1")
    assert state.selected == nodule_id and state.nodules[nodule_id].status is Status.AI
    state.rename(nodule_id, "RUL")
    state.delete_nodule(nodule_id)
    assert nodule_id not in state.nodules and state.selected is None
    assert state.undo().what == "delete"
    assert state.nodules[nodule_id].name == "RUL"
    state.undo()
    assert state.nodules[nodule_id].label == f"nodule {nodule_id}"
    state.redo()
    assert state.nodules[nodule_id].name == "RUL"
    assert events.count(HISTORY) == 6 and NODULES in events


def test_brush_stroke_is_one_edit_and_marks_edited(state, sphere_volume):
    nodule_id = state.add_nodule(sphere_crop(sphere_volume), (30, 32, 16), "v1")
    before = state.nodules[nodule_id].mask
    state.set_brush_radius(2)
    assert state.begin_stroke(True, 16, (32, 40))
    state.stroke_to((32, 50))
    assert state.end_stroke()
    after = state.nodules[nodule_id]
    full = after.mask.full(sphere_volume.shape_zyx)
    assert full[16, 32, 40:51].all() and after.status is Status.EDITED
    assert after.mask.voxel_count > before.voxel_count
    state.undo()
    assert state.nodules[nodule_id].mask is before and state.nodules[nodule_id].status is Status.AI


def test_eraser_removes_voxels_and_undo_restores(state, sphere_volume):
    nodule_id = state.add_nodule(sphere_crop(sphere_volume), (30, 32, 16), "v1")
    count = state.nodules[nodule_id].mask.voxel_count
    state.set_brush_radius(3)
    state.begin_stroke(False, 16, (32, 30))
    state.end_stroke()
    erased = state.nodules[nodule_id].mask
    assert erased.voxel_count < count and not erased.full(sphere_volume.shape_zyx)[16, 32, 30]
    state.undo()
    assert state.nodules[nodule_id].mask.voxel_count == count
    state.redo()
    assert state.nodules[nodule_id].mask is erased


def test_stroke_outside_changes_nothing(state, sphere_volume):
    nodule_id = state.add_nodule(sphere_crop(sphere_volume), (30, 32, 16), "v1")
    state.begin_stroke(False, 2, (5, 5))
    assert not state.end_stroke()
    assert len(state.history.done) == 1 and state.nodules[nodule_id].status is Status.AI


def test_painting_without_selection_draws_a_new_nodule(state):
    state.set_brush_radius(2)
    assert not state.begin_stroke(False, 10, (20, 20))  # the eraser needs a nodule
    assert state.begin_stroke(True, 10, (20, 20))
    state.end_stroke()
    (record,) = state.records()
    assert record.status is Status.EDITED and record.model_version == ""
    assert record.seed_ijk == (20, 20, 10) and record.mask.slice_range() == (10, 10)
    state.undo()
    assert state.records() == [] and state.selected is None


def test_fill_holes_keep_connected_and_accept(state, sphere_volume):
    full = sphere_volume.hu > 0
    full[16, 32, 30] = False
    full[5, 5:8, 5:8] = True
    nodule_id = state.add_nodule(MaskCrop.from_full(full), (30, 32, 16), "v1")
    assert state.fill_holes(nodule_id)
    assert state.nodules[nodule_id].mask.contains_zyx((16, 32, 30))
    assert state.keep_connected(nodule_id)
    assert not state.nodules[nodule_id].mask.contains_zyx((5, 6, 6))
    assert not state.keep_connected(nodule_id)
    state.mark_accepted(nodule_id, "case1")
    assert state.nodules[nodule_id].status is Status.ACCEPTED
    assert [e.what for e in state.history.done] == ["add", "fill holes", "keep connected", "accept"]


def test_new_volume_clears_nodules(state, sphere_volume):
    state.add_nodule(sphere_crop(sphere_volume), (30, 32, 16))
    state.set_volume(sphere_volume.with_hu(np.zeros_like(sphere_volume.hu)))
    assert state.nodules == {} and not state.history.can_undo


def test_orientation_letters_follow_the_direction():
    from noduleseg.app.orientation import axial_edges

    assert axial_edges((1, 0, 0, 0, 1, 0, 0, 0, 1)) == {"left": "R", "right": "L", "top": "A", "bottom": "P"}
    flipped = axial_edges((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    assert flipped == {"left": "L", "right": "R", "top": "P", "bottom": "A"}
