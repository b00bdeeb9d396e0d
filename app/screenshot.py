"""``noduleseg --screenshot``: open, optionally segment a seed, render the window to a PNG."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from .window import MainWindow

SETTLE_MS = 300  # lets the table and axis lines catch up before the grab


def take_screenshot(window: MainWindow, scan: Path, target: Path,
                    seed_ijk: tuple[int, int, int] | None) -> int:
    """Run the app until the window shows ``scan`` (and the seed's outline); save; exit code."""
    outcome = {"code": 0}
    # A local loop, not app.exec()/app.quit(): quit() would leave the application's "quit now"
    # flag set, and every later event loop in this process (a test session) would return at once.
    loop = QEventLoop()
    window.opener.show_dialogs = window.assistant.show_dialogs = False

    def grab() -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(target)):
            print(f"noduleseg: cannot write {target}", file=sys.stderr)
            outcome["code"] = 2
        loop.quit()

    def failed(message: str) -> None:
        print(f"noduleseg: {message}", file=sys.stderr)
        outcome["code"] = 1
        QTimer.singleShot(SETTLE_MS, grab)

    def segmented(nodule_id: int) -> None:
        measured = window.measurements.get(window.state.nodules[nodule_id].mask, window.state.volume)
        window.state.set_slice(measured.axis_slice_k)  # where the axis lines are drawn
        QTimer.singleShot(SETTLE_MS, grab)

    def opened() -> None:
        if seed_ijk is None:
            QTimer.singleShot(SETTLE_MS, grab)
            return
        window.state.set_slice(seed_ijk[2])
        if not window.assistant.segment_seed(seed_ijk):
            failed("segmentation could not start")

    window.opener.failed.connect(failed)
    window.assistant.failed.connect(failed)
    window.assistant.segmented.connect(segmented)
    window.open_path(scan, then=opened)
    loop.exec()
    return outcome["code"]
