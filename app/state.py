"""The viewer's state, without Qt: the scan, the slice, the window, the nodules and their edits.

Widgets draw this object and send user input back to it; it tells its listeners what changed
with one of the event names below. Every change to a nodule is an ``Edit`` (its record before
and after), so undo and redo are one step per edit and the session file can replay them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from noduleseg.core.volume import Volume
from noduleseg.core.windowing import LUNG, Window

from .history import Edit, History
from .masks import MaskCrop, fill_holes, keep_connected, paint_disc, stroke_points, tight

VOLUME, SLICE, WINDOW, NODULES, SELECTION, TOOL, OVERLAY, HISTORY = (
    "volume", "slice", "window", "nodules", "selection", "tool", "overlay", "history")
Listener = Callable[[str, object], None]
BRUSH_RADIUS_RANGE = (1, 40)


class Status(str, Enum):
    """Where a nodule's outline came from."""

    AI = "AI"
    EDITED = "edited"
    ACCEPTED = "accepted"
    IMPORTED = "imported"  # read from a label map or DICOM SEG (someone else's outline)


class Tool(str, Enum):
    """What a left click or drag on the slice does."""

    SEGMENT = "segment"  # click: seed; drag: box
    BRUSH = "brush"
    ERASER = "eraser"


@dataclass(frozen=True, eq=False)
class NoduleRecord:
    """One nodule as the reader sees it.

    Attributes:
        nodule_id: Stable number (also its label value in exported label maps).
        mask: The current outline.
        seed_ijk: The voxel it was started from (ITK i, j, k).
        status: AI, edited or accepted.
        name: Shown in the list; "nodule <id>" until renamed.
        notes: Free text.
        model_version: Version of the model that made the first mask ("" when drawn by hand).
        first_mask: The model's own first mask (kept for provenance), or None.
        case_id: Training case written on accept ("" before).
    """

    nodule_id: int
    mask: MaskCrop
    seed_ijk: tuple[int, int, int]
    status: Status = Status.AI
    name: str = ""
    notes: str = ""
    model_version: str = ""
    first_mask: MaskCrop | None = None
    case_id: str = ""

    @property
    def seed_zyx(self) -> tuple[int, int, int]:
        return (self.seed_ijk[2], self.seed_ijk[1], self.seed_ijk[0])

    @property
    def label(self) -> str:
        return self.name or f"nodule {self.nodule_id}"

    def central_slice(self) -> int:
        """The middle of the slices the mask spans (the seed's slice for an empty mask)."""
        span = self.mask.slice_range()
        return self.seed_ijk[2] if span is None else (span[0] + span[1]) // 2


@dataclass
class _Stroke:
    nodule_id: int
    before: NoduleRecord | None
    value: bool
    k: int
    last_ji: tuple[float, float]


class ViewerState:
    """Everything the window shows; a plain object that calls listeners on change."""

    def __init__(self) -> None:
        self.volume: Volume | None = None
        self.source = ""
        self.series_uid: str | None = None
        self.slice_k = 0
        self.window: Window = LUNG
        self.nodules: dict[int, NoduleRecord] = {}
        self.selected: int | None = None
        self.tool = Tool.SEGMENT
        self.brush_radius = 4
        self.opacity = 0.45
        self.outline = False
        self.history = History()
        self.next_id = 1
        self._stroke: _Stroke | None = None
        self._listeners: list[Listener] = []

    # listeners ---------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener`` (no error when it is not registered)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, event: str, detail: object = None) -> None:
        for listener in list(self._listeners):
            listener(event, detail)

    # scan and view -----------------------------------------------------------------------
    def set_volume(self, volume: Volume, source: str = "", series_uid: str | None = None) -> None:
        """Show a new scan: nodules, selection and history start empty."""
        self.volume, self.source, self.series_uid = volume, source, series_uid
        self.nodules, self.selected, self.next_id = {}, None, 1
        self.history.clear()
        self._stroke = None
        self.slice_k = volume.shape_zyx[0] // 2
        self._emit(VOLUME)

    def set_slice(self, k: int) -> None:
        if self.volume is None:
            return
        k = int(np.clip(k, 0, self.volume.shape_zyx[0] - 1))
        if k != self.slice_k:
            self.slice_k = k
            self._emit(SLICE, k)

    def step_slice(self, delta: int) -> None:
        self.set_slice(self.slice_k + delta)

    def set_window(self, window: Window) -> None:
        if window != self.window:
            self.window = window
            self._emit(WINDOW, window)

    def set_window_level(self, center: float, width: float) -> None:
        """A hand-set window (right-drag); width stays at least 1 HU."""
        self.set_window(Window("custom", float(center), float(max(width, 1.0))))

    def set_tool(self, tool: Tool) -> None:
        if tool != self.tool:
            self.tool = Tool(tool)
            self._emit(TOOL, self.tool)

    def set_brush_radius(self, radius: int) -> None:
        radius = int(np.clip(radius, *BRUSH_RADIUS_RANGE))
        if radius != self.brush_radius:
            self.brush_radius = radius
            self._emit(TOOL, self.tool)

    def set_overlay(self, opacity: float | None = None, outline: bool | None = None) -> None:
        if opacity is not None:
            self.opacity = float(np.clip(opacity, 0.0, 1.0))
        if outline is not None:
            self.outline = bool(outline)
        self._emit(OVERLAY)

    def select(self, nodule_id: int | None) -> None:
        if nodule_id is not None and nodule_id not in self.nodules:
            raise KeyError(f"no nodule {nodule_id}")
        if nodule_id != self.selected:
            self.selected = nodule_id
            self._emit(SELECTION, nodule_id)

    def records(self) -> list[NoduleRecord]:
        """Nodules in id order."""
        return [self.nodules[n] for n in sorted(self.nodules)]

    # edits -------------------------------------------------------------------------------
    def _apply(self, nodule_id: int, record: NoduleRecord | None) -> None:
        if record is None:
            self.nodules.pop(nodule_id, None)
            if self.selected == nodule_id:
                self.selected = None
                self._emit(SELECTION, None)
        else:
            self.nodules[nodule_id] = record
        self._emit(NODULES, nodule_id)

    def _commit(self, edit: Edit) -> None:
        self._apply(edit.nodule_id, edit.after)
        self.history.push(edit)
        self._emit(HISTORY, edit)

    def _change(self, nodule_id: int, what: str, **fields: object) -> None:
        before = self.nodules[nodule_id]
        after = replace(before, **fields)
        self._commit(Edit(nodule_id, before, after, what))

    def add_nodule(self, mask: MaskCrop, seed_ijk: tuple[int, int, int], model_version: str = "",
                   status: Status = Status.AI, first_mask: MaskCrop | None = None, name: str = "",
                   notes: str = "") -> int:
        """Add a nodule (from the model, drawn by hand or imported), select it and return its id."""
        nodule_id = self.next_id
        self.next_id += 1
        record = NoduleRecord(nodule_id, mask, tuple(int(c) for c in seed_ijk), Status(status), name=name,
                              notes=notes, model_version=model_version, first_mask=first_mask)
        self._commit(Edit(nodule_id, None, record, "add"))
        self.select(nodule_id)
        return nodule_id

    def delete_nodule(self, nodule_id: int) -> None:
        self._commit(Edit(nodule_id, self.nodules[nodule_id], None, "delete"))

    def rename(self, nodule_id: int, name: str) -> None:
        if name != self.nodules[nodule_id].name:
            self._change(nodule_id, "rename", name=name)

    def set_notes(self, nodule_id: int, notes: str) -> None:
        if notes != self.nodules[nodule_id].notes:
            self._change(nodule_id, "notes", notes=notes)

    def mark_accepted(self, nodule_id: int, case_id: str) -> None:
        self._change(nodule_id, "accept", status=Status.ACCEPTED, case_id=case_id)

    def _edit_mask(self, nodule_id: int, what: str, mask: MaskCrop) -> bool:
        if mask is self.nodules[nodule_id].mask:
            return False
        self._change(nodule_id, what, mask=mask, status=Status.EDITED)
        return True

    def fill_holes(self, nodule_id: int) -> bool:
        """Close the mask's holes; False when there were none."""
        return self._edit_mask(nodule_id, "fill holes", fill_holes(self.nodules[nodule_id].mask))

    def keep_connected(self, nodule_id: int) -> bool:
        """Drop the parts not connected to the seed; False when there were none."""
        record = self.nodules[nodule_id]
        return self._edit_mask(nodule_id, "keep connected", keep_connected(record.mask, record.seed_zyx))

    # brush strokes: one press-drag-release is one edit ---------------------------------------
    def begin_stroke(self, paint: bool, k: int, ji: tuple[float, float]) -> bool:
        """Start a brush (paint=True) or eraser stroke on slice ``k`` at ``ji`` (row, column).

        Painting with no nodule selected starts a new hand-drawn nodule; erasing needs one.
        Returns whether a stroke started.
        """
        if self.volume is None or self._stroke is not None:
            return False
        if self.selected is None:
            if not paint:
                return False
            nodule_id = self.next_id
            self.next_id += 1
            seed = (int(round(ji[1])), int(round(ji[0])), int(k))
            empty = MaskCrop(np.zeros((0, 0, 0), dtype=bool), (0, 0, 0))
            self._apply(nodule_id, NoduleRecord(nodule_id, empty, seed, Status.EDITED))
            self._stroke = _Stroke(nodule_id, None, paint, k, ji)
            self.selected = nodule_id
            self._emit(SELECTION, nodule_id)
        else:
            self._stroke = _Stroke(self.selected, self.nodules[self.selected], paint, k, ji)
        self._dab([ji])
        return True

    def stroke_to(self, ji: tuple[float, float]) -> None:
        """Continue the stroke to ``ji``, dabbing along the way so fast drags leave no gap."""
        if self._stroke is not None:
            self._dab(stroke_points(self._stroke.last_ji, ji, self.brush_radius))
            self._stroke.last_ji = ji

    def _dab(self, points: list[tuple[float, float]]) -> None:
        stroke = self._stroke
        record = self.nodules[stroke.nodule_id]
        mask = record.mask
        for ji in points:
            mask = paint_disc(mask, stroke.k, ji, self.brush_radius, stroke.value, self.volume.shape_zyx)
        if mask is not record.mask:
            self.nodules[stroke.nodule_id] = replace(record, mask=mask)
            self._emit(NODULES, stroke.nodule_id)

    def end_stroke(self) -> bool:
        """Finish the stroke as one undoable edit; False when it changed nothing."""
        stroke, self._stroke = self._stroke, None
        if stroke is None:
            return False
        record = self.nodules[stroke.nodule_id]
        if stroke.before is not None and record.mask is stroke.before.mask:
            return False
        if stroke.before is None and record.mask.voxel_count == 0:
            self._apply(stroke.nodule_id, None)
            return False
        after = replace(record, mask=tight(record.mask), status=Status.EDITED)
        self._commit(Edit(stroke.nodule_id, stroke.before, after, "erase" if not stroke.value else "brush"))
        return True

    @property
    def stroking(self) -> bool:
        return self._stroke is not None

    # undo / redo -------------------------------------------------------------------------
    def undo(self) -> Edit | None:
        if self._stroke is not None or (edit := self.history.undo()) is None:
            return None
        self._apply(edit.nodule_id, edit.before)
        self._emit(HISTORY, edit)
        return edit

    def redo(self) -> Edit | None:
        if self._stroke is not None or (edit := self.history.redo()) is None:
            return None
        self._apply(edit.nodule_id, edit.after)
        self._emit(HISTORY, edit)
        return edit

    def restore(self, records: list[NoduleRecord], history: History, next_id: int,
                slice_k: int | None = None) -> None:
        """Put back a saved session's nodules and undo points (the scan is already shown)."""
        self.nodules = {r.nodule_id: r for r in records}
        self.history = history
        self.next_id = max([next_id, *[r.nodule_id + 1 for r in records]])
        self.selected = None
        self._emit(NODULES, None)
        self._emit(SELECTION, None)
        if slice_k is not None:
            self.set_slice(slice_k)
