"""Segment every seed of a table in one scan; a seed that finds nothing fails alone, by its line.

The CLI (one scan or a folder of scans) and the app's File > Import seeds both run a table
through ``segment_seed_rows``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import SegmentationError
from .export import nodule_row
from .model_io import LoadedModel
from .propagate import Cancel, Progress, check_cancel
from .seeds import SeedFailure, SeedRow, SeedTable
from .segment import Nodule, segment_nodule
from .volume import Volume


@dataclass(frozen=True, eq=False)
class SeededNodule:
    """A nodule and the table row it was seeded from."""

    row: SeedRow
    nodule: Nodule


@dataclass(frozen=True, eq=False)
class SeedRun:
    """What a table gave in one scan: nodules in row order, and every failed row by line."""

    nodules: tuple[SeededNodule, ...]
    failures: tuple[SeedFailure, ...]


def segment_seed_rows(volume: Volume, table: SeedTable, model: LoadedModel, *,
                      progress: Progress | None = None, cancel: Cancel | None = None,
                      report: Callable[[int, SeededNodule], None] | None = None) -> SeedRun:
    """Segment one nodule per row; rows where no nodule is found join the table's failures.

    Args:
        volume: The scan the table was placed in.
        table: Its rows (``seeds.place_seeds`` / ``read_seed_table``).
        model: The loaded model.
        progress: Called with 0..1 over all rows.
        cancel: Polled between batches; True stops with ``SegmentationCancelled``.
        report: Called with each nodule's label (1, 2, ...) and the nodule as it is found.

    Raises:
        SegmentationCancelled: ``cancel`` returned True.
    """
    nodules, failures = [], list(table.failures)
    count = max(len(table.rows), 1)
    for number, row in enumerate(table.rows):
        check_cancel(cancel)
        part = None if progress is None else (lambda f, n=number: progress((n + f) / count))
        try:
            nodule = segment_nodule(volume, row.seed_ijk, model, progress=part, cancel=cancel)
        except SegmentationError as error:
            failures.append(SeedFailure(row.line, str(error), row.scan))
            continue
        nodules.append(SeededNodule(row, nodule))
        if report is not None:
            report(len(nodules), nodules[-1])
    if progress is not None:
        progress(1.0)
    return SeedRun(tuple(nodules), tuple(sorted(failures, key=lambda f: f.line)))


def measurement_rows(run: SeedRun, label_map: str | None = None) -> list[dict[str, Any]]:
    """One table row per nodule, label n for the n-th nodule, with the seed's line in the table.

    Args:
        run: The nodules.
        label_map: The label map's file name: when given (a batch), the rows start with the
            row's ``scan`` (as the table names it) and this ``label_map`` column.
    """
    rows = []
    for label, seeded in enumerate(run.nodules, start=1):
        first = {} if label_map is None else {"scan": seeded.row.scan, "label_map": label_map}
        rows.append({**first, **nodule_row(label, seeded.nodule), "seed_line": seeded.row.line})
    return rows


def nodule_summary(label: int, seeded: SeededNodule) -> str:
    """One line for a terminal: label, seed, line, axes and volume."""
    m = seeded.nodule.measurements
    return (f"nodule {label} at {seeded.nodule.seed_ijk} (line {seeded.row.line}): long axis "
            f"{m.long_axis_mm:.1f} mm, short axis {m.short_axis_mm:.1f} mm, volume "
            f"{m.volume_mm3:.0f} mm3, slices {m.k_first}-{m.k_last}")
