"""Sampling sites (nodule slices, beyond-end slices, hard negatives) and the cut patches."""

from __future__ import annotations

import numpy as np
import pytest

from noduleseg.core.model_io import InputSpec
from noduleseg.core.patches import PatchGeometry, inside_patch, sample_patch
from noduleseg.core.windowing import encode_planes
from noduleseg.training.augment import Augmentation, augment
from noduleseg.training.data import TrainCase
from noduleseg.training.pool import SCALE_JITTER, training_pool, validation_pool
from noduleseg.training.sampling import BEYOND, NEGATIVE, NODULE, build_sites
from noduleseg.training.toy import toy_case

SPEC = InputSpec(patch_px=32, mm_per_px=(0.5, 1.0))


@pytest.fixture(scope="module")
def case():
    volume, labels = toy_case(5, n_nodules=2)
    return TrainCase("toy", "toy", volume, labels)


def test_every_nodule_slice_and_the_empty_slices_beyond_each_end(case):
    sites = build_sites([case], beyond=2, negative_ratio=0.0, margin_mm=20.0, seed=0)
    for label in (1, 2):
        slices = np.flatnonzero((case.labels == label).any(axis=(1, 2)))
        nodule = sorted(s.k for s in sites if s.nodule == label and s.kind == NODULE)
        beyond = sorted(s.k for s in sites if s.nodule == label and s.kind == BEYOND)
        assert nodule == list(slices)
        expected = [k for k in (slices[0] - 2, slices[0] - 1, slices[-1] + 1, slices[-1] + 2) if 0 <= k < 24]
        assert beyond == expected and len(expected) >= 2


def test_beyond_end_patches_have_empty_targets_and_nodule_patches_do_not(case):
    sites = build_sites([case], beyond=2, negative_ratio=0.0, margin_mm=20.0, seed=0)
    pool = validation_pool([case], sites, SPEC, jitter_mm=2.0, seed=0)
    kinds = np.array([sites[s].kind for s in pool.sites])
    assert pool.mask[kinds == BEYOND].sum() == 0
    assert all(pool.mask[n].any() for n in np.flatnonzero(kinds == NODULE) if pool.mm_per_px[n] == 0.5)


def test_hard_negatives_lie_on_dense_tissue_away_from_nodules(case):
    sites = build_sites([case], beyond=0, negative_ratio=2.0, margin_mm=10.0, seed=0)
    negatives = [s for s in sites if s.kind == NEGATIVE]
    n_nodule = sum(s.kind == NODULE for s in sites)
    assert len(negatives) == 2 * n_nodule
    nodule_zyx = np.argwhere(case.labels > 0) * np.array([1.25, 0.7, 0.7])
    for site in negatives:
        assert case.volume.hu[site.k, int(site.center_ji[0]), int(site.center_ji[1])] > -400
        point = np.array([site.k * 1.25, site.center_ji[0] * 0.7, site.center_ji[1] * 0.7])
        in_plane = np.abs(nodule_zyx[:, 1:] - point[1:]).max(axis=1)
        assert np.all((in_plane > 10.0) | (np.abs(nodule_zyx[:, 0] - point[0]) > 2.5))


def test_validation_patches_are_cut_exactly_as_inference_cuts_them(case):
    sites = build_sites([case], beyond=1, negative_ratio=0.5, margin_mm=10.0, seed=0)
    pool = validation_pool([case], sites, SPEC, jitter_mm=0.0, seed=0)
    site = sites[int(pool.sites[3])]
    geometry = PatchGeometry(site.center_ji, float(pool.mm_per_px[3]), 32, (0.7, 0.7))
    for plane in pool.hu[3]:  # 2D input: the slice itself in every channel
        np.testing.assert_array_equal(plane, sample_patch(case.volume.hu[site.k], geometry))
    image, _, _ = pool.batch(np.array([3]), SPEC)
    np.testing.assert_array_equal(image[0].numpy(), encode_planes(pool.hu[3], SPEC.windows))
    assert sorted(set(pool.mm_per_px.tolist())) == [0.5, 1.0] and len(pool) == 2 * len(sites)


def test_two_and_a_half_d_patches_hold_the_planes_above_and_below(case):
    spec = InputSpec(patch_px=32, mm_per_px=(0.5, 1.0), slice_offsets_mm=(-1.25, 0.0, 1.25))  # toy: 1.25 mm
    sites = [s for s in build_sites([case], beyond=1, negative_ratio=0.0, margin_mm=10.0, seed=0)
             if 0 < s.k < case.volume.hu.shape[0] - 1]
    pool = validation_pool([case], sites, spec, jitter_mm=0.0, seed=0)
    site = sites[int(pool.sites[0])]
    geometry = PatchGeometry(site.center_ji, float(pool.mm_per_px[0]), 32, (0.7, 0.7))
    for plane, k in zip(pool.hu[0], (site.k - 1, site.k, site.k + 1)):
        np.testing.assert_array_equal(plane, sample_patch(case.volume.hu[k], geometry))
    assert not np.array_equal(pool.hu[0, 0], pool.hu[0, 2])


def test_training_pool_is_reproducible_per_key_and_scales_stay_in_range(case):
    sites = build_sites([case], beyond=2, negative_ratio=0.5, margin_mm=10.0, seed=0)
    order = np.arange(len(sites))
    first = training_pool([case], sites, SPEC, 3.0, order, key=(0, 1, 2))
    again = training_pool([case], sites, SPEC, 3.0, order, key=(0, 1, 2))
    other = training_pool([case], sites, SPEC, 3.0, order, key=(0, 1, 3))
    assert first.fingerprint() == again.fingerprint() != other.fingerprint()
    assert first.mm_per_px.min() >= 0.5 / SCALE_JITTER and first.mm_per_px.max() <= 1.0 * SCALE_JITTER
    assert first.mm_per_px.max() - first.mm_per_px.min() > 0.2
    shard = training_pool([case], sites, SPEC, 3.0, order[1::2], key=(0, 1, 2))
    assert len(shard) == len(order[1::2])


def test_augmentation_moves_image_and_mask_together():
    rng = np.random.default_rng(0)
    hu = np.full((16, 16), -800.0, np.float32)
    hu[2:6, 9:14] = 50.0
    mask = (hu > 0).astype(np.uint8)
    seen = set()
    for _ in range(30):
        new_hu, new_mask = augment(hu, mask, rng, Augmentation(hu_shift=5.0, noise_hu=3.0))
        assert np.array_equal(new_mask.astype(bool), new_hu > -400)
        assert abs(float(new_hu[new_mask == 0].mean()) + 800.0) < 8.0
        seen.add(new_mask.tobytes())
    assert len(seen) == 8  # 4 rotations x 2 flips of an asymmetric shape


def test_augmentation_moves_every_plane_with_the_mask_and_keeps_repeated_planes_equal():
    hu = np.full((3, 16, 16), -800.0, np.float32)
    hu[:, 2:6, 9:14] = 50.0
    hu[2, 10:12, 1:3] = 50.0  # only in the plane above
    mask = (hu[1] > 0).astype(np.uint8)
    settings = Augmentation(hu_shift=5.0, noise_hu=3.0, kernel=0.5, contrast=0.1)
    for seed in range(10):
        new_hu, new_mask = augment(hu, mask, np.random.default_rng(seed), settings)
        assert new_hu.shape == hu.shape
        np.testing.assert_array_equal(new_hu[0], new_hu[1])
        assert np.array_equal(new_mask.astype(bool), new_hu[1] > -400)
        assert (new_hu[2] > -400).sum() == new_mask.sum() + 4


def test_kernel_and_contrast_augmentation_change_edges_and_levels_not_the_mask():
    hu = np.full((16, 16), -850.0, np.float32)
    hu[4:12, 4:12] = 40.0
    mask = (hu > 0).astype(np.uint8)
    quiet = {"flip": False, "rotate": False, "hu_shift": 0.0, "noise_hu": 0.0}
    edges, levels = [], []
    for seed in range(40):
        new_hu, new_mask = augment(hu, mask, np.random.default_rng(seed), Augmentation(**quiet, kernel=0.8))
        assert np.array_equal(new_mask, mask)
        edges.append(float(new_hu[4, 8] - new_hu[3, 8]))  # the step across the top edge
        new_hu, _ = augment(hu, mask, np.random.default_rng(seed), Augmentation(**quiet, contrast=0.1))
        levels.append(float(new_hu[8, 8]))
    assert min(edges) < 0.8 * 890 and max(edges) > 1.2 * 890  # blurred and sharpened
    assert min(levels) < 40 - 30 and max(levels) > 40 + 30 and all(abs(v - 40) <= 64.1 for v in levels)
    unchanged, _ = augment(hu, mask, np.random.default_rng(0), Augmentation(**quiet))
    assert np.array_equal(unchanged, hu)


# --- crops: their edge and the other nodules in them ------------------------------------------


def crop_of(case: TrainCase) -> TrainCase:
    """A tight crop around nodule 1 of the toy case, labelled as convert-crops labels it."""
    from noduleseg.training.data import LidcRecord, ReferenceNodule
    voxels = np.argwhere(case.labels == 1)
    low, high = np.maximum(voxels.min(axis=0) - 2, 0), voxels.max(axis=0) + 3
    (k0, j0, i0), (k1, j1, i1) = low, high
    labels = case.labels[k0:k1, j0:j1, i0:i1].copy()
    labels[(labels > 0) & (labels != 1)] = 2
    labels[labels.shape[0] // 2, 0, 0] = 2  # another nodule reaching into a corner
    lidc = LidcRecord(crop_of=1, nodules=(ReferenceNodule(1),))
    return TrainCase("toy_01", "toy", case.volume.crop(k0, k1, j0, j1, i0, i1), labels, lidc=lidc)


def test_a_crop_gives_sites_for_its_own_nodule_only_and_no_hard_negatives(case):
    crop = crop_of(case)
    sites = build_sites([crop], beyond=2, negative_ratio=1.0, margin_mm=5.0, seed=0)
    assert {s.nodule for s in sites} == {1} and not any(s.kind == NEGATIVE for s in sites)


def test_past_a_crops_edge_and_on_other_nodules_nothing_counts(case):
    from noduleseg.training.pool import CropHandling, cut
    crop = crop_of(case)
    middle = crop.labels.shape[0] // 2  # the slice with another nodule in its corner
    site = next(s for s in build_sites([crop], 0, 0.0, 5.0, 0) if s.nodule == 1 and s.k == middle)
    hu, mask, weight = cut(crop, site, 1.0, (0.0, 0.0), SPEC, CropHandling("air", True))
    assert mask.any() and not weight.all()
    assert not (mask & (weight == 0)).any()  # the nodule itself always counts
    assert weight[0, 0] == 0 and weight[16, 16] == 1  # the corner lies past the crop at 1 mm/px
    geometry = PatchGeometry(site.center_ji, 1.0, 32, crop.volume.spacing_zyx[1:])
    outside = ~inside_patch(crop.labels.shape[1:], geometry)
    assert outside.any() and not weight[outside].any()
    assert np.all(hu[:, outside] <= -1023)  # air past the edge
    mirrored, _, _ = cut(crop, site, 1.0, (0.0, 0.0), SPEC, CropHandling("reflect", True), reflect=True)
    assert mirrored[:, outside].mean() > -900  # lung tissue mirrored in, not air
    _, _, counted = cut(crop, site, 1.0, (0.0, 0.0), SPEC, CropHandling("air", False))
    other = sample_patch((crop.labels[site.k] == 2).astype(float), geometry, fill=0.0) >= 0.5
    assert other.any() and counted[~other].all() and not counted[other].any()  # other nodules never count


def test_a_whole_scan_keeps_every_pixel_but_other_nodules(case):
    from noduleseg.training.pool import cut
    site = next(s for s in build_sites([case], 0, 0.0, 5.0, 0) if s.nodule == 1)
    _, _, weight = cut(case, site, 2.0, (0.0, 0.0), SPEC)
    assert weight.all() or (case.labels[site.k] == 2).any()
