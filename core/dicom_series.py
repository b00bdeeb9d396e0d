"""DICOM series in a folder: discovery (``list_series``) and the choice of the CT to load."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .dicom_headers import SliceHeader, iter_files, name_skipped, scan_headers
from .errors import (CorruptFileError, EmptyFolderError, ModalityError, NotAnImageError,
                     SeriesNotFoundError, VolumeNotFoundError)

log = logging.getLogger(__name__)

_CT = "CT"
_MODALITY_NAMES = {
    "MR": "MR (magnetic resonance)", "SEG": "SEG (a segmentation object)",
    "RTSTRUCT": "RTSTRUCT (radiotherapy structure set)", "SR": "SR (a structured report)",
    "PT": "PT (PET)", "NM": "NM (nuclear medicine)", "US": "US (ultrasound)",
    "CR": "CR (radiograph)", "DX": "DX (radiograph)", "OT": "OT (other, e.g. a screenshot)",
    "PR": "PR (a presentation state)", "KO": "KO (a key-object note)",
    "RTDOSE": "RTDOSE (radiotherapy dose)", "RTPLAN": "RTPLAN (radiotherapy plan)",
    "": "of unknown modality (no Modality tag)",
}


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series found in a folder, for the reader to choose from.

    Attributes:
        series_uid: SeriesInstanceUID.
        modality: DICOM Modality (CT, MR, SEG...).
        description: SeriesDescription.
        n_slices: Number of files (slices) in the series.
        study_description: StudyDescription.
        patient_id: PatientID.
        series_number: SeriesNumber (0 when absent).
        files: The series' files, sorted by path.
    """

    series_uid: str
    modality: str
    description: str
    n_slices: int
    study_description: str
    patient_id: str
    series_number: int
    files: tuple[Path, ...]

    @property
    def is_ct(self) -> bool:
        return self.modality == _CT


def modality_words(modality: str) -> str:
    """A modality code with a few words a reader understands."""
    return _MODALITY_NAMES.get(modality, modality)


def list_series(folder: str | Path) -> list[SeriesInfo]:
    """Every DICOM series below ``folder`` (searched recursively), ordered by series number.

    A DICOM file whose header cannot be read is skipped with a VolumeWarning.

    Raises:
        VolumeNotFoundError, EmptyFolderError, NotAnImageError, CorruptFileError (no DICOM
        header below the folder can be read).
    """
    groups, _ = scan_series(Path(folder))
    return [_series_info(group) for group in groups.values()]


def scan_series(folder: Path, progress: Callable[[float], None] | None = None
                ) -> tuple[dict[str, list[SliceHeader]], list[CorruptFileError]]:
    """Headers of every DICOM file below ``folder``, grouped by SeriesInstanceUID.

    Returns:
        The groups, and why each DICOM file left out (its header unreadable) was left out.
    """
    if not folder.exists():
        raise VolumeNotFoundError(folder, "no such file or folder")
    files = list(iter_files(folder))
    if not files:
        raise EmptyFolderError(folder, "the folder is empty (no files, also in subfolders); "
                               "point NoduleSeg at the folder that holds the DICOM files")
    headers, others, unreadable = scan_headers(files, progress)
    if not headers and unreadable:
        raise CorruptFileError(folder, f"no readable DICOM file: {len(unreadable)} file(s) "
                               f"look like DICOM but their header is damaged or truncated "
                               f"({name_skipped(folder, unreadable)}); copy the files again "
                               "or export the series again")
    if not headers:
        examples = ", ".join(p.name for p in others[:3])
        raise NotAnImageError(folder, f"no DICOM file among its {len(others)} files "
                              f"(e.g. {examples}); open a DICOM folder, or a .nii/.nii.gz, "
                              f".mhd/.mha or .nrrd file")
    groups: dict[str, list[SliceHeader]] = defaultdict(list)
    for header in headers:
        groups[header.series_uid].append(header)
    ordered = sorted(groups.items(), key=lambda item: (item[1][0].series_number, item[0]))
    return dict(ordered), unreadable


def choose_series(folder: Path, groups: dict[str, list[SliceHeader]],
                  series_uid: str | None) -> list[SliceHeader]:
    """The headers of the series to load: ``series_uid``, else the CT with the most slices.

    Raises:
        SeriesNotFoundError: ``series_uid`` is not in the folder.
        ModalityError: The chosen series is not CT, or no series is.
    """
    infos = {uid: _series_info(group) for uid, group in groups.items()}
    if series_uid is not None:
        if series_uid not in groups:
            raise SeriesNotFoundError(folder, f"no series {series_uid} here; the folder holds "
                                      f"{_describe(infos.values())}")
        require_ct(folder, infos[series_uid])
        return groups[series_uid]
    cts = [info for info in infos.values() if info.is_ct]
    if not cts:
        first = next(iter(infos.values()))
        raise ModalityError(folder, f"no CT series here, only {_describe(infos.values())}; "
                            "NoduleSeg reads CT scans", modality=first.modality)
    chosen = max(cts, key=lambda info: info.n_slices)
    if len(infos) > 1:
        log.info("%s holds %d series; loading CT series %s (%d slices, %r)", folder, len(infos),
                 chosen.series_uid, chosen.n_slices, chosen.description)
    return groups[chosen.series_uid]


def require_ct(path: Path, info: SeriesInfo | SliceHeader) -> None:
    """Raise ModalityError unless the series (or file) is CT."""
    if info.modality != _CT:
        uid = info.series_uid
        raise ModalityError(path, f"series {uid} is {modality_words(info.modality)}, not CT: "
                            f"NoduleSeg reads CT scans only; choose the CT series "
                            f"(list_series shows every series in a folder)", info.modality)


def _series_info(group: list[SliceHeader]) -> SeriesInfo:
    first = group[0]
    return SeriesInfo(series_uid=first.series_uid, modality=first.modality,
                      description=first.series_description, n_slices=len(group),
                      study_description=first.study_description, patient_id=first.patient_id,
                      series_number=first.series_number,
                      files=tuple(sorted(header.path for header in group)))


def _describe(infos: object) -> str:
    return ", ".join(f"{info.modality or '?'} series {info.series_uid} ({info.n_slices} files)"
                     for info in infos)  # type: ignore[attr-defined]
