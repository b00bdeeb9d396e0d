"""``noduleseg-segment``: segment nodules at given seeds and write a label map (+ measurements).

    noduleseg-segment IMAGE --seed I,J,K [--seed I,J,K ...] --out LABELS.nii.gz
                      [--measurements FILE.csv|.json] [--model DIR] [--overwrite]

Seeds are 0-based ITK voxel indices (i column, j row, k slice), as ITK-SNAP and 3D Slicer show
them. Label n is the nodule of the n-th seed. This module only parses arguments; the work is
``segment_to_files``, which tests and other callers use directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from .errors import ModelError, NodulesegError
from .export import TABLE_SUFFIXES, labels_from_nodules, nodule_row, write_measurements
from .label_map_guess import refuse_label_map
from .labels_io import LABEL_SUFFIXES, ExportError, save_labels
from .loader import load_volume
from .model_io import CARD_FILE, LoadedModel, load_model, shipped_model_dir
from .segment import Nodule, segment_nodule

PROG = "noduleseg-segment"


def _check_target(path: Path, suffixes: tuple[str, ...], overwrite: bool) -> None:
    """Refuse a target before any work is done rather than after."""
    if not path.name.lower().endswith(suffixes):
        raise ExportError(f"{path}: must end with one of {', '.join(suffixes)}")
    if path.exists() and not overwrite:
        raise ExportError(f"{path}: file exists; choose another name or pass --overwrite")


def load_segmentation_model(model_dir: str | Path | None) -> LoadedModel:
    """The model in ``model_dir``, or the shipped default one (with a clear error if absent).

    Raises:
        ModelError: The folder cannot be used; for a ``--model`` folder the message offers the
            shipped model (leave ``--model`` out) rather than silently using another model.
    """
    if model_dir is None and not (shipped_model_dir() / CARD_FILE).exists():
        raise ModelError("no default model is shipped with this installation yet; "
                         "pass --model DIR (a folder with weights.pt and card.json)")
    try:
        return load_model(model_dir)
    except ModelError as error:
        if model_dir is None or Path(model_dir).resolve() == shipped_model_dir().resolve():
            raise
        raise ModelError(f"{error}; leave out --model to use the shipped model") from None


def segment_to_files(image: str | Path, seeds_ijk: Sequence[tuple[int, int, int]],
                     out: str | Path, measurements: str | Path | None = None,
                     model_dir: str | Path | None = None, overwrite: bool = False,
                     report: Callable[[str], None] | None = None) -> list[Nodule]:
    """Segment one nodule per seed; write the label map (label n = seed n) and the table.

    Nothing is written unless every seed gives a nodule.

    Args:
        image: A CT volume that ``load_volume`` reads.
        seeds_ijk: 0-based ITK voxel indices (i, j, k), one per nodule.
        out: Label map path (.nii.gz, .nii, .nrrd).
        measurements: Optional .csv or .json table, one row per nodule.
        model_dir: A model folder; None for the shipped default model.
        overwrite: Replace existing output files.
        report: Called with one line of text per nodule.

    Raises:
        NodulesegError: Bad image (a label map given as the CT, too), model, seed, or output path.
    """
    if not seeds_ijk:
        raise NodulesegError("give at least one --seed I,J,K")
    out = Path(out)
    _check_target(out, LABEL_SUFFIXES, overwrite)
    if measurements is not None:
        _check_target(Path(measurements), TABLE_SUFFIXES, overwrite)
    model = load_segmentation_model(model_dir)
    volume = load_volume(image)
    refuse_label_map(volume, image)
    nodules = []
    for number, seed in enumerate(seeds_ijk, start=1):
        nodule = segment_nodule(volume, seed, model)
        nodules.append(nodule)
        if report is not None:
            report(_summary(number, nodule))
    labels = labels_from_nodules([n.mask for n in nodules], volume.shape_zyx)
    save_labels(labels, volume, out, overwrite=overwrite)
    if measurements is not None:
        rows = [nodule_row(n, nodule) for n, nodule in enumerate(nodules, start=1)]
        write_measurements(rows, measurements, overwrite=overwrite)
    return nodules


def _summary(number: int, nodule: Nodule) -> str:
    m = nodule.measurements
    return (f"nodule {number} at {nodule.seed_ijk}: long axis {m.long_axis_mm:.1f} mm, "
            f"short axis {m.short_axis_mm:.1f} mm, volume {m.volume_mm3:.0f} mm3, "
            f"slices {m.k_first}-{m.k_last}")


class _OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line on stderr, exit status 2 (``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _seed(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise ValueError
        return tuple(int(p) for p in parts)  # type: ignore[return-value]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seed expects I,J,K (three integers, 0-based voxel index), got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog=PROG, description="Segment lung nodules at seed voxels and "
                            "write a label map in the scan's geometry.")
    parser.add_argument("image", help="CT volume: DICOM folder, NIfTI, MetaImage or NRRD")
    parser.add_argument("--seed", action="append", type=_seed, required=True, metavar="I,J,K",
                        help="0-based ITK voxel index (i column, j row, k slice); repeat per nodule")
    parser.add_argument("--out", required=True, help="label map to write (.nii.gz, .nii, .nrrd)")
    parser.add_argument("--measurements", help="measurements table to write (.csv or .json)")
    parser.add_argument("--model", help="model folder (default: the shipped model)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        segment_to_files(args.image, args.seed, args.out, args.measurements, args.model,
                         args.overwrite, report=print)
    except NodulesegError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
