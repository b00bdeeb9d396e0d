"""Train/validation split by patient: deterministic, stable as data grows, kept across retrains.

Patients are ranked by sha256(seed:patient); the lowest-ranked ``round(val_fraction * n)``
(at least one, when there are two or more) validate. A retrain from a parent keeps the
parent's validation patients (and adds new ones only to reach the share), so Dice values of
two versions compare.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .data import TrainCase


@dataclass(frozen=True)
class Split:
    """Case ids for training and validation, and the patients behind the validation cases."""

    train_cases: tuple[str, ...]
    val_cases: tuple[str, ...]
    val_patients: tuple[str, ...]
    seed: int
    val_fraction: float

    def to_json(self) -> dict:
        return {"method": "patients ranked by sha256(seed:patient); lowest validate",
                "seed": self.seed, "val_fraction": self.val_fraction,
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
