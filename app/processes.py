"""Whether a process is still running (for autosaved sessions and detached training runs)."""

from __future__ import annotations

import os
from pathlib import Path


def process_alive(pid: int, marker: str = "") -> bool:
    """Whether ``pid`` runs (not a zombie) and, where /proc tells, its command holds ``marker``."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    try:
        if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        return not marker or marker in proc.joinpath("cmdline").read_bytes().decode(errors="replace")
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal test is all we have
