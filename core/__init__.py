"""NoduleSeg core: CT volumes, windows, patches, the BSFT U-Net, inference, measurement, export.

No Qt here: ``core`` and ``training`` never import PySide6 or pyqtgraph.
"""

from .dicom_series import SeriesInfo, list_series
from .errors import DatasetError, ModelError, NodulesegError, SegmentationError, VolumeError
from .loader import load_volume
from .volume import Volume, VolumeInfo

__all__ = ["DatasetError", "ModelError", "NodulesegError", "SegmentationError", "SeriesInfo",
           "Volume", "VolumeError", "VolumeInfo", "list_series", "load_volume"]
