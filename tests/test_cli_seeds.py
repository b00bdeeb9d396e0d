"""``noduleseg-segment --seeds``: a seed table in one scan, and a batch over a folder of scans."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.core.batch import plan_batch, run_batch
from noduleseg.core.cli_segment import main
from noduleseg.core.console import ConsoleProgress
from noduleseg.core.volume import Volume, image_like

from dicom_factory import SeriesSpec, write_series

DIRECTION = (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SPHERES = ((18, 32, 16), (46, 30, 12))  # ITK (i, j, k) of the two nodules
EMPTY_LUNG = (5, 5, 5)


def two_spheres() -> np.ndarray:
    z, y, x = np.mgrid[:32, :64, :64]
    hu = np.full((32, 64, 64), -850, dtype=np.int16)
    for i, j, k in SPHERES:
        hu[((z - k) * 1.25) ** 2 + ((y - j) * 0.7) ** 2 + ((x - i) * 0.7) ** 2 <= 4.2 ** 2] = 40
    return hu


def write_scan(path, origin=(12.5, -30.0, 100.0), direction=DIRECTION):
    volume = Volume(two_spheres(), spacing=(0.7, 0.7, 1.25), origin=origin, direction=direction)
    sitk.WriteImage(image_like(volume.hu, volume), str(path))
    return path


def world(path, ijk) -> tuple[float, float, float]:
    """LPS mm of a voxel as SimpleITK reads the written file."""
    return sitk.ReadImage(str(path)).TransformIndexToPhysicalPoint(ijk)


def labels_at(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def read_rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture
def scan(tmp_path):
    return write_scan(tmp_path / "scan.nii.gz")


def test_a_table_segments_its_good_rows_and_names_the_bad_by_line(scan, tmp_path, blob_model, capsys):
    (x1, y1, z1), (x2, y2, z2) = (world(scan, ijk) for ijk in SPHERES)
    lung = world(scan, EMPTY_LUNG)
    table = tmp_path / "seeds.csv"
    table.write_text("x,y,z\n"
                     f"{x1},{y1},{z1}\n"                   # 2: first sphere
                     "12,abc,4\n"                          # 3: unparsable
                     "1000,1000,1000\n"                    # 4: outside the scan
                     f"{lung[0]},{lung[1]},{lung[2]}\n"    # 5: empty lung, no nodule
                     f"{x2},{y2},{z2}\n")                  # 6: second sphere
    out, measurements = tmp_path / "labels.nii.gz", tmp_path / "m.csv"
    status = main([str(scan), "--seeds", str(table), "--out", str(out), "--measurements", str(measurements),
                   "--model", str(blob_model.folder)])
    captured = capsys.readouterr()
    assert status == 1
    array = labels_at(out)
    (i1, j1, k1), (i2, j2, k2) = SPHERES
    assert array[k1, j1, i1] == 1 and array[k2, j2, i2] == 2 and array.max() == 2
    rows = read_rows(measurements)
    assert [(r["label"], r["seed_line"], r["seed_i"], r["seed_j"], r["seed_k"]) for r in rows] == [
        ("1", "2", "18", "32", "16"), ("2", "6", "46", "30", "12")]
    errors = captured.err.splitlines()
    assert errors[0] == f"noduleseg-segment: 3 row(s) of {table} failed:"
    assert [line.split(":")[0].strip() for line in errors[1:]] == ["line 3", "line 4", "line 5"]
    assert "not numbers" in errors[1] and "outside the image" in errors[2]
    assert "no nodule found at seed (5, 5, 5)" in errors[3]
    assert "nodule 2 at (46, 30, 12) (line 6)" in captured.out and "Traceback" not in captured.err


def test_ras_by_flag_and_luna16_columns_for_this_scan(scan, tmp_path, blob_model, capsys):
    (x1, y1, z1), (x2, y2, z2) = (world(scan, ijk) for ijk in SPHERES)
    table = tmp_path / "annotations.csv"
    table.write_text("seriesuid,coordX,coordY,coordZ,diameter_mm\n"
                     f"other,{-x1},{-y1},{z1},8\n"
                     f"scan,{-x2},{-y2},{z2},8\n"
                     f"scan.nii.gz,{-x1},{-y1},{z1},8\n")
    out = tmp_path / "labels.nrrd"
    status = main([str(scan), "--seeds", str(table), "--seed-space", "RAS", "--out", str(out),
                   "--model", str(blob_model.folder)])
    assert status == 0, capsys.readouterr().err
    array = labels_at(out)
    (i1, j1, k1), (i2, j2, k2) = SPHERES
    assert array[k2, j2, i2] == 1 and array[k1, j1, i1] == 2  # rows naming this scan, in line order


@pytest.mark.parametrize("arguments, message", [
    (["--seeds", "{tmp}/none.csv"], "no such seed table"),
    (["--seeds", "{tmp}/t.csv", "--seed-space", "ras"], "voxel columns"),
    (["--seed", "1,2,3", "--seed-space", "ras"], "--seed-space applies to a --seeds table"),
    (["--seeds", "{tmp}/t.csv", "--seed-space", "up"], "--seed-space is lps or ras"),
    (["--seeds", "{tmp}/t.csv", "--seed", "1,2,3"], "not allowed with argument"),
])
def test_table_argument_errors_are_one_line_and_status_2(scan, tmp_path, blob_model, capsys, arguments,
                                                         message):
    (tmp_path / "t.csv").write_text("i,j,k\n18,32,16\n")
    out = tmp_path / "labels.nii.gz"
    argv = [str(scan), *[a.format(tmp=tmp_path) for a in arguments], "--out", str(out),
            "--model", str(blob_model.folder)]
    try:
        status = main(argv)
    except SystemExit as stop:
        status = stop.code
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and message in err[0]
    assert not out.exists()


# --- batch ----------------------------------------------------------------------------------


@dataclass
class SphereSeries(SeriesSpec):
    """The two-sphere scan as an axial DICOM series (stored = HU + 1024)."""

    def stored(self) -> np.ndarray:
        return (two_spheres() + 1024).astype(np.int16)


@pytest.fixture
def folder(tmp_path):
    """A folder of scans: NIfTI, LUNA16-style MetaImage, a DICOM series, and an unreadable file."""
    scans = tmp_path / "scans"
    scans.mkdir()
    write_scan(scans / "a.nii.gz")
    (scans / "subset0").mkdir()
    write_scan(scans / "subset0" / "1.3.6.1.4.1.9.mhd", origin=(-40.0, 5.0, -300.0),
               direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    spec = SphereSeries(n=32, rows=64, columns=64, pixel_spacing=(0.7, 0.7), step=1.25,
                        origin=(-20.0, -60.0, -150.0), intercept=-1024.0)
    write_series(scans / "patient" / "study" / "series", spec)
    (scans / "broken.nii.gz").write_bytes(b"this is not a scan")
    return scans, spec.series_uid


def dicom_image(scans) -> sitk.Image:
    """The DICOM series as SimpleITK's series reader sees it (files ordered by GDCM)."""
    folder = str(scans / "patient" / "study" / "series")
    return sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder))


def batch_table(tmp_path, scans, series_uid):
    """LUNA16 columns; rows keyed by file stem, LUNA16 seriesuid, file name, DICOM series UID."""
    mhd = scans / "subset0" / "1.3.6.1.4.1.9.mhd"
    dicom_sphere = dicom_image(scans).TransformIndexToPhysicalPoint(SPHERES[0])
    lines = ["seriesuid,coordX,coordY,coordZ,diameter_mm",
             "a,{},{},{},8".format(*world(scans / "a.nii.gz", SPHERES[0])),  # 2
             "1.3.6.1.4.1.9,{},{},{},8".format(*world(mhd, SPHERES[1])),      # 3
             "1.3.6.1.4.1.9,{},{},{},8".format(*world(mhd, SPHERES[0])),      # 4
             "broken.nii.gz,0,0,0,5",                                         # 5
             "not-in-the-folder,0,0,0,5",                                     # 6
             "{},{},{},{},8".format(series_uid, *dicom_sphere)]               # 7
    table = tmp_path / "annotations.csv"
    table.write_text("\n".join(lines) + "\n")
    return table


def test_batch_over_a_folder_goes_past_an_unreadable_scan(tmp_path, folder, blob_model, capsys):
    scans, series_uid = folder
    table = batch_table(tmp_path, scans, series_uid)
    out = tmp_path / "out"
    status = main([str(scans), "--seeds", str(table), "--out", str(out), "--model", str(blob_model.folder)])
    captured = capsys.readouterr()
    assert status == 1
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(["a.nii.gz", "1.3.6.1.4.1.9.nii.gz", f"{series_uid}.nii.gz", "measurements.csv"])
    (i1, j1, k1), (i2, j2, k2) = SPHERES
    assert labels_at(out / "a.nii.gz")[k1, j1, i1] == 1
    luna = labels_at(out / "1.3.6.1.4.1.9.nii.gz")
    assert luna[k2, j2, i2] == 1 and luna[k1, j1, i1] == 2
    dicom, dicom_labels = dicom_image(scans), sitk.ReadImage(str(out / f"{series_uid}.nii.gz"))
    assert dicom_labels.GetOrigin() == pytest.approx(dicom.GetOrigin(), abs=1e-4)
    assert dicom_labels.GetDirection() == pytest.approx(dicom.GetDirection(), abs=1e-6)
    assert sitk.GetArrayFromImage(dicom_labels)[k1, j1, i1] == 1
    rows = read_rows(out / "measurements.csv")
    assert [(r["scan"], r["label_map"], r["label"], r["seed_line"]) for r in rows] == [
        ("a", "a.nii.gz", "1", "2"), ("1.3.6.1.4.1.9", "1.3.6.1.4.1.9.nii.gz", "1", "3"),
        ("1.3.6.1.4.1.9", "1.3.6.1.4.1.9.nii.gz", "2", "4"), (series_uid, f"{series_uid}.nii.gz", "1", "7")]
    # a line per scan (no terminal here), then the failures at the end
    scan_lines = [line for line in captured.out.splitlines() if line.startswith("[")]
    assert len(scan_lines) == 4 and scan_lines[0].startswith("[1/4] a: 1 nodule(s)")
    assert scan_lines[1].startswith("[2/4] broken: FAILED")
    errors = captured.err.strip().splitlines()
    assert errors[0] == "noduleseg-segment: 2 scan(s) or row(s) failed:"
    assert errors[1].strip().startswith("annotations.csv line 6: no scan 'not-in-the-folder'")
    assert errors[2].strip().startswith("broken: ") and "broken.nii.gz" in errors[2]
    assert len(errors) == 3 and "Traceback" not in captured.err


def test_batch_refuses_before_any_work(tmp_path, folder, blob_model, capsys):
    scans, series_uid = folder
    table = batch_table(tmp_path, scans, series_uid)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.nii.gz").write_bytes(b"keep")
    assert main([str(scans), "--seeds", str(table), "--out", str(out), "--model", str(blob_model.folder)]) == 2
    assert "a.nii.gz: file exists" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["a.nii.gz"] and (out / "a.nii.gz").read_bytes() == b"keep"
    unkeyed = tmp_path / "plain.csv"
    unkeyed.write_text("i,j,k\n1,2,3\n")
    assert main([str(scans), "--seeds", str(unkeyed), "--out", str(tmp_path / "o2")]) == 2
    assert "a batch needs a scan column" in capsys.readouterr().err
    strangers = tmp_path / "strangers.csv"
    strangers.write_text("file,i,j,k\nz.nii,1,2,3\n")
    assert main([str(scans), "--seeds", str(strangers), "--out", str(tmp_path / "o3")]) == 2
    assert "no row names a scan of" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()
    assert main([str(scans / "a.nii.gz"), "--seeds", str(table), "--out", str(tmp_path / "o4")]) == 2
    assert "is a file, not a folder of scans" in capsys.readouterr().err
    assert main([str(tmp_path / "nowhere"), "--seeds", str(table), "--out", str(tmp_path / "o5")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err
    assert not (tmp_path / "o4").exists() and not (tmp_path / "o5").exists()


def test_batch_output_inside_the_folder_is_not_taken_for_scans(tmp_path, blob_model):
    scans = tmp_path / "scans"
    scans.mkdir()
    write_scan(scans / "a.nii.gz")
    table = tmp_path / "t.csv"
    table.write_text("file,i,j,k\na,18,32,16\n")
    fractions = []
    for _ in range(2):
        plan = plan_batch(scans, table, scans / "out", overwrite=True)
        assert [job.scan.name for job in plan.jobs] == ["a"] and plan.idle == 0
        result = run_batch(plan, blob_model, progress=fractions.append)
        assert result.problems() == [] and result.nodule_count == 1
    assert fractions == sorted(fractions[:len(fractions) // 2]) * 2 and fractions[-1] == 1.0
    assert labels_at(scans / "out" / "a.nii.gz")[16, 32, 18] == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_console_progress_is_a_bar_on_a_terminal_and_lines_elsewhere():
    terminal, log = _Terminal(), io.StringIO()
    bar = ConsoleProgress(terminal, log)
    bar.progress(0.5)
    bar.step("[1/2] a: 1 nodule(s)")
    bar.close()
    drawn = terminal.getvalue()
    assert "\r[" + "#" * 15 + "." * 15 + "]  50%" in drawn and "a: 1 nodule(s)" in drawn
    assert drawn.endswith("\n") and log.getvalue() == ""
    plain, lines = io.StringIO(), io.StringIO()
    quiet = ConsoleProgress(plain, lines)
    quiet.progress(0.5)
    quiet.step("[1/2] a: 1 nodule(s)")
    quiet.close()
    assert plain.getvalue() == "" and lines.getvalue() == "[1/2] a: 1 nodule(s)\n"
