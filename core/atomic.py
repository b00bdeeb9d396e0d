"""Atomic writes: a file is either the old one or the complete new one, never half written."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (same suffixes); rename it onto ``target``.

    The temporary file is removed if the body raises.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes) or ".tmp"
    handle, name = tempfile.mkstemp(prefix=f".{target.stem.split('.')[0]}-", suffix=suffix,
                                    dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    # mkstemp makes the file owner-only; give it the mode a plain open() would (umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    try:
        yield temporary
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes_atomic(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(target: str | Path, text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))


def write_json_atomic(target: str | Path, value: Any, default: Callable | None = str) -> None:
    write_text_atomic(target, json.dumps(value, indent=2, default=default) + "\n")


LOW_SPACE_BYTES = 1 << 20


def why_not_written(error: BaseException, path: str | Path) -> str:
    """A reason a reader can act on for a failed write of ``path`` (an OSError, or the
    RuntimeError SimpleITK raises, which carries no errno)."""
    folder = Path(path).parent
    code = error.errno if isinstance(error, OSError) else None
    if code == errno.ENOSPC or (code is None and _free_bytes(folder) < LOW_SPACE_BYTES):
        return "the disk is full (no space left on device); free some space or choose another disk"
    if code in (errno.EACCES, errno.EPERM):
        return f"no permission to write in {folder}; choose another folder"
    if code == errno.EROFS:
        return f"{folder} is on a read-only file system; choose another folder"
    if code == errno.EDQUOT:
        return "the disk quota is exceeded; free some space or choose another disk"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return LOW_SPACE_BYTES  # unknown: do not claim the disk is full
