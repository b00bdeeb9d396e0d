"""The model registry: immutable version folders and an atomically moved ``current`` pointer.

Layout of ``root``: ``v0001/``, ``v0002/`` ... (each a model folder: weights.pt, card.json,
report.md, curves.png), ``current.json`` (the active version and the activation history),
hidden ``.staging-*`` folders while a version is written (renamed into place when whole) and
``.runs/`` (checkpoints of runs in progress). Only complete version folders are ever listed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from noduleseg.core.atomic import write_json_atomic
from noduleseg.core.errors import ModelError
from noduleseg.core.model_io import CARD_FILE, read_card, shipped_model_dir
from noduleseg.core.paths import data_dir

CURRENT_FILE = "current.json"
RUNS_FOLDER = ".runs"
SHIPPED = "shipped"  # the version name that stands for the shipped model (no version current)


class RegistryError(ModelError):
    """A version is unknown, or the gate refuses to activate it."""


REPAIR = "choose the active model again with `noduleseg-train rollback VERSION` or `rollback shipped`"


@dataclass(frozen=True)
class DamagedVersion:
    """A version folder whose card cannot be read (``problem`` says why)."""

    version: str
    folder: Path
    problem: str


@dataclass(frozen=True)
class VersionEntry:
    """One registered model version."""

    version: str
    folder: Path
    card: dict[str, Any]
    created: str

    @property
    def val_dice(self) -> float | None:
        value = self.card.get("metrics", {}).get("val_dice")
        return None if value is None or value != value else float(value)

    @property
    def val_fingerprint(self) -> str | None:
        return self.card.get("split", {}).get("val_fingerprint")


def default_registry_root() -> Path:
    """``data_dir()/"models"``: where the app looks for the user's models."""
    return data_dir() / "models"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class ModelRegistry:
    """Versions under ``root``; see the module docstring for the layout."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_registry_root()

    def versions(self) -> list[VersionEntry]:
        """Complete versions with a readable card, oldest first (``damaged`` lists the others)."""
        return self._scan()[0]

    def damaged(self) -> list[DamagedVersion]:
        """Version folders whose card cannot be read, oldest first."""
        return self._scan()[1]

    def _scan(self) -> tuple[list[VersionEntry], list[DamagedVersion]]:
        if not self.root.is_dir():
            return [], []
        folders = sorted(p for p in self.root.iterdir()
                         if p.is_dir() and not p.name.startswith(".") and (p / CARD_FILE).exists())
        entries, damaged = [], []
        for folder in folders:
            try:
                card = read_card(folder)
            except ModelError as error:
                damaged.append(DamagedVersion(folder.name, folder, str(error)))
                continue
            entries.append(VersionEntry(folder.name, folder, card, str(card.get("created", ""))))
        return entries, damaged

    def get(self, version: str) -> VersionEntry:
        """The entry of ``version``.

        Raises:
            RegistryError: No such version.
            ModelError: Its card cannot be read.
        """
        folder = self.root / version
        if version.startswith(".") or not (folder / CARD_FILE).exists():
            known = ", ".join(e.version for e in self.versions()) or "none"
            raise RegistryError(f"{self.root}: no model version {version!r} (versions: {known})")
        card = read_card(folder)
        return VersionEntry(version, folder, card, str(card.get("created", "")))

    def _pointer(self) -> dict[str, Any]:
        """``current.json`` as {"version": str | None, "history": [...]}, validated.

        Raises:
            RegistryError: It is not JSON, or not of that shape.
        """
        path = self.root / CURRENT_FILE
        try:
            pointer = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": None, "history": []}
        except (OSError, ValueError) as error:
            raise RegistryError(f"{path}: not valid JSON ({error}); {REPAIR}") from None
        if (not isinstance(pointer, dict) or not isinstance(pointer.get("version"), (str, type(None)))
                or not isinstance(pointer.get("history", []), list)):
            raise RegistryError(f"{path}: not a current-version record "
                                f'({{"version": ..., "history": [...]}}); {REPAIR}')
        return pointer

    def current(self) -> VersionEntry | None:
        """The active version, or None (the shipped model is used then).

        Raises:
            RegistryError: ``current.json`` is damaged or names a version that is not here.
            ModelError: The active version's card cannot be read.
        """
        version = self._pointer().get("version")
        if not version:
            return None
        try:
            return self.get(version)
        except RegistryError:
            known = ", ".join(e.version for e in self.versions()) or "none"
            raise RegistryError(f"{self.root / CURRENT_FILE}: the active version {version!r} is not in "
                                f"{self.root} (versions: {known}); {REPAIR}") from None

    def current_model_dir(self) -> Path:
        """The active version's folder, else the shipped model's.

        Raises:
            ModelError: As ``current``.
        """
        entry = self.current()
        return entry.folder if entry is not None else shipped_model_dir()

    def gate(self, entry: VersionEntry) -> tuple[bool, str]:
        """Whether ``entry`` may replace the current version, and why.

        It may when there is no current version, or when its validation Dice is at least the
        current one's on the same validation data (same fingerprint, or the current version
        re-validated on ``entry``'s data during its run: the card's ``baseline``).
        """
        current = self.current()
        if current is None:
            return True, "no current version"
        new = entry.val_dice
        if new is None:
            return False, f"{entry.version} has no validation Dice"
        baseline = entry.card.get("baseline") or {}
        if current.val_fingerprint is not None and current.val_fingerprint == entry.val_fingerprint:
            old = current.val_dice
        elif baseline.get("version") == current.version:
            old = baseline.get("val_dice")
        else:
            return False, f"{entry.version} and {current.version} were validated on different data"
        if old is None or new >= old:
            return True, f"val Dice {new:.4f} >= {current.version}'s {old if old is not None else float('nan'):.4f}"
        return False, f"val Dice {new:.4f} < {current.version}'s {old:.4f}"

    def activate(self, version: str, force: bool = False) -> VersionEntry:
        """Point ``current`` at ``version`` if the gate allows (or ``force``).

        Raises:
            RegistryError: Unknown version, or the gate refuses (the message says why).
        """
        entry = self.get(version)
        allowed, reason = (True, "forced") if force else self.gate(entry)
        if not allowed:
            raise RegistryError(f"{version} not activated: {reason}; use --force to activate anyway")
        self._point(version, version, reason)
        return entry

    def rollback(self, version: str) -> VersionEntry | None:
        """Make an earlier ``version`` current again, whatever its Dice; ``SHIPPED`` (``"shipped"``)
        goes back to the shipped model and returns None."""
        if version == SHIPPED:
            self.use_shipped()
            return None
        return self.activate(version, force=True)

    def use_shipped(self) -> None:
        """Leave no version current, so the shipped model is used; the versions stay registered."""
        self._point(None, SHIPPED, "rollback")

    def _point(self, version: str | None, logged: str, reason: str) -> None:
        """Write the current pointer (``version``; None: the shipped model) and log the move."""
        history = [*self._history(), {"version": logged, "at": _now(), "reason": reason}]
        self.root.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.root / CURRENT_FILE, {"version": version, "history": history})

    def _history(self) -> list[Any]:
        """The activation history; [] when ``current.json`` is damaged (rewriting it repairs it)."""
        try:
            return list(self._pointer().get("history", []))
        except RegistryError:
            return []

    def _next_number(self) -> int:
        numbers = [int(p.name[1:]) for p in self.root.glob("v[0-9]*") if p.name[1:].isdigit()]
        return max(numbers, default=0) + 1

    def find_run(self, run_id: str) -> VersionEntry | None:
        """The version a run already registered (a run resumed after registering)."""
        return next((e for e in self.versions() if e.card.get("run_id") == run_id), None)

    def add(self, write: Callable[[Path, str], None]) -> VersionEntry:
        """Register a new version: ``write(folder, version)`` fills a hidden staging folder,
        which is then renamed into place, so a version is either complete or invisible."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".staging-{uuid.uuid4().hex[:12]}"
        staging.mkdir()
        try:
            for _ in range(100):
                version = f"v{self._next_number():04d}"
                write(staging, version)
                try:
                    os.rename(staging, self.root / version)
                    return self.get(version)
                except OSError:  # another run took this number meanwhile: take the next
                    continue
            raise RegistryError(f"{self.root}: could not allocate a version folder")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def run_dir(self, run_id: str) -> Path:
        """Checkpoint folder of a run in progress."""
        return self.root / RUNS_FOLDER / run_id
