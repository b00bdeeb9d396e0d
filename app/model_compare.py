"""Compare two model versions by nodule size: on the fixed validation cases and on the reader's
accepted nodules. No Qt; the panel runs ``compare_versions`` in a worker thread.

Validation: the new version's card holds its per-nodule Dice on its validation patches. The
active version is scored on exactly those patches: from its own card when it was validated on
the same data (same fingerprint), else by re-validating it here on the patches rebuilt from the
new card (split, sampling settings) and checked against the card's fingerprint.

The reader's nodules: each accepted case's seed is segmented again with each model, and the
mask is compared with the accepted one (Dice). Nodules the new version trained on favour it;
``held_out`` marks those it has not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from noduleseg.core.errors import NodulesegError
from noduleseg.core.measure import measure
from noduleseg.core.metrics import SIZE_BANDS, dice, size_band
from noduleseg.core.nodule_mask import NoduleMask

from .retrain_state import AcceptedNodule, accepted_nodules

ALL = "all"


@dataclass(frozen=True)
class NoduleScore:
    """One nodule scored by both models (``active`` None: the active model could not score it)."""

    case: str
    diameter_mm: float
    active: float | None
    new: float
    held_out: bool = True

    @property
    def band(self) -> str:
        return size_band(self.diameter_mm)


@dataclass(frozen=True)
class BandRow:
    """Mean Dice of both models over the nodules of one size band."""

    band: str
    n: int
    held_out: int
    active: float | None
    new: float


def band_table(scores: Iterable[NoduleScore]) -> list[BandRow]:
    """One row per size band that has nodules, then ``all``."""
    scores = list(scores)
    rows = []
    for name in [name for _, _, name in SIZE_BANDS] + [ALL]:
        group = [s for s in scores if name in (ALL, s.band)]
        if not group:
            continue
        actives = [s.active for s in group if s.active is not None]
        rows.append(BandRow(name, len(group), sum(s.held_out for s in group),
                            float(np.mean(actives)) if len(actives) == len(group) else None,
                            float(np.mean([s.new for s in group]))))
    return rows


def _per_nodule(card: Mapping[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["case"], int(r["label"])): r for r in card.get("metrics", {}).get("per_nodule", [])}


def revalidate(new_card: Mapping[str, Any], model: Any) -> tuple[dict[tuple[str, int], float] | None, str]:
    """Per-nodule Dice of ``model`` on the new version's validation patches, rebuilt from its card.

    Returns:
        ((case, label) -> Dice, "") or (None, why the patches could not be rebuilt exactly).
    """
    import torch

    from noduleseg.core.model_io import InputSpec
    from noduleseg.training.api import NEGATIVE_MARGIN_MM
    from noduleseg.training.data import load_datasets
    from noduleseg.training.distributed import DistContext
    from noduleseg.training.metrics import validate
    from noduleseg.training.pool import validation_pool
    from noduleseg.training.sampling import build_sites

    config, split = new_card.get("config", {}), new_card.get("split", {})
    spec = InputSpec.from_json(new_card["input"])
    if config.get("synthetic"):
        return None, "its validation holds simulated nodules, which are not rebuilt here"
    if model.input != spec:
        return None, "the two versions take different inputs (patch size or scales)"
    cases = {c.case_id: c for c in load_datasets(new_card["training_data"]["datasets"])}
    missing = [c for c in split.get("val_cases", []) if c not in cases]
    if missing:
        return None, f"validation case {missing[0]} is no longer in the data"
    val_cases = [cases[c] for c in split["val_cases"]]
    sites = build_sites(val_cases, config["beyond_end_slices"], config["negative_ratio"], NEGATIVE_MARGIN_MM,
                        config["seed"] + 1)
    pool = validation_pool(val_cases, sites, spec, config["jitter_mm"], config["seed"])
    if pool.fingerprint() != split.get("val_fingerprint"):
        return None, "the validation data changed since the new version was trained"
    result = validate(model.net, pool, sites, spec, torch.device("cpu"), DistContext())
    return {(val_cases[index].case_id, label): dice for index, label, dice in result.per_nodule}, ""


def validation_scores(new_card: Mapping[str, Any], active: Any | None) -> tuple[list[NoduleScore], str]:
    """Both models on the new version's validation nodules; a note when the active one is missing."""
    new_rows = _per_nodule(new_card)
    note, active_dice = "", None
    if active is None:
        note = "the active model could not be loaded"
    elif (active.card.get("split", {}).get("val_fingerprint") == new_card.get("split", {}).get("val_fingerprint")
          and _per_nodule(active.card)):
        active_dice = {key: row["dice"] for key, row in _per_nodule(active.card).items()}
    else:
        active_dice, note = revalidate(new_card, active)
    scores = [NoduleScore(case, float(row["diameter_mm"]),
                          None if active_dice is None else active_dice.get((case, label)), float(row["dice"]))
              for (case, label), row in sorted(new_rows.items())]
    return scores, note


def model_dice(volume: Any, seed_ijk: Sequence[int], model: Any, accepted: np.ndarray) -> float:
    """Dice of ``model``'s outline from ``seed_ijk`` against the accepted mask (0 when it finds nothing)."""
    from noduleseg.core.errors import SegmentationError
    from noduleseg.core.segment import segment_nodule

    try:
        nodule = segment_nodule(volume, seed_ijk, model)
    except SegmentationError:
        return dice(np.zeros_like(accepted), accepted)
    return dice(nodule.mask.full(volume.shape_zyx), accepted)


def accepted_scores(nodules: Sequence[AcceptedNodule], new: Any, active: Any | None, trained_on: Iterable[str],
                    progress: Callable[[float], None] = lambda f: None,
                    cancel: Callable[[], bool] = lambda: False) -> list[NoduleScore]:
    """Both models on each accepted nodule (segmented again from its seed, in its saved crop)."""
    from noduleseg.training.data import load_case

    trained, scores = set(trained_on), []
    for index, nodule in enumerate(nodules):
        if cancel():
            raise ComparisonCancelled("comparison cancelled")
        progress(index / max(1, len(nodules)))
        if nodule.seed_ijk is None:
            continue
        try:
            case = load_case(nodule.dataset, nodule.case_id)
        except NodulesegError:
            continue  # a damaged case: training refuses it with a message; here it is left out
        accepted = case.labels > 0
        diameter = measure(NoduleMask.from_full(accepted), case.volume).long_axis_mm
        active_dice = None if active is None else model_dice(case.volume, nodule.seed_ijk, active, accepted)
        scores.append(NoduleScore(nodule.case_id, diameter, active_dice,
                                  model_dice(case.volume, nodule.seed_ijk, new, accepted),
                                  held_out=nodule.case_id not in trained))
    progress(1.0)
    return scores


class ComparisonCancelled(NodulesegError):
    """The reader stopped the comparison."""


@dataclass(frozen=True)
class Comparison:
    """The new version against the active one, per nodule (tables come from ``band_table``)."""

    new_version: str
    active_version: str
    validation: tuple[NoduleScore, ...]
    validation_note: str
    mine: tuple[NoduleScore, ...]
    new_val_dice: float | None


def compare_versions(new_folder: Path, active_folder: Path, corrections: Sequence[Path],
                     progress: Callable[[float], None] = lambda f: None,
                     cancel: Callable[[], bool] = lambda: False) -> Comparison:
    """Load both models and score them on the validation cases and the reader's nodules.

    Raises:
        ModelError: The new version cannot be loaded.
        ComparisonCancelled: ``cancel`` said so.
    """
    from noduleseg.core.model_io import load_model

    new = load_model(new_folder)
    try:
        active = load_model(active_folder)
    except NodulesegError:
        active = None
    validation, note = validation_scores(new.card, active)
    progress(0.1)
    nodules = [n for folder in corrections for n in accepted_nodules(folder)]
    trained = new.card.get("split", {}).get("train_cases", [])
    mine = accepted_scores(nodules, new, active, trained, lambda f: progress(0.1 + 0.9 * f), cancel)
    return Comparison(new.version, active.version if active is not None else "none", tuple(validation), note,
                      tuple(mine), new.card.get("metrics", {}).get("val_dice"))
