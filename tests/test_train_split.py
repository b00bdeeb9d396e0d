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


# --- the committed split --------------------------------------------------------------------

import json  # noqa: E402

import pytest  # noqa: E402

from noduleseg.training.split import (  # noqa: E402
    SplitError, draw_fixed_split, load_fixed_split, split_by_file)


def test_fixed_split_draws_shares_and_keeps_forced_roles():
    patients = [f"P{n:03d}" for n in range(100)]
    split = draw_fixed_split("t", patients + ["W1", "W2"], 0.2, 0.2, seed=1, forced={"W1": "val", "W2": "train"})
    assert len(split.patients["test"]) == round(0.2 * 102) and len(split.patients["val"]) == round(0.2 * 102)
    assert "W1" in split.patients["val"] and "W2" in split.patients["train"]
    listed = [p for role in ("train", "val", "test") for p in split.patients[role]]
    assert sorted(listed) == sorted(patients + ["W1", "W2"])
    assert draw_fixed_split("t", patients, 0.2, 0.2, seed=1) == draw_fixed_split("t", patients[::-1], 0.2, 0.2, seed=1)


def test_split_by_file_leaves_test_out_and_trains_unlisted_patients(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"schema": 1, "name": "s", "patients": {"train": ["A"], "val": ["B"], "test": ["C"]}}))
    fixed = load_fixed_split(path)
    cases = make_cases(["A", "B", "C", "mine"])
    split = split_by_file(cases, fixed, seed=0)
    assert split.train_cases == ("A_c0", "mine_c0") and split.val_cases == ("B_c0",)
    assert split.val_patients == ("B",) and split.to_json()["fixed_split"] == "s"
    assert [c.case_id for c in fixed.cases(cases, "test")] == ["C_c0"]
    with pytest.raises(SplitError, match="split role"):
        fixed.cases(cases, "holdout")


def test_bad_split_files_are_refused_naming_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    for text, message in (("{", "not a split file"), ('{"schema": 9}', "schema 9"),
                          ('{"schema": 1, "patients": {"train": ["A"], "val": ["A"], "test": []}}', "two roles")):
        bad.write_text(text)
        with pytest.raises(SplitError, match=message) as error:
            load_fixed_split(bad)
        assert str(bad) in str(error.value)
    with pytest.raises(SplitError, match="no such split"):
        load_fixed_split("no-such-split")


def test_the_committed_lidc_split_holds_out_a_fifth_of_the_patients():
    split = load_fixed_split("lidc")
    sizes = {role: len(split.patients[role]) for role in ("train", "val", "test")}
    assert sizes["test"] >= 0.2 * sum(sizes.values()) - 1
    assert split.role("LIDC-IDRI-0001") == "val"
    assert split.role("LIDC-IDRI-0002") == split.role("LIDC-IDRI-0003") == "train"
