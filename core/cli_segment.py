"""``noduleseg-segment``: segment nodules at given seeds and write a label map (+ measurements).

    noduleseg-segment IMAGE --seed I,J,K [--seed I,J,K ...] --out LABELS.nii.gz
                      [--measurements FILE.csv|.json] [--model DIR] [--overwrite]
    noduleseg-segment IMAGE --seeds TABLE.csv [--seed-space lps|ras] --out LABELS.nii.gz ...
    ... [--dicom-seg SEG.dcm [--dicom-sr SR.dcm]]   (a DICOM scan: SEG and measurement report too)
    noduleseg-segment FOLDER --seeds TABLE.csv [--seed-space lps|ras] --out OUTDIR ...

Seeds are 0-based ITK voxel indices (i column, j row, k slice), as ITK-SNAP and 3D Slicer show
them. Label n is the nodule of the n-th seed. A seed table (``core.seeds``) gives voxel indices
or world mm per row; with a folder of scans and a folder ``--out`` it runs as a batch
(``core.batch``). This module only parses arguments; the work is ``segment_to_files``,
``batch.segment_table_to_files`` and ``batch.plan_batch``/``run_batch``, which tests and other
callers use directly.

Exit status: 0 done; 1 some table rows or batch scans failed (named at the end; the others were
written); 2 a user error in the arguments (nothing written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from .batch import DicomOut, check_outputs, plan_batch, run_batch, segment_table_to_files
from .console import ConsoleProgress
from .errors import ModelError, NodulesegError
from .export import labels_from_nodules, nodule_row, write_measurements
from .label_map_guess import refuse_label_map
from .labels_io import LABEL_SUFFIXES, save_labels
from .loader import load_volume
from .model_io import CARD_FILE, LoadedModel, load_model, shipped_model_dir
from .seed_segment import nodule_summary
from .seeds import SeedSpace
from .segment import Nodule, segment_nodule

PROG = "noduleseg-segment"


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
                     report: Callable[[str], None] | None = None, dicom: DicomOut = DicomOut()) -> list[Nodule]:
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
        dicom: A DICOM SEG (and TID 1500 report) to write as well; the scan must come from DICOM.

    Raises:
        NodulesegError: Bad image (a label map given as the CT, too), model, seed, or output path,
            or DICOM output from a scan that is not DICOM.
    """
    if not seeds_ijk:
        raise NodulesegError("give at least one --seed I,J,K")
    out = Path(out)
    check_outputs(out, measurements, overwrite)
    dicom.check(overwrite)
    model = load_segmentation_model(model_dir)
    volume = load_volume(image)
    refuse_label_map(volume, image)
    dicom.check_source(volume)
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
    dicom.write(volume, nodules, overwrite)
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


def _space(text: str) -> SeedSpace:
    try:
        return SeedSpace(text.lower())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed-space is lps or ras, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog=PROG, description="Segment lung nodules at seed voxels and "
                            "write a label map in the scan's geometry.")
    parser.add_argument("image", help="CT volume: DICOM folder, NIfTI, MetaImage or NRRD; with --seeds "
                        "and a folder --out, a folder of scans (batch)")
    seeds = parser.add_mutually_exclusive_group(required=True)
    seeds.add_argument("--seed", action="append", type=_seed, metavar="I,J,K",
                       help="0-based ITK voxel index (i column, j row, k slice); repeat per nodule")
    seeds.add_argument("--seeds", metavar="TABLE.csv",
                       help="seed table, a nodule per row: i,j,k (voxel index) or x,y,z (world mm; "
                       "LUNA16's coordX,coordY,coordZ too); a seriesuid or file column names each "
                       "row's scan")
    parser.add_argument("--seed-space", type=_space, metavar="lps|ras",
                        help="world space of the table's x,y,z where it does not say "
                        "(default: LPS, as ITK, DICOM and LUNA16)")
    parser.add_argument("--out", required=True, help="label map to write (.nii.gz, .nii, .nrrd); "
                        "for a batch, a folder (one <scan>.nii.gz each)")
    parser.add_argument("--measurements", help="measurements table to write (.csv or .json); "
                        "for a batch, default OUT/measurements.csv")
    parser.add_argument("--dicom-seg", metavar="SEG.dcm", type=Path,
                        help="also write a DICOM Segmentation of the nodules (the scan must be DICOM; "
                        "one scan, not a batch)")
    parser.add_argument("--dicom-sr", metavar="SR.dcm", type=Path,
                        help="also write a TID 1500 measurement report referencing --dicom-seg")
    parser.add_argument("--model", help="model folder (default: the shipped model)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return parser


def _is_batch(args: argparse.Namespace) -> bool:
    """A seed table and a folder to write into (no label map suffix) make a batch."""
    return args.seeds is not None and not args.out.lower().endswith(LABEL_SUFFIXES)


def _failed(lines: list[str], what: str) -> int:
    print(f"{PROG}: {len(lines)} {what} failed:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    return 1


def _segment_table(args: argparse.Namespace) -> int:
    check_outputs(args.out, args.measurements, args.overwrite)
    model = load_segmentation_model(args.model)
    run = segment_table_to_files(args.image, args.seeds, args.out, model, args.measurements,
                                 args.seed_space, args.overwrite,
                                 report=lambda label, seeded: print(nodule_summary(label, seeded)),
                                 dicom=DicomOut(args.dicom_seg, args.dicom_sr))
    if not run.nodules:
        print(f"{PROG}: no row of {args.seeds} gave a nodule; nothing written", file=sys.stderr)
    return _failed([str(f) for f in run.failures], f"row(s) of {args.seeds}") if run.failures else 0


def _segment_batch(args: argparse.Namespace) -> int:
    plan = plan_batch(args.image, args.seeds, args.out, args.measurements, args.seed_space,
                      args.overwrite)
    model = load_segmentation_model(args.model)
    console = ConsoleProgress()
    try:
        result = run_batch(plan, model, console.progress, console.step)
    finally:
        console.close()
    written = sum(outcome.written for outcome in result.outcomes)
    idle = f"; {plan.idle} scan(s) of the folder have no rows" if plan.idle else ""
    table = f", measurements in {result.measurements}" if result.measurements else ""
    print(f"{result.nodule_count} nodule(s) in {written} of {len(plan.jobs)} scan(s){table}{idle}")
    problems = result.problems()
    return _failed(problems, "scan(s) or row(s)") if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seed_space is not None and args.seeds is None:
        parser.error("--seed-space applies to a --seeds table")
    if (args.dicom_seg or args.dicom_sr) and _is_batch(args):
        parser.error("--dicom-seg and --dicom-sr write one scan's files; not with a batch")
    try:
        if args.seeds is None:
            segment_to_files(args.image, args.seed, args.out, args.measurements, args.model,
                             args.overwrite, report=print, dicom=DicomOut(args.dicom_seg, args.dicom_sr))
            return 0
        return _segment_batch(args) if _is_batch(args) else _segment_table(args)
    except NodulesegError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
