"""Click-to-segment in 3D with a real (tiny, trained) model on synthetic spheres."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from noduleseg.core.errors import SegmentationError
from noduleseg.core.metrics import dice
from noduleseg.core.model_io import LoadedModel
from noduleseg.core.segment import (Nodule, SegmentationCancelled, segment_box, segment_nodule,
                                    segment_slice)
from noduleseg.core.volume import Volume

SPACING = (0.7, 0.7, 1.25)


def spheres(centres_zyx, radii_vox, shape=(32, 64, 64), hu_inside=40) -> tuple[Volume, list[np.ndarray]]:
    z, y, x = np.mgrid[:shape[0], :shape[1], :shape[2]]
    rng = np.random.default_rng(1)
    hu = rng.normal(-850, 30, shape).astype(np.int16)
    truths = []
    for (cz, cy, cx), r in zip(centres_zyx, radii_vox):
        # Voxels are anisotropic: the radius is in-plane voxels, z scaled to the same mm.
        inside = (((z - cz) * SPACING[2]) ** 2 + ((y - cy) * SPACING[1]) ** 2
                  + ((x - cx) * SPACING[0]) ** 2) <= (r * SPACING[0]) ** 2
        hu[inside] = hu_inside
        truths.append(inside)
    return Volume(hu, spacing=SPACING, origin=(-20.0, 10.0, -100.0)), truths


def test_sphere_is_segmented_in_3d(blob_model):
    volume, (truth,) = spheres([(16, 32, 30)], [7])
    nodule = segment_nodule(volume, (30, 32, 16), blob_model)
    assert isinstance(nodule, Nodule) and nodule.model_version == "test-blobs"
    assert dice(nodule.mask.full(volume.shape_zyx), truth) > 0.85
    assert nodule.seed_ijk == (30, 32, 16)
    assert nodule.measurements.long_axis_mm == pytest.approx(9.8, abs=1.5)


def test_propagation_stops_at_the_sphere_ends(blob_model):
    volume, (truth,) = spheres([(16, 32, 30)], [7])
    nodule = segment_nodule(volume, (31, 33, 17), blob_model)
    slices = np.flatnonzero(truth.any(axis=(1, 2)))
    m = nodule.measurements
    assert slices[0] <= m.k_first <= slices[0] + 1
    assert slices[-1] - 1 <= m.k_last <= slices[-1]


def test_neighbouring_sphere_is_left_out(blob_model):
    volume, (first, second) = spheres([(16, 32, 20), (16, 32, 35)], [6, 6])
    found = segment_nodule(volume, (20, 32, 16), blob_model).mask.full(volume.shape_zyx)
    assert dice(found, first) > 0.85
    assert not (found & second).any()
    assert segment_slice(volume, (20, 32, 16), blob_model)[second[16]].sum() == 0


def test_click_next_to_a_nodule_selects_it(blob_model):
    volume, (truth,) = spheres([(16, 32, 30)], [6])
    nodule = segment_nodule(volume, (30 + 6 + 2, 32, 16), blob_model)  # 1.4 mm outside
    assert dice(nodule.mask.full(volume.shape_zyx), truth) > 0.85


def test_large_nodule_moves_to_the_coarse_scale(blob_model):
    volume, (truth,) = spheres([(16, 64, 64)], [21], shape=(32, 128, 128))  # 29 mm wide
    nodule = segment_nodule(volume, (64, 64, 16), blob_model)
    assert dice(nodule.mask.full(volume.shape_zyx), truth) > 0.8
    assert nodule.measurements.long_axis_mm == pytest.approx(29.4, abs=3.0)


def test_slice_only(blob_model):
    volume, (truth,) = spheres([(16, 32, 30)], [7])
    outline = segment_slice(volume, (30, 32, 16), blob_model)
    assert outline.shape == (64, 64) and outline.dtype == bool
    assert dice(outline, truth[16]) > 0.85


def test_box_selects_the_nodule_inside_it(blob_model):
    volume, (first, second) = spheres([(16, 32, 20), (16, 32, 35)], [6, 6])
    nodule = segment_box(volume, (42, 24, 28, 40, 16), blob_model)  # corners in any order
    found = nodule.mask.full(volume.shape_zyx)
    assert dice(found, second) > 0.85 and not (found & first).any()
    assert nodule.seed_ijk == (35, 32, 16)


def test_empty_box_and_empty_lung_are_errors(blob_model):
    volume, _ = spheres([(16, 32, 30)], [6])
    with pytest.raises(SegmentationError, match="no nodule found in box"):
        segment_box(volume, (2, 2, 12, 12, 16), blob_model)
    with pytest.raises(SegmentationError, match=r"no nodule found at seed \(5, 5, 16\)"):
        segment_nodule(volume, (5, 5, 16), blob_model)


@pytest.mark.parametrize("seed", [(64, 10, 5), (-1, 10, 5), (3, 3, 32)])
def test_seed_outside_the_image_is_refused(blob_model, seed):
    volume, _ = spheres([(16, 32, 30)], [6])
    with pytest.raises(SegmentationError, match="outside the image"):
        segment_nodule(volume, seed, blob_model)


def test_box_outside_the_image_is_refused(blob_model):
    volume, _ = spheres([(16, 32, 30)], [6])
    with pytest.raises(SegmentationError, match="outside the image"):
        segment_box(volume, (70, 70, 80, 80, 3), blob_model)


def test_progress_rises_to_one_and_cancel_stops(blob_model):
    volume, _ = spheres([(16, 32, 30)], [7])
    reported: list[float] = []
    segment_nodule(volume, (30, 32, 16), blob_model, progress=reported.append)
    assert reported[-1] == 1.0 and reported == sorted(reported) and len(reported) >= 3
    polls: list[int] = []

    def cancel_on_second_poll() -> bool:
        polls.append(1)
        return len(polls) >= 2

    with pytest.raises(SegmentationCancelled):
        segment_nodule(volume, (30, 32, 16), blob_model, cancel=cancel_on_second_poll)
    assert len(polls) == 2


def test_vessel_leaving_the_nodule_is_cut_off(blob_model):
    volume, (truth,) = spheres([(12, 32, 30)], [7])
    z, y, x = np.mgrid[:32, :64, :64]
    vessel = (((y - 32) * SPACING[1]) ** 2 + ((x - 30) * SPACING[0]) ** 2 <= 1.6 ** 2) & (z > 12)
    hu = volume.hu.copy()
    hu[vessel] = 40
    found = segment_nodule(volume.with_hu(hu), (30, 32, 12), blob_model).mask.full(volume.shape_zyx)
    last_sphere_slice = np.flatnonzero(truth.any(axis=(1, 2)))[-1]
    assert dice(found, truth | (vessel & (z <= last_sphere_slice))) > 0.8
    assert np.flatnonzero(found.any(axis=(1, 2)))[-1] <= last_sphere_slice + 2


def test_an_outline_that_jumps_onto_a_vessel_beside_the_nodule_ends(blob_model):
    # A vessel runs up from the nodule's top slice, beside it rather than through it: its
    # section touches the nodule's last cap, so only the jump of the outline's centre tells them
    # apart (before the jump rule, the outline followed the vessel up to the z bound).
    volume, (truth,) = spheres([(12, 32, 30)], [7])
    top = np.flatnonzero(truth.any(axis=(1, 2)))[-1]
    z, y, x = np.mgrid[:32, :64, :64]
    vessel = ((y - 32) ** 2 + (x - 39) ** 2 <= 5 ** 2) & (z > top)
    hu = volume.hu.copy()
    hu[vessel] = 40
    found = segment_nodule(volume.with_hu(hu), (30, 32, 12), blob_model).mask.full(volume.shape_zyx)
    assert dice(found, truth) > 0.8
    assert not found[top + 1:].any()


def test_a_nodule_touching_another_above_it_ends_where_the_area_grows_again(blob_model):
    # Two 9.8 mm balls stacked in z, touching at their caps: the outline shrinks to the caps and
    # grows again into the second ball (no sideways jump, so only the area profile shows it).
    volume, (lower, upper) = spheres([(10, 32, 30), (17, 32, 30)], [7, 7])
    found = segment_nodule(volume, (30, 32, 10), blob_model).mask.full(volume.shape_zyx)
    assert dice(found, lower) > 0.8
    first_upper = np.flatnonzero(upper.any(axis=(1, 2)))[0]
    assert not found[first_upper + 1:].any()


def denser_than_lung(channels: torch.Tensor) -> torch.Tensor:
    """1.0 where the lung-window channel shows tissue denser than about -675 HU, else 0.0."""
    return (channels[:, :1] > 0.45).float()


class UnsureNet:
    """A stand-in network, unit tests only: probability 0.35 wherever the tissue is denser than
    lung (``denser_than_lung``): a model unsure of faint ground glass."""

    def predict(self, channels: torch.Tensor) -> torch.Tensor:
        return 0.35 * denser_than_lung(channels)


def test_a_click_on_faint_tissue_is_followed_at_the_lower_threshold(blob_model):
    unsure = LoadedModel(UnsureNet(), blob_model.input, {"version": "unsure"})
    volume, (truth,) = spheres([(16, 32, 30)], [7], hu_inside=-550)
    assert dice(segment_nodule(volume, (30, 32, 16), unsure).mask.full(volume.shape_zyx), truth) > 0.85
    with pytest.raises(SegmentationError, match="no nodule found at seed"):
        segment_nodule(volume, (5, 5, 16), unsure)  # aerated lung: no second reading


class TieredNet:
    """A stand-in network, unit tests only: probability ``solid`` on solid tissue (lung-window
    channel above 0.9, about 0 HU) and ``dense`` on other tissue denser than lung."""

    def __init__(self, solid: float, dense: float):
        self.solid, self.dense = solid, dense

    def predict(self, channels: torch.Tensor) -> torch.Tensor:
        solid = (channels[:, :1] > 0.9).float()
        return self.solid * solid + self.dense * denser_than_lung(channels) * (1.0 - solid)


def core_in_ground_glass() -> tuple[Volume, np.ndarray, np.ndarray]:
    """A 14 mm ground-glass ball (-500 HU) around an 8.4 mm solid core (40 HU)."""
    volume, (ball, core) = spheres([(16, 32, 30), (16, 32, 30)], [10, 6], hu_inside=-500)
    volume.hu[core] = 40
    return volume, ball, core


def test_a_nodule_the_model_is_unsure_of_is_cut_at_its_own_lower_threshold(blob_model):
    # Peak 0.52 on the core, 0.4 on the ground glass: the card's 0.5 would keep the core alone.
    volume, ball, _ = core_in_ground_glass()
    unsure = LoadedModel(TieredNet(solid=0.52, dense=0.4), blob_model.input, {"version": "unsure"})
    assert dice(segment_nodule(volume, (30, 32, 16), unsure).mask.full(volume.shape_zyx), ball) > 0.85
    box = segment_box(volume, (22, 24, 38, 40, 16), unsure).mask.full(volume.shape_zyx)
    assert dice(box, ball) > 0.85


def test_a_nodule_the_model_is_sure_of_is_cut_above_its_faint_rim(blob_model):
    # Peak 0.95 on the core, 0.55 on the ground glass: the card's 0.5 would draw the whole ball.
    volume, _, core = core_in_ground_glass()
    sure = LoadedModel(TieredNet(solid=0.95, dense=0.55), blob_model.input, {"version": "sure"})
    assert dice(segment_nodule(volume, (30, 32, 16), sure).mask.full(volume.shape_zyx), core) > 0.8
    assert dice(segment_slice(volume, (30, 32, 16), sure), core[16]) > 0.8


def test_a_lower_cut_that_runs_out_of_the_patch_is_not_taken(blob_model):
    # A solid ball (peak 0.7) against a wall the model gives 0.45, the wall reaching the patch
    # border: 60% of the peak (0.42) would take the wall in, so the card's 0.5 stays.
    volume, (ball,) = spheres([(16, 32, 30)], [6])
    wall = np.zeros(volume.shape_zyx, bool)
    wall[:, :, 37:] = True
    volume.hu[wall & ~ball] = -500
    model = LoadedModel(TieredNet(solid=0.7, dense=0.45), blob_model.input, {"version": "wall"})
    found = segment_nodule(volume, (30, 32, 16), model).mask.full(volume.shape_zyx)
    assert dice(found, ball) > 0.8
    assert not (found & wall & ~ball).any()


class FieldShareNet:
    """A stand-in network, unit tests only: marks tissue denser than lung (``denser_than_lung``)
    unless it covers more than a third of the patch (a model that reads a field-filling lesion as
    chest wall, as the shipped one does with a uniform 30 mm ball at 1 mm/px)."""

    def predict(self, channels: torch.Tensor) -> torch.Tensor:
        dense = denser_than_lung(channels)
        return dense * (dense.mean(dim=(1, 2, 3), keepdim=True) <= 1 / 3)


def test_a_lesion_too_large_for_the_models_scales_is_found_on_a_coarser_one(blob_model):
    # 48 mm wide: at the model's scales (1 and 2 mm/px, 32 px patches) it covers more than a
    # third of the patch; the ladder goes on past them, to 3 mm/px.
    model = LoadedModel(FieldShareNet(), blob_model.input, {"version": "field-share"})
    volume, (truth,) = spheres([(24, 80, 80)], [34], shape=(48, 160, 160))
    nodule = segment_nodule(volume, (80, 80, 24), model)
    assert dice(nodule.mask.full(volume.shape_zyx), truth) > 0.9
    assert nodule.measurements.long_axis_mm == pytest.approx(47.6, rel=0.1)
    with pytest.raises(SegmentationError, match="no nodule found at seed"):
        segment_nodule(volume, (5, 5, 24), model)  # aerated lung: no coarser search
    boxed = segment_box(volume, (44, 44, 116, 116, 24), model)  # a 51 mm box: 3 mm/px
    assert dice(boxed.mask.full(volume.shape_zyx), truth) > 0.9


class RecordingNet:
    """The real network, recording the input of every forward pass."""

    def __init__(self, net):
        self.net, self.inputs = net, []

    def predict(self, x):
        self.inputs.append(x.numpy().copy())
        return self.net.predict(x)


def test_a_two_and_a_half_d_model_gets_the_planes_above_and_below(blob_model):
    from dataclasses import replace

    from noduleseg.core.patches import PatchGeometry, sample_patch
    from noduleseg.core.windowing import apply_window

    volume, (truth,) = spheres([(16, 32, 30)], [7])
    spec = replace(blob_model.input, slice_offsets_mm=(-SPACING[2], 0.0, SPACING[2]))
    recorder = RecordingNet(blob_model.net)
    nodule = segment_nodule(volume, (30, 32, 16), LoadedModel(recorder, spec, blob_model.card))
    assert dice(nodule.mask.full(volume.shape_zyx), truth) > 0.6
    first = recorder.inputs[0][0]  # the seed slice's first patch
    geometry = PatchGeometry((32.0, 30.0), spec.mm_per_px[0], spec.patch_px, SPACING[:2][::-1])
    for channel, k in enumerate((15, 16, 17)):
        expected = apply_window(sample_patch(volume.hu[k], geometry), spec.windows[channel])
        np.testing.assert_allclose(first[channel], expected, atol=1e-6)
