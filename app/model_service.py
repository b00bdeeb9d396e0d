"""Which model the next click uses, loaded lazily so the window appears before torch does.

The active model is the training registry's current version when ``noduleseg.training.registry``
exists (``current_model_dir()`` falls back to the shipped model), else the shipped model.
Cards are read as JSON here: reading one must not import torch (``core.model_io`` does).
"""

from __future__ import annotations

import importlib
import json
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from noduleseg.core.errors import ModelError

CARD_FILE = "card.json"


def shipped_model_dir() -> Path:
    """The model folder shipped in ``noduleseg.assets`` (same place ``core.model_io`` uses)."""
    return Path(str(resources.files("noduleseg.assets") / "model"))


def read_card_json(folder: Path) -> dict[str, Any]:
    """A model folder's card, or {} when it has none or it is unreadable."""
    try:
        return json.loads((folder / CARD_FILE).read_text())
    except (OSError, ValueError):
        return {}


REGISTRY_MODULE = "noduleseg.training.registry"


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

    def registry(self) -> Any | None:
        """The training registry, or None while ``noduleseg.training.registry`` is absent."""
        module = _registry_module()
        if module is None:
            return None
        root = self.registry_root or module.default_registry_root()
        return module.ModelRegistry(root)

    def active_dir(self) -> Path:
        if self.fixed_folder is not None:
            return self.fixed_folder
        registry = self.registry()
        return Path(registry.current_model_dir()) if registry is not None else shipped_model_dir()

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

        Call it from a worker thread: the first call imports torch and reads the weights.
        """
        folder = self.active_dir()
        with self._lock:
            if self._loaded is None or self._loaded.folder != folder:
                from noduleseg.core.model_io import load_model  # imports torch

                self._loaded = load_model(folder)
            return self._loaded

    @property
    def loaded(self) -> bool:
        return self._loaded is not None
