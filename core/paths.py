"""Where NoduleSeg keeps files outside the repository (caches, user data)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Downloaded and converted files: $NODULESEG_CACHE, else $XDG_CACHE_HOME/noduleseg."""
    if env := os.environ.get("NODULESEG_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "noduleseg"


def data_dir() -> Path:
    """The user's models, corrections and sessions: $NODULESEG_HOME, else XDG data home."""
    if env := os.environ.get("NODULESEG_HOME"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "noduleseg"
