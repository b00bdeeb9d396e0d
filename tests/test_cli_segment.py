"""``noduleseg-segment`` end to end with the tiny trained model."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.core.cli_segment import main, segment_to_files
from noduleseg.core.errors import ModelError
from noduleseg.core.volume import Volume, image_like

DIRECTION = (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)


@pytest.fixture
def scan(tmp_path):
    """A NIfTI scan with two spheres (radius 6 voxels), non-trivial origin and direction."""
    z, y, x = np.mgrid[:32, :64, :64]
    hu = np.full((32, 64, 64), -850, dtype=np.int16)
    hu[((z - 16) * 1.25) ** 2 + ((y - 32) * 0.7) ** 2 + ((x - 18) * 0.7) ** 2 <= 4.2 ** 2] = 40
    hu[((z - 12) * 1.25) ** 2 + ((y - 30) * 0.7) ** 2 + ((x - 46) * 0.7) ** 2 <= 4.2 ** 2] = 40
    volume = Volume(hu, spacing=(0.7, 0.7, 1.25), origin=(12.5, -30.0, 100.0), direction=DIRECTION)
    path = tmp_path / "scan.nii.gz"
    sitk.WriteImage(image_like(hu, volume), str(path))
    return path


def test_writes_labels_in_the_scan_geometry_and_a_table(scan, tmp_path, blob_model, capsys):
    out, table = tmp_path / "labels.nii.gz", tmp_path / "m.csv"
    status = main([str(scan), "--seed", "18,32,16", "--seed", "46,30,12", "--out", str(out),
                   "--measurements", str(table), "--model", str(blob_model.folder)])
    assert status == 0
    labels, source = sitk.ReadImage(str(out)), sitk.ReadImage(str(scan))
    assert labels.GetSize() == source.GetSize()
    assert labels.GetSpacing() == pytest.approx(source.GetSpacing())
    assert labels.GetOrigin() == pytest.approx(source.GetOrigin())
    assert labels.GetDirection() == pytest.approx(source.GetDirection())
    array = sitk.GetArrayFromImage(labels)
    assert array[16, 32, 18] == 1 and array[12, 30, 46] == 2 and array[0, 0, 0] == 0
    with open(table, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["label"] for r in rows] == ["1", "2"]
    assert [r["seed_k"] for r in rows] == ["16", "12"]
    assert float(rows[0]["long_axis_mm"]) == pytest.approx(8.4, abs=1.5)
    assert "nodule 2 at (46, 30, 12)" in capsys.readouterr().out


def test_json_table(scan, tmp_path, blob_model):
    segment_to_files(scan, [(18, 32, 16)], tmp_path / "l.nrrd", tmp_path / "m.json",
                     model_dir=blob_model.folder)
    rows = json.loads((tmp_path / "m.json").read_text())
    assert len(rows) == 1 and rows[0]["model_version"] == "test-blobs"


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize("seed, message", [
    ("80,32,16", "outside the image"),
    ("3,3,3", "no nodule found at seed (3, 3, 3)"),
    ("1,2", "--seed expects I,J,K"),
    ("a,b,c", "--seed expects I,J,K"),
])
def test_bad_seed_is_one_line_and_status_2(scan, tmp_path, blob_model, capsys, seed, message):
    out = tmp_path / "labels.nii.gz"
    status = _exit_status(lambda: main([str(scan), "--seed", seed, "--out", str(out),
                                        "--model", str(blob_model.folder)]))
    assert status == 2
    assert message in one_line_error(capsys)
    assert not out.exists()


def _exit_status(call) -> int:
    try:
        return call()
    except SystemExit as stop:  # argparse exits on its own errors
        return int(stop.code)


def test_missing_image_bad_model_and_existing_output(scan, tmp_path, blob_model, capsys):
    out = tmp_path / "labels.nii.gz"
    assert main([str(tmp_path / "nope.nii.gz"), "--seed", "1,2,3", "--out", str(out),
                 "--model", str(blob_model.folder)]) == 2
    assert "no such file" in one_line_error(capsys)
    assert main([str(scan), "--seed", "18,32,16", "--out", str(out), "--model", str(tmp_path)]) == 2
    assert "no model card" in one_line_error(capsys)
    out.write_bytes(b"keep")
    assert main([str(scan), "--seed", "18,32,16", "--out", str(out),
                 "--model", str(blob_model.folder)]) == 2
    assert "--overwrite" in one_line_error(capsys) and out.read_bytes() == b"keep"
    assert main([str(scan), "--seed", "18,32,16", "--out", str(out), "--overwrite",
                 "--model", str(blob_model.folder)]) == 0
    assert sitk.ReadImage(str(out)).GetSize() == (64, 64, 32)


def test_without_a_shipped_model_the_message_says_so(scan, tmp_path, monkeypatch):
    monkeypatch.setattr("noduleseg.core.cli_segment.shipped_model_dir", lambda: tmp_path / "none")
    with pytest.raises(ModelError, match="no default model is shipped"):
        segment_to_files(scan, [(18, 32, 16)], tmp_path / "l.nii.gz")


def test_installed_command_runs_without_traceback(scan, tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "noduleseg-segment")
    result = subprocess.run([script, str(scan), "--seed", "999,0,0", "--out",
                             str(tmp_path / "l.nii.gz"), "--model", str(tmp_path / "no-model")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("noduleseg-segment: ")


def test_a_label_map_given_as_the_ct_is_named_as_such(scan, tmp_path, blob_model, capsys):
    labels, out = tmp_path / "labels.nii.gz", tmp_path / "out.nii.gz"
    assert main([str(scan), "--seed", "18,32,16", "--out", str(labels), "--model", str(blob_model.folder)]) == 0
    capsys.readouterr()
    status = main([str(labels), "--seed", "18,32,16", "--out", str(out), "--model", str(blob_model.folder)])
    line = one_line_error(capsys)
    assert status == 2 and not out.exists()
    assert f"{labels}: this looks like a label map, not a CT" in line and "values 0..1" in line
    assert "no nodule found" not in line


def test_a_ct_without_air_is_not_taken_for_a_label_map(sphere_volume):
    from noduleseg.core.label_map_guess import looks_like_label_map

    assert not looks_like_label_map(sphere_volume.hu)
    muscle = np.random.default_rng(0).normal(60, 30, (8, 16, 16)).clip(0, 255).astype(np.int16)
    assert muscle.min() == 0 and muscle.max() < 256  # no air and within 0..255, yet not mostly 0
    assert not looks_like_label_map(muscle)
    assert looks_like_label_map((sphere_volume.hu > 0).astype(np.int16) * 3)


@pytest.mark.parametrize("damage, message", [
    (lambda folder: (folder / "weights.pt").open("ab").write(b"x"), "does not match the card's"),
    (lambda folder: (folder / "card.json").write_text('{"version": "v0002", "inp'), "not valid JSON"),
])
def test_a_damaged_model_folder_is_named_and_the_shipped_model_offered(scan, tmp_path, blob_model, capsys,
                                                                       damage, message):
    import shutil

    folder = tmp_path / "v0002"
    shutil.copytree(blob_model.folder, folder)
    damage(folder)
    status = main([str(scan), "--seed", "18,32,16", "--out", str(tmp_path / "l.nii.gz"), "--model", str(folder)])
    line = one_line_error(capsys)
    assert status == 2 and str(folder) in line and message in line
    assert line.endswith("leave out --model to use the shipped model")
