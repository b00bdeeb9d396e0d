"""The scans in a folder, for a batch: image files and DICOM CT series, found recursively.

Nothing is loaded here: image files are known by their suffix, DICOM series by their headers.
Each scan has the names a seed table's scan column may give it (``seeds.scan_keys``): a DICOM
series its SeriesInstanceUID, an image file its name and its name without suffix (the LUNA16
``seriesuid`` of ``<seriesuid>.mhd``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .dicom_headers import iter_files, scan_headers
from .errors import EmptyFolderError, VolumeNotFoundError
from .image_file import is_image_file_name
from .seeds import image_stem

_CT = "CT"


@dataclass(frozen=True)
class FoundScan:
    """One scan of a folder.

    Attributes:
        path: The image file, or the folder holding the series' files.
        series_uid: The DICOM SeriesInstanceUID ("" for an image file).
        name: Unique within the folder; the stem of its output files.
        keys: Names a seed table may give it.
    """

    path: Path
    series_uid: str
    name: str
    keys: tuple[str, ...]


def find_scans(folder: str | Path, skip: str | Path | None = None) -> list[FoundScan]:
    """Every image file and DICOM CT series below ``folder``, image files first, by path.

    Files below ``skip`` (a batch's output folder inside ``folder``) are left out.

    Files that look like DICOM but whose header cannot be read are skipped with a VolumeWarning;
    series that are not CT (SEG, SR, ...) are not scans.

    Raises:
        VolumeNotFoundError, EmptyFolderError: No such folder, or nothing in it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VolumeNotFoundError(folder, "no such folder")
    files = list(iter_files(folder))
    if skip is not None:
        skip = Path(skip).resolve()
        files = [p for p in files if not p.resolve().is_relative_to(skip)]
    if not files:
        raise EmptyFolderError(folder, "the folder is empty (no files, also in subfolders)")
    images = [p for p in files if is_image_file_name(p)]
    headers, _, _ = scan_headers([p for p in files if not is_image_file_name(p)])
    series: dict[str, list[Path]] = defaultdict(list)
    for header in headers:
        if header.modality == _CT:
            series[header.series_uid].append(header.path)
    found = [(p, "", image_stem(p.name), (p.name, image_stem(p.name))) for p in images]
    found += [(Path(os.path.commonpath(paths)) if len(paths) > 1 else paths[0].parent, uid, uid, (uid,))
              for uid, paths in series.items()]
    return [FoundScan(path, uid, name, keys) for (path, uid, _, keys), name
            in zip(found, _unique([name for _, _, name, _ in found]))]


def _unique(names: list[str]) -> list[str]:
    """The names, a repeated one numbered (``a``, ``a-2``) so output files never collide."""
    used: set[str] = set()
    out = []
    for name in names:
        candidate, number = name, 1
        while candidate in used:
            number += 1
            candidate = f"{name}-{number}"
        used.add(candidate)
        out.append(candidate)
    return out
