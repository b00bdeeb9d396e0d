"""Per-nodule evaluation: the helpers on hand-made masks, ``evaluate_model`` with the tiny trained
model on spheres of known size, crops scored on their own nodule, the -400 HU baseline, moved
clicks, the grouped summary with intervals, held-out simulated test nodules, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from noduleseg.core import metrics
from noduleseg.core.cases import write_case
from noduleseg.core.volume import Volume
from noduleseg.training.cli import main
from noduleseg.training.data import LidcRecord, ReferenceNodule, TrainCase
from noduleseg.training.eval_run import place_test_nodules, shapes_used_in_training, without_shapes
from noduleseg.training.evaluate import (evaluate_model, moved_seeds, seed_near_centroid, slice_errors, slice_range,
                                         threshold_component)
from noduleseg.training.summary import paired_difference, summarise, summary_table
from noduleseg.training.synthetic import ShapeLibrary
from noduleseg.training.toy import toy_case

SPACING = (0.7, 0.7, 1.25)  # x, y, z
# (centre z, y, x), radius in in-plane voxels (0.7 mm), hu: 7 mm, 14 mm, 22.4 mm, and an
# invisible one (lung HU) that no model can find.
SPHERES = (((16, 22, 22), 5, 40), ((16, 24, 70), 10, 40), ((16, 68, 50), 16, 40), ((16, 78, 14), 5, -850))


def sphere_case(case_id: str = "spheres", simulated: tuple[int, ...] = (2,)) -> TrainCase:
    shape = (32, 96, 96)
    z, y, x = np.mgrid[:shape[0], :shape[1], :shape[2]]
    hu = np.random.default_rng(1).normal(-850, 30, shape)
    labels = np.zeros(shape, np.uint8)
    for label, ((cz, cy, cx), radius, value) in enumerate(SPHERES, start=1):
        inside = (((z - cz) * SPACING[2]) ** 2 + ((y - cy) * SPACING[1]) ** 2
                  + ((x - cx) * SPACING[0]) ** 2) <= (radius * SPACING[0]) ** 2
        hu[inside] = value + np.random.default_rng(label).normal(0, 10, inside.sum())
        labels[inside] = label
    volume = Volume(np.rint(hu).astype(np.int16), spacing=SPACING, origin=(-20.0, 10.0, -100.0))
    return TrainCase(case_id, case_id, volume, labels, None, simulated)


def test_slice_range_and_slice_errors():
    mask = np.zeros((10, 3, 3), bool)
    mask[2:6, 1, 1] = True
    assert slice_range(mask) == (2, 5)
    assert slice_range(np.zeros_like(mask)) is None
    assert slice_errors((3, 7), (1, 8)) == (3, 0)  # two slices too low, one too high
    assert slice_errors((3, 7), (4, 6)) == (0, 2)
    assert slice_errors((3, 7), (5, 9)) == (2, 2)
    assert slice_errors((3, 7), None) == (0, 5)


def test_seed_is_the_voxel_nearest_the_centroid_in_ijk_order():
    mask = np.zeros((5, 6, 7), bool)
    mask[3, 1, 2:5] = True  # a row along x: centroid at x=3
    assert seed_near_centroid(mask, (1.0, 1.0, 1.0)) == (3, 1, 3)
    ring = np.zeros((1, 5, 5), bool)
    ring[0, [0, 0, 0, 4, 4, 4, 1, 2, 3, 1, 2, 3], [0, 2, 4, 0, 2, 4, 0, 0, 0, 4, 4, 4]] = True
    i, j, k = seed_near_centroid(ring, (1.0, 1.0, 1.0))
    assert ring[k, j, i] and (i, j) in {(2, 0), (2, 4), (0, 2), (4, 2)}  # the hole's centre is not a voxel


def test_moved_clicks_lie_inside_1_to_3_mm_from_the_centre():
    mask = np.zeros((9, 21, 21), bool)
    zz, yy, xx = np.mgrid[:9, :21, :21]
    mask[((zz - 4) * 1.0) ** 2 + ((yy - 10) * 0.5) ** 2 + ((xx - 10) * 0.5) ** 2 <= 16] = True  # 4 mm radius
    centre = (10, 10, 4)
    clicks = moved_seeds(mask, centre, (1.0, 0.5, 0.5), 4, np.random.default_rng(0))
    assert len(clicks) == 4 and len(set(clicks)) == 4
    for i, j, k in clicks:
        assert mask[k, j, i]
        distance = np.sqrt(((k - 4) * 1.0) ** 2 + ((j - 10) * 0.5) ** 2 + ((i - 10) * 0.5) ** 2)
        assert 1.0 <= distance <= 3.0
    tiny = np.zeros((1, 3, 3), bool)
    tiny[0, 1, 1:3] = True  # no voxel 1 mm away at 0.4 mm pixels: the farthest one stands in
    assert moved_seeds(tiny, (1, 1, 0), (1.0, 0.4, 0.4), 4, np.random.default_rng(0)) == [(2, 1, 0)]
    assert moved_seeds(tiny, (1, 1, 0), (1.0, 0.4, 0.4), 0, np.random.default_rng(0)) == []


def test_threshold_baseline_takes_the_dense_component_at_the_click():
    case = sphere_case()
    sphere = case.labels == 3
    found = threshold_component(case.volume, (50, 68, 16))
    assert metrics.dice(found.full(case.volume.shape_zyx), sphere) > 0.98
    next_to = threshold_component(case.volume, (50 + 17, 68, 16))  # one voxel outside the edge
    assert metrics.dice(next_to.full(case.volume.shape_zyx), sphere) > 0.98
    assert threshold_component(case.volume, (85, 10, 5)).is_empty  # aerated lung, nothing near


@pytest.fixture(scope="module")
def sphere_results(blob_model):
    case = sphere_case()
    return case, evaluate_model(blob_model, [case], moved_clicks=2)


def test_spheres_are_segmented_scored_and_banded(sphere_results):
    case, results = sphere_results
    assert [r.label for r in results] == [1, 2, 3, 4]
    assert [r.band for r in results] == ["6-10 mm", "10-20 mm", ">=20 mm", "6-10 mm"]
    assert [r.texture for r in results] == [None] * 4  # no LIDC record, no simulation record
    for result, (_, radius, _) in zip(results[:3], SPHERES):
        assert result.found and result.error is None
        assert result.diameter_mm == pytest.approx(2 * radius * 0.7, abs=1.5)  # the mask's long axis
        assert result.dice_3d > 0.8 and result.dice_2d > 0.85 and result.hd95_mm < 2.0
        assert abs(result.volume_error_pct) < 30
        assert (result.true_k_first, result.true_k_last) == slice_range(case.labels == result.label)
        assert result.over_slices + result.under_slices <= 2
        assert case.labels[result.seed_ijk[2], result.seed_ijk[1], result.seed_ijk[0]] == result.label
        assert result.moved_clicks == 2 and result.moved_dice_3d > 0.75
        assert result.baseline_dice_3d > 0.95  # a bright sphere in lung: the threshold is exact
    assert [r.simulated for r in results] == [False, True, False, False]


def test_scores_match_an_independent_computation(sphere_results, blob_model):
    from noduleseg.core.segment import segment_nodule
    case, results = sphere_results
    result = results[1]
    predicted = segment_nodule(case.volume, result.seed_ijk, blob_model).mask.full(case.volume.shape_zyx)
    truth = case.labels == 2
    assert result.dice_3d == pytest.approx(2 * (predicted & truth).sum() / (predicted.sum() + truth.sum()))
    k = int(np.argmax(truth.sum(axis=(1, 2))))
    assert result.dice_2d == pytest.approx(2 * (predicted[k] & truth[k]).sum() / (predicted[k].sum() + truth[k].sum()))
    assert result.hd95_mm == pytest.approx(metrics.hd95_mm(predicted, truth, case.volume.spacing_zyx))
    assert result.volume_error_pct == pytest.approx(100 * (predicted.sum() - truth.sum()) / truth.sum())
    assert (result.pred_k_first, result.pred_k_last) == slice_range(predicted)


def test_nothing_found_counts_zero_and_is_summarised_with_intervals(sphere_results):
    _, results = sphere_results
    missed = results[3]
    assert not missed.found and "no nodule found" in missed.error
    assert missed.dice_3d == 0.0 and missed.hd95_mm is None and missed.volume_error_pct == -100.0
    assert missed.under_slices == missed.true_k_last - missed.true_k_first + 1
    summary = summarise(results, resamples=200)
    band = summary["6-10 mm"]
    assert band["n"] == 2 and band["found"] == 1 and band["patients"] == 1
    assert band["dice_3d"][0] == pytest.approx((results[0].dice_3d + 0.0) / 2, abs=1e-3)
    assert summary["all"]["n"] == 4 and summary["real"]["n"] == 3 and summary["simulated"]["n"] == 1
    low, high = summary["all"]["dice_3d"][1:]
    assert low == pytest.approx(high)  # one patient: resampling patients cannot move the mean
    assert summary["all"]["hd95_mm"][0] == pytest.approx(np.median([r.hd95_mm for r in results[:3]]), abs=1e-3)
    table = summary_table(summary)
    assert table.count("\n") == 1 + len(summary) and "| >=20 mm | 1 (1) |" in table


def test_paired_difference_needs_the_same_nodules(sphere_results):
    from dataclasses import replace
    _, results = sphere_results
    worse = [replace(r, dice_3d=r.dice_3d - 0.1) for r in results]
    difference = paired_difference(results, worse, resamples=100)
    assert difference["n"] == 4 and difference["dice_3d"][0] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="same nodules"):
        paired_difference(results, worse[:3])


def crop_case(blob_case: TrainCase) -> TrainCase:
    """A crop around sphere 2 that also holds part of sphere 1 (label 2 in the crop)."""
    labels = blob_case.labels[:, 4:46, 8:92].copy()
    crop_labels = np.where(labels == 2, 1, np.where(labels == 1, 2, 0)).astype(np.uint8)
    volume = blob_case.volume.crop(0, 32, 4, 46, 8, 92)
    lidc = LidcRecord(crop_of=1, nodules=(ReferenceNodule(1, readers=4, diameter_mm=13.0, texture=1.5),))
    return TrainCase("p7_01", "p7", volume, crop_labels, None, lidc=lidc)


def test_a_crop_scores_only_its_own_nodule_with_the_readers_diameter_and_texture(blob_model):
    case = crop_case(sphere_case())
    assert case.is_crop and case.whole_nodules() == [1] and case.nodule_ids() == [1, 2]
    (result,) = evaluate_model(blob_model, [case])
    assert (result.label, result.patient_id) == (1, "p7")
    assert result.diameter_mm == 13.0 and result.band == "10-20 mm" and result.texture == "ground glass"
    assert result.found and result.dice_3d > 0.8


def test_test_nodules_cover_every_band_skip_training_shapes_and_crops(shared_data):
    library = ShapeLibrary.load(shared_data / "shapes")
    volume, labels = toy_case(0, n_nodules=1, shape=(48, 128, 128))
    case = TrainCase("toy", "toy", volume, labels)
    crop = crop_case(sphere_case())
    used = {i for i, m in enumerate(library.meta) if 3.0 <= m["diameter_mm"] <= 10.0 and i % 2}
    held_out = without_shapes(library, used)
    cases, placed = place_test_nodules([crop, case], 3, held_out, seed=5, bands_mm=((3, 10), (10, 20), (3, 10)))
    assert len(placed) >= 2 and cases[0] is crop  # crops have no room for test nodules
    assert cases[1].synthetic == tuple(p["label"] for p in placed)
    assert all(p["shape_index"] not in used for p in placed)
    assert {int((cases[1].labels == p["label"]).any()) for p in placed} == {1}
    assert shapes_used_in_training({"training_data": {"synthetic": placed}}) == {p["shape_index"] for p in placed}
    again = place_test_nodules([crop, case], 3, held_out, seed=5, bands_mm=((3, 10), (10, 20), (3, 10)))[1]
    assert [p["shape_index"] for p in again] == [p["shape_index"] for p in placed]


def write_split(path, **roles):
    path.write_text(json.dumps({"schema": 1, "name": "t", "method": "test",
                                "patients": {r: roles.get(r, []) for r in ("train", "val", "test")}}))
    return path


def test_cli_evaluates_one_split_role_and_writes_reports(blob_model, tmp_path, capsys):
    case = sphere_case("spheres", simulated=())
    dataset = tmp_path / "ds"
    write_case(dataset, "spheres", case.volume, case.labels, {"patient_id": "p1"})
    write_case(dataset, "other", case.volume, case.labels, {"patient_id": "p2"})
    split = write_split(tmp_path / "split.json", test=["p1"], train=["p2"])
    out, md = tmp_path / "eval.json", tmp_path / "eval.md"
    status = main(["evaluate", str(blob_model.folder), "--split", "test", "--split-file", str(split),
                   "--data", str(dataset), "--moved-clicks", "1", "--out", str(out), "--markdown", str(md)])
    printed = capsys.readouterr().out
    assert status == 0
    assert "split t:test (1 cases" in printed and "| all | 4 (1) |" in printed and "| >=20 mm | 1 (1) |" in printed
    report = json.loads(out.read_text())
    assert [row["label"] for row in report["nodules"]] == [1, 2, 3, 4]
    assert {row["case_id"] for row in report["nodules"]} == {"spheres"}  # p2 trains: not scored
    assert report["summary"]["all"]["found"] == 3 and report["split"] == "t:test"
    assert "## Not found" in md.read_text() and "spheres label 4" in md.read_text()


def test_cli_against_prints_the_paired_difference(blob_model, tmp_path, capsys):
    case = sphere_case("spheres", simulated=())
    write_case(tmp_path / "ds", "spheres", case.volume, case.labels, {"patient_id": "p1"})
    split = write_split(tmp_path / "split.json", val=["p1"])
    status = main(["evaluate", str(blob_model.folder), "--split", "val", "--split-file", str(split),
                   "--data", str(tmp_path / "ds"), "--moved-clicks", "0", "--against", str(blob_model.folder)])
    printed = capsys.readouterr().out
    assert status == 0 and "minus test-blobs, 3D Dice per nodule (n=4): +0.000 (+0.000 to +0.000)" in printed


def test_cli_user_errors_are_one_line_and_exit_2(blob_model, tmp_path, capsys):
    model = str(blob_model.folder)
    assert main(["evaluate", model, "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an nnU-Net raw data set" in err and "Traceback" not in err
    case = sphere_case("spheres", simulated=())
    write_case(tmp_path / "ds", "spheres", case.volume, case.labels, {"patient_id": "p1"})
    assert main(["evaluate", model, "--data", str(tmp_path / "ds"), "--split", "holdout"]) == 2
    assert "split role 'holdout'" in capsys.readouterr().err
    assert main(["evaluate", model, "--data", str(tmp_path / "ds"), "--split-file", "nosuchsplit"]) == 2
    assert "no such split file" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nomodel"), "--data", str(tmp_path / "ds")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    split = write_split(tmp_path / "split.json", test=["p1"])
    status = main(["evaluate", model, "--data", str(tmp_path / "ds"), "--split-file", str(split),
                   "--synthetic", "3", "--shapes", str(tmp_path / "no_shapes")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "cannot read the nodule shape library" in err
