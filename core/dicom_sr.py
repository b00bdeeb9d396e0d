"""The nodules' measurements as a DICOM Structured Report: a TID 1500 measurement report.

One TID 1411 volumetric group per nodule, referencing its segment in the SEG (``dicom_seg``)
and sharing the segment's tracking identifier, with the long and short axis (mm), the volume
(mm3) and the mean attenuation (HU): what a PACS shows as the nodule's measurements. The values
are ``measure.measure(mask, volume).to_row()``'s, rounded as the measurements table rounds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from .dicom_seg import (ALGORITHM_NAME, ANATOMY, FINDING_CATEGORY, FINDING_TYPE, MANUFACTURER,
                        NoduleOutline, Outline, build_segmentation, refuse_existing, save_dataset,
                        segment_label)
from .dicom_source import require_dicom_source
from .labels_io import ExportError
from .measure import measure
from .volume import Volume

SR_SERIES_NUMBER = 902
SR_SERIES_DESCRIPTION = "NoduleSeg nodule measurements"
CT_CHEST = hd.sr.CodedConcept(value="24627-2", scheme_designator="LN", meaning="CT Chest")
# The device that measured: one fixed UID for NoduleSeg, made from its name.
DEVICE_UID = generate_uid(entropy_srcs=["NoduleSeg measurement device"])
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
# (table column, concept, unit, derivation)
MEASURED = (
    ("long_axis_mm", codes.SCT.LongAxis, codes.UCUM.Millimeter, None),
    ("short_axis_mm", codes.SCT.ShortAxis, codes.UCUM.Millimeter, None),
    ("volume_mm3", codes.SCT.Volume, codes.UCUM.CubicMillimeter, None),
    ("mean_hu", codes.DCM.AttenuationCoefficient, codes.UCUM.HounsfieldUnit, codes.SCT.Mean),
)


def build_report(volume: Volume, outlines: Sequence[NoduleOutline],
                 segmentation: pydicom.Dataset) -> hd.sr.Comprehensive3DSR:
    """The measurement report of ``outlines``, which ``segmentation`` holds as its segments.

    Raises:
        DicomSourceError: The volume was not loaded from DICOM.
        ExportError: ``segmentation`` is not the SEG of these nodules over this scan's series.
    """
    require_dicom_source(volume)
    _require_matching_seg(volume, outlines, segmentation)
    groups = [_group(number, outline, volume, segmentation)
              for number, outline in enumerate(outlines, start=1)]
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=DEVICE_UID, name=ALGORITHM_NAME, manufacturer_name=MANUFACTURER))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=CT_CHEST, imaging_measurements=groups)
    return hd.sr.Comprehensive3DSR(
        evidence=[segmentation], content=report[0], series_instance_uid=generate_uid(),
        series_number=SR_SERIES_NUMBER, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer=MANUFACTURER, is_complete=True, series_description=SR_SERIES_DESCRIPTION)


def write_dicom_sr(volume: Volume, outlines: Sequence[NoduleOutline],
                   seg: str | Path | pydicom.Dataset, path: str | Path, *,
                   overwrite: bool = False) -> Path:
    """Write the nodules' measurement report, referencing their segments in ``seg``, atomically.

    Args:
        volume: The scan, loaded from DICOM.
        outlines: The nodules, in the order of their segments in ``seg``.
        seg: The DICOM SEG ``write_dicom_seg`` wrote for them (its file or dataset).
        path: The file to write (conventionally ``.dcm``).
        overwrite: Replace an existing file; refused otherwise.

    Returns:
        ``path``.

    Raises:
        DicomSourceError: The scan was not loaded from DICOM.
        ExportError: The file exists (and not ``overwrite``), ``seg`` is not these nodules' SEG
            of this series, a nodule is empty, or the write failed (nothing is left behind).
    """
    path = Path(path)
    refuse_existing(path, overwrite)
    require_dicom_source(volume)
    segmentation = seg if isinstance(seg, pydicom.Dataset) else _read_seg(Path(seg))
    return save_dataset(build_report(volume, outlines, segmentation), path)


def write_dicom_seg_and_sr(volume: Volume, outlines: Sequence[NoduleOutline], seg_path: str | Path,
                           sr_path: str | Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write the SEG and the report that references it; nothing is written unless both are built.

    Each file is written atomically, the SEG first. Should the report's write fail (a full disk),
    the new SEG stays and the error names the report's file.

    Raises:
        DicomSourceError, ExportError: As ``write_dicom_seg`` and ``write_dicom_sr``.
    """
    seg_path, sr_path = Path(seg_path), Path(sr_path)
    if seg_path.resolve() == sr_path.resolve():
        raise ExportError(f"{seg_path}: the SEG and the report need two different files")
    refuse_existing(seg_path, overwrite)
    refuse_existing(sr_path, overwrite)
    segmentation = build_segmentation(volume, outlines)
    report = build_report(volume, outlines, segmentation)
    return save_dataset(segmentation, seg_path), save_dataset(report, sr_path)


def _group(number: int, outline: NoduleOutline, volume: Volume, segmentation: pydicom.Dataset
           ) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    if outline.mask.is_empty:
        raise ExportError(f"{outline.name} has no voxels: outline it or delete it before "
                          "writing DICOM SR")
    row = measure(outline.mask, volume).to_row()
    segment = segmentation.SegmentSequence[number - 1]
    referenced = hd.sr.ReferencedSegment(
        sop_class_uid=segmentation.SOPClassUID, sop_instance_uid=segmentation.SOPInstanceUID,
        segment_number=number,
        source_series=hd.sr.SourceSeriesForSegmentation(volume.info.series_uid))
    measurements = [hd.sr.Measurement(name=name, value=float(row[column]), unit=unit,
                                      derivation=derivation)
                    for column, name, unit, derivation in MEASURED]
    algorithm = None if outline.made_by is Outline.MANUAL else hd.sr.AlgorithmIdentification(
        name=ALGORITHM_NAME, version=outline.model_version or "unknown")
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=segment.TrackingUID,
                                                     identifier=segment.TrackingID),
        referenced_segment=referenced, finding_category=FINDING_CATEGORY,
        finding_type=FINDING_TYPE, finding_sites=[hd.sr.FindingSite(ANATOMY)],
        algorithm_id=algorithm, measurements=measurements)


def _read_seg(path: Path) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (OSError, InvalidDicomError) as error:
        raise ExportError(f"{path}: cannot read the DICOM SEG the report references "
                          f"({error}); write the SEG first") from None


def _require_matching_seg(volume: Volume, outlines: Sequence[NoduleOutline],
                          segmentation: pydicom.Dataset) -> None:
    series = [item.SeriesInstanceUID for item in segmentation.get("ReferencedSeriesSequence", [])]
    labels = [item.SegmentLabel for item in segmentation.get("SegmentSequence", [])]
    names = [segment_label(number, o.name) for number, o in enumerate(outlines, start=1)]
    if segmentation.get("SOPClassUID") != SEG_STORAGE or volume.info.series_uid not in series \
            or labels != names:
        raise ExportError(f"the DICOM SEG {segmentation.get('SOPInstanceUID', '')} is not the "
                          f"segmentation of these nodules ({', '.join(names)}) over series "
                          f"{volume.info.series_uid}; write the SEG and the report together")
