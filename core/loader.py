"""``load_volume``: the one way in. (Minimal first cut: files through SimpleITK.)"""

from __future__ import annotations

import logging
from pathlib import Path

import SimpleITK as sitk

from .errors import VolumeError
from .volume import Volume, VolumeInfo, volume_from_sitk

log = logging.getLogger(__name__)


def load_volume(path: str | Path, series_uid: str | None = None) -> Volume:
    """Load a CT volume from a DICOM folder or file, NIfTI, MetaImage or NRRD."""
    path = Path(path)
    if not path.exists():
        raise VolumeError(path, "no such file or folder")
    if path.is_dir():
        reader = sitk.ImageSeriesReader()
        uids = reader.GetGDCMSeriesIDs(str(path))
        if not uids:
            raise VolumeError(path, "no DICOM series in this folder")
        files = reader.GetGDCMSeriesFileNames(str(path), series_uid or uids[0])
        reader.SetFileNames(files)
        image = reader.Execute()
    else:
        image = sitk.ReadImage(str(path))
    return volume_from_sitk(sitk.Cast(image, sitk.sitkInt16), VolumeInfo(source=str(path)))
