"""The shipped model on the real LIDC scans (skipped without a shipped model or shared data).

The shipped model trained on 0002 and 0003 and validated on 0001, so this is a regression check
of the whole click-to-segment path on real anatomy, not its accuracy on unseen patients (that is
the test split's figure on the model card).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.core.errors import ModelError
from noduleseg.core.loader import load_volume
from noduleseg.core.model_io import load_model
from noduleseg.core.segment import segment_nodule

pytestmark = pytest.mark.shared_data

SCANS = {"LIDC-IDRI-0001": "dicom", "LIDC-IDRI-0002": "LIDC-IDRI-0002_ct.nii.gz",
         "LIDC-IDRI-0003": "LIDC-IDRI-0003_ct.nii.gz"}


@pytest.fixture(scope="module")
def shipped_model():
    try:
        return load_model(None)
    except ModelError as error:
        pytest.skip(f"no shipped model: {error}")


def test_shipped_model_outlines_the_lidc_nodules(shared_data, shipped_model):
    dices = []
    for scan, image in SCANS.items():
        folder = shared_data / "lidc" / scan
        volume = load_volume(folder / image)
        truth = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"{scan}_nodules.nii.gz")))
        with open(folder / f"{scan}_nodules.csv", newline="") as stream:
            rows = [r for r in csv.DictReader(stream) if int(r["readers"]) >= 2]
        for row in rows:
            seed = (int(row["center_i"]), int(row["center_j"]), int(row["center_k"]))
            found = segment_nodule(volume, seed, shipped_model).mask.full(volume.shape_zyx)
            nodule = truth == int(row["nodule"])
            dices.append(2 * np.count_nonzero(found & nodule) / (found.sum() + nodule.sum()))
    assert len(dices) == 5
    # A regression floor: shipped-2 measured 0.81 here (0.92, 0.39 on the 31 mm ground glass of
    # 0002, 0.90, 0.93, 0.91; shipped-1: 0.60).
    assert np.mean(dices) >= 0.75, dices
