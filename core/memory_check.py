"""Refuse an image before allocating it when it would not fit in memory."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import VolumeTooLargeError

# Leave room for the app, the model and the copies a segmentation makes.
HEADROOM_BYTES = 256 * 2**20


def available_memory_bytes() -> int | None:
    """Memory a new allocation can take now: MemAvailable, capped by a cgroup limit.

    Returns:
        Bytes, or None where the system does not say.
    """
    limits = [value for value in (_meminfo_available(), _cgroup_available()) if value is not None]
    return min(limits) if limits else None


def require_memory(path: str | Path, needed_bytes: int, what: str) -> None:
    """Raise VolumeTooLargeError when ``needed_bytes`` (+ headroom) exceed available memory.

    Args:
        path: The file or folder being loaded (named in the message).
        needed_bytes: What the load will allocate.
        what: The image in words, e.g. "512x512x133 voxels of int16".
    """
    available = available_memory_bytes()
    if available is None or needed_bytes + HEADROOM_BYTES <= available:
        return
    raise VolumeTooLargeError(
        path,
        f"image too large to load: {what} needs {_gib(needed_bytes)} of memory, only "
        f"{_gib(available)} is available; close other programs, or crop/resample the scan "
        f"first (e.g. with 3D Slicer)",
        needed_bytes=needed_bytes, available_bytes=available)


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.2f} GiB"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_available() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((root / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None
