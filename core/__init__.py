"""NoduleSeg core: CT volumes, windows, patches, the BSFT U-Net, inference, measurement, export.

No Qt here: ``core`` and ``training`` never import PySide6 or pyqtgraph. The names below load on
first use, so a module that needs only the network (``core.unet``) does not pull in the DICOM
and image readers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"SeriesInfo": "dicom_series", "list_series": "dicom_series", "DatasetError": "errors",
            "ModelError": "errors", "NodulesegError": "errors", "SegmentationError": "errors",
            "VolumeError": "errors", "load_volume": "loader", "Volume": "volume", "VolumeInfo": "volume"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
