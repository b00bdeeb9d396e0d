"""The one metrics module: Dice, HD95, volume error, size bands, textures and patient bootstrap,
each checked on hand-made cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from noduleseg.core import metrics


def test_dice_on_hand_made_masks():
    a = np.zeros((4, 4, 4), bool)
    a[0:2, 0:2, 0:2] = True
    b = np.roll(a, 1, axis=0)  # half of the cube overlaps
    assert metrics.dice(a, b) == pytest.approx(0.5)
    assert metrics.dice(a, a) == 1.0
    assert metrics.dice(a, np.zeros_like(a)) == 0.0
    assert metrics.dice(np.zeros_like(a), np.zeros_like(a)) == 1.0
    assert metrics.dice_from_sums(2, 3, 5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.dice(a, a[0])


def test_hd95_of_a_shifted_box_is_the_shift_in_mm():
    truth = np.zeros((20, 20, 20), bool)
    truth[5:15, 5:15, 5:15] = True
    moved = np.roll(truth, 3, axis=2)  # 3 voxels along x
    spacing = (2.0, 1.0, 0.5)  # z, y, x mm
    assert metrics.hd95_mm(truth, truth, spacing) == 0.0
    assert metrics.hd95_mm(moved, truth, spacing) == pytest.approx(1.5)  # 3 voxels of 0.5 mm
    moved_z = np.roll(truth, 2, axis=0)
    assert metrics.hd95_mm(moved_z, truth, spacing) == pytest.approx(4.0)


def test_hd95_ignores_the_farthest_five_percent_of_the_surface():
    truth = np.zeros((1, 200, 200), bool)
    truth[0, 50:150, 50:150] = True
    spur = truth.copy()
    spur[0, 99:101, 150:190] = True  # a thin spur 40 px long: few surface voxels far away
    assert metrics.hd95_mm(spur, truth, (1.0, 1.0, 1.0)) < 5.0
    full_max = np.max(metrics.surface_distances_mm(spur, truth, (1.0, 1.0, 1.0)))
    assert full_max == pytest.approx(40.0, abs=1.0)


def test_hd95_is_nan_without_a_surface():
    truth = np.zeros((3, 3, 3), bool)
    truth[1, 1, 1] = True
    assert np.isnan(metrics.hd95_mm(np.zeros_like(truth), truth, (1, 1, 1)))


def test_volume_error_is_signed_percent():
    assert metrics.volume_error_pct(150, 100) == pytest.approx(50.0)
    assert metrics.volume_error_pct(0, 100) == pytest.approx(-100.0)
    with pytest.raises(ValueError):
        metrics.volume_error_pct(10, 0)


def test_size_band_and_texture_edges():
    assert [metrics.size_band(d) for d in (3.0, 5.99, 6.0, 9.99, 10.0, 19.99, 20.0, 45.0)] == [
        "<6 mm", "<6 mm", "6-10 mm", "6-10 mm", "10-20 mm", "10-20 mm", ">=20 mm", ">=20 mm"]
    assert [metrics.texture_class(t) for t in (1.0, 2.0, 2.5, 3.5, 4.0, 5.0)] == [
        "ground glass", "ground glass", "part-solid", "part-solid", "solid", "solid"]
    assert metrics.texture_class(None) is None and metrics.texture_class(float("nan")) is None


def test_bootstrap_resamples_patients_not_nodules():
    # one patient with many identical nodules: resampling nodules would make the interval narrow,
    # resampling patients keeps it as wide as two patients allow
    values = [1.0] * 20 + [0.0]
    patients = ["a"] * 20 + ["b"]
    estimate, low, high = metrics.bootstrap_ci(values, patients, resamples=500)
    assert estimate == pytest.approx(20 / 21)
    assert low == pytest.approx(0.0) and high == pytest.approx(1.0)


def test_bootstrap_interval_narrows_with_more_patients_and_holds_the_mean():
    rng = np.random.default_rng(0)
    few = rng.normal(0.7, 0.1, 20)
    many = rng.normal(0.7, 0.1, 400)
    _, low_few, high_few = metrics.bootstrap_ci(few, list(range(20)), resamples=500)
    estimate, low, high = metrics.bootstrap_ci(many, list(range(400)), resamples=500)
    assert low < estimate < high
    assert high - low < high_few - low_few
    assert low < 0.7 < high
    with pytest.raises(ValueError):
        metrics.bootstrap_ci([1.0], ["a", "b"])
    assert all(np.isnan(v) for v in metrics.bootstrap_ci([], []))
