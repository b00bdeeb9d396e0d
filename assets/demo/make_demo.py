"""Rebuild the demo CT: a 24-slice slab of LIDC-IDRI-0001 around its nodule (k 86-93).

Run from the repository root: ``.venv/bin/python assets/demo/make_demo.py [DICOM_FOLDER]``.
The slab keeps the scan's exact geometry (``Volume.crop`` moves the origin).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from noduleseg.core.loader import load_volume
from noduleseg.core.volume import image_like

SOURCE = Path("/work/shared/data/lidc/LIDC-IDRI-0001/dicom")
TARGET = Path(__file__).with_name("LIDC-IDRI-0001_slab.nii.gz")
FIRST_K, LAST_K = 78, 102  # slices [78, 102) of the series; the nodule spans k 86-93


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else SOURCE
    slab = load_volume(source).crop(FIRST_K, LAST_K)
    sitk.WriteImage(image_like(slab.hu.astype(np.int16), slab), str(TARGET), useCompression=True)
    print(f"{TARGET}: {slab.shape_zyx} voxels, {TARGET.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
