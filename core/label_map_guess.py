"""Telling a label map given by mistake from a CT, so the reader hears that and not "no nodule".

A chest CT always holds air (lung, outside the body: far below -500 HU). A label map holds
small whole numbers, 0 for most voxels. A volume with no voxel below 0, nothing above 255 and
at least half its voxels exactly 0 is a label map (or a mask), not a scan to segment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import LabelMapGivenError
from .volume import Volume

AIR_HU = -500  # every chest CT has voxels below this
MAX_LABEL = 255
BACKGROUND_SHARE = 0.5  # a label map is mostly background


def looks_like_label_map(hu: np.ndarray) -> bool:
    """Whether voxel values are labels 0..255, mostly 0, with no air anywhere."""
    if hu.size == 0 or int(hu.min()) < 0 or int(hu.max()) > MAX_LABEL:
        return False
    return float(np.count_nonzero(hu == 0)) >= BACKGROUND_SHARE * hu.size


def refuse_label_map(volume: Volume, path: str | Path) -> None:
    """Raise when ``volume`` (read from ``path``) is a label map rather than a CT.

    Raises:
        LabelMapGivenError: It looks like a label map; the message says why and what to give.
    """
    hu = volume.hu
    if not looks_like_label_map(hu):
        return
    share = np.count_nonzero(hu == 0) / hu.size
    raise LabelMapGivenError(path, f"this looks like a label map, not a CT: only whole values "
                                   f"{int(hu.min())}..{int(hu.max())} ({share:.0%} of voxels 0) and no air "
                                   f"below {AIR_HU} HU; give the CT scan the labels belong to")
