"""Splits by patient: drawn per run (train/validation), or fixed and committed (train/validation/
test, ``training/splits/``), deterministic and stable as data grows, kept across retrains.

Patients are ranked by sha256(seed:patient); the lowest-ranked ``round(val_fraction * n)``
(at least one, when there are two or more) validate. A retrain from a parent keeps the
parent's validation patients (and adds new ones only to reach the share), so Dice values of
two versions compare.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from noduleseg.core.errors import NodulesegError

from .data import TrainCase


@dataclass(frozen=True)
class Split:
    """Case ids for training and validation, and the patients behind the validation cases."""

    train_cases: tuple[str, ...]
    val_cases: tuple[str, ...]
    val_patients: tuple[str, ...]
    seed: int
    val_fraction: float
    fixed: str | None = None

    def to_json(self) -> dict:
        method = (f"the committed split {self.fixed!r}; its test patients left out" if self.fixed
                  else "patients ranked by sha256(seed:patient); lowest validate")
        return {"method": method, "fixed_split": self.fixed, "seed": self.seed, "val_fraction": self.val_fraction,
                "train_cases": list(self.train_cases), "val_cases": list(self.val_cases),
                "val_patients": list(self.val_patients)}


def patient_unit(patient_id: str, seed: int) -> float:
    """A stable number in [0, 1) for a patient and seed."""
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def split_cases(cases: Sequence[TrainCase], val_fraction: float, seed: int,
                keep_val_patients: Iterable[str] = ()) -> Split:
    """Split cases by patient.

    Args:
        cases: All cases.
        val_fraction: Target share of validation patients; 0 means no validation.
        seed: Split seed.
        keep_val_patients: Patients that validated in the parent version; they stay there.

    Returns:
        The split; with one patient or ``val_fraction == 0`` nothing validates.
    """
    patients = sorted({case.patient_id for case in cases})
    ranked = sorted(patients, key=lambda p: patient_unit(p, seed))
    val = set(keep_val_patients) & set(patients)
    target = max(1, round(val_fraction * len(patients))) if val_fraction > 0 and len(patients) > 1 else 0
    for patient in ranked:
        if len(val) >= target:
            break
        val.add(patient)
    train_ids = tuple(c.case_id for c in cases if c.patient_id not in val)
    val_ids = tuple(c.case_id for c in cases if c.patient_id in val)
    return Split(train_ids, val_ids, tuple(sorted(val)), seed, val_fraction)


# --- the committed split ----------------------------------------------------------------

SPLIT_SCHEMA = 1
ROLES = ("train", "val", "test")


class SplitError(NodulesegError):
    """A split file cannot be read or does not describe a split."""


@dataclass(frozen=True)
class FixedSplit:
    """A split of patients into train, validation and test, fixed once and committed.

    Validation picks stages, epochs and thresholds; test is only ever reported. Patients the
    file does not list (a reader's own corrections) train.

    Attributes:
        name: The split's name (its file's stem).
        patients: Role -> patient ids.
        method: How it was drawn (for the card).
    """

    name: str
    patients: dict[str, tuple[str, ...]]
    method: str

    def role(self, patient_id: str) -> str:
        """``train``, ``val`` or ``test`` (unlisted patients train)."""
        return next((role for role in ROLES if patient_id in self.patients[role]), "train")

    def cases(self, cases: Sequence[TrainCase], role: str) -> list[TrainCase]:
        """The cases whose patient has ``role`` (``all``: every case)."""
        if role == "all":
            return list(cases)
        if role not in ROLES:
            raise SplitError(f"split role {role!r} is not one of {', '.join(ROLES)} or all")
        return [case for case in cases if self.role(case.patient_id) == role]

    def to_json(self) -> dict:
        return {"schema": SPLIT_SCHEMA, "name": self.name, "method": self.method,
                "patients": {role: list(self.patients[role]) for role in ROLES}}


def draw_fixed_split(name: str, patients: Iterable[str], test_fraction: float, val_fraction: float,
                     seed: int, forced: dict[str, str] | None = None) -> FixedSplit:
    """Rank patients by sha256(seed:patient): the first ``test_fraction`` test, the next
    ``val_fraction`` validate, the rest train; ``forced`` patients keep the role it names."""
    forced = dict(forced or {})
    ranked = sorted(set(patients) - set(forced), key=lambda p: patient_unit(p, seed))
    total = len(ranked) + len(forced)
    roles: dict[str, list[str]] = {role: sorted(p for p, r in forced.items() if r == role) for role in ROLES}
    for patient in ranked:
        role = next((r for r, share in (("test", test_fraction), ("val", val_fraction))
                     if len(roles[r]) < round(share * total)), "train")
        roles[role].append(patient)
    method = (f"patients ranked by sha256({seed}:patient): first {test_fraction:.0%} test, next "
              f"{val_fraction:.0%} validation, the rest train; fixed roles: "
              + (", ".join(f"{p} {r}" for p, r in sorted(forced.items())) or "none"))
    return FixedSplit(name, {role: tuple(sorted(roles[role])) for role in ROLES}, method)


def committed_split_path(name: str) -> Path:
    """The file of a split committed with the package (``training/splits/<name>.json``)."""
    return Path(str(resources.files("noduleseg.training") / "splits" / f"{name}.json"))


def load_fixed_split(name_or_path: str | Path) -> FixedSplit:
    """A committed split by name (``lidc``) or a split file by path.

    Raises:
        SplitError: The file is missing, not JSON, of another schema, or lists a patient twice.
    """
    text = str(name_or_path)
    path = Path(text) if text.endswith(".json") or "/" in text else committed_split_path(text)
    try:
        data = json.loads(path.read_text())
        if data.get("schema") != SPLIT_SCHEMA:
            raise SplitError(f"{path}: split schema {data.get('schema')!r}, this version reads {SPLIT_SCHEMA}")
        patients = {role: tuple(str(p) for p in data["patients"][role]) for role in ROLES}
        split = FixedSplit(str(data.get("name", path.stem)), patients, str(data.get("method", "")))
    except FileNotFoundError:
        raise SplitError(f"{path}: no such split file (committed splits: "
                         f"{', '.join(committed_splits()) or 'none'})") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise SplitError(f"{path}: not a split file ({error!r})") from None
    listed = [p for role in ROLES for p in patients[role]]
    if len(listed) != len(set(listed)):
        raise SplitError(f"{path}: a patient is listed in two roles")
    return split


def committed_splits() -> list[str]:
    folder = committed_split_path("x").parent
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def split_by_file(cases: Sequence[TrainCase], fixed: FixedSplit, seed: int) -> Split:
    """Train and validation cases of a fixed split; test patients' cases are left out."""
    train_ids = tuple(c.case_id for c in cases if fixed.role(c.patient_id) == "train")
    val_ids = tuple(c.case_id for c in cases if fixed.role(c.patient_id) == "val")
    val_patients = tuple(sorted({c.patient_id for c in cases if fixed.role(c.patient_id) == "val"}))
    return Split(train_ids, val_ids, val_patients, seed, 0.0, fixed.name)
