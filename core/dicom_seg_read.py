"""A DICOM Segmentation of the open scan's series, read back as nodules (one per segment).

The SEG must reference the scan's own series; its frames are placed by the source images they
derive from (``dicom_source`` re-reads the series in the loader's order, so slice k is image k).
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom

from .dicom_source import DicomSourceError, source_datasets
from .labels_io import LabelImportError
from .nodule_mask import NoduleMask
from .volume import Volume

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def read_dicom_seg(path: str | Path, volume: Volume) -> list[tuple[str, NoduleMask]]:
    """(segment label, mask) of every non-empty segment of a DICOM SEG of ``volume``'s series.

    Raises:
        LabelImportError: Not a readable DICOM SEG, the scan is not DICOM, or the SEG belongs to
            another series (the message names the file).
    """
    path = Path(path)
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as error:  # noqa: BLE001 - pydicom meets a damaged file with many types
        raise LabelImportError(f"{path}: not a readable DICOM file ({type(error).__name__})") from None
    if str(header.get("SOPClassUID", "")) != SEG_SOP_CLASS:
        raise LabelImportError(f"{path}: not a DICOM Segmentation (modality {header.get('Modality', '?')})")
    referenced = {str(s.SeriesInstanceUID) for s in header.get("ReferencedSeriesSequence", [])}
    if volume.info.series_uid not in referenced:
        raise LabelImportError(f"{path}: it segments series {', '.join(sorted(referenced)) or '(none named)'}, "
                               f"not the open scan's {volume.info.series_uid or '(not DICOM)'}")
    try:
        sources = source_datasets(volume)
        seg = hd.seg.segread(path)
        uids = [str(ds.SOPInstanceUID) for ds in sources]
        return [(label, mask) for label, mask in (_segment(seg, n, uids) for n in seg.segment_numbers)
                if not mask.is_empty]
    except DicomSourceError as error:
        raise LabelImportError(f"{path}: {error}") from None
    except (ValueError, KeyError, AttributeError) as error:  # highdicom's refusals of a malformed SEG
        raise LabelImportError(f"{path}: cannot place its frames on the scan ({error})") from None


def _segment(seg: hd.seg.Segmentation, number: int, uids: list[str]) -> tuple[str, NoduleMask]:
    pixels = seg.get_pixels_by_source_instance(uids, segment_numbers=[number], combine_segments=True,
                                               assert_missing_frames_are_empty=True)
    label = str(seg.get_segment_description(number).SegmentLabel)
    return label, NoduleMask.from_full(np.asarray(pixels) > 0)
