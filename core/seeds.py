"""Seed lists: a CSV table of nodule positions, read into ITK voxel indices of a scan.

A table names its columns on its first line (after ``#`` comments), one seed per row, either as
voxel indices or as world millimetres:

- ``i,j,k`` (or ``seed_i,seed_j,seed_k``, as the measurements table writes them): 0-based ITK
  index, i column, j row, k slice, as ``noduleseg-segment --seed`` takes it.
- ``x,y,z``, ``x_lps,...``, ``x_ras,...`` or LUNA16's ``coordX,coordY,coordZ``: world mm. LPS
  (ITK's, DICOM's and LUNA16's MetaImage space) unless the table says RAS, in a column suffix
  (``x_ras``), a ``space`` column (LPS or RAS per row) or a comment (``# space: RAS``; 3D
  Slicer's ``# CoordinateSystem = RAS`` too); a caller may state the space as well, and a table
  that says otherwise is refused rather than guessed.
- An optional scan column (``seriesuid`` as in LUNA16's annotations.csv, ``series_uid``,
  ``file``, ``scan``...) names the scan of each row: its DICOM series UID, its file name, or
  the file name without its suffix (a LUNA16 ``seriesuid`` is the .mhd file's stem).

Other columns (LUNA16's ``diameter_mm``) are ignored. A row that cannot be read or lies outside
the scan becomes a ``SeedFailure`` with its line number; the other rows stand.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from .errors import NodulesegError
from .image_file import IMAGE_SUFFIXES
from .volume import Volume


class SeedSpace(Enum):
    """World coordinate convention of a table's x, y, z: the sign of x and y."""

    LPS = "lps"
    RAS = "ras"


class SeedTableError(NodulesegError):
    """A seed table as a whole cannot be used (missing, no header, no coordinate columns)."""


VOXEL_COLUMNS = (("i", "j", "k"), ("seed_i", "seed_j", "seed_k"))
WORLD_COLUMNS: dict[tuple[str, str, str], SeedSpace | None] = {
    ("x", "y", "z"): None, ("coordx", "coordy", "coordz"): None, ("x_mm", "y_mm", "z_mm"): None,
    ("x_lps", "y_lps", "z_lps"): SeedSpace.LPS, ("x_ras", "y_ras", "z_ras"): SeedSpace.RAS}
SCAN_COLUMNS = ("seriesuid", "series_uid", "seriesinstanceuid", "scan", "file", "file_name",
                "filename", "image")
SPACE_COLUMN = "space"
_SPACE_COMMENT = re.compile(r"#\s*(space|coordinates|coordinatesystem|coordinate_system)\s*[:=]\s*(\S+)",
                            re.IGNORECASE)


@dataclass(frozen=True)
class SeedEntry:
    """One readable row, not yet placed in a scan: a voxel index or a world point in LPS mm."""

    line: int
    scan: str = ""
    voxel_ijk: tuple[int, int, int] | None = None
    world_lps: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class SeedRow:
    """One seed placed in a scan.

    Attributes:
        line: Line number in the table (1-based, comments and header counted).
        seed_ijk: 0-based ITK voxel index (i, j, k) inside the scan.
        scan: The row's scan column ("" when the table has none).
        world_lps: The row's world point in LPS mm, for world tables.
    """

    line: int
    seed_ijk: tuple[int, int, int]
    scan: str = ""
    world_lps: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class SeedFailure:
    """A row that gives no nodule, and why."""

    line: int
    problem: str
    scan: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclass(frozen=True)
class SeedList:
    """A parsed table: its readable rows and the rows that could not be read."""

    path: Path
    entries: tuple[SeedEntry, ...]
    failures: tuple[SeedFailure, ...]
    keyed: bool  # whether the table has a scan column

    def for_scan(self, keys: Collection[str]) -> "SeedList":
        """The rows whose scan column is one of ``keys``; failed rows too, and those naming no
        scan (they may be this scan's)."""
        return SeedList(self.path, tuple(e for e in self.entries if e.scan in keys),
                        tuple(f for f in self.failures if f.scan in keys or not f.scan), self.keyed)


@dataclass(frozen=True)
class SeedTable:
    """A table placed in one scan: seeds to segment, and rows that failed, both by line."""

    rows: tuple[SeedRow, ...]
    failures: tuple[SeedFailure, ...]


def parse_seed_file(path: str | Path, space: SeedSpace | None = None) -> SeedList:
    """Read a seed table (see the module docstring for its columns).

    Args:
        path: A CSV file (comma, semicolon or tab separated).
        space: The world space the caller states for x, y, z; None: as the table says, else LPS.

    Raises:
        SeedTableError: The file cannot be read, names no coordinate columns, states a space
            other than ``space``, or holds no seed row.
    """
    path = Path(path)
    lines = _read_lines(path)
    comment_space: tuple[int, SeedSpace] | None = None
    columns: _Columns | None = None
    entries: list[SeedEntry] = []
    failures: list[SeedFailure] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            if columns is None and (stated := _comment_space(path, number, text)) is not None:
                comment_space = (number, stated)
            continue
        if columns is None:
            columns = _Columns.from_header(path, number, text, comment_space, space)
            continue
        outcome = columns.parse(number, text)
        (entries if isinstance(outcome, SeedEntry) else failures).append(outcome)
    if columns is None or not entries and not failures:
        raise SeedTableError(f"{path}: no seed rows (a header line naming i,j,k or x,y,z "
                             "columns, then one row per nodule)")
    return SeedList(path, tuple(entries), tuple(failures), columns.scan_index is not None)


def place_seeds(entries: Sequence[SeedEntry], volume: Volume) -> SeedTable:
    """Entries as voxel indices of ``volume``; those outside it become failures.

    A world point goes to the voxel whose centre is nearest (ITK's
    ``TransformPhysicalPointToIndex``: the continuous index rounded half up).
    """
    rows, failures = [], []
    size = "x".join(str(n) for n in volume.size_ijk)
    for entry in entries:
        if entry.voxel_ijk is not None:
            ijk, where = entry.voxel_ijk, f"voxel {entry.voxel_ijk}"
        else:
            continuous = volume.world_to_index(entry.world_lps)
            ijk = tuple(int(v) for v in np.floor(continuous + 0.5))
            world = ", ".join(f"{v:g}" for v in entry.world_lps)
            where = f"({world}) mm LPS (voxel {tuple(round(float(v), 1) for v in continuous)})"
        if volume.contains_index(ijk):
            rows.append(SeedRow(entry.line, ijk, entry.scan, entry.world_lps))
        else:
            failures.append(SeedFailure(entry.line, f"{where} lies outside the image "
                                        f"(size i x j x k = {size})", entry.scan))
    return SeedTable(tuple(rows), tuple(failures))


def scan_keys(volume: Volume, source: str | Path | None = None) -> tuple[str, ...]:
    """The names a table's scan column may give ``volume``: its DICOM series UID, the file (or
    folder) name, and that name without its image suffix (a LUNA16 ``seriesuid``)."""
    keys = [volume.info.series_uid] if volume.info.series_uid else []
    source = source if source is not None else volume.info.source
    if source:
        name = Path(source).name
        keys += [name, image_stem(name)]
    return tuple(dict.fromkeys(k for k in keys if k))


def image_stem(name: str) -> str:
    """A file name without its image suffix: ``a.nii.gz`` -> ``a``, ``1.2.840.mhd`` -> ``1.2.840``."""
    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def read_seed_table(path: str | Path, volume: Volume, space: SeedSpace | None = None,
                    source: str | Path | None = None) -> SeedTable:
    """The seeds of a table in one scan; with a scan column, only the rows naming this scan.

    Args:
        path: The table.
        volume: The scan the seeds are placed in.
        space: The world space the caller states (see ``parse_seed_file``).
        source: The scan's path (default ``volume.info.source``), for the scan column.

    Raises:
        SeedTableError: As ``parse_seed_file``; or the table has a scan column and no row names
            this scan.
    """
    seeds = parse_seed_file(path, space)
    if seeds.keyed:
        keys = scan_keys(volume, source)
        seeds = seeds.for_scan(keys)
        if not seeds.entries and not any(f.scan for f in seeds.failures):
            raise SeedTableError(f"{path}: no row names this scan (as {' or '.join(keys) or 'nothing'})")
    placed = place_seeds(seeds.entries, volume)
    failures = sorted(seeds.failures + placed.failures, key=lambda f: f.line)
    return SeedTable(placed.rows, tuple(failures))


# --- reading ------------------------------------------------------------------------------


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise SeedTableError(f"{path}: no such seed table") from None
    except UnicodeDecodeError:
        raise SeedTableError(f"{path}: not a text table (CSV expected)") from None
    except OSError as error:
        raise SeedTableError(f"{path}: cannot be read: {error.strerror or error}") from None


def _space(text: str) -> SeedSpace | None:
    try:
        return SeedSpace(text.strip().lower())
    except ValueError:
        return None


def _comment_space(path: Path, number: int, text: str) -> SeedSpace | None:
    match = _SPACE_COMMENT.match(text)
    if match is None:
        return None
    stated = _space(match.group(2))
    if stated is None:
        raise SeedTableError(f"{path}: line {number} states the space {match.group(2)!r}; "
                             "write LPS or RAS")
    return stated


def _normal(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


@dataclass(frozen=True)
class _Columns:
    """Where a table's coordinates, scan and space are, from its header line."""

    delimiter: str
    width: int
    coordinates: tuple[int, int, int]
    voxel: bool
    space: SeedSpace  # the default for rows
    asked: SeedSpace | None  # what the caller stated
    scan_index: int | None
    space_index: int | None

    @classmethod
    def from_header(cls, path: Path, number: int, text: str, comment: tuple[int, SeedSpace] | None,
                    asked: SeedSpace | None) -> "_Columns":
        delimiter = next((d for d in ",;\t" if d in text), ",")
        names = [_normal(n) for n in next(csv.reader([text], delimiter=delimiter))]
        found = [(c, None) for c in VOXEL_COLUMNS if set(c) <= set(names)]
        found += [(c, s) for c, s in WORLD_COLUMNS.items() if set(c) <= set(names)]
        if len(found) != 1:
            what = "no" if not found else "more than one set of"
            raise SeedTableError(f"{path}: line {number} names {what} coordinate columns; name "
                                 "i,j,k (voxel index) or x,y,z (world mm; also coordX,coordY,coordZ, "
                                 "x_ras,y_ras,z_ras)")
        scans = [names.index(n) for n in SCAN_COLUMNS if n in names]
        if len(scans) > 1:
            raise SeedTableError(f"{path}: line {number} names more than one scan column "
                                 f"({', '.join(names[i] for i in scans)}); keep one")
        (coordinates, header_space), = found
        voxel = coordinates in VOXEL_COLUMNS
        space_index = names.index(SPACE_COLUMN) if SPACE_COLUMN in names else None
        if voxel and (asked is not None or header_space is not None or comment is not None):
            raise SeedTableError(f"{path}: has voxel columns (i,j,k), which have no world space; "
                                 "a space (LPS/RAS) applies to x,y,z columns")
        stated = _agreeing_space(path, header_space, comment, asked)
        return cls(delimiter, len(names), tuple(names.index(c) for c in coordinates), voxel,
                   stated or asked or SeedSpace.LPS, asked, scans[0] if scans else None, space_index)

    def parse(self, number: int, text: str) -> SeedEntry | SeedFailure:
        cells = [c.strip() for c in next(csv.reader([text], delimiter=self.delimiter))]
        scan = cells[self.scan_index] if self.scan_index is not None and self.scan_index < len(cells) else ""
        if len(cells) < self.width:
            return SeedFailure(number, f"{len(cells)} cells where the header names {self.width}", scan)
        if self.scan_index is not None and not scan:
            return SeedFailure(number, "no scan named in the scan column", scan)
        values = [cells[i] for i in self.coordinates]
        try:
            numbers = [float(v) for v in values]
        except ValueError:
            return SeedFailure(number, f"coordinates ({', '.join(values)}) are not numbers", scan)
        if not all(math.isfinite(v) for v in numbers):
            return SeedFailure(number, f"coordinates ({', '.join(values)}) are not finite", scan)
        if self.voxel:
            if any(v != round(v) for v in numbers):
                return SeedFailure(number, f"voxel index ({', '.join(values)}) is not whole numbers", scan)
            return SeedEntry(number, scan, voxel_ijk=tuple(int(v) for v in numbers))
        space = self.space
        if self.space_index is not None and (said := cells[self.space_index]):
            space = _space(said)
            if space is None:
                return SeedFailure(number, f"space {said!r} is neither LPS nor RAS", scan)
            if self.asked is not None and space is not self.asked:
                return SeedFailure(number, f"the row says {space.name} but {self.asked.name} "
                                   "was asked for", scan)
        x, y, z = numbers
        world = (x, y, z) if space is SeedSpace.LPS else (-x, -y, z)
        return SeedEntry(number, scan, world_lps=tuple(v + 0.0 for v in world))


def _agreeing_space(path: Path, header: SeedSpace | None, comment: tuple[int, SeedSpace] | None,
                    asked: SeedSpace | None) -> SeedSpace | None:
    """The one space the table's header, its comment and the caller state; refused if they differ."""
    said = {f"its column names say {header.name}": header} if header else {}
    if comment is not None:
        said[f"line {comment[0]} says {comment[1].name}"] = comment[1]
    if asked is not None:
        said[f"{asked.name} was asked for"] = asked
    if len(set(said.values())) > 1:
        raise SeedTableError(f"{path}: the coordinate space disagrees: {'; '.join(said)}")
    return next(iter(said.values()), None)
