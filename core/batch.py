"""Seed tables to files: one scan (``segment_table_to_files``) or a folder of scans (``plan_batch``
then ``run_batch``), a label map per scan and one measurements table.

A row that gives no nodule is reported by its line and the others still run; in a batch, a scan
that cannot be read or segmented is reported and the batch goes on. What the caller can fix
before any work (an existing output, a table naming no scan of the folder) is refused up front.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import NodulesegError, NotAnImageError
from .export import TABLE_SUFFIXES, labels_from_nodules, write_measurements
from .label_map_guess import refuse_label_map
from .labels_io import LABEL_SUFFIXES, ExportError, save_labels
from .loader import load_volume
from .model_io import LoadedModel
from .propagate import Progress
from .scan_folder import FoundScan, find_scans
from .seed_segment import SeededNodule, SeedRun, measurement_rows, segment_seed_rows
from .seeds import SeedEntry, SeedFailure, SeedSpace, SeedTableError, parse_seed_file, place_seeds, read_seed_table
from .volume import Volume

BATCH_LABEL_SUFFIX = ".nii.gz"
BATCH_TABLE_NAME = "measurements.csv"
_LOAD_SHARE = 0.2  # of a scan's progress


@dataclass(frozen=True)
class DicomOut:
    """DICOM outputs asked for beside the label map: a SEG, and a TID 1500 report that needs it."""

    seg: Path | None = None
    sr: Path | None = None

    def check(self, overwrite: bool) -> None:
        """Refuse a report without its SEG, or existing files, before any work.

        Raises:
            ExportError: As ``check_target``, or ``sr`` without ``seg``.
        """
        if self.sr is not None and self.seg is None:
            raise ExportError(f"{self.sr}: the measurement report references a DICOM SEG; give --dicom-seg too")
        for path in (self.seg, self.sr):
            if path is not None:
                check_target(Path(path), (".dcm",), overwrite)

    def check_source(self, volume: Volume) -> None:
        """Refuse a scan that did not come from DICOM (``dicom_source.DicomSourceError``)."""
        if self.seg is not None:
            from .dicom_source import require_dicom_source  # highdicom loads only when asked for

            require_dicom_source(volume)

    def write(self, volume: Volume, nodules: Sequence[Any], overwrite: bool) -> None:
        """The SEG (and report) of the model's untouched outlines, named "nodule n" as label n."""
        if self.seg is None:
            return
        from .dicom_seg import automatic_outlines, write_dicom_seg
        from .dicom_sr import write_dicom_seg_and_sr

        outlines = automatic_outlines(nodules)
        if self.sr is None:
            write_dicom_seg(volume, outlines, self.seg, overwrite=overwrite)
        else:
            write_dicom_seg_and_sr(volume, outlines, self.seg, self.sr, overwrite=overwrite)


def check_outputs(out: str | Path, measurements: str | Path | None, overwrite: bool) -> None:
    """Refuse a label map or table path before any work (``check_target`` for both)."""
    check_target(Path(out), LABEL_SUFFIXES, overwrite)
    if measurements is not None:
        check_target(Path(measurements), TABLE_SUFFIXES, overwrite)


def check_target(path: Path, suffixes: tuple[str, ...], overwrite: bool) -> None:
    """Refuse an output path before any work is done rather than after.

    Raises:
        ExportError: A suffix not in ``suffixes``, or an existing file without ``overwrite``.
    """
    if not path.name.lower().endswith(suffixes):
        raise ExportError(f"{path}: must end with one of {', '.join(suffixes)}")
    if path.exists() and not overwrite:
        raise ExportError(f"{path}: file exists; choose another name or pass --overwrite")


def write_nodules(run: SeedRun, volume: Volume, out: Path, measurements: Path | None,
                  overwrite: bool, label_map_column: bool = False) -> list[dict[str, Any]]:
    """The label map (label n = n-th nodule) and, if asked, the table; the table's rows."""
    labels = labels_from_nodules([s.nodule.mask for s in run.nodules], volume.shape_zyx)
    save_labels(labels, volume, out, overwrite=overwrite)
    rows = measurement_rows(run, out.name if label_map_column else None)
    if measurements is not None:
        write_measurements(rows, measurements, overwrite=overwrite)
    return rows


def segment_table_to_files(image: str | Path, seeds: str | Path, out: str | Path, model: LoadedModel,
                           measurements: str | Path | None = None, space: SeedSpace | None = None,
                           overwrite: bool = False,
                           report: Callable[[int, SeededNodule], None] | None = None,
                           dicom: DicomOut = DicomOut()) -> SeedRun:
    """Segment the rows of a seed table in one scan; write what was found.

    Rows that fail (unreadable, outside the image, no nodule found) are in the result's
    ``failures`` by line; the label map and table hold the others (label n = n-th nodule, the
    table's ``seed_line`` says its row). Nothing is written when no row gives a nodule.

    Args:
        image: A CT volume that ``load_volume`` reads.
        seeds: The seed table (``core.seeds``); with a scan column, the rows naming this scan.
        out: Label map path (.nii.gz, .nii, .nrrd).
        model: The loaded model.
        measurements: Optional .csv or .json table, one row per nodule.
        space: World space stated for the table's x, y, z (None: as the table says, else LPS).
        overwrite: Replace existing output files.
        report: Called with each nodule's label and the nodule as it is found.
        dicom: DICOM SEG (and SR) files to write as well (the scan must come from DICOM).

    Raises:
        NodulesegError: Bad image, table or output path, or DICOM output from a non-DICOM scan.
    """
    out = Path(out)
    check_outputs(out, measurements, overwrite)
    dicom.check(overwrite)
    volume = load_volume(image)
    refuse_label_map(volume, image)
    dicom.check_source(volume)
    table = read_seed_table(seeds, volume, space, source=image)
    run = segment_seed_rows(volume, table, model, report=report)
    if run.nodules:
        write_nodules(run, volume, out, None if measurements is None else Path(measurements), overwrite)
        dicom.write(volume, [s.nodule for s in run.nodules], overwrite)
    return run


# --- a folder of scans --------------------------------------------------------------------


@dataclass(frozen=True)
class ScanJob:
    """One scan of a batch, its seed rows and its label map."""

    scan: FoundScan
    entries: tuple[SeedEntry, ...]
    label_map: Path


@dataclass(frozen=True)
class BatchPlan:
    """What a batch will do: checked before any scan is read."""

    folder: Path
    table: Path
    out_dir: Path
    jobs: tuple[ScanJob, ...]
    unmatched: tuple[SeedFailure, ...]  # rows unreadable or naming no (or several) scans
    measurements: Path
    overwrite: bool
    idle: int  # scans of the folder no row names


@dataclass(frozen=True, eq=False)
class ScanOutcome:
    """One scan's result: its nodules and failed rows, or why the scan failed."""

    job: ScanJob
    run: SeedRun | None
    error: str = ""

    @property
    def written(self) -> bool:
        return not self.error and self.run is not None and bool(self.run.nodules)


@dataclass(frozen=True, eq=False)
class BatchResult:
    """A finished batch."""

    plan: BatchPlan
    outcomes: tuple[ScanOutcome, ...]
    measurements: Path | None  # None when no nodule was found (or the table was not written)
    table_error: str = ""

    def problems(self) -> list[str]:
        """Every failure, one line each: table rows, scans, and rows within a scan."""
        lines = [f"{self.plan.table.name} {failure}" for failure in self.plan.unmatched]
        for outcome in self.outcomes:
            name = outcome.job.scan.name
            if outcome.error:
                lines.append(f"{name}: {outcome.error}")
            if outcome.run is not None:
                lines += [f"{name}: {self.plan.table.name} {failure}" for failure in outcome.run.failures]
        return lines + ([self.table_error] if self.table_error else [])

    @property
    def nodule_count(self) -> int:
        return sum(len(o.run.nodules) for o in self.outcomes if o.run is not None and not o.error)


def plan_batch(folder: str | Path, seeds: str | Path, out_dir: str | Path,
               measurements: str | Path | None = None, space: SeedSpace | None = None,
               overwrite: bool = False) -> BatchPlan:
    """Find the folder's scans and give each the table rows that name it.

    Args:
        folder: Scans (image files, DICOM series) anywhere below it.
        seeds: A seed table with a scan column (series UID, file name or file stem).
        out_dir: Where ``<scan>.nii.gz`` label maps go (created when missing).
        measurements: The table of all nodules; default ``out_dir/measurements.csv``.
        space: World space stated for the table's x, y, z.
        overwrite: Replace existing output files.

    Raises:
        NodulesegError: No such folder or table, a table without a scan column, no row naming
            a scan of the folder, an existing output without ``overwrite``.
    """
    folder, out_dir = Path(folder), Path(out_dir)
    if folder.is_file():
        raise NotAnImageError(folder, "is a file, not a folder of scans; for one scan, write the "
                              f"label map to a file ({', '.join(LABEL_SUFFIXES)})")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: is a file; --out names a folder for a batch")
    table = parse_seed_file(seeds, space)
    if not table.keyed:
        raise SeedTableError(f"{table.path}: a batch needs a scan column (seriesuid, series_uid, "
                             "file or scan) naming each row's scan")
    scans = find_scans(folder, skip=out_dir)
    jobs, unmatched = _match(scans, table.entries, folder, out_dir)
    if not jobs:
        names = ", ".join(s.name for s in scans[:5]) + (" ..." if len(scans) > 5 else "")
        raise SeedTableError(f"{table.path}: no row names a scan of {folder} (found: {names})")
    measurements = Path(measurements) if measurements is not None else out_dir / BATCH_TABLE_NAME
    check_target(measurements, TABLE_SUFFIXES, overwrite)
    existing = [job.label_map for job in jobs if job.label_map.exists()]
    if existing and not overwrite:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise ExportError(f"{existing[0]}{more}: file exists; choose another --out or pass --overwrite")
    return BatchPlan(folder, table.path, out_dir, tuple(jobs), tuple(sorted(table.failures + unmatched,
                     key=lambda f: f.line)), measurements, overwrite, len(scans) - len(jobs))


def _match(scans: list[FoundScan], entries: tuple[SeedEntry, ...], folder: Path, out_dir: Path
           ) -> tuple[list[ScanJob], tuple[SeedFailure, ...]]:
    """Each scan's rows (by the names ``FoundScan.keys``); rows naming none, or several."""
    owners: dict[str, list[int]] = defaultdict(list)
    for index, scan in enumerate(scans):
        for key in dict.fromkeys(scan.keys):
            owners[key].append(index)
    rows: dict[int, list[SeedEntry]] = defaultdict(list)
    unmatched = []
    for entry in entries:
        found = owners.get(entry.scan, [])
        if len(found) == 1:
            rows[found[0]].append(entry)
        elif not found:
            unmatched.append(SeedFailure(entry.line, f"no scan {entry.scan!r} in {folder}", entry.scan))
        else:
            paths = ", ".join(str(scans[i].path.relative_to(folder)) for i in found)
            unmatched.append(SeedFailure(entry.line, f"{entry.scan!r} names {len(found)} scans "
                                         f"({paths}); name the file", entry.scan))
    jobs = [ScanJob(scan, tuple(rows[index]), out_dir / f"{scan.name}{BATCH_LABEL_SUFFIX}")
            for index, scan in enumerate(scans) if rows[index]]
    return jobs, tuple(unmatched)


def run_batch(plan: BatchPlan, model: LoadedModel, progress: Progress | None = None,
              report: Callable[[str], None] | None = None) -> BatchResult:
    """Segment every scan of a plan; a scan that fails is recorded and the batch goes on.

    Args:
        plan: From ``plan_batch``.
        model: The loaded model.
        progress: Called with 0..1 over the whole batch.
        report: Called with one line per scan once it is done.

    Returns:
        The outcomes; ``problems()`` lists every failure. The measurements table (a ``scan``
        and ``label_map`` column, then ``nodule_row``'s, then ``seed_line``) is written when
        any nodule was found.
    """
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    outcomes, rows = [], []
    for index, job in enumerate(plan.jobs):
        part = None if progress is None else (
            lambda f, n=index: progress((n + f) / len(plan.jobs)))
        outcome, scan_rows = _run_scan(job, model, plan.overwrite, part)
        outcomes.append(outcome)
        rows += scan_rows
        if report is not None:
            report(f"[{index + 1}/{len(plan.jobs)}] {_scan_line(outcome)}")
    measurements, table_error = None, ""
    if rows:
        try:
            measurements = write_measurements(rows, plan.measurements, overwrite=plan.overwrite)
        except ExportError as error:
            table_error = str(error)
    return BatchResult(plan, tuple(outcomes), measurements, table_error)


def _run_scan(job: ScanJob, model: LoadedModel, overwrite: bool, progress: Progress | None
              ) -> tuple[ScanOutcome, list[dict[str, Any]]]:
    """One scan: load, place its rows, segment, write its label map. Its failure, if any."""
    run = None
    try:
        volume = load_volume(job.scan.path, job.scan.series_uid or None,
                             None if progress is None else lambda f: progress(_LOAD_SHARE * f))
        refuse_label_map(volume, job.scan.path)
        table = place_seeds(job.entries, volume)
        seeding = None if progress is None else lambda f: progress(_LOAD_SHARE + (1 - _LOAD_SHARE) * f)
        run = segment_seed_rows(volume, table, model, progress=seeding)
        if not run.nodules:
            return ScanOutcome(job, run, "no row gave a nodule; no label map written"), []
        return ScanOutcome(job, run), write_nodules(run, volume, job.label_map, None, overwrite, True)
    except (NodulesegError, OSError) as error:  # a damaged or unreadable scan: on to the next
        return ScanOutcome(job, run, str(error)), []


def _scan_line(outcome: ScanOutcome) -> str:
    scan = outcome.job.scan
    failed = len(outcome.run.failures) if outcome.run is not None else 0
    rows = f", {failed} row(s) failed" if failed else ""
    if outcome.error:
        return f"{scan.name}: FAILED: {outcome.error}{rows}"
    return f"{scan.name}: {len(outcome.run.nodules)} nodule(s) -> {outcome.job.label_map}{rows}"
