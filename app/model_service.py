"""Which model the next click uses, loaded lazily so the window appears before torch does.

The active model is the training registry's current version when ``noduleseg.training.registry``
exists (``current_model_dir()`` falls back to the shipped model), else the shipped model.
When the registry's choice cannot be used (``current.json`` damaged or naming a missing
version, a card that is not JSON, weights that do not match the card), the shipped model is
used instead and ``problem()`` says why, for the window to show. Cards are read as JSON and
folders checked without torch (``core.model_io.check_model_folder``); only ``get`` loads it.
"""

from __future__ import annotations

import importlib
import json
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from noduleseg.core.errors import ModelError
from noduleseg.core.model_io import CARD_FILE, check_model_folder


def shipped_model_dir() -> Path:
    """The model folder shipped in ``noduleseg.assets`` (same place ``core.model_io`` uses)."""
    return Path(str(resources.files("noduleseg.assets") / "model"))


def read_card_json(folder: Path) -> dict[str, Any]:
    """A model folder's card, or {} when it has none or it is unreadable."""
    try:
        card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


REGISTRY_MODULE = "noduleseg.training.registry"


@dataclass(frozen=True)
class ActiveChoice:
    """The folder the next click uses, and why it is not the registry's choice ("" when it is)."""

    folder: Path
    problem: str = ""


def _signature(folder: Path) -> tuple[int, ...]:
    """Changes when the card or the weights change (a re-check is due then)."""
    stats = []
    for path in (folder / CARD_FILE, *sorted(folder.glob("*.pt"))):
        try:
            stat = path.stat()
            stats += [stat.st_size, stat.st_mtime_ns]
        except OSError:
            stats.append(-1)
    return tuple(stats)


def _registry_module() -> Any | None:
    """The registry module; None only while it is not installed (built on another branch)."""
    try:
        return importlib.import_module(REGISTRY_MODULE)
    except ModuleNotFoundError as error:
        if error.name not in (REGISTRY_MODULE, "noduleseg.training"):
            raise  # the registry is there but one of its own imports is broken
        return None


class ModelService:
    """Holds the active model folder and its loaded network (thread-safe, lazy).

    Args:
        folder: A fixed model folder (``--model``, tests); None follows the registry.
        registry_root: The registry's folder; None is its default (``data_dir()/"models"``).
    """

    def __init__(self, folder: Path | None = None, registry_root: Path | None = None) -> None:
        self.fixed_folder = Path(folder) if folder is not None else None
        self.registry_root = registry_root
        self._lock = threading.Lock()
        self._loaded: Any = None
        self._checked: dict[Path, tuple[tuple[int, ...], str]] = {}

    def registry(self) -> Any | None:
        """The training registry, or None while ``noduleseg.training.registry`` is absent."""
        module = _registry_module()
        if module is None:
            return None
        root = self.registry_root or module.default_registry_root()
        return module.ModelRegistry(root)

    def resolve(self) -> ActiveChoice:
        """The active model folder: the fixed one, the registry's, or the shipped one instead."""
        if self.fixed_folder is not None:
            return ActiveChoice(self.fixed_folder)
        registry = self.registry()
        if registry is None:
            return ActiveChoice(shipped_model_dir())
        try:
            folder = Path(registry.current_model_dir())
        except ModelError as error:  # RegistryError too: a damaged or dangling current.json
            return self._instead(str(error))
        problem = "" if folder == shipped_model_dir() else self._check(folder)
        return self._instead(problem) if problem else ActiveChoice(folder)

    def _instead(self, problem: str) -> ActiveChoice:
        shipped = shipped_model_dir()
        name = read_card_json(shipped).get("version", "shipped")
        return ActiveChoice(shipped, f"The active model cannot be used: {problem}. NoduleSeg uses the shipped "
                                     f"model ({name}) instead; choose another in Model > Switch to version.")

    def _check(self, folder: Path) -> str:
        """Why ``folder`` cannot be loaded ("" when it can), checked again when its files change."""
        signature = _signature(folder)
        known = self._checked.get(folder)
        if known is None or known[0] != signature:
            try:
                check_model_folder(folder)
                known = (signature, "")
            except ModelError as error:
                known = (signature, str(error))
            self._checked[folder] = known
        return known[1]

    def problem(self) -> str:
        """Why the registry's active model is not the one used ("" when it is)."""
        return self.resolve().problem

    def active_dir(self) -> Path:
        return self.resolve().folder

    def card(self) -> dict[str, Any]:
        return read_card_json(self.active_dir())

    def version(self) -> str:
        return str(self.card().get("version", "unversioned"))

    def versions(self) -> list[tuple[str, Path]]:
        """Registered versions (version, folder), oldest first; [] without a registry."""
        registry = None if self.fixed_folder is not None else self.registry()
        if registry is None:
            return []
        return [(entry.version, Path(entry.folder)) for entry in registry.versions()]

    def damaged_versions(self) -> list[tuple[str, str]]:
        """Registered versions known to be unusable, (version, why), oldest first: cards that
        cannot be read, and weights found not to match their card (versions are checked when
        they become active, not here: hashing every version would stall the menu)."""
        registry = None if self.fixed_folder is not None else self.registry()
        if registry is None:
            return []
        damaged = [(d.version, d.problem) for d in registry.damaged()]
        known = [(folder.name, problem) for folder, (_, problem) in self._checked.items()
                 if problem and folder.parent == registry.root]
        return sorted(damaged + known)

    def activate(self, version: str, force: bool = False) -> None:
        """Make a registered version the active one (the registry's gate applies)."""
        registry = self.registry()
        if registry is None:
            raise ModelError("no model registry in this installation (noduleseg.training.registry)")
        registry.activate(version, force=force)
        with self._lock:
            self._loaded = None

    def using_shipped(self) -> bool:
        """Whether the active model is the shipped one (no registered version is current)."""
        return self.active_dir() == shipped_model_dir()

    def use_shipped(self) -> None:
        """Go back to the shipped model; the registered versions stay there to switch to."""
        registry = self.registry()
        if registry is None:
            raise ModelError("no model registry in this installation (noduleseg.training.registry)")
        registry.use_shipped()
        with self._lock:
            self._loaded = None

    def get(self) -> Any:
        """The loaded active model (``core.model_io.LoadedModel``); loads it on first use.

        Call it from a worker thread: the first call imports torch and reads the weights. A
        registry version that passed the checks but still cannot be loaded is marked broken
        (``problem()`` says so) and the shipped model is loaded instead.
        """
        from noduleseg.core.model_io import load_model  # imports torch

        folder = self.active_dir()
        with self._lock:
            if self._loaded is None or self._loaded.folder != folder:
                try:
                    self._loaded = load_model(folder)
                except ModelError as error:
                    if self.fixed_folder is not None or folder == shipped_model_dir():
                        raise
                    self._checked[folder] = (_signature(folder), str(error))
                    self._loaded = load_model(shipped_model_dir())
            return self._loaded

    @property
    def loaded(self) -> bool:
        return self._loaded is not None
