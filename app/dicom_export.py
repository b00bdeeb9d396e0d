"""File > Export DICOM SEG + SR, without Qt: the viewer's nodules as ``core.dicom_seg`` outlines.

The report (SR) goes beside the SEG as ``<name>_sr.dcm``: it references the SEG's segments, so
the two belong together and are written together.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noduleseg.core.dicom_seg import NoduleOutline, Outline
from noduleseg.core.dicom_sr import write_dicom_seg_and_sr
from noduleseg.core.errors import NodulesegError

from .masks import MaskCrop
from .state import NoduleRecord, ViewerState


def outline_of(record: NoduleRecord) -> NoduleOutline:
    """The record as a segment: AUTOMATIC while its mask is the model's own, SEMIAUTOMATIC once
    a reader changed it, MANUAL when drawn by hand (no model mask)."""
    if record.first_mask is None:
        made_by = Outline.MANUAL
    elif _same(record.mask, record.first_mask):
        made_by = Outline.AUTOMATIC
    else:
        made_by = Outline.SEMIAUTOMATIC
    return NoduleOutline(record.label, record.mask, made_by, record.model_version)


def report_path(seg_path: str | Path) -> Path:
    """Where the report goes beside the SEG: ``scan_seg.dcm`` -> ``scan_seg_sr.dcm``."""
    seg_path = Path(seg_path)
    stem = seg_path.name[:-4] if seg_path.name.lower().endswith(".dcm") else seg_path.name
    return seg_path.with_name(f"{stem}_sr.dcm")


def export_dicom(state: ViewerState, seg_path: str | Path, overwrite: bool = False
                 ) -> tuple[Path, Path]:
    """Write every nodule as a segment of a DICOM SEG, and the measurement report beside it.

    Raises:
        NodulesegError: No scan, a scan not loaded from DICOM (DicomSourceError), an empty
            nodule, an existing file without ``overwrite``, or a failed write (ExportError).
    """
    if state.volume is None:
        raise NodulesegError("no scan is open")
    outlines = [outline_of(record) for record in state.records()]
    return write_dicom_seg_and_sr(state.volume, outlines, seg_path, report_path(seg_path),
                                  overwrite=overwrite)


def _same(a: MaskCrop, b: MaskCrop) -> bool:
    return a is b or (tuple(a.offset_zyx) == tuple(b.offset_zyx) and np.array_equal(a.mask, b.mask))
