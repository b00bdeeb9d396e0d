"""Half-written training cases in a data set folder, found cheaply and set aside whole.

Accept writes a case as three files one after another (image, label map, provenance); a crash,
a full disk or a hand edit can leave an image without its label map, a label map without its
image, a provenance file without either, an empty or truncated file, or provenance that is
not JSON. Training refuses such a folder, naming the file (``training.data``); the app lists
what it skips and can move the pieces into ``incomplete/<time>/`` beside ``imagesTr/`` (same
layout below it), so nothing is deleted and training sees only whole cases.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .atomic import write_json_atomic
from .cases import (dataset_json, file_ending, image_path, instance_path, label_path, list_cases, list_label_files,
                    provenance_path)

INCOMPLETE = "incomplete"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class IncompleteCase:
    """A case that training would refuse, or whose provenance cannot be read.

    Attributes:
        case_id: The case.
        files: Its files that exist.
        problem: What is wrong, naming the file at fault.
    """

    case_id: str
    files: tuple[Path, ...]
    problem: str


def _ids(dataset: Path) -> set[str]:
    images = list_cases(dataset)
    labels = [case_id for case_id, _ in list_label_files(dataset)]
    provenance = [p.stem for p in (dataset / "provenance").glob("*.json")]
    return {*images, *labels, *provenance}


def _file_problem(path: Path) -> str:
    """Why an image file cannot be whole ("" when it may be): empty, or a .gz that is not gzip."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(2)
    except OSError as error:
        return f"{path} cannot be read ({error.strerror or error})"
    if not head:
        return f"{path} is empty (0 bytes)"
    if path.name.endswith(".gz") and head != GZIP_MAGIC:
        return f"{path} is not a gzip-compressed NIfTI file"
    return ""


def _provenance_problem(path: Path) -> str:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"{path} is not readable JSON ({error})"
    return "" if isinstance(value, dict) else f"{path} is not a JSON object"


def case_problem(dataset: Path, case_id: str) -> tuple[tuple[Path, ...], str]:
    """A case's existing files and what is wrong with it ("" when nothing found)."""
    image, label, provenance = image_path(dataset, case_id), label_path(dataset, case_id), \
        provenance_path(dataset, case_id)
    files = tuple(p for p in (image, label, instance_path(dataset, case_id), provenance) if p.exists())
    if not image.exists() and not label.exists():
        return files, f"{provenance} has neither an image nor a label map"
    if not image.exists():
        return files, f"{label} is a label map without its image {image.name} in imagesTr/"
    if not label.exists():
        return files, f"{image} is an image without its label map {label.name} in labelsTr/"
    problems = [_file_problem(image), _file_problem(label)]
    if provenance.exists():
        problems.append(_provenance_problem(provenance))
    return files, next((p for p in problems if p), "")


def incomplete_cases(dataset: str | Path) -> list[IncompleteCase]:
    """The half-written or damaged cases of a data set folder, by case id (no image is decoded)."""
    dataset = Path(dataset)
    found = []
    for case_id in sorted(_ids(dataset)):
        files, problem = case_problem(dataset, case_id)
        if problem:
            found.append(IncompleteCase(case_id, files, problem))
    return found


def set_aside_cases(dataset: str | Path, cases: list[IncompleteCase], now: float | None = None) -> Path:
    """Move the files of ``cases`` into ``dataset/incomplete/<time>/`` (same layout), then
    refresh ``dataset.json``; returns that folder. Nothing is deleted."""
    dataset = Path(dataset)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(time.time() if now is None else now))
    target = dataset / INCOMPLETE / stamp
    for case in cases:
        for path in case.files:
            moved = target / path.relative_to(dataset)
            moved.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, moved)
    if (dataset / "imagesTr").is_dir():
        write_json_atomic(dataset / "dataset.json", dataset_json(len(list_cases(dataset)), file_ending(dataset)))
    return target
