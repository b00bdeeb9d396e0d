"""Seed tables (core.seeds): voxel and world columns, LPS/RAS, LUNA16's annotations.csv, bad rows.

World points are made by SimpleITK on an image of the same geometry (an independent reader of
ITK's index/world convention), with a direction that is neither identity nor axis-aligned.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from noduleseg.core.seeds import (SeedSpace, SeedTableError, parse_seed_file, place_seeds,
                                  read_seed_table, scan_keys)
from noduleseg.core.volume import Volume, VolumeInfo

SIZE_IJK = (40, 30, 20)
SPACING = (0.8, 0.65, 2.5)
ORIGIN = (-120.5, 33.25, -410.0)
ANGLE = math.radians(30)
# Rotated 30 degrees about z, slices running feet-ward: neither identity nor a permutation.
DIRECTION = (math.cos(ANGLE), -math.sin(ANGLE), 0.0,
             math.sin(ANGLE), math.cos(ANGLE), 0.0,
             0.0, 0.0, -1.0)
VOXELS = [(0, 0, 0), (39, 29, 19), (12, 7, 3), (25, 14, 11)]
# Continuous offsets (index units) that stay nearer to the voxel than to its neighbours.
OFFSETS = [(0.0, 0.0, 0.0), (-0.45, 0.3, -0.2), (0.49, -0.49, 0.4), (0.2, 0.1, -0.45)]


@pytest.fixture
def volume() -> Volume:
    hu = np.full(SIZE_IJK[::-1], -850, dtype=np.int16)
    return Volume(hu, SPACING, ORIGIN, DIRECTION, VolumeInfo(source="/data/scans/1.3.6.1.4.777.mhd"))


@pytest.fixture
def reference() -> sitk.Image:
    image = sitk.Image(SIZE_IJK, sitk.sitkInt16)
    image.SetSpacing(SPACING)
    image.SetOrigin(ORIGIN)
    image.SetDirection(DIRECTION)
    return image


def world_points(reference: sitk.Image) -> list[tuple[float, float, float]]:
    """LPS world mm of each voxel plus its offset, by SimpleITK."""
    return [reference.TransformContinuousIndexToPhysicalPoint(tuple(float(v + o) for v, o in zip(ijk, off)))
            for ijk, off in zip(VOXELS, OFFSETS)]


def write(tmp_path, text: str, name: str = "seeds.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def rows_of(table) -> list[tuple[int, tuple[int, int, int]]]:
    return [(row.line, row.seed_ijk) for row in table.rows]


def test_world_lps_goes_to_the_voxel_itk_picks(tmp_path, volume, reference):
    points = world_points(reference)
    lines = "x,y,z\n" + "".join(f"{x!r},{y!r},{z!r}\n" for x, y, z in points)
    table = read_seed_table(write(tmp_path, lines), volume)
    assert table.failures == ()
    assert rows_of(table) == [(n, ijk) for n, ijk in enumerate(VOXELS, start=2)]
    assert [row.seed_ijk for row in table.rows] == [reference.TransformPhysicalPointToIndex(p) for p in points]
    assert table.rows[1].world_lps == pytest.approx(points[1])


@pytest.mark.parametrize("header, row_space, comment, asked", [
    ("x_ras,y_ras,z_ras", "", "", None),
    ("x,y,z", "", "# space: RAS\n", None),
    ("x,y,z", "", "# CoordinateSystem = RAS\n", None),
    ("x,y,z", "", "", SeedSpace.RAS),
    ("x,y,z,space", ",RAS", "", None),
])
def test_ras_stated_in_any_way_gives_the_same_voxels(tmp_path, volume, reference, header, row_space,
                                                     comment, asked):
    points = world_points(reference)
    body = "".join(f"{-x!r},{-y!r},{z!r}{row_space}\n" for x, y, z in points)
    table = read_seed_table(write(tmp_path, f"{comment}{header}\n{body}"), volume, asked)
    first = 3 if comment else 2
    assert table.failures == ()
    assert rows_of(table) == [(n, ijk) for n, ijk in enumerate(VOXELS, start=first)]


def test_a_space_column_may_mix_lps_and_ras_rows(tmp_path, volume, reference):
    (x0, y0, z0), (x1, y1, z1) = world_points(reference)[2:]
    text = f"x,y,z,space\n{x0!r},{y0!r},{z0!r},LPS\n{-x1!r},{-y1!r},{z1!r},ras\n{x1!r},{y1!r},{z1!r},\n"
    table = read_seed_table(write(tmp_path, text), volume)
    assert rows_of(table) == [(2, VOXELS[2]), (3, VOXELS[3]), (4, VOXELS[3])]


def test_voxel_columns_are_taken_as_they_are(tmp_path, volume):
    table = read_seed_table(write(tmp_path, "k,i,j\n3,12,7\n19,39,29.0\n"), volume)
    assert rows_of(table) == [(2, (12, 7, 3)), (3, (39, 29, 19))]
    table = read_seed_table(write(tmp_path, "label,seed_i,seed_j,seed_k\n1,25,14,11\n"), volume)
    assert rows_of(table) == [(2, (25, 14, 11))]


def test_luna16_annotations_give_this_scans_rows_only(tmp_path, volume, reference):
    points = world_points(reference)
    other = "1.3.6.1.4.888"
    text = "seriesuid,coordX,coordY,coordZ,diameter_mm\n"
    text += f"{other},{points[0][0]},{points[0][1]},{points[0][2]},5.1\n"
    text += "".join(f"1.3.6.1.4.777,{x!r},{y!r},{z!r},6.2\n" for x, y, z in points[1:])
    text += f"{other},oops,1,2,3\n"  # 6: another scan's bad row is not this scan's business
    text += ",1,2,3,4\n"  # 7: naming no scan, it may be this scan's
    path = write(tmp_path, text, "annotations.csv")
    table = read_seed_table(path, volume)
    assert rows_of(table) == [(3, VOXELS[1]), (4, VOXELS[2]), (5, VOXELS[3])]
    assert [(f.line, f.problem) for f in table.failures] == [(7, "no scan named in the scan column")]
    assert {row.scan for row in table.rows} == {"1.3.6.1.4.777"}
    elsewhere = Volume(volume.hu, SPACING, ORIGIN, DIRECTION, VolumeInfo(source="/data/2.mhd"))
    with pytest.raises(SeedTableError, match=r"no row names this scan \(as 2.mhd or 2\)"):
        read_seed_table(path, elsewhere)


def test_scan_keys_are_series_uid_file_name_and_stem():
    hu = np.zeros((2, 2, 2), np.int16)
    dicom = Volume(hu, (1, 1, 1), (0, 0, 0), info=VolumeInfo(series_uid="1.2.3", source="/d/series7"))
    assert scan_keys(dicom) == ("1.2.3", "series7")
    assert scan_keys(dicom, "/x/case 1.nii.gz") == ("1.2.3", "case 1.nii.gz", "case 1")


def test_bad_rows_are_named_by_line_and_the_others_stay(tmp_path, volume):
    text = ("# seeds for the test\n"      # 1
            "i,j,k\n"                     # 2
            "12,7,3\n"                    # 3 good
            "\n"                          # 4 blank
            "a,7,3\n"                     # 5 not a number
            "12,7\n"                      # 6 too short
            "12.5,7,3\n"                  # 7 not whole
            "40,7,3\n"                    # 8 outside (i runs 0..39)
            "nan,1,1\n"                   # 9 not finite
            "0,0,-1\n"                    # 10 outside
            "25,14,11\n")                 # 11 good
    table = read_seed_table(write(tmp_path, text), volume)
    assert rows_of(table) == [(3, (12, 7, 3)), (11, (25, 14, 11))]
    problems = {f.line: f.problem for f in table.failures}
    assert sorted(problems) == [5, 6, 7, 8, 9, 10]
    assert "not numbers" in problems[5] and "2 cells where the header names 3" in problems[6]
    assert "not whole" in problems[7] and "not finite" in problems[9]
    assert "outside the image (size i x j x k = 40x30x20)" in problems[8]
    assert str(table.failures[0]).startswith("line 5: ")


def test_a_world_point_outside_the_scan_is_named_with_its_voxel(tmp_path, volume, reference):
    x, y, z = reference.TransformContinuousIndexToPhysicalPoint((10.0, 10.0, 25.0))
    bad_space = f"x,y,z,space\n{x},{y},{z},\n1,2,3,AP\n"
    table = read_seed_table(write(tmp_path, bad_space), volume)
    assert table.rows == ()
    (outside, space) = table.failures
    assert outside.line == 2 and "voxel (10.0, 10.0, 25.0)" in outside.problem and "LPS" in outside.problem
    assert space.line == 3 and "neither LPS nor RAS" in space.problem


@pytest.mark.parametrize("text, asked, message", [
    ("a,b,c\n1,2,3\n", None, "names no coordinate columns"),
    ("i,j,k,x,y,z\n1,2,3,4,5,6\n", None, "more than one set of coordinate columns"),
    ("seriesuid,file,i,j,k\na,b,1,2,3\n", None, "more than one scan column"),
    ("# space: RAS\nx,y,z\n1,2,3\n", SeedSpace.LPS, "line 1 says RAS; LPS was asked for"),
    ("# space: RAS\nx_lps,y_lps,z_lps\n1,2,3\n", None, "column names say LPS; line 1 says RAS"),
    ("# space: XYZ\nx,y,z\n1,2,3\n", None, "line 1 states the space 'XYZ'"),
    ("i,j,k\n1,2,3\n", SeedSpace.RAS, "voxel columns (i,j,k), which have no world space"),
    ("i,j,k\n", None, "no seed rows"),
    ("1,2,3\n4,5,6\n", None, "names no coordinate columns"),
])
def test_a_table_that_cannot_be_used_is_refused_whole(tmp_path, text, asked, message):
    path = write(tmp_path, text)
    with pytest.raises(SeedTableError) as raised:
        parse_seed_file(path, asked)
    assert message in str(raised.value) and str(path) in str(raised.value)


def test_a_row_contradicting_the_asked_space_fails_alone(tmp_path, volume):
    text = "x,y,z,space\n-120.5,33.25,-410,RAS\n-120.5,33.25,-410,LPS\n"
    table = read_seed_table(write(tmp_path, text), volume, SeedSpace.LPS)
    assert rows_of(table) == [(3, (0, 0, 0))]
    assert [f.line for f in table.failures] == [2] and "the row says RAS" in table.failures[0].problem


def test_missing_and_binary_files_are_refused(tmp_path):
    with pytest.raises(SeedTableError, match="no such seed table"):
        parse_seed_file(tmp_path / "nope.csv")
    binary = tmp_path / "seeds.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(SeedTableError, match="not a text table"):
        parse_seed_file(binary)


def test_semicolons_tabs_and_an_excel_bom_are_read(tmp_path, volume):
    (tmp_path / "a.csv").write_bytes("\ufeffi;j;k\n12;7;3\n".encode("utf-8"))
    (tmp_path / "b.tsv").write_text("i\tj\tk\n25\t14\t11\n")
    assert rows_of(read_seed_table(tmp_path / "a.csv", volume)) == [(2, (12, 7, 3))]
    assert rows_of(read_seed_table(tmp_path / "b.tsv", volume)) == [(2, (25, 14, 11))]


def test_place_seeds_keeps_the_row_order_and_scan(tmp_path, volume):
    seeds = parse_seed_file(write(tmp_path, "file,i,j,k\nx.nii,1,1,1\ny.nii,2,2,2\nx.nii,3,3,3\n"))
    assert seeds.keyed
    placed = place_seeds(seeds.for_scan({"x.nii"}).entries, volume)
    assert [(r.line, r.seed_ijk, r.scan) for r in placed.rows] == [(2, (1, 1, 1), "x.nii"), (4, (3, 3, 3), "x.nii")]
