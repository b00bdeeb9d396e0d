"""An evaluation run: a model, the cases of one role of the committed split, optional simulated
test nodules in the whole scans, the per-nodule results and their summary, written out.

Simulated test nodules are drawn per size band (3-10, 10-20, 20-30 mm library diameter, an equal
share each) so every band has nodules, from a random stream that training's simulation never
uses (training: ``[seed, case, 31]``; here ``[seed, case, band, 97]``), from shapes that the
model's card does not list among its training nodules, and only into whole scans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from noduleseg.core.atomic import write_json_atomic, write_text_atomic
from noduleseg.core.model_io import LoadedModel

from .api import DEFAULT_SHAPES
from .data import TrainCase
from .evaluate import NoduleResult, Progress, evaluate_model
from .summary import results_markdown, summarise
from .synthetic import ShapeLibrary, simulate_case

EVAL_BANDS_MM = ((3.0, 10.0), (10.0, 20.0), (20.0, 30.0))
EVAL_STREAM = 97
DEFAULT_EVAL_SEED = 1009
DEFAULT_MOVED_CLICKS = 4


def shapes_used_in_training(card: dict[str, Any]) -> set[int]:
    """Library indices of the simulated nodules a model was trained (or validated) on."""
    placed = card.get("training_data", {}).get("synthetic", [])
    return {int(p["shape_index"]) for p in placed if "shape_index" in p}


def without_shapes(library: ShapeLibrary, indices: set[int]) -> ShapeLibrary:
    """The library with ``indices`` made unselectable (a NaN diameter matches no range)."""
    meta = tuple({**m, "diameter_mm": float("nan")} if n in indices else m for n, m in enumerate(library.meta))
    return replace(library, meta=meta)


def _shares(total: int, parts: int) -> list[int]:
    return [total // parts + (n < total % parts) for n in range(parts)]


def place_test_nodules(cases: Sequence[TrainCase], total: int, library: ShapeLibrary, seed: int,
                       bands_mm: Sequence[tuple[float, float]] = EVAL_BANDS_MM) -> tuple[list[TrainCase], list[dict]]:
    """Place about ``total`` simulated nodules, an equal share per band, spread over the whole
    scans among ``cases`` (crops have no room).

    Returns:
        The cases with their new labels (listed in ``synthetic``) and one record per nodule
        placed (fewer than asked where a lung has no room).
    """
    result, placed = list(cases), []
    hosts = [n for n, case in enumerate(result) if not case.is_crop]
    for band_index, (band, band_total) in enumerate(zip(bands_mm, _shares(total, len(bands_mm)))):
        for host, count in zip(hosts, _shares(band_total, len(hosts)) if hosts else []):
            if count:
                rng = np.random.default_rng([seed, host, band_index, EVAL_STREAM])
                result[host], new = simulate_case(result[host], count, library, tuple(band), rng)
                placed += new
    return result, placed


@dataclass(frozen=True)
class Evaluation:
    """What an evaluation produced: per-nodule results, the simulated nodules, the summary."""

    model_version: str
    split: str
    results: tuple[NoduleResult, ...]
    placed: tuple[dict, ...]
    summary: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"model_version": self.model_version, "split": self.split, "summary": self.summary,
                "nodules": [r.to_row() for r in self.results], "simulated": list(self.placed)}


def evaluate_cases(model: LoadedModel, cases: Sequence[TrainCase], *, split: str = "given cases",
                   synthetic: int = 0, shapes: Path | None = None, seed: int = DEFAULT_EVAL_SEED,
                   moved_clicks: int = DEFAULT_MOVED_CLICKS, progress: Progress | None = None,
                   exclude_shapes: set[int] = frozenset()) -> Evaluation:
    """Add ``synthetic`` simulated nodules to the whole scans among ``cases`` (never a shape of
    the model's card or ``exclude_shapes``), then evaluate every whole reference nodule.

    Raises:
        DatasetError: The shape library cannot be read or has no shape for a band.
    """
    placed: list[dict] = []
    if synthetic > 0:
        used = shapes_used_in_training(model.card) | set(exclude_shapes)
        library = without_shapes(ShapeLibrary.load(shapes or DEFAULT_SHAPES), used)
        cases, placed = place_test_nodules(cases, synthetic, library, seed)
    results = evaluate_model(model, cases, moved_clicks=moved_clicks, placed=placed, progress=progress)
    return Evaluation(model.version, split, tuple(results), tuple(placed), summarise(results))


def write_evaluation(evaluation: Evaluation, json_path: Path | None, markdown_path: Path | None,
                     title: str, notes: Sequence[str] = ()) -> None:
    """Write the JSON (summary, per-nodule rows, simulated nodules) and/or the markdown report."""
    if json_path is not None:
        write_json_atomic(json_path, evaluation.to_json())
    if markdown_path is not None:
        write_text_atomic(markdown_path, results_markdown(title, evaluation.results, evaluation.summary, notes))
