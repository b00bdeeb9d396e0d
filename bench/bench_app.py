"""App benchmarks on LIDC-IDRI-0001 (DICOM, 133 slices): prints figures, asserts nothing.

1. launch to first slice shown, beyond the loader's own time (target <= 2 s);
2. redraw when moving one slice: set the slice and repaint the view (median, target <= 16 ms);
3. click to overlay for the scan's nodule (target <= 0.6 s), when core.segment is installed.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_app.py [DICOM_FOLDER]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NODULESEG_HOME", tempfile.mkdtemp(prefix="noduleseg-bench-"))
DICOM = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lidc" / "LIDC-IDRI-0001" / "dicom"
SEED = (316, 367, 90)


def wait_for(app, condition, timeout_s: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step did not finish")
        app.processEvents()
        time.sleep(0.001)


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else DICOM
    if not folder.is_dir():
        print(f"bench_app: {folder} not found; nothing measured")
        return 0
    from noduleseg.core.loader import load_volume

    start = time.perf_counter()
    load_volume(folder)
    loader_s = time.perf_counter() - start

    launch = time.perf_counter()
    from PySide6.QtWidgets import QApplication

    from noduleseg.app.window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.show()
    opened = []
    window.opener.opened.connect(opened.append)
    window.open_path(folder)
    wait_for(app, lambda: opened)
    window.view.canvas.viewport().repaint()
    first_slice_s = time.perf_counter() - launch
    print(f"loader alone:           {loader_s:6.2f} s")
    print(f"launch to first slice:  {first_slice_s:6.2f} s  ({first_slice_s - loader_s:+.2f} s beyond the "
          f"loader; target <= 2 s; ratio {first_slice_s / loader_s:.2f}x the loader)")

    state, viewport = window.state, window.view.canvas.viewport()
    times = []
    for step in range(60):
        t = time.perf_counter()
        state.step_slice(1 if step % 20 < 10 else -1)
        viewport.repaint()
        times.append(time.perf_counter() - t)
    print(f"redraw one slice:       {1000 * statistics.median(times):6.1f} ms median, "
          f"{1000 * max(times):.1f} ms max over {len(times)} moves (target <= 16 ms)")

    from noduleseg.app import assist

    if not assist.segmentation_available():
        print("click to overlay:       n/a (noduleseg.core.segment not installed yet)")
        return 0
    window.assistant.show_dialogs = False
    done = []
    window.assistant.segmented.connect(done.append)
    window.assistant.failed.connect(done.append)
    t = time.perf_counter()
    window.service.get()
    model_s = time.perf_counter() - t
    state.set_slice(SEED[2])
    t = time.perf_counter()
    window.assistant.segment_seed(SEED)
    wait_for(app, lambda: done)
    viewport.repaint()
    click_s = time.perf_counter() - t
    print(f"model load (first use): {model_s:6.2f} s")
    print(f"click to overlay:       {click_s:6.2f} s for the 32.7 mm nodule (target <= 0.6 s for 10 mm); "
          f"result: {done[0]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
