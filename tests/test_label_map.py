"""One rule for every label map: the lower id keeps an overlapped voxel, for the CLI's export,
the app's export and the app's overlay alike."""

from __future__ import annotations

import numpy as np
import pytest

from noduleseg.core.label_map import LabelMapError, build
from noduleseg.core.nodule_mask import NoduleMask

SHAPE = (4, 6, 6)


def box(z: slice, y: slice, x: slice) -> NoduleMask:
    full = np.zeros(SHAPE, bool)
    full[z, y, x] = True
    return NoduleMask.from_full(full)


def test_the_lower_id_keeps_an_overlapped_voxel_whatever_the_order():
    early, late = box(slice(1, 3), slice(1, 4), slice(1, 4)), box(slice(2, 4), slice(2, 6), slice(2, 6))
    for pairs in ([(2, early), (5, late)], [(5, late), (2, early)]):
        labels = build(pairs, SHAPE)
        assert labels[2, 2, 2] == 2 and labels[3, 5, 5] == 5 and labels[1, 1, 1] == 2 and labels[0].max() == 0
        assert np.count_nonzero(labels == 5) == late.voxel_count - 4  # the 2x2 overlap at z=2 stays 2
        assert np.array_equal(build(pairs, SHAPE, k=2), labels[2])
    assert build([(2, early)], SHAPE, k=0).max() == 0  # a slice the nodule does not reach


def test_ids_and_masks_that_do_not_fit_are_refused():
    nodule = box(slice(0, 1), slice(0, 1), slice(0, 1))
    with pytest.raises(LabelMapError, match="id 256"):
        build([(256, nodule)], SHAPE)
    with pytest.raises(LabelMapError, match="outside"):
        build([(1, NoduleMask(np.ones((2, 2, 2), bool), (3, 0, 0)))], SHAPE)


def test_the_cli_export_and_the_app_export_agree_on_an_overlap(tmp_path):
    from noduleseg.app.masks import MaskCrop
    from noduleseg.core.export import labels_from_nodules
    early, late = box(slice(1, 3), slice(1, 4), slice(1, 4)), box(slice(2, 4), slice(2, 6), slice(2, 6))
    cli = labels_from_nodules([early, late], SHAPE)
    app = build([(1, MaskCrop(early.mask, early.offset_zyx)), (2, MaskCrop(late.mask, late.offset_zyx))], SHAPE)
    assert np.array_equal(cli, app) and cli[2, 2, 2] == 1
