"""The split: by patient, deterministic, kept across retrains."""

from __future__ import annotations

import numpy as np

from noduleseg.core.volume import Volume
from noduleseg.training.data import TrainCase
from noduleseg.training.split import split_cases

VOLUME = Volume(np.zeros((1, 1, 1), np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))


def make_cases(patients: list[str], per_patient: int = 1) -> list[TrainCase]:
    return [TrainCase(f"{p}_c{n}", p, VOLUME, np.ones((1, 1, 1), np.uint8)) for p in patients for n in range(per_patient)]


def test_split_is_deterministic_and_seed_dependent():
    cases = make_cases([f"P{n:02d}" for n in range(20)])
    first, again = split_cases(cases, 0.25, seed=3), split_cases(cases, 0.25, seed=3)
    assert first == again
    assert len(first.val_patients) == 5
    others = {split_cases(cases, 0.25, seed=s).val_patients for s in range(4, 9)}
    assert any(v != first.val_patients for v in others)


def test_cases_of_one_patient_stay_together():
    cases = make_cases([f"P{n}" for n in range(6)], per_patient=3)
    split = split_cases(cases, 0.34, seed=0)
    val_patients = {c.split("_")[0] for c in split.val_cases}
    train_patients = {c.split("_")[0] for c in split.train_cases}
    assert val_patients == set(split.val_patients) and not val_patients & train_patients
    assert len(split.val_cases) == 3 * len(split.val_patients)


def test_three_scans_give_one_validation_scan_and_one_patient_none():
    assert len(split_cases(make_cases(["A", "B", "C"]), 0.34, seed=0).val_cases) == 1
    assert split_cases(make_cases(["A"]), 0.34, seed=0).val_cases == ()


def test_retrain_keeps_the_parents_validation_patients():
    parent = split_cases(make_cases(["A", "B", "C"]), 0.34, seed=0)
    grown = make_cases(["A", "B", "C", "D", "E", "F"])
    for seed in range(5):  # whatever the new seed ranks first, the parent's patients stay
        child = split_cases(grown, 0.34, seed=seed, keep_val_patients=parent.val_patients)
        assert set(parent.val_patients) <= set(child.val_patients)
        assert len(child.val_patients) == 2
