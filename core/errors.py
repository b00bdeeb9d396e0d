"""Errors a user can cause. Each carries a message a person can act on.

The CLI prints ``str(error)`` and exits with status 2; the app shows it in a dialog.
"""

from __future__ import annotations

from pathlib import Path


class NodulesegError(Exception):
    """Base of every error NoduleSeg raises for bad input (never for its own bugs)."""


class VolumeError(NodulesegError):
    """A path cannot be read as a CT volume.

    Args:
        path: The file or folder at fault.
        problem: What is wrong with it, in words a reader understands.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ModelError(NodulesegError):
    """A model folder or file is missing, corrupt or does not match its card."""


class SegmentationError(NodulesegError):
    """A seed or box cannot be segmented (outside the image, nothing found there)."""


class DatasetError(NodulesegError):
    """A training data set is malformed (missing label, geometry mismatch, empty label)."""
