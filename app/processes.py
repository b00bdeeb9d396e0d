"""Whether a process is still running (for autosaved sessions and detached training runs)."""

from __future__ import annotations

import os
from pathlib import Path

# A process this young may still be inside exec: its /proc cmdline can be empty or its parent's.
EXEC_GRACE_S = 2.0


def process_alive(pid: int, marker: str = "", exec_grace_s: float = EXEC_GRACE_S) -> bool:
    """Whether ``pid`` runs (not a zombie) and, where /proc tells, its command holds ``marker``.

    A process started less than ``exec_grace_s`` ago counts as running even when its command
    does not hold ``marker`` yet: right after a fork the kernel still shows the old command line.
    """
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
        stat = proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        if stat[0] == "Z":
            return False
        if not marker or marker in proc.joinpath("cmdline").read_bytes().decode(errors="replace"):
            return True
        return _age_s(int(stat[19])) < exec_grace_s
    except (OSError, IndexError, ValueError):
        return True  # no /proc (macOS): the signal test is all we have


def _age_s(start_ticks: int) -> float:
    """Seconds since a process started, from its /proc stat start time (ticks after boot)."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
