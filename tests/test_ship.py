"""Shipping a version: files copied, the card renamed and given licence, attribution and the
evaluations that justify it; a folder whose weights do not match its card is refused."""

from __future__ import annotations

import json
import shutil

import pytest

from noduleseg.core.errors import ModelError
from noduleseg.core.model_io import load_model
from noduleseg.training.cli import main


def test_ship_copies_the_version_and_puts_its_evaluations_on_the_card(blob_model, tmp_path, capsys):
    evaluation = tmp_path / "val.json"
    evaluation.write_text(json.dumps({"split": "lidc:val", "model_version": "test-blobs",
                                      "summary": {"all": {"n": 3, "dice_3d": [0.8, 0.7, 0.9]}}, "nodules": []}))
    target = tmp_path / "shipped"
    assert main(["ship", str(blob_model.folder), "--name", "shipped-9", "--evaluation", str(evaluation),
                 "--to", str(target)]) == 0
    shipped = load_model(target)  # the sha256 check passes on the copied weights
    assert shipped.version == "shipped-9" and shipped.card["registry_version"] == "test-blobs"
    assert shipped.card["evaluation"]["lidc:val"]["summary"]["all"]["dice_3d"] == [0.8, 0.7, 0.9]
    assert "CC BY 3.0" in shipped.card["licence"] and "10.7937/K9/TCIA.2015.LO9QL9SX" in shipped.card["attribution"]
    capsys.readouterr()


def test_ship_refuses_weights_that_do_not_match_and_an_unreadable_evaluation(blob_model, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(blob_model.folder, broken)
    (broken / "weights.pt").write_bytes(b"not the weights")
    assert main(["ship", str(broken), "--name", "x", "--to", str(tmp_path / "out")]) == 2
    assert "sha256 does not match" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{}")
    from noduleseg.training.ship import ship
    with pytest.raises(ModelError, match="bad.json: not an evaluation"):
        ship(blob_model.folder, tmp_path / "out", "x", [tmp_path / "bad.json"])
