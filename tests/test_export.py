"""Measurement tables and label maps from nodules."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from noduleseg.core.export import labels_from_nodules, write_measurements
from noduleseg.core.labels_io import ExportError
from noduleseg.core.nodule_mask import NoduleMask

ROWS = [{"label": 1, "long_axis_mm": 12.5, "volume_mm3": 800.0},
        {"label": 2, "long_axis_mm": 4.25, "volume_mm3": 30.5, "note": "juxta-pleural"}]


def test_csv_has_every_column_and_row(tmp_path):
    path = write_measurements(ROWS, tmp_path / "m.csv")
    with open(path, newline="") as stream:
        read = list(csv.DictReader(stream))
    assert list(read[0]) == ["label", "long_axis_mm", "volume_mm3", "note"]
    assert [r["long_axis_mm"] for r in read] == ["12.5", "4.25"]
    assert read[0]["note"] == "" and read[1]["note"] == "juxta-pleural"


def test_json_round_trips(tmp_path):
    path = write_measurements(ROWS, tmp_path / "m.JSON")
    assert json.loads(path.read_text()) == ROWS


def test_existing_file_needs_overwrite_and_suffix_is_checked(tmp_path):
    target = tmp_path / "m.csv"
    target.write_text("old")
    with pytest.raises(ExportError, match="exists"):
        write_measurements(ROWS, target)
    assert target.read_text() == "old"
    write_measurements(ROWS, target, overwrite=True)
    assert target.read_text().startswith("label,")
    with pytest.raises(ExportError, match=".csv or .json"):
        write_measurements(ROWS, tmp_path / "m.xlsx")


def test_labels_number_nodules_in_order():
    first = np.zeros((4, 5, 6), bool)
    first[1:3, 1:3, 1:3] = True
    second = np.zeros((4, 5, 6), bool)
    second[2:4, 2:5, 2:6] = True  # overlaps the first at [2, 2, 2]
    labels = labels_from_nodules([NoduleMask.from_full(first), NoduleMask.from_full(second)], (4, 5, 6))
    assert labels.dtype == np.uint8
    assert labels[1, 1, 1] == 1 and labels[2, 2, 2] == 1 and labels[3, 4, 5] == 2
    assert np.count_nonzero(labels == 2) == second.sum() - 1
    assert labels[0].max() == 0


def test_labels_refuse_a_nodule_outside_the_shape():
    nodule = NoduleMask(np.ones((2, 2, 2), bool), (3, 0, 0))
    with pytest.raises(ExportError, match="outside"):
        labels_from_nodules([nodule], (4, 4, 4))
