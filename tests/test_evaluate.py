"""Per-nodule evaluation: the metric helpers on hand-made masks, ``evaluate_model`` with the tiny
trained model on spheres of known size, held-out simulated test nodules, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from noduleseg.core.cases import write_case
from noduleseg.core.volume import Volume
from noduleseg.training.cli import main
from noduleseg.training.data import TrainCase
from noduleseg.training.eval_run import place_test_nodules, shapes_used_in_training, without_shapes
from noduleseg.training.evaluate import (dice, evaluate_model, seed_near_centroid, size_band, slice_errors,
                                         slice_range, summarise)
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


def test_dice_on_hand_made_masks():
    a = np.zeros((4, 4, 4), bool)
    a[0:2, 0:2, 0:2] = True
    b = np.roll(a, 1, axis=0)  # half of the cube overlaps
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a, a) == 1.0
    assert dice(a, np.zeros_like(a)) == 0.0
    assert dice(np.zeros_like(a), np.zeros_like(a)) == 1.0
    with pytest.raises(ValueError):
        dice(a, a[0])


def test_slice_range_and_slice_errors():
    mask = np.zeros((10, 3, 3), bool)
    mask[2:6, 1, 1] = True
    assert slice_range(mask) == (2, 5)
    assert slice_range(np.zeros_like(mask)) is None
    assert slice_errors((3, 7), (1, 8)) == (3, 0)  # two slices too low, one too high
    assert slice_errors((3, 7), (4, 6)) == (0, 2)
    assert slice_errors((3, 7), (5, 9)) == (2, 2)
    assert slice_errors((3, 7), None) == (0, 5)


def test_size_band_edges():
    assert [size_band(v) for v in (3.0, 9.99, 10.0, 20.0, 20.01, 45.0)] == [
        "<10 mm", "<10 mm", "10-20 mm", "10-20 mm", ">20 mm", ">20 mm"]


def test_seed_is_the_voxel_nearest_the_centroid_in_ijk_order():
    mask = np.zeros((5, 6, 7), bool)
    mask[3, 1, 2:5] = True  # a row along x: centroid at x=3
    assert seed_near_centroid(mask, (1.0, 1.0, 1.0)) == (3, 1, 3)
    ring = np.zeros((1, 5, 5), bool)
    ring[0, [0, 0, 0, 4, 4, 4, 1, 2, 3, 1, 2, 3], [0, 2, 4, 0, 2, 4, 0, 0, 0, 4, 4, 4]] = True
    i, j, k = seed_near_centroid(ring, (1.0, 1.0, 1.0))
    assert ring[k, j, i] and (i, j) in {(2, 0), (2, 4), (0, 2), (4, 2)}  # the hole's centre is not a voxel


@pytest.fixture(scope="module")
def sphere_results(blob_model):
    case = sphere_case()
    return case, evaluate_model(blob_model, [case])


def test_spheres_are_segmented_measured_and_banded(sphere_results):
    case, results = sphere_results
    assert [r.label for r in results] == [1, 2, 3, 4]
    assert [r.band for r in results] == ["<10 mm", "10-20 mm", ">20 mm", "<10 mm"]
    for result, (_, radius, _) in zip(results[:3], SPHERES):
        assert result.found and result.error is None
        assert result.long_axis_mm == pytest.approx(2 * radius * 0.7, abs=1.5)
        assert result.equivalent_diameter_mm == pytest.approx(2 * radius * 0.7, abs=1.5)
        assert result.dice_3d > 0.8 and result.dice_2d > 0.85
        truth = slice_range(case.labels == result.label)
        assert (result.true_k_first, result.true_k_last) == truth
        assert result.slice_range_error <= 2
        assert case.labels[result.seed_ijk[2], result.seed_ijk[1], result.seed_ijk[0]] == result.label
    assert [r.simulated for r in results] == [False, True, False, False]


def test_dice_matches_an_independent_computation(sphere_results, blob_model):
    from noduleseg.core.segment import segment_nodule
    case, results = sphere_results
    result = results[1]
    predicted = segment_nodule(case.volume, result.seed_ijk, blob_model).mask.full(case.volume.shape_zyx)
    truth = case.labels == 2
    expected = 2 * (predicted & truth).sum() / (predicted.sum() + truth.sum())
    assert result.dice_3d == pytest.approx(expected)
    k = int(np.argmax(truth.sum(axis=(1, 2))))
    assert result.central_k == k
    assert result.dice_2d == pytest.approx(2 * (predicted[k] & truth[k]).sum() / (predicted[k].sum() + truth[k].sum()))
    assert (result.pred_k_first, result.pred_k_last) == slice_range(predicted)


def test_nothing_found_counts_zero_and_is_summarised(sphere_results):
    _, results = sphere_results
    missed = results[3]
    assert not missed.found and "no nodule found" in missed.error
    assert missed.dice_3d == 0.0 and missed.dice_2d == 0.0 and missed.pred_k_first is None
    assert missed.under_slices == missed.true_k_last - missed.true_k_first + 1
    summary = summarise(results)
    small = summary["real <10 mm"]
    assert small["n"] == 2 and small["found"] == 1
    assert small["dice_3d"] == pytest.approx((results[0].dice_3d + 0.0) / 2, abs=1e-4)
    assert small["slice_error"] == results[0].slice_range_error  # found nodules only
    assert summary["simulated 10-20 mm"]["n"] == 1 and "simulated <10 mm" not in summary
    assert summary["all"]["n"] == 4 and summary["real all"]["n"] == 3


def test_test_nodules_cover_every_band_and_skip_training_shapes(shared_data):
    library = ShapeLibrary.load(shared_data / "shapes")
    volume, labels = toy_case(0, n_nodules=1, shape=(48, 128, 128))
    case = TrainCase("toy", "toy", volume, labels)
    used = {i for i, m in enumerate(library.meta) if 3.0 <= m["diameter_mm"] <= 10.0 and i % 2}
    held_out = without_shapes(library, used)
    cases, placed = place_test_nodules([case], 3, held_out, seed=5, bands_mm=((3, 10), (10, 20), (3, 10)))
    assert len(placed) >= 2
    assert cases[0].synthetic == tuple(p["label"] for p in placed)
    assert all(p["shape_index"] not in used for p in placed)
    assert {int((cases[0].labels == p["label"]).any()) for p in placed} == {1}
    assert shapes_used_in_training({"training_data": {"synthetic": placed}}) == {p["shape_index"] for p in placed}
    again = place_test_nodules([case], 3, held_out, seed=5, bands_mm=((3, 10), (10, 20), (3, 10)))[1]
    assert [p["shape_index"] for p in again] == [p["shape_index"] for p in placed]


def test_cli_prints_the_table_and_writes_reports(blob_model, tmp_path, capsys):
    case = sphere_case("spheres", simulated=())
    dataset = tmp_path / "ds"
    write_case(dataset, "spheres", case.volume, case.labels, {"patient_id": "p1"})
    out, md = tmp_path / "eval.json", tmp_path / "eval.md"
    status = main(["evaluate", str(dataset), "--model", str(blob_model.folder), "--out", str(out), "--markdown", str(md)])
    printed = capsys.readouterr().out
    assert status == 0
    assert printed.startswith("| group |") and "| real >20 mm | 1 | 1 |" in printed and "| all | 4 | 3 |" in printed
    report = json.loads(out.read_text())
    assert [row["label"] for row in report["nodules"]] == [1, 2, 3, 4]
    assert report["summary"]["all"]["found"] == 3
    assert "## Not found" in md.read_text() and "spheres label 4" in md.read_text()


def test_cli_bad_dataset_or_shapes_is_one_line_and_exit_2(blob_model, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nowhere"), "--model", str(blob_model.folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an nnU-Net raw data set" in err and "Traceback" not in err
    case = sphere_case("spheres", simulated=())
    write_case(tmp_path / "ds", "spheres", case.volume, case.labels, {"patient_id": "p1"})
    status = main(["evaluate", str(tmp_path / "ds"), "--model", str(blob_model.folder), "--synthetic", "3",
                   "--shapes", str(tmp_path / "no_shapes")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "cannot read the nodule shape library" in err


def load_bench_script(name: str = "eval_loso"):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loso_helpers_pick_a_slab_and_a_validating_patient():
    from noduleseg.training.split import patient_unit
    loso = load_bench_script()
    labels = np.zeros((40, 4, 4), np.uint8)
    labels[10:14, 1, 1] = 1
    assert loso.slab_away_from_nodules(labels, spacing_z=2.0, margin_mm=4.0) == (16, 40)
    labels[30, 1, 1] = 2
    assert loso.slab_away_from_nodules(labels, spacing_z=2.0, margin_mm=4.0) == (16, 28)
    with pytest.raises(Exception, match="simval slab"):
        loso.slab_away_from_nodules(labels, spacing_z=2.0, margin_mm=20.0)
    patient = loso.validating_patient("x-", ["a", "b"], seed=3)
    assert patient_unit(patient, 3) < min(patient_unit("a", 3), patient_unit("b", 3))


def test_loso_script_runs_a_tiny_fold_and_skips_it_when_done(tmp_path, capsys):
    from noduleseg.training.toy import write_toy_dataset
    loso = load_bench_script()
    data = write_toy_dataset(tmp_path / "ds", n_cases=3)
    work = tmp_path / "work"
    args = ["--data", str(data), "--work", str(work), "--decoder-widths", "16,16,8,8", "--patch-px", "32",
            "--mm-per-px", "0.7", "--batch-size", "4", "--beyond-end", "1", "--negative-ratio", "0.25",
            "--device", "cpu", "--stage-epochs", "1,0,0,0,0", "--fold-val", "split", "--eval-synthetic", "0",
            "--folds", "toy001"]
    assert loso.main(args) == 0
    result = json.loads((work / "fold-toy001" / "result.json").read_text())
    assert result["train_cases"] == ["toy000", "toy002"] and [r["case_id"] for r in result["nodules"]] == ["toy001"]
    assert sorted(p.name for p in (work / "fold-toy001" / "data" / "imagesTr").iterdir()) == [
        "toy000_0000.nii.gz", "toy002_0000.nii.gz"]
    pooled = json.loads((work / "loso.json").read_text())
    assert [f["fold"] for f in pooled["folds"]] == ["toy001"] and pooled["summary"]["all"]["n"] == 1
    assert "| group |" in capsys.readouterr().out
    stamp = (work / "fold-toy001" / "result.json").stat().st_mtime_ns
    assert loso.main(args) == 0
    assert "skipped" in capsys.readouterr().err
    assert (work / "fold-toy001" / "result.json").stat().st_mtime_ns == stamp
    assert loso.main([*args, "--reevaluate"]) == 0  # scored again, not trained again
    again = json.loads((work / "fold-toy001" / "result.json").read_text())
    assert "skipped" not in capsys.readouterr().err
    assert (work / "fold-toy001" / "result.json").stat().st_mtime_ns != stamp
    assert again["train_s"] == result["train_s"] and again["version"] == result["version"]
    untimed = [[{k: v for k, v in row.items() if k != "seconds"} for row in r["nodules"]] for r in (again, result)]
    assert untimed[0] == untimed[1]  # the same model on the same nodules
    assert loso.main([*args[:-1], "toy999"]) == 2


def test_pairing_two_loso_runs_compares_the_same_nodules_and_refuses_different_ones(tmp_path, capsys):
    pair = load_bench_script("pair_loso")

    def run(name: str, dice: list[float], seeds: list[int]) -> str:
        records = [{"case_id": "c", "label": i + 1, "seed_ijk": [s, 0, 0], "simulated": i > 0, "band": "<10 mm",
                    "texture": "solid" if i else "real", "dice_3d": d, "dice_2d": d, "over_slices": 1,
                    "under_slices": 0} for i, (d, s) in enumerate(zip(dice, seeds))]
        (tmp_path / name).mkdir()
        (tmp_path / name / "loso.json").write_text(json.dumps({"nodules": records}))
        return str(tmp_path / name)

    new, base = run("new", [0.9, 0.5, None], [1, 2, 3]), run("base", [0.7, 0.6, 0.4], [1, 2, 3])
    assert pair.main([new, base]) == 0
    table = capsys.readouterr().out
    assert "| all | 3 | 0.467 | 0.567 |" in table  # a missed nodule (None) counts 0
    assert "| real | 1 | 0.900 | 0.700 |" in table and "| simulated solid | 2 | 0.250 | 0.500 |" in table
    assert "| 1 / 2 |" in table
    other = run("other", [0.7, 0.6, 0.4], [1, 2, 4])
    with pytest.raises(SystemExit, match="do not test the same nodules"):
        pair.main([new, other])


def test_the_simval_patient_sorts_first_even_behind_a_patient_whose_hash_is_tiny():
    from noduleseg.training.split import patient_unit
    script = load_bench_script()
    first = next(f"p{n}" for n in range(1_000_000) if patient_unit(f"p{n}", 4) < 1e-5)  # 1 in 100,000
    chosen = script.validating_patient("simval-", [first, "p-other"], 4)
    assert patient_unit(chosen, 4) < patient_unit(first, 4)
