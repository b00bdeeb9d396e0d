"""Per-nodule accuracy of a model: click-to-segment from each labelled nodule's centre, compared
with the label (the 50%-consensus mask for LIDC), summarised by size band and real/simulated.

The seed is the label's voxel nearest its centroid (in mm), as a reader would click it. The
size band goes by the true long axis: the largest in-plane diameter of the label mask on any
axial slice, measured with ``core.measure`` exactly as the app measures a nodule, so real and
simulated nodules are banded the same way (simulated ones have no reader diameter).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy import ndimage

from noduleseg.core.errors import SegmentationError
from noduleseg.core.measure import dice, measure
from noduleseg.core.model_io import LoadedModel
from noduleseg.core.nodule_mask import NoduleMask
from noduleseg.core.segment import segment_nodule
from noduleseg.core.volume import Volume

from .data import TrainCase

BANDS = ("<10 mm", "10-20 mm", ">20 mm")
ORIGINS = ("real", "simulated")

Progress = Callable[[dict[str, Any]], None]


def size_band(long_axis_mm: float) -> str:
    """The size band of a nodule: ``<10 mm``, ``10-20 mm`` (both ends included) or ``>20 mm``."""
    if long_axis_mm < 10.0:
        return BANDS[0]
    return BANDS[1] if long_axis_mm <= 20.0 else BANDS[2]


def slice_range(mask_zyx: np.ndarray) -> tuple[int, int] | None:
    """First and last slice k holding the mask; None when it is empty."""
    ks = np.flatnonzero(np.asarray(mask_zyx).any(axis=(1, 2)))
    return (int(ks[0]), int(ks[-1])) if ks.size else None


def slice_errors(true_range: tuple[int, int], predicted_range: tuple[int, int] | None) -> tuple[int, int]:
    """Slices segmented beyond the nodule's ends (over) and nodule slices missed at its ends
    (under); nothing predicted misses every slice."""
    (t0, t1) = true_range
    if predicted_range is None:
        return 0, t1 - t0 + 1
    p0, p1 = predicted_range
    over = max(0, t0 - p0) + max(0, p1 - t1)
    under = max(0, p0 - t0) + max(0, t1 - p1)
    return over, under


@dataclass(frozen=True)
class NoduleResult:
    """One nodule's evaluation.

    Attributes:
        case_id, label: Which nodule (label value in the case's label map).
        simulated: Placed by ``training.synthetic`` (else a real, reader-outlined nodule).
        seed_ijk: The click (ITK i, j, k).
        found: The model returned a mask (False: ``SegmentationError``, Dice 0).
        error: The error message when nothing was found.
        dice_3d: Dice of the 3D mask against the label.
        dice_2d: Dice on the central slice (largest true area).
        central_k: That slice.
        long_axis_mm: True long axis (largest in-plane diameter, any axial slice).
        equivalent_diameter_mm: True equivalent-sphere diameter.
        band: Size band of ``long_axis_mm``.
        true_k_first, true_k_last: True slice range.
        pred_k_first, pred_k_last: Predicted slice range (None when nothing was found).
        over_slices, under_slices: z over- and under-segmentation in slices.
        seconds: Wall time of ``segment_nodule``.
    """

    case_id: str
    label: int
    simulated: bool
    seed_ijk: tuple[int, int, int]
    found: bool
    error: str | None
    dice_3d: float
    dice_2d: float
    central_k: int
    long_axis_mm: float
    equivalent_diameter_mm: float
    band: str
    true_k_first: int
    true_k_last: int
    pred_k_first: int | None
    pred_k_last: int | None
    over_slices: int
    under_slices: int
    seconds: float

    @property
    def slice_range_error(self) -> int:
        """|first slice error| + |last slice error|."""
        return self.over_slices + self.under_slices

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "NoduleResult":
        """The result back from a ``to_row`` dict (extra keys ignored)."""
        values = {f.name: row[f.name] for f in fields(cls)}
        return cls(**{**values, "seed_ijk": tuple(values["seed_ijk"])})

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["seed_ijk"] = list(self.seed_ijk)
        row["slice_range_error"] = self.slice_range_error
        return row


def seed_near_centroid(truth: np.ndarray, spacing_zyx: Sequence[float]) -> tuple[int, int, int]:
    """The mask voxel nearest (in mm) the mask's centroid, as ITK (i, j, k)."""
    voxels = np.argwhere(truth)
    scale = np.asarray(spacing_zyx, dtype=float)
    centre = voxels.mean(axis=0)
    nearest = voxels[int(np.argmin((((voxels - centre) * scale) ** 2).sum(axis=1)))]
    k, j, i = (int(v) for v in nearest)
    return i, j, k


def _union_box(a: tuple[slice, ...], b: tuple[slice, ...]) -> tuple[slice, ...]:
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b))


def _compare(truth: NoduleMask, predicted: NoduleMask | None, volume: Volume) -> dict[str, Any]:
    """Dice 3D/2D and slice ranges of ``predicted`` against ``truth`` (masks in scan space)."""
    true_range = (truth.offset_zyx[0], truth.offset_zyx[0] + truth.mask.shape[0] - 1)
    areas = truth.mask.sum(axis=(1, 2))
    central_k = truth.offset_zyx[0] + int(np.argmax(areas))
    result = {"central_k": central_k, "true_k_first": true_range[0], "true_k_last": true_range[1]}
    if predicted is None or predicted.is_empty:
        over, under = slice_errors(true_range, None)
        return {**result, "dice_3d": 0.0, "dice_2d": 0.0, "pred_k_first": None, "pred_k_last": None,
                "over_slices": over, "under_slices": under}
    box = _union_box(truth.box, predicted.box)
    shape = volume.shape_zyx
    true_box, pred_box = truth.full(shape)[box], predicted.full(shape)[box]
    k_in_box = central_k - box[0].start
    predicted_range = (predicted.offset_zyx[0], predicted.offset_zyx[0] + predicted.mask.shape[0] - 1)
    over, under = slice_errors(true_range, predicted_range)
    return {**result, "dice_3d": dice(pred_box, true_box), "dice_2d": dice(pred_box[k_in_box], true_box[k_in_box]),
            "pred_k_first": predicted_range[0], "pred_k_last": predicted_range[1],
            "over_slices": over, "under_slices": under}


def evaluate_nodule(model: LoadedModel, case: TrainCase, label: int, box: tuple[slice, ...]) -> NoduleResult:
    """Segment one labelled nodule from its centre and compare (``box``: the label's bounding box)."""
    full = np.zeros(case.labels.shape, dtype=bool)
    full[box] = case.labels[box] == label
    truth = NoduleMask.from_full(full)
    truth_measures = measure(truth, case.volume)
    seed = seed_near_centroid(truth.mask, case.volume.spacing_zyx)
    seed = (seed[0] + truth.offset_zyx[2], seed[1] + truth.offset_zyx[1], seed[2] + truth.offset_zyx[0])
    started = time.perf_counter()
    try:
        predicted, error = segment_nodule(case.volume, seed, model).mask, None
    except SegmentationError as failure:
        predicted, error = None, str(failure)
    seconds = time.perf_counter() - started
    return NoduleResult(
        case_id=case.case_id, label=label, simulated=label in case.synthetic, seed_ijk=seed,
        found=predicted is not None, error=error, long_axis_mm=round(truth_measures.long_axis_mm, 2),
        equivalent_diameter_mm=round(truth_measures.equivalent_diameter_mm, 2),
        band=size_band(truth_measures.long_axis_mm), seconds=round(seconds, 4),
        **_compare(truth, predicted, case.volume))


def evaluate_model(model: LoadedModel, cases: Sequence[TrainCase], *,
                   progress: Progress | None = None) -> list[NoduleResult]:
    """Click-to-segment every labelled nodule (real and simulated) of ``cases`` and compare.

    Args:
        model: The model under test.
        cases: Cases with their label maps (``synthetic`` lists the simulated labels).
        progress: Called after each nodule with ``{"event": "nodule", "index", "total", ...}``.

    Returns:
        One result per nodule, case by case, label by label.
    """
    work = [(case, label, box) for case in cases
            for label, box in enumerate(ndimage.find_objects(case.labels), start=1) if box is not None]
    results = []
    for index, (case, label, box) in enumerate(work):
        result = evaluate_nodule(model, case, label, box)
        results.append(result)
        if progress is not None:
            progress({"event": "nodule", "index": index + 1, "total": len(work), "case": result.case_id,
                      "label": label, "band": result.band, "dice_3d": result.dice_3d, "found": result.found})
    return results


def _group(results: Sequence[NoduleResult]) -> dict[str, Any]:
    found = [r for r in results if r.found]
    mean = (lambda values: round(float(np.mean(values)), 4) if len(values) else None)
    return {"n": len(results), "found": len(found),
            "dice_3d": mean([r.dice_3d for r in results]), "dice_2d": mean([r.dice_2d for r in results]),
            "slice_error": mean([r.slice_range_error for r in found]),
            "over_slices": mean([r.over_slices for r in found]), "under_slices": mean([r.under_slices for r in found]),
            "median_s": round(float(np.median([r.seconds for r in results])), 3) if results else None}


def summarise(results: Sequence[NoduleResult]) -> dict[str, dict[str, Any]]:
    """Figures per group ``"<origin> <band>"``, ``"<origin> all"`` and ``"all"`` (empty groups left out).

    Per group: n, found, mean 3D and 2D Dice (a nodule not found counts 0), mean |slice range
    error|, over- and under-segmented slices (over found nodules only), median seconds.
    """
    summary: dict[str, dict[str, Any]] = {}
    for origin in ORIGINS:
        mine = [r for r in results if r.simulated == (origin == "simulated")]
        for band in BANDS:
            group = [r for r in mine if r.band == band]
            if group:
                summary[f"{origin} {band}"] = _group(group)
        if mine:
            summary[f"{origin} all"] = _group(mine)
    if results:
        summary["all"] = _group(results)
    return summary


SUMMARY_COLUMNS = ("group", "n", "found", "dice_3d", "dice_2d", "slice_error", "over_slices", "under_slices",
                   "median_s")
NODULE_COLUMNS = ("case_id", "label", "simulated", "texture", "band", "long_axis_mm", "equivalent_diameter_mm",
                  "dice_3d", "dice_2d", "true_k_first", "true_k_last", "pred_k_first", "pred_k_last",
                  "over_slices", "under_slices", "seconds")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table of ``rows`` restricted to ``columns`` (floats to 3 decimals, None as ``-``)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def summary_rows(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"group": name, **figures} for name, figures in summary.items()]


def results_markdown(title: str, rows: Sequence[dict[str, Any]], summary: dict[str, dict[str, Any]],
                     notes: Sequence[str] = ()) -> str:
    """The evaluation report: notes, the summary by group, then one row per nodule."""
    parts = [f"# {title}", "", *notes, *([""] if notes else []),
             "## By size band (long axis) and origin", "", markdown_table(summary_rows(summary), SUMMARY_COLUMNS),
             "", "Dice: a nodule not found counts 0. slice_error = |first slice error| + |last slice error|, "
             "over/under = slices beyond the true ends / true slices missed at the ends (found nodules only).",
             "", "## Per nodule", "", markdown_table(rows, NODULE_COLUMNS)]
    missed = [r for r in rows if not r["found"]]
    if missed:
        parts += ["", "## Not found", "", *(f"- {r['case_id']} label {r['label']}: {r['error']}" for r in missed)]
    return "\n".join(parts) + "\n"


def result_rows(results: Sequence[NoduleResult], placed: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Table rows of ``results``, with the texture of simulated nodules from ``placed`` records."""
    textures = {(p["case"], p["label"]): p.get("texture") for p in placed}
    return [{**r.to_row(), "texture": textures.get((r.case_id, r.label), "real" if not r.simulated else None)}
            for r in results]
