"""The thin Qt face of ``ViewerState``: its listener events re-emitted as Qt signals."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from . import state as st


class QtState(QObject):
    """Signals for a ``ViewerState``; widgets connect to these and call ``.state`` back.

    Args:
        state: The plain state object (kept as ``.state``).
    """

    volumeChanged = Signal()
    sliceChanged = Signal(int)
    windowChanged = Signal()
    nodulesChanged = Signal(object)  # nodule id, or None for "all"
    selectionChanged = Signal(object)
    toolChanged = Signal()
    overlayChanged = Signal()
    historyChanged = Signal()

    def __init__(self, state: st.ViewerState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._signals = {st.VOLUME: self.volumeChanged, st.SLICE: self.sliceChanged,
                         st.WINDOW: self.windowChanged, st.NODULES: self.nodulesChanged,
                         st.SELECTION: self.selectionChanged, st.TOOL: self.toolChanged,
                         st.OVERLAY: self.overlayChanged, st.HISTORY: self.historyChanged}
        state.add_listener(self._relay)

    def _relay(self, event: str, detail: object) -> None:
        signal = self._signals[event]
        if event in (st.SLICE, st.NODULES, st.SELECTION):
            signal.emit(detail if event != st.SLICE else int(detail))
        else:
            signal.emit()
