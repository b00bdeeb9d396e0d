"""Evaluation results grouped by size band, texture and origin, each figure with a 95% bootstrap
interval over patients, and the tables the README, the model card and the reports print.

Means are over nodules (a nodule not found counts Dice 0). The 95% Hausdorff distance and the
volume error are medians: one outline run along a vessel would otherwise decide the figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from noduleseg.core import metrics

from .evaluate import NoduleResult

ALL = "all"


def _median(values: np.ndarray) -> float:
    return float(np.median(values))


def _ci(results: Sequence[NoduleResult], value: Callable[[NoduleResult], float | None],
        statistic: Callable[[np.ndarray], float] = np.mean, resamples: int = 2000) -> list[float] | None:
    """[estimate, low, high] over the nodules that have a value; None when none has."""
    kept = [(v, r.patient_id) for r in results if (v := value(r)) is not None]
    if not kept:
        return None
    values, patients = zip(*kept)
    estimate, low, high = metrics.bootstrap_ci(values, patients, statistic=statistic, resamples=resamples)
    return [round(estimate, 4), round(low, 4), round(high, 4)]


def group_figures(results: Sequence[NoduleResult], resamples: int = 2000) -> dict[str, Any]:
    """The figures of one group of nodules ([estimate, low, high] where an interval is given)."""
    found = [r for r in results if r.found]
    mean = (lambda values: round(float(np.mean(values)), 3) if len(values) else None)
    return {
        "n": len(results), "patients": len({r.patient_id for r in results}), "found": len(found),
        "dice_3d": _ci(results, lambda r: r.dice_3d, resamples=resamples),
        "moved_dice_3d": _ci(results, lambda r: r.moved_dice_3d, resamples=resamples),
        "dice_2d": _ci(results, lambda r: r.dice_2d, resamples=resamples),
        "hd95_mm": _ci(found, lambda r: r.hd95_mm, _median, resamples),
        "abs_volume_error_pct": _ci(results, lambda r: abs(r.volume_error_pct), _median, resamples),
        "over_slices": mean([r.over_slices for r in found]), "under_slices": mean([r.under_slices for r in found]),
        "baseline_dice_3d": _ci(results, lambda r: r.baseline_dice_3d, resamples=resamples),
        "median_s": round(float(np.median([r.seconds for r in results])), 3) if results else None,
    }


def groups(results: Sequence[NoduleResult]) -> dict[str, list[NoduleResult]]:
    """``all``, then size bands, textures and (where simulated nodules are present) origins,
    leaving out empty groups."""
    named = {ALL: list(results)}
    named.update({band: [r for r in results if r.band == band] for _, _, band in metrics.SIZE_BANDS})
    named.update({texture: [r for r in results if r.texture == texture] for texture in metrics.TEXTURES})
    if any(r.simulated for r in results):
        named["real"] = [r for r in results if not r.simulated]
        named["simulated"] = [r for r in results if r.simulated]
    return {name: members for name, members in named.items() if members}


def summarise(results: Sequence[NoduleResult], resamples: int = 2000) -> dict[str, dict[str, Any]]:
    """Figures per group (``groups``)."""
    return {name: group_figures(members, resamples) for name, members in groups(results).items()}


def _interval(figure: list[float] | None, digits: int = 3) -> str:
    if figure is None:
        return "-"
    estimate, low, high = figure
    return f"{estimate:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def summary_table(summary: dict[str, dict[str, Any]]) -> str:
    """The summary as one markdown table, intervals in brackets."""
    header = ("| nodules | n (patients) | 3D Dice | clicks moved 1-3 mm | 2D Dice, central slice | HD95 mm (median) "
              "| abs. volume error % (median) | slices past / short of the ends | -400 HU + component |")
    lines = [header, "|" + "---|" * 9]
    for name, f in summary.items():
        ends = "-" if f["over_slices"] is None else f"{f['over_slices']:.2f} / {f['under_slices']:.2f}"
        lines.append(f"| {name} | {f['n']} ({f['patients']}) | {_interval(f['dice_3d'])} | "
                     f"{_interval(f['moved_dice_3d'])} | {_interval(f['dice_2d'])} | {_interval(f['hd95_mm'], 1)} | "
                     f"{_interval(f['abs_volume_error_pct'], 0)} | {ends} | {_interval(f['baseline_dice_3d'])} |")
    return "\n".join(lines)


NODULE_COLUMNS = ("case_id", "label", "simulated", "band", "texture", "diameter_mm", "dice_3d", "moved_dice_3d",
                  "dice_2d", "hd95_mm", "volume_error_pct", "true_k_first", "true_k_last", "pred_k_first",
                  "pred_k_last", "over_slices", "under_slices", "baseline_dice_3d", "seconds")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table of ``rows`` restricted to ``columns`` (floats to 3 decimals, None as ``-``)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def results_markdown(title: str, results: Sequence[NoduleResult], summary: dict[str, dict[str, Any]],
                     notes: Sequence[str] = ()) -> str:
    """The evaluation report: notes, the summary by group, then one row per nodule."""
    parts = [f"# {title}", "", *notes, *([""] if notes else []), "## By size band and texture", "",
             summary_table(summary), "",
             "Means over nodules with 95% bootstrap intervals over patients; a nodule not found counts Dice 0. "
             "HD95 over the nodules found. Slices past / short: mean slices outlined beyond the reference's ends "
             "and reference slices missed at its ends (nodules found).", "", "## Per nodule", "",
             markdown_table([r.to_row() for r in results], NODULE_COLUMNS)]
    missed = [r for r in results if not r.found]
    if missed:
        parts += ["", "## Not found", "", *(f"- {r.case_id} label {r.label}: {r.error}" for r in missed)]
    return "\n".join(parts) + "\n"


def paired_difference(new: Sequence[NoduleResult], old: Sequence[NoduleResult],
                      resamples: int = 2000) -> dict[str, list[float] | int]:
    """3D Dice of ``new`` minus ``old`` on the same nodules, mean per nodule with a 95% bootstrap
    interval over patients (centre clicks, and moved clicks where both made them).

    Raises:
        ValueError: The two evaluations did not score the same nodules from the same clicks.
    """
    key = (lambda r: (r.case_id, r.label, tuple(r.seed_ijk)))
    old_by_key = {key(r): r for r in old}
    if sorted(map(key, new)) != sorted(old_by_key):
        raise ValueError("the two evaluations did not score the same nodules from the same clicks")
    pairs = [(r, old_by_key[key(r)]) for r in new]
    centre = metrics.bootstrap_ci([a.dice_3d - b.dice_3d for a, b in pairs], [a.patient_id for a, _ in pairs],
                                  resamples=resamples)
    moved = [(a.moved_dice_3d - b.moved_dice_3d, a.patient_id) for a, b in pairs
             if a.moved_dice_3d is not None and b.moved_dice_3d is not None]
    moved_ci = metrics.bootstrap_ci(*zip(*moved), resamples=resamples) if moved else (float("nan"),) * 3
    return {"n": len(pairs), "dice_3d": [round(v, 4) for v in centre],
            "moved_dice_3d": [round(v, 4) for v in moved_ci]}
