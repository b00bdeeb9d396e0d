"""DICOM out: the nodules as a DICOM SEG of the source series and a TID 1500 measurement report.

The SEG is read back three ways (highdicom, plain pydicom, and dcmqi where it installs) and each
segment compared voxel for voxel with the NIfTI label map of the same nodules.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.sr.codedict import codes

from noduleseg.core.dicom_seg import (NoduleOutline, Outline, automatic_outlines,
                                      write_dicom_seg)
from noduleseg.core.dicom_source import DicomSourceError
from noduleseg.core.dicom_sr import write_dicom_seg_and_sr, write_dicom_sr
from noduleseg.core.export import labels_from_nodules, write_measurements
from noduleseg.core.labels_io import ExportError, save_labels
from noduleseg.core.loader import load_volume
from noduleseg.core.measure import measure
from noduleseg.core.nodule_mask import NoduleMask
from noduleseg.core.volume import image_like

from dicom_factory import AXIAL, SeriesSpec, make_slice

FRAME_OF_REFERENCE = "1.2.826.0.1.3680043.8.498.77"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
ALGORITHM_NAME = hd.sr.CodedConcept("111001", "DCM", "Algorithm Name")
# Rows run towards -y: the slice normal points to the feet, so position order is not z order.
FEET_FIRST = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0)


def write_ct(folder: Path, hu: np.ndarray, spec: SeriesSpec) -> list[pydicom.Dataset]:
    """``hu`` (k, rows, columns) as a CT series with a frame of reference; the datasets, slice k
    first (file names run against the slice order)."""
    folder.mkdir(parents=True)
    datasets = []
    for k, position in enumerate(spec.positions()):
        ds = make_slice(spec, k, hu[k] - spec.intercept, position)
        ds.FrameOfReferenceUID = FRAME_OF_REFERENCE
        ds.save_as(folder / f"IM{len(hu) - k:04d}.dcm", enforce_file_format=True)
        datasets.append(ds)
    return datasets


def two_nodules() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HU of lung with two nodules, and each nodule's mask (z, y, x), placed asymmetrically."""
    z, y, x = np.mgrid[:20, :40, :48]
    first = (z - 6) ** 2 + ((y - 12) / 1.2) ** 2 + ((x - 14) / 1.4) ** 2 <= 9
    first[6, 12, 14:20] = True  # a reader's brush strokes sticking out: no mirror symmetry
    first[6:11, 12:17, 14] = True
    second = (z - 13) ** 2 + ((y - 26) / 1.2) ** 2 + ((x - 33) / 1.4) ** 2 <= 16
    second[10:14, 17:26, 30] = True
    hu = np.full(z.shape, -850, dtype=np.int16)
    hu[first | second] = 30
    hu[second & (x > 33)] = 60
    return hu, first, second


@pytest.fixture(params=[AXIAL, FEET_FIRST], ids=["axial", "feet-first"])
def scan(request, tmp_path):
    """A 20-slice DICOM CT loaded as NoduleSeg loads it, its source datasets and two nodules
    (the first edited by a reader, the second the model's own)."""
    hu, first, second = two_nodules()
    spec = SeriesSpec(n=20, rows=40, columns=48, orientation=request.param)
    sources = write_ct(tmp_path / "ct", hu, spec)
    volume = load_volume(tmp_path / "ct")
    outlines = [NoduleOutline("left upper", NoduleMask.from_full(first), Outline.SEMIAUTOMATIC,
                              "shipped-2"),
                NoduleOutline("right lower", NoduleMask.from_full(second), Outline.AUTOMATIC,
                              "shipped-2")]
    return volume, sources, outlines


def nifti_export(volume, outlines, path: Path) -> np.ndarray:
    """The label map ``core.export`` writes for the same nodules, read back from disk."""
    labels = labels_from_nodules([o.mask for o in outlines], volume.shape_zyx)
    save_labels(labels, volume, path)
    image = sitk.ReadImage(str(path))
    assert image.GetOrigin() == pytest.approx(volume.origin, abs=1e-4)
    assert image.GetDirection() == pytest.approx(volume.direction, abs=1e-6)
    return sitk.GetArrayFromImage(image)


def test_seg_read_with_highdicom_equals_the_nifti_export(scan, tmp_path):
    volume, sources, outlines = scan
    seg_path = write_dicom_seg(volume, outlines, tmp_path / "nodules_seg.dcm")
    labels = nifti_export(volume, outlines, tmp_path / "labels.nii.gz")
    seg = hd.seg.segread(seg_path)
    pixels = seg.get_pixels_by_source_instance([s.SOPInstanceUID for s in sources],
                                               segment_numbers=[1, 2])
    assert pixels.shape == (*volume.shape_zyx, 2)
    for number in (1, 2):
        assert (labels == number).sum() > 50
        assert np.array_equal(pixels[..., number - 1] > 0, labels == number), f"segment {number}"
    assert seg.get_segment_description(1).segment_label == "left upper"
    assert seg.get_segment_description(2).segment_label == "right lower"


def test_seg_read_with_plain_pydicom_lines_up_and_says_what_it_is(scan, tmp_path):
    volume, sources, outlines = scan
    seg_path = write_dicom_seg(volume, outlines, tmp_path / "nodules_seg.dcm")
    labels = nifti_export(volume, outlines, tmp_path / "labels.nii.gz")
    ds = pydicom.dcmread(seg_path)
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
    frames = ds.pixel_array.reshape(-1, *volume.shape_zyx[1:])
    uid_of_k = [s.SOPInstanceUID for s in sources]
    rebuilt = np.zeros((2, *volume.shape_zyx), dtype=bool)
    for frame, item in zip(frames, ds.PerFrameFunctionalGroupsSequence):
        number = item.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        position = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        i, j, k = volume.world_to_index(position)
        assert (i, j) == pytest.approx((0, 0), abs=1e-4) and k == pytest.approx(round(k), abs=1e-4)
        k = int(round(k))
        derived = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        assert derived == uid_of_k[k]
        rebuilt[number - 1, k] |= frame.astype(bool)
    for number in (1, 2):
        assert np.array_equal(rebuilt[number - 1], labels == number), f"segment {number}"
    segments = ds.SegmentSequence
    assert [s.SegmentLabel for s in segments] == ["left upper", "right lower"]
    assert [s.SegmentAlgorithmType for s in segments] == ["SEMIAUTOMATIC", "AUTOMATIC"]
    for segment in segments:
        algorithm = segment.SegmentationAlgorithmIdentificationSequence[0]
        assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("NoduleSeg", "shipped-2")
        assert segment.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "49755003"
        assert segment.SegmentedPropertyTypeCodeSequence[0].CodeValue == "27925004"
        assert segment.AnatomicRegionSequence[0].CodeValue == "39607008"
    (series,) = ds.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == volume.info.series_uid
    assert sorted(r.ReferencedSOPInstanceUID for r in series.ReferencedInstanceSequence) == \
        sorted(uid_of_k)
    assert ds.FrameOfReferenceUID == FRAME_OF_REFERENCE
    assert ds.StudyInstanceUID == sources[0].StudyInstanceUID and ds.PatientID == "SYNTH-1"


def dcmqi_tool(name: str) -> Path:
    pytest.importorskip("dcmqi", reason="dcmqi (an independent DICOM SEG reader) is not installed")
    found = Path(sys.executable).parent / name
    tool = found if found.exists() else shutil.which(name)
    if tool is None:
        pytest.skip(f"dcmqi is installed but its {name} command is not found")
    return Path(tool)


def test_dcmqi_converts_the_seg_back_to_the_same_voxels(scan, tmp_path):
    tool = dcmqi_tool("segimage2itkimage")
    volume, _, outlines = scan
    seg_path = write_dicom_seg(volume, outlines, tmp_path / "nodules_seg.dcm")
    labels = nifti_export(volume, outlines, tmp_path / "labels.nii.gz")
    out = tmp_path / "dcmqi"
    out.mkdir()
    run = subprocess.run([str(tool), "--inputDICOM", str(seg_path), "--outputDirectory", str(out),
                          "-t", "nii", "-p", "seg"], capture_output=True, text=True, timeout=120)
    if run.returncode != 0 and "error while loading shared libraries" in run.stderr:
        pytest.skip(f"dcmqi's {tool.name} cannot run here: {run.stderr.strip()[:200]}")
    assert run.returncode == 0, run.stderr
    meta = json.loads((out / "seg-meta.json").read_text())
    names = {group[0]["labelID"]: group[0]["SegmentLabel"] for group in meta["segmentAttributes"]}
    assert sorted(names.values()) == ["left upper", "right lower"]
    for file_number in (1, 2):
        image = sitk.ReadImage(str(out / f"seg-{file_number}.nii.gz"))
        number = [o.name for o in outlines].index(names[file_number]) + 1
        assert np.array_equal(in_scan_voxels(image, volume), labels == number), names[file_number]


def in_scan_voxels(image: sitk.Image, volume) -> np.ndarray:
    """The image's non-zero voxels placed into the scan's grid through world coordinates."""
    zyx = np.argwhere(sitk.GetArrayFromImage(image) > 0)
    ijk = zyx[:, ::-1].astype(float)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    world = (ijk * np.asarray(image.GetSpacing())) @ direction.T + np.asarray(image.GetOrigin())
    scan_ijk = volume.world_to_index(world)
    assert np.allclose(scan_ijk, np.round(scan_ijk), atol=1e-2), "voxels off the scan's grid"
    scan_ijk = np.round(scan_ijk).astype(int)
    mask = np.zeros(volume.shape_zyx, dtype=bool)
    mask[scan_ijk[:, 2], scan_ijk[:, 1], scan_ijk[:, 0]] = True
    return mask


def test_sr_numbers_equal_the_measurements_table_and_reference_the_segments(scan, tmp_path):
    volume, _, outlines = scan
    seg_path = write_dicom_seg(volume, outlines, tmp_path / "nodules_seg.dcm")
    sr_path = write_dicom_sr(volume, outlines, seg_path, tmp_path / "nodules_sr.dcm")
    table = tmp_path / "nodules.csv"
    write_measurements([measure(o.mask, volume).to_row() for o in outlines], table)
    rows = list(csv.DictReader(table.open()))
    seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    sr = hd.sr.srread(sr_path)
    assert sr.SOPClassUID == COMPREHENSIVE_3D_SR
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == seg.SOPInstanceUID
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 2
    columns = {"long_axis_mm": (codes.SCT.LongAxis, "mm"), "short_axis_mm": (codes.SCT.ShortAxis, "mm"),
               "volume_mm3": (codes.SCT.Volume, "mm3"),
               "mean_hu": (codes.DCM.AttenuationCoefficient, "[hnsf'U]")}
    for number, (group, row, segment) in enumerate(zip(groups, rows, seg.SegmentSequence), start=1):
        referenced = group.referenced_segment[0]
        assert referenced.referenced_sop_instance_uid == seg.SOPInstanceUID
        assert referenced.referenced_segment_numbers == [number]
        assert group.tracking_identifier == segment.TrackingID == outlines[number - 1].name
        assert group.tracking_uid == segment.TrackingUID
        assert group.finding_type.value == "27925004"
        assert [site.value.value for site in group.finding_sites] == ["39607008"]
        for column, (concept, unit) in columns.items():
            (item,) = group.get_measurements(name=concept)
            assert item.value == pytest.approx(float(row[column]), abs=1e-9), (number, column)
            assert item.unit.value == unit
    assert float(rows[1]["mean_hu"]) > float(rows[0]["mean_hu"])  # the two are told apart


def test_a_nifti_scan_is_refused_naming_it(tmp_path):
    hu, first, _ = two_nodules()
    path = write_nifti(tmp_path / "chest.nii.gz", hu)
    volume = load_volume(path)
    outlines = [NoduleOutline("n", NoduleMask.from_full(first), Outline.AUTOMATIC, "v")]
    attempts = [lambda: write_dicom_seg(volume, outlines, tmp_path / "seg.dcm"),
                lambda: write_dicom_sr(volume, outlines, tmp_path / "seg.dcm", tmp_path / "sr.dcm"),
                lambda: write_dicom_seg_and_sr(volume, outlines, tmp_path / "seg.dcm",
                                               tmp_path / "sr.dcm")]
    for attempt in attempts:
        with pytest.raises(DicomSourceError, match="needs a DICOM source") as caught:
            attempt()
        assert str(path) in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chest.nii.gz"]


def test_source_changed_or_without_frame_of_reference_is_refused(tmp_path):
    hu, first, _ = two_nodules()
    spec = SeriesSpec(n=20, rows=40, columns=48)
    write_ct(tmp_path / "ct", hu, spec)
    volume = load_volume(tmp_path / "ct")
    outlines = [NoduleOutline("n", NoduleMask.from_full(first), Outline.AUTOMATIC, "v")]
    last = tmp_path / "ct" / "IM0001.dcm"  # slice 19: the series now ends a slice early
    kept = last.read_bytes()
    last.unlink()
    with pytest.raises(DicomSourceError, match="no longer match the open scan"):
        write_dicom_seg(volume, outlines, tmp_path / "seg.dcm")
    last.write_bytes(kept)
    for path in (tmp_path / "ct").iterdir():
        ds = pydicom.dcmread(path)
        del ds.FrameOfReferenceUID
        ds.save_as(path)
    with pytest.raises(DicomSourceError, match="no FrameOfReferenceUID"):
        write_dicom_seg(volume, outlines, tmp_path / "seg.dcm")
    assert not (tmp_path / "seg.dcm").exists()


def test_existing_file_empty_nodule_and_foreign_seg_are_refused(scan, tmp_path):
    volume, _, outlines = scan
    target = tmp_path / "seg.dcm"
    target.write_bytes(b"older")
    with pytest.raises(ExportError, match="file exists"):
        write_dicom_seg(volume, outlines, target)
    assert target.read_bytes() == b"older"
    empty = NoduleOutline("gone", NoduleMask(np.zeros((0, 0, 0), dtype=bool), (0, 0, 0)),
                          Outline.MANUAL)
    with pytest.raises(ExportError, match="gone has no voxels"):
        write_dicom_seg(volume, [outlines[0], empty], target, overwrite=True)
    assert target.read_bytes() == b"older"
    write_dicom_seg(volume, outlines, target, overwrite=True)
    renamed = [NoduleOutline("other", o.mask, o.made_by, o.model_version) for o in outlines]
    with pytest.raises(ExportError, match="not the segmentation of these nodules"):
        write_dicom_sr(volume, renamed, target, tmp_path / "sr.dcm")
    assert not (tmp_path / "sr.dcm").exists()


def test_a_full_disk_leaves_no_partial_file_and_the_old_one_whole(scan, tmp_path, monkeypatch):
    volume, _, outlines = scan
    out = tmp_path / "out"
    out.mkdir()
    (out / "seg.dcm").write_bytes(b"older seg")

    def half_then_full(self, filename, *args, **kwargs):
        Path(filename).write_bytes(b"DICM half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filename))

    monkeypatch.setattr(pydicom.Dataset, "save_as", half_then_full)
    with pytest.raises(ExportError) as caught:
        write_dicom_seg_and_sr(volume, outlines, out / "seg.dcm", out / "sr.dcm", overwrite=True)
    assert str(out / "seg.dcm") in str(caught.value) and "disk is full" in str(caught.value)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {"seg.dcm": b"older seg"}


def test_manual_outline_names_no_algorithm_and_cli_nodules_are_automatic(scan, tmp_path):
    volume, _, outlines = scan
    drawn = NoduleOutline("drawn", outlines[0].mask, Outline.MANUAL)

    class Segmented:  # what noduleseg-segment holds: core.segment.Nodule's mask and version
        def __init__(self, mask):
            self.mask, self.model_version = mask, "shipped-2"

    cli = automatic_outlines([Segmented(outlines[1].mask)])
    assert [(o.name, o.made_by) for o in cli] == [("nodule 1", Outline.AUTOMATIC)]
    seg_path, sr_path = write_dicom_seg_and_sr(volume, [drawn, *cli], tmp_path / "seg.dcm",
                                               tmp_path / "sr.dcm")
    first, second = pydicom.dcmread(seg_path, stop_before_pixels=True).SegmentSequence
    assert first.SegmentAlgorithmType == "MANUAL"
    assert "SegmentationAlgorithmIdentificationSequence" not in first
    assert second.SegmentationAlgorithmIdentificationSequence[0].AlgorithmVersion == "shipped-2"
    groups = hd.sr.srread(sr_path).content.get_volumetric_roi_measurement_groups()
    assert [g.tracking_identifier for g in groups] == ["drawn", "nodule 1"]
    assert [algorithm_names(g) for g in groups] == [[], ["NoduleSeg"]]


def test_long_name_with_backslash_becomes_a_valid_label_and_the_report_still_matches(scan, tmp_path):
    volume, _, outlines = scan
    name = "upper\\lobe " + "x" * 80  # LO: one value of at most 64 characters
    renamed = [NoduleOutline(name, outlines[0].mask, Outline.AUTOMATIC, "v"), outlines[1]]
    seg_path, sr_path = write_dicom_seg_and_sr(volume, renamed, tmp_path / "seg.dcm",
                                               tmp_path / "sr.dcm")
    first = pydicom.dcmread(seg_path, stop_before_pixels=True).SegmentSequence[0]
    assert first.SegmentLabel == ("upper/lobe " + "x" * 80)[:64]
    groups = hd.sr.srread(sr_path).content.get_volumetric_roi_measurement_groups()
    assert groups[0].tracking_identifier == name


@pytest.mark.shared_data
def test_real_lidc_scan_with_the_readers_nodule(shared_data, tmp_path):
    case = shared_data / "lidc" / "LIDC-IDRI-0001"
    volume = load_volume(case / "dicom")
    readers = sitk.GetArrayFromImage(sitk.ReadImage(str(case / "LIDC-IDRI-0001_nodules.nii.gz")))
    nodule = NoduleMask.from_full(readers == 1)
    outlines = [NoduleOutline("readers' nodule", nodule, Outline.MANUAL)]
    seg_path, sr_path = write_dicom_seg_and_sr(volume, outlines, tmp_path / "seg.dcm",
                                               tmp_path / "sr.dcm")
    # GDCM's own slice order (SimpleITK's series reader), not ours, names the source images
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(case / "dicom"))
    uids = [pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files]
    pixels = hd.seg.segread(seg_path).get_pixels_by_source_instance(uids, segment_numbers=[1])
    assert nodule.voxel_count > 1000 and np.array_equal(pixels[..., 0] > 0, readers == 1)
    (group,) = hd.sr.srread(sr_path).content.get_volumetric_roi_measurement_groups()
    (long_axis,) = group.get_measurements(name=codes.SCT.LongAxis)
    assert long_axis.value == pytest.approx(measure(nodule, volume).to_row()["long_axis_mm"])


def algorithm_names(group) -> list[str]:
    return [item.TextValue for item in hd.sr.utils.find_content_items(group[0], name=ALGORITHM_NAME)]


# --- the app: File > Export DICOM SEG + SR ------------------------------------------------------


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("NODULESEG_HOME", str(tmp_path / "home"))
    from noduleseg.app.model_service import ModelService
    from noduleseg.app.window import MainWindow

    window = MainWindow(service=ModelService(folder=tmp_path / "home" / "no-model"))
    window.opener.show_dialogs = window.assistant.show_dialogs = False
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def open_and_wait(qtbot, window, path):
    with qtbot.waitSignal(window.opener.opened, timeout=10000):
        window.open_path(path)


def test_menu_action_writes_seg_and_report_and_asks_before_replacing(qtbot, window, tmp_path,
                                                                     monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from noduleseg.app.masks import MaskCrop
    from noduleseg.app.state import Status

    hu, first, second = two_nodules()
    write_ct(tmp_path / "ct", hu, SeriesSpec(n=20, rows=40, columns=48))
    open_and_wait(qtbot, window, tmp_path / "ct")
    state = window.state
    for mask in (first, second):
        crop = MaskCrop(NoduleMask.from_full(mask).mask, NoduleMask.from_full(mask).offset_zyx)
        state.add_nodule(crop, (14, 12, 6), "test-model", Status.AI, first_mask=crop)
    state.set_brush_radius(2)  # the reader paints onto the second nodule: SEMIAUTOMATIC
    assert state.begin_stroke(True, 13, (26.0, 40.0)) and state.end_stroke()
    target = tmp_path / "out" / "chest_seg.dcm"
    target.parent.mkdir()
    asked, errors = [], []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    monkeypatch.setattr(QMessageBox, "question",
                        lambda parent, title, text: asked.append(text) or QMessageBox.StandardButton.No)
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: errors.append(text))
    assert window.actions["export_dicom"].isEnabled()
    window.actions["export_dicom"].trigger()
    report = tmp_path / "out" / "chest_seg_sr.dcm"
    assert errors == [] and asked == [] and target.exists() and report.exists()
    seg = hd.seg.segread(target)
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["nodule 1", "nodule 2"]
    assert [s.SegmentAlgorithmType for s in seg.SegmentSequence] == ["AUTOMATIC", "SEMIAUTOMATIC"]
    sources = sorted((pydicom.dcmread(p, stop_before_pixels=True)
                      for p in (tmp_path / "ct").iterdir()),
                     key=lambda ds: float(ds.ImagePositionPatient[2]))
    pixels = seg.get_pixels_by_source_instance([s.SOPInstanceUID for s in sources],
                                               segment_numbers=[2])
    painted = state.nodules[2].mask.full(state.volume.shape_zyx)
    assert painted.sum() > second.sum() and np.array_equal(pixels[..., 0] > 0, painted)
    groups = hd.sr.srread(report).content.get_volumetric_roi_measurement_groups()
    assert [g.referenced_segment[0].referenced_sop_instance_uid for g in groups] == \
        [seg.SOPInstanceUID] * 2
    # again: both files exist, the reader is asked once about both and says no: nothing changes
    before = (target.read_bytes(), report.read_bytes())
    window.actions["export_dicom"].trigger()
    assert len(asked) == 1 and str(target) in asked[0] and str(report) in asked[0]
    assert (target.read_bytes(), report.read_bytes()) == before and errors == []


def test_menu_action_on_a_nifti_scan_says_dicom_is_needed(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from noduleseg.app.masks import MaskCrop
    from noduleseg.app.state import Status

    hu, first, _ = two_nodules()
    volume = load_volume(write_nifti(tmp_path / "chest.nii.gz", hu))
    open_and_wait(qtbot, window, tmp_path / "chest.nii.gz")
    crop = MaskCrop(NoduleMask.from_full(first).mask, NoduleMask.from_full(first).offset_zyx)
    window.state.add_nodule(crop, (14, 12, 6), "test-model", Status.AI, first_mask=crop)
    errors, dialogs = [], []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: dialogs.append(a) or ("", ""))
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text: errors.append(text))
    window.actions["export_dicom"].trigger()
    assert len(errors) == 1 and "needs a DICOM source" in errors[0]
    assert volume.info.source in errors[0] and dialogs == []


def write_nifti(path: Path, hu: np.ndarray) -> Path:
    from noduleseg.core.volume import Volume

    sitk.WriteImage(image_like(hu, Volume(hu, (0.7, 0.8, 2.5), (0.0, 0.0, 0.0))), str(path))
    return path


# --- noduleseg-segment --dicom-seg / --dicom-sr ----------------------------------------------


def test_the_cli_writes_seg_and_report_of_the_seeded_nodules(blob_model, tmp_path, capsys):
    from noduleseg.core.cli_segment import main
    hu, first, second = two_nodules()
    write_ct(tmp_path / "ct", hu, SeriesSpec(n=20, rows=40, columns=48))
    seg, sr = tmp_path / "n.seg.dcm", tmp_path / "n.sr.dcm"
    status = main([str(tmp_path / "ct"), "--seed", "14,12,6", "--seed", "33,26,13", "--out",
                   str(tmp_path / "n.nii.gz"), "--model", str(blob_model.folder),
                   "--dicom-seg", str(seg), "--dicom-sr", str(sr)])
    assert status == 0, capsys.readouterr().err
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "n.nii.gz")))
    segmentation = hd.seg.segread(seg)
    assert segmentation.number_of_segments == 2
    assert [segmentation.get_segment_description(n).SegmentLabel for n in (1, 2)] == ["nodule 1", "nodule 2"]
    volume = load_volume(tmp_path / "ct")
    for number in (1, 2):  # each segment holds exactly its label's voxels
        frames = segmentation.get_volume(segment_numbers=[number], combine_segments=True)
        assert frames is not None and np.count_nonzero(frames.array) == np.count_nonzero(labels == number)
    report = pydicom.dcmread(sr)
    assert report.SOPClassUID == COMPREHENSIVE_3D_SR and volume.shape_zyx == labels.shape


def test_the_cli_refuses_dicom_output_it_cannot_write_before_any_work(blob_model, tmp_path, capsys):
    from noduleseg.core.cli_segment import main
    hu, _, _ = two_nodules()
    nifti = write_nifti(tmp_path / "scan.nii.gz", hu)
    base = [str(nifti), "--seed", "14,12,6", "--out", str(tmp_path / "n.nii.gz"), "--model", str(blob_model.folder)]
    assert main([*base, "--dicom-seg", str(tmp_path / "s.dcm")]) == 2
    assert "needs a DICOM source" in capsys.readouterr().err and not (tmp_path / "n.nii.gz").exists()
    assert main([*base, "--dicom-sr", str(tmp_path / "r.dcm")]) == 2
    assert "give --dicom-seg too" in capsys.readouterr().err


# --- a SEG read back as nodules (File > Open labels) ------------------------------------------


def test_a_seg_of_this_series_reads_back_as_its_nodules(scan, tmp_path):
    from noduleseg.core.dicom_seg_read import read_dicom_seg
    volume, _, outlines = scan
    write_dicom_seg(volume, outlines, tmp_path / "s.dcm")
    back = read_dicom_seg(tmp_path / "s.dcm", volume)
    assert [name for name, _ in back] == [o.name for o in outlines]
    for (_, mask), outline in zip(back, outlines):
        np.testing.assert_array_equal(mask.full(volume.shape_zyx), outline.mask.full(volume.shape_zyx))


def test_a_seg_of_another_series_or_no_seg_is_refused_naming_the_file(scan, tmp_path):
    from noduleseg.core.dicom_seg_read import read_dicom_seg
    from noduleseg.core.labels_io import LabelImportError
    volume, _, outlines = scan
    write_dicom_seg(volume, outlines, tmp_path / "s.dcm")
    hu, _, _ = two_nodules()
    write_ct(tmp_path / "other", hu, SeriesSpec(n=20, rows=40, columns=48))
    other = load_volume(tmp_path / "other")
    with pytest.raises(LabelImportError, match="s.dcm: it segments series .* not the open scan's"):
        read_dicom_seg(tmp_path / "s.dcm", other)
    ct_file = next((tmp_path / "ct").iterdir())
    with pytest.raises(LabelImportError, match="not a DICOM Segmentation"):
        read_dicom_seg(ct_file, volume)


def test_open_labels_takes_a_seg_of_the_open_scan_with_its_segment_names(scan, tmp_path):
    from noduleseg.app.label_import import add_outlines
    from noduleseg.app.state import Status, ViewerState
    volume, _, outlines = scan
    write_dicom_seg(volume, outlines, tmp_path / "s.dcm")
    state = ViewerState()
    state.set_volume(volume)
    add_outlines(state, tmp_path / "s.dcm")
    assert [(r.label, r.status) for r in state.records()] == [(o.name, Status.IMPORTED) for o in outlines]
