"""Per-nodule accuracy of a model: click-to-segment each reference nodule, as a reader would,
and score the outline against the reference (the 50%-consensus mask for LIDC).

Each nodule is clicked at its centre (the reference voxel nearest its centroid), and again at
``moved_clicks`` voxels of the reference 1-3 mm from it, since readers do not click the exact
centre. Beside the model, a -400 HU threshold with the 3D component at the click scores the
same nodules: the figure any model must beat. A crop scores only the nodule it was cut around.
Scores come from ``core.metrics``; grouping and intervals are in ``summary.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from scipy import ndimage

from noduleseg.core import metrics
from noduleseg.core.errors import SegmentationError
from noduleseg.core.measure import measure
from noduleseg.core.model_io import LoadedModel
from noduleseg.core.nodule_mask import NoduleMask
from noduleseg.core.segment import segment_nodule
from noduleseg.core.volume import Volume

from .data import TrainCase

MOVED_CLICK_MM = (1.0, 3.0)
BASELINE_HU = -400.0
BASELINE_REACH_MM = 40.0  # the threshold's component is followed this far from the click
SIMULATED_TEXTURES = {"ground-glass": "ground glass", "part-solid": "part-solid", "solid": "solid"}

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class NoduleResult:
    """One nodule's evaluation.

    Attributes:
        case_id, patient_id, label: Which nodule (label value in the case's label map).
        simulated: Placed by ``training.synthetic`` (else a real, reader-outlined nodule).
        diameter_mm: The readers' median diameter where known, else the reference long axis.
        band: Size band of ``diameter_mm`` (``core.metrics.SIZE_BANDS``).
        texture: Ground glass, part-solid, solid (None where unknown).
        seed_ijk: The centre click (ITK i, j, k).
        found: The model returned a mask at the centre click (else Dice 0).
        error: The error message when nothing was found.
        dice_3d: Dice of the 3D outline against the reference.
        dice_2d: Dice on the central slice (largest reference area).
        hd95_mm: 95% Hausdorff distance in 3D (None when nothing was found).
        volume_error_pct: Signed volume error (-100 when nothing was found).
        true_k_first, true_k_last, pred_k_first, pred_k_last: Slice ranges (pred None: not found).
        over_slices, under_slices: Slices outlined past the reference ends / reference slices
            missed at its ends.
        moved_dice_3d: Mean 3D Dice over the moved clicks (None when none was made).
        moved_clicks: How many moved clicks were made.
        baseline_dice_3d: 3D Dice of the -400 HU threshold's component at the centre click.
        seconds: Wall time of the centre click's ``segment_nodule``.
    """

    case_id: str
    patient_id: str
    label: int
    simulated: bool
    diameter_mm: float
    band: str
    texture: str | None
    seed_ijk: tuple[int, int, int]
    found: bool
    error: str | None
    dice_3d: float
    dice_2d: float
    hd95_mm: float | None
    volume_error_pct: float
    true_k_first: int
    true_k_last: int
    pred_k_first: int | None
    pred_k_last: int | None
    over_slices: int
    under_slices: int
    moved_dice_3d: float | None
    moved_clicks: int
    baseline_dice_3d: float
    seconds: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "NoduleResult":
        """The result back from a ``to_row`` dict (extra keys ignored)."""
        values = {f.name: row[f.name] for f in fields(cls)}
        return cls(**{**values, "seed_ijk": tuple(values["seed_ijk"])})

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["seed_ijk"] = list(self.seed_ijk)
        return row


def slice_range(mask_zyx: np.ndarray) -> tuple[int, int] | None:
    """First and last slice k holding the mask; None when it is empty."""
    ks = np.flatnonzero(np.asarray(mask_zyx).any(axis=(1, 2)))
    return (int(ks[0]), int(ks[-1])) if ks.size else None


def slice_errors(true_range: tuple[int, int], predicted_range: tuple[int, int] | None) -> tuple[int, int]:
    """Slices outlined beyond the nodule's ends (over) and nodule slices missed at its ends
    (under); nothing predicted misses every slice."""
    (t0, t1) = true_range
    if predicted_range is None:
        return 0, t1 - t0 + 1
    p0, p1 = predicted_range
    return max(0, t0 - p0) + max(0, p1 - t1), max(0, p0 - t0) + max(0, t1 - p1)


def seed_near_centroid(truth: np.ndarray, spacing_zyx: Sequence[float]) -> tuple[int, int, int]:
    """The mask voxel nearest (in mm) the mask's centroid, as ITK (i, j, k) of ``truth``'s array."""
    return NoduleMask(np.asarray(truth, dtype=bool), (0, 0, 0)).central_voxel_ijk(tuple(spacing_zyx))


def moved_seeds(truth: np.ndarray, centre_ijk: tuple[int, int, int], spacing_zyx: Sequence[float],
                count: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Up to ``count`` voxels of ``truth`` 1-3 mm from the centre click (ITK i, j, k).

    A nodule too small to hold a voxel 1 mm from its centre gives its voxels farthest from it.
    """
    if count <= 0:
        return []
    voxels = np.argwhere(truth)
    centre = np.asarray(centre_ijk[::-1], dtype=float)
    distance = np.sqrt((((voxels - centre) * np.asarray(spacing_zyx, dtype=float)) ** 2).sum(axis=1))
    low, high = MOVED_CLICK_MM
    candidates = np.flatnonzero((distance >= low) & (distance <= high))
    if not candidates.size:
        near = np.flatnonzero((distance > 0) & (distance <= high))
        candidates = near[np.argsort(-distance[near])][:count]
    chosen = rng.choice(candidates, size=min(count, candidates.size), replace=False) if candidates.size else []
    return [tuple(int(v) for v in voxels[n][::-1]) for n in chosen]  # type: ignore[misc]


def threshold_component(volume: Volume, seed_ijk: tuple[int, int, int], hu_min: float = BASELINE_HU,
                        reach_mm: float = BASELINE_REACH_MM) -> NoduleMask:
    """The baseline: voxels above ``hu_min`` connected (faces) to the click, within ``reach_mm``
    of it; the nearest such voxel within 3 mm stands in for a click on lower HU."""
    i, j, k = seed_ijk
    seed_zyx = np.array([k, j, i])
    half = np.ceil(reach_mm / np.asarray(volume.spacing_zyx)).astype(int)
    low = np.maximum(seed_zyx - half, 0)
    high = np.minimum(seed_zyx + half + 1, volume.shape_zyx)
    box = tuple(slice(a, b) for a, b in zip(low, high))
    dense = volume.hu[box] > hu_min
    labels, _ = ndimage.label(dense)
    local = tuple(seed_zyx - low)
    label = labels[local]
    if not label:
        points = np.argwhere(labels > 0)
        if points.size:
            mm = np.sqrt((((points - np.asarray(local)) * np.asarray(volume.spacing_zyx)) ** 2).sum(axis=1))
            if mm.min() <= 3.0:
                label = labels[tuple(points[int(np.argmin(mm))])]
    full = np.zeros(volume.shape_zyx, dtype=bool)
    if label:
        full[box] = labels == label
    return NoduleMask.from_full(full)


def _union_box(masks: Sequence[NoduleMask]) -> tuple[slice, ...]:
    boxes = [m.box for m in masks if not m.is_empty]
    return tuple(slice(min(b[a].start for b in boxes), max(b[a].stop for b in boxes)) for a in range(3))


def _in_box(mask: NoduleMask | None, box: tuple[slice, ...]) -> np.ndarray:
    out = np.zeros(tuple(s.stop - s.start for s in box), dtype=bool)
    if mask is None or mask.is_empty:
        return out
    place = tuple(slice(o - b.start, o - b.start + n) for o, b, n in zip(mask.offset_zyx, box, mask.mask.shape))
    out[place] = mask.mask
    return out


def outline_scores(truth: NoduleMask, predicted: NoduleMask | None, spacing_zyx: Sequence[float]) -> dict[str, Any]:
    """3D and central-slice Dice, HD95, volume error and slice-range errors of one outline."""
    true_range = (truth.offset_zyx[0], truth.offset_zyx[0] + truth.mask.shape[0] - 1)
    central_k = truth.offset_zyx[0] + int(np.argmax(truth.mask.sum(axis=(1, 2))))
    scores: dict[str, Any] = {"true_k_first": true_range[0], "true_k_last": true_range[1]}
    if predicted is None or predicted.is_empty:
        over, under = slice_errors(true_range, None)
        return {**scores, "dice_3d": 0.0, "dice_2d": 0.0, "hd95_mm": None, "volume_error_pct": -100.0,
                "pred_k_first": None, "pred_k_last": None, "over_slices": over, "under_slices": under}
    box = _union_box([truth, predicted])
    true_box, pred_box = _in_box(truth, box), _in_box(predicted, box)
    k = central_k - box[0].start
    predicted_range = (predicted.offset_zyx[0], predicted.offset_zyx[0] + predicted.mask.shape[0] - 1)
    over, under = slice_errors(true_range, predicted_range)
    return {**scores, "dice_3d": metrics.dice(pred_box, true_box), "dice_2d": metrics.dice(pred_box[k], true_box[k]),
            "hd95_mm": metrics.hd95_mm(pred_box, true_box, spacing_zyx),
            "volume_error_pct": metrics.volume_error_pct(predicted.voxel_count, truth.voxel_count),
            "pred_k_first": predicted_range[0], "pred_k_last": predicted_range[1],
            "over_slices": over, "under_slices": under}


def _segment(model: LoadedModel, volume: Volume, seed: tuple[int, int, int]) -> tuple[NoduleMask | None, str | None]:
    try:
        return segment_nodule(volume, seed, model).mask, None
    except SegmentationError as failure:
        return None, str(failure)


def reference_diameter_mm(case: TrainCase, label: int, truth: NoduleMask) -> float:
    """A reference nodule's diameter for its size band: the LIDC readers' median diameter where
    the case carries it, else the long axis of its mask (measured as the app measures)."""
    reference = case.lidc.nodule(label) if case.lidc is not None else None
    if reference is not None and reference.diameter_mm:
        return float(reference.diameter_mm)
    return measure(truth, case.volume).long_axis_mm


def _describe(case: TrainCase, label: int, truth: NoduleMask, placed: dict[tuple[str, int], dict]) -> dict[str, Any]:
    """Diameter, size band and texture of a reference nodule."""
    reference = case.lidc.nodule(label) if case.lidc is not None else None
    diameter = reference_diameter_mm(case, label, truth)
    if reference is not None:
        texture = metrics.texture_class(reference.texture)
    else:
        texture = SIMULATED_TEXTURES.get(placed.get((case.case_id, label), {}).get("texture"))
    return {"diameter_mm": round(float(diameter), 2), "band": metrics.size_band(diameter), "texture": texture}


def evaluate_nodule(model: LoadedModel, case: TrainCase, label: int, box: tuple[slice, ...], *,
                    moved_clicks: int = 0, placed: dict[tuple[str, int], dict] | None = None,
                    baseline: bool = True) -> NoduleResult:
    """Click one reference nodule at its centre (and ``moved_clicks`` moved clicks) and score it.

    Args:
        model: The model under test.
        case: The case holding the nodule.
        label: The nodule's label; ``box`` its bounding box in the label map.
        moved_clicks: Extra clicks 1-3 mm from the centre, inside the nodule.
        placed: Simulated nodule records by (case id, label), for their texture.
        baseline: Score the -400 HU baseline too (else its Dice is NaN).
    """
    full = np.zeros(case.labels.shape, dtype=bool)
    full[box] = case.labels[box] == label
    truth = NoduleMask.from_full(full)
    spacing = case.volume.spacing_zyx
    i, j, k = seed_near_centroid(truth.mask, spacing)
    offset_k, offset_j, offset_i = truth.offset_zyx
    seed = (i + offset_i, j + offset_j, k + offset_k)
    started = time.perf_counter()
    predicted, error = _segment(model, case.volume, seed)
    seconds = time.perf_counter() - started
    rng = np.random.default_rng([sum(map(ord, case.case_id)), label, 7])
    moved = [(a + offset_i, b + offset_j, c + offset_k)
             for a, b, c in moved_seeds(truth.mask, (i, j, k), spacing, moved_clicks, rng)]
    moved_dice = [outline_scores(truth, _segment(model, case.volume, click)[0], spacing)["dice_3d"] for click in moved]
    baseline_dice = (outline_scores(truth, threshold_component(case.volume, seed), spacing)["dice_3d"]
                     if baseline else float("nan"))
    return NoduleResult(
        case_id=case.case_id, patient_id=case.patient_id, label=label, simulated=label in case.synthetic,
        **_describe(case, label, truth, placed or {}), seed_ijk=seed, found=predicted is not None, error=error,
        **outline_scores(truth, predicted, spacing),
        moved_dice_3d=float(np.mean(moved_dice)) if moved_dice else None, moved_clicks=len(moved_dice),
        baseline_dice_3d=baseline_dice, seconds=round(seconds, 4))


def reference_nodules(cases: Sequence[TrainCase]) -> list[tuple[TrainCase, int, tuple[slice, ...]]]:
    """(case, label, box) of every nodule the cases hold whole (a crop: its own nodule)."""
    work = []
    for case in cases:
        whole = set(case.whole_nodules())
        for label, box in enumerate(ndimage.find_objects(case.labels), start=1):
            if box is not None and label in whole:
                work.append((case, label, box))
    return work


def evaluate_model(model: LoadedModel, cases: Sequence[TrainCase], *, moved_clicks: int = 0,
                   placed: Sequence[dict] = (), baseline: bool = True,
                   progress: Progress | None = None) -> list[NoduleResult]:
    """Click-to-segment every whole reference nodule (real and simulated) of ``cases`` and score it.

    Args:
        model: The model under test.
        cases: Cases with their label maps (``synthetic`` lists the simulated labels).
        moved_clicks: Extra clicks per nodule 1-3 mm from its centre.
        placed: Records of the simulated nodules (their texture).
        baseline: Score the -400 HU baseline too.
        progress: Called after each nodule with ``{"event": "nodule", "index", "total", ...}``.

    Returns:
        One result per nodule, case by case, label by label.
    """
    by_key = {(p["case"], p["label"]): p for p in placed}
    work = reference_nodules(cases)
    results = []
    for index, (case, label, box) in enumerate(work):
        result = evaluate_nodule(model, case, label, box, moved_clicks=moved_clicks, placed=by_key, baseline=baseline)
        results.append(result)
        if progress is not None:
            progress({"event": "nodule", "index": index + 1, "total": len(work), "case": result.case_id,
                      "label": label, "band": result.band, "dice_3d": result.dice_3d, "found": result.found})
    return results
