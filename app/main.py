"""Entry point of `noduleseg`: parse arguments, open the window (and the scan), run Qt.

    noduleseg [PATH] [--screenshot FILE] [--seed I,J,K] [--model FOLDER] [--restore ask|yes|no]

Without PATH the demo CT (a slab of LIDC-IDRI-0001) opens. ``--screenshot`` renders the window
offscreen after loading (and segmenting ``--seed``), saves a PNG and exits.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

DEMO_FILE = "LIDC-IDRI-0001_slab.nii.gz"
DEMO_SEED = (316, 367, 12)  # the demo nodule's centre (slice 90 of the series is k 12 of the slab)


def demo_path() -> Path:
    """The bundled demo CT."""
    return Path(str(resources.files("noduleseg.assets") / "demo" / DEMO_FILE))


def _seed(text: str) -> tuple[int, int, int]:
    try:
        i, j, k = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed wants I,J,K voxel indices, got {text!r}") from None
    return i, j, k


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="noduleseg", description="Outline lung nodules in chest CT.")
    parser.add_argument("path", nargs="?", help="DICOM folder or CT file (default: the demo CT)")
    parser.add_argument("--screenshot", metavar="FILE", help="save a PNG of the window and exit")
    parser.add_argument("--seed", type=_seed, metavar="I,J,K", help="segment this voxel after opening")
    parser.add_argument("--model", metavar="FOLDER", help="use this model folder, not the registry's")
    parser.add_argument("--restore", choices=("ask", "yes", "no"), default="ask",
                        help="restore a crashed session: ask (default), yes, no")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from .model_service import ModelService
    from .window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("NoduleSeg")
    window = MainWindow(service=ModelService(Path(args.model) if args.model else None))
    window.show()
    path = Path(args.path) if args.path else demo_path()
    if args.screenshot:
        from .screenshot import take_screenshot

        return take_screenshot(window, path, Path(args.screenshot), args.seed)
    window.report_model_problem()
    if window.offer_restore(args.restore) is None:
        window.open_path(path, then=(lambda: window.assistant.segment_seed(args.seed)) if args.seed else None)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
