""""How well does the model do on my data": accepted nodules and their first-mask Dice.

Every accepted nodule's provenance (``app/keeping.py``) records the model version that made
the first mask and the Dice between that first mask and the mask the reader accepted. Read
in the order they were accepted, they give a running mean per model version: a reader sees
whether retraining helped. Pure functions over the corrections folder; no Qt.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from noduleseg.core.cases import image_path
from noduleseg.core.case_check import IncompleteCase, incomplete_cases

RECENT = 10  # the "recent" mean covers the last this many nodules of a version


@dataclass(frozen=True)
class AcceptedNodule:
    """One accepted nodule as its provenance describes it.

    Attributes:
        dataset: The corrections folder holding the case.
        case_id: The training case.
        model_version: Version that made the first mask ("" when drawn by hand).
        dice_first: Dice of the model's first mask against the accepted one (None: hand-drawn).
        time: When it was accepted (ISO text, sorts in time order).
        seed_ijk: The click, in the case's own (cropped) voxel indices.
    """

    dataset: Path
    case_id: str
    model_version: str
    dice_first: float | None
    time: str
    seed_ijk: tuple[int, int, int] | None


def _local_seed(provenance: dict[str, Any]) -> tuple[int, int, int] | None:
    seed, box = provenance.get("seed_ijk"), provenance.get("crop_box_zyx")
    if not seed or len(seed) != 3:
        return None
    if not box:
        return tuple(int(v) for v in seed)
    (z0, _), (y0, _), (x0, _) = box
    return int(seed[0]) - int(x0), int(seed[1]) - int(y0), int(seed[2]) - int(z0)


def from_provenance(dataset: Path, case_id: str, provenance: dict[str, Any]) -> AcceptedNodule:
    dice = provenance.get("dice_first_vs_accepted")
    return AcceptedNodule(Path(dataset), case_id, str(provenance.get("model_version") or ""),
                          None if dice is None else float(dice), str(provenance.get("time", "")),
                          _local_seed(provenance))


@dataclass(frozen=True)
class CorrectionsListing:
    """A corrections folder's accepted nodules, and the cases left out of the list with why."""

    nodules: list[AcceptedNodule]
    skipped: list[IncompleteCase]


def list_corrections(dataset: str | Path) -> CorrectionsListing:
    """The accepted nodules of a corrections folder in acceptance order; half-written or damaged
    cases (``core.case_check``) are skipped and named, so one bad file hides nothing else."""
    dataset = Path(dataset)
    skipped = incomplete_cases(dataset)
    broken = {case.case_id for case in skipped}
    found = []
    for path in sorted((dataset / "provenance").glob("*.json")):
        case_id = path.name[: -len(".json")]
        if case_id in broken or not image_path(dataset, case_id).exists():
            continue
        nodule = _read_nodule(dataset, case_id, path)
        if isinstance(nodule, str):
            skipped.append(IncompleteCase(case_id, (path,), nodule))
        else:
            found.append(nodule)
    return CorrectionsListing(sorted(found, key=lambda n: (n.time, n.case_id)), skipped)


def _read_nodule(dataset: Path, case_id: str, path: Path) -> AcceptedNodule | str:
    """The nodule a provenance file describes, or why it cannot be read."""
    try:
        provenance = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # damaged since the check
        return f"{path} is not readable JSON ({error})"
    if not isinstance(provenance, dict):
        return f"{path} is not a JSON object"
    try:
        return from_provenance(dataset, case_id, provenance)
    except (TypeError, ValueError) as error:
        return f"{path} has malformed fields ({error})"


def accepted_nodules(dataset: str | Path) -> list[AcceptedNodule]:
    """The accepted nodules of a corrections folder that are whole, in acceptance order."""
    return list_corrections(dataset).nodules


@dataclass(frozen=True)
class VersionScore:
    """First-mask Dice of one model version on the reader's accepted nodules.

    Attributes:
        version: The model version.
        running: Running mean after each of its nodules, in acceptance order.
        recent_mean: Mean of its last ``RECENT`` nodules.
        first_time: When its first nodule was accepted (orders versions as the reader met them).
    """

    version: str
    running: tuple[float, ...]
    recent_mean: float
    first_time: str

    @property
    def n(self) -> int:
        return len(self.running)

    @property
    def mean(self) -> float:
        return self.running[-1]


def running_means(nodules: Iterable[AcceptedNodule]) -> list[VersionScore]:
    """Per model version, the running mean Dice of its first masks (hand-drawn ones skipped)."""
    by_version: dict[str, list[AcceptedNodule]] = {}
    for nodule in sorted(nodules, key=lambda n: (n.time, n.case_id)):
        if nodule.dice_first is not None and nodule.model_version:
            by_version.setdefault(nodule.model_version, []).append(nodule)
    scores = []
    for version, items in by_version.items():
        values = np.array([n.dice_first for n in items], dtype=float)
        running = np.cumsum(values) / np.arange(1, len(values) + 1)
        scores.append(VersionScore(version, tuple(float(v) for v in running),
                                   float(values[-RECENT:].mean()), items[0].time))
    return sorted(scores, key=lambda s: (s.first_time, s.version))


def my_data_scores(datasets: Sequence[str | Path]) -> list[VersionScore]:
    """``running_means`` over every accepted nodule of the given corrections folders."""
    return my_data(datasets)[0]


def my_data(datasets: Sequence[str | Path]) -> tuple[list[VersionScore], list[IncompleteCase]]:
    """``running_means`` over the folders' accepted nodules, and the cases skipped."""
    listings = [list_corrections(d) for d in datasets]
    return (running_means([n for listing in listings for n in listing.nodules]),
            [case for listing in listings for case in listing.skipped])
