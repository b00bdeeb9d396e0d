"""App benchmarks: prints figures, asserts nothing.

1. launch to first slice shown for LIDC-IDRI-0001 (DICOM, 133 slices), beyond the loader's own
   time measured in the same run (target <= 2 s);
2. redraw when moving one slice: set the slice and repaint the view (median, target <= 16 ms);
3. click to overlay: from the click's seed to the outline painted with the nodule in the list,
   for a 10 mm synthetic nodule in a 512x512x120 chest (target <= 0.6 s), against a bare
   ``segment_nodule`` call on the same seed (the baseline, timed alternately); then once for
   the 32.7 mm nodule of LIDC-IDRI-0001.

Model: the shipped one when present; otherwise the shipped architecture with the transferred
HED encoder and a decoder trained briefly on synthetic blobs, as bench/bench_segment.py builds
it (timing is representative, accuracy is not).

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
LIDC_SEED = (316, 367, 90)
SYNTHETIC_SEED, SYNTHETIC_MM = (150, 250, 60), 10.0
REPEATS = 7
sys.path.insert(0, str(Path(__file__).parent))  # bench_segment's model and synthetic chest


def wait_for(app, condition, timeout_s: float = 300.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step did not finish")
        app.processEvents()
        time.sleep(0.001)


def model_folder(scratch: Path) -> tuple[Path, str]:
    """The shipped model, else a transferred net trained on blobs (built on first need)."""
    from noduleseg.app.model_service import shipped_model_dir

    shipped = shipped_model_dir()
    if (shipped / "weights.pt").exists():
        return shipped, "shipped"
    return scratch / "model", ("NO shipped model: shipped architecture, transferred HED encoder, "
                               "decoder trained 40 steps on blobs (bench_segment.blob_trained_model)")


def launch(folder: Path, model_dir: Path):
    """Time from launch to the first slice painted; returns (app, window, seconds)."""
    start = time.perf_counter()
    from PySide6.QtWidgets import QApplication

    from noduleseg.app.model_service import ModelService
    from noduleseg.app.window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(service=ModelService(folder=model_dir))
    window.opener.show_dialogs = window.assistant.show_dialogs = False
    window.show()
    opened = []
    window.opener.opened.connect(opened.append)
    window.open_path(folder)
    wait_for(app, lambda: opened)
    window.view.canvas.viewport().repaint()
    return app, window, time.perf_counter() - start


def redraw_ms(window) -> tuple[float, float]:
    state, viewport = window.state, window.view.canvas.viewport()
    times = []
    for step in range(60):
        start = time.perf_counter()
        state.step_slice(1 if step % 20 < 10 else -1)
        viewport.repaint()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times), 1000 * max(times)


def click_s(app, window, seed: tuple[int, int, int]) -> float | str:
    """Seed to outline painted (nodule in the list), or the failure message."""
    outcome: list = []
    window.assistant.segmented.connect(outcome.append)
    window.assistant.failed.connect(outcome.append)
    window.state.set_slice(seed[2])
    start = time.perf_counter()
    window.assistant.segment_seed(seed)
    wait_for(app, lambda: outcome)
    window.view.canvas.viewport().repaint()
    elapsed = time.perf_counter() - start
    window.assistant.segmented.disconnect()
    window.assistant.failed.disconnect()
    if isinstance(outcome[0], str):
        return outcome[0]
    window.state.delete_nodule(outcome[0])
    return elapsed


def first_model_load(window, model_dir: Path):
    """Build the stand-in model when nothing is shipped, then time the app's first load."""
    if not (model_dir / "weights.pt").exists():
        from bench_segment import blob_trained_model

        blob_trained_model(model_dir)
    start = time.perf_counter()
    model = window.service.get()
    print(f"model load (first use): {time.perf_counter() - start:6.2f} s")
    return model


def synthetic_click(app, window, model) -> None:
    """Click vs bare segment_nodule on a 10 mm synthetic nodule, alternately."""
    from bench_segment import synthetic_chest

    from noduleseg.core.segment import segment_nodule

    volume = synthetic_chest(120, [(SYNTHETIC_SEED, SYNTHETIC_MM)])
    window.state.set_volume(volume, "synthetic chest")
    clicks, bare = [], []
    for _ in range(REPEATS + 1):  # the first round warms up
        result = click_s(app, window, SYNTHETIC_SEED)
        if isinstance(result, str):
            print(f"click to overlay:       10 mm synthetic not segmented: {result}")
            return
        clicks.append(result)
        start = time.perf_counter()
        segment_nodule(volume, SYNTHETIC_SEED, model)
        bare.append(time.perf_counter() - start)
    click, core = statistics.median(clicks[1:]), statistics.median(bare[1:])
    print(f"click to overlay:       {click:6.2f} s median for a {SYNTHETIC_MM:.0f} mm synthetic nodule "
          f"(target <= 0.6 s); bare segment_nodule {core:.2f} s; ratio {click / core:.2f}x")


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else DICOM
    if not folder.is_dir():
        print(f"bench_app: {folder} not found; nothing measured")
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="noduleseg-bench-model-"))
    model_dir, model_words = model_folder(scratch)
    from noduleseg.core.loader import load_volume

    start = time.perf_counter()
    load_volume(folder)
    loader_s = time.perf_counter() - start
    app, window, first_slice_s = launch(folder, model_dir)
    print(f"loader alone:           {loader_s:6.2f} s")
    print(f"launch to first slice:  {first_slice_s:6.2f} s  ({first_slice_s - loader_s:+.2f} s beyond the "
          f"loader; target <= 2 s; ratio {first_slice_s / loader_s:.2f}x the loader)")
    median, worst = redraw_ms(window)
    print(f"redraw one slice:       {median:6.1f} ms median, {worst:.1f} ms max over 60 moves (target <= 16 ms)")
    lidc = window.state.volume

    print(f"model: {model_words}")
    model = first_model_load(window, model_dir)
    synthetic_click(app, window, model)
    window.state.set_volume(lidc, str(folder))
    result = click_s(app, window, LIDC_SEED)
    shown = f"{result:6.2f} s" if isinstance(result, float) else f"not segmented: {result}"
    print(f"click to overlay:       {shown} for the 32.7 mm nodule of LIDC-IDRI-0001 (one click)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
