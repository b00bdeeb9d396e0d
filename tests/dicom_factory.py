"""Write small synthetic DICOM series with pydicom, for the loader tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass
class SeriesSpec:
    """What to write: n slices of rows x columns, stored values = ``stored[k]``."""

    n: int = 10
    rows: int = 12
    columns: int = 16
    pixel_spacing: tuple[float, float] = (0.8, 0.7)  # between rows, between columns
    step: float = 2.5
    origin: tuple[float, float, float] = (-10.0, -20.0, -100.0)
    orientation: tuple[float, ...] = AXIAL
    slope: float = 1.0
    intercept: float = -1024.0
    modality: str = "CT"
    series_uid: str = field(default_factory=generate_uid)
    padding_value: int | None = None
    seed: int = 0

    def stored(self) -> np.ndarray:
        """Stored values (k, rows, columns): slice k is recognisable by its mean (k * 100)."""
        rng = np.random.default_rng(self.seed)
        noise = rng.integers(0, 50, size=(self.n, self.rows, self.columns))
        base = 1000 + 100 * np.arange(self.n)[:, None, None]
        return (base + noise).astype(np.int16)

    def normal(self) -> np.ndarray:
        return np.cross(self.orientation[:3], self.orientation[3:])

    def positions(self) -> list[tuple[float, float, float]]:
        """Slice k at origin + k * step along the normal."""
        return [tuple(float(v) for v in np.add(self.origin, k * self.step * self.normal()))
                for k in range(self.n)]


def make_slice(spec: SeriesSpec, k: int, stored: np.ndarray,
               position: tuple[float, float, float]) -> pydicom.Dataset:
    """One CT slice dataset (file meta included)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = spec.modality
    ds.PatientID = "SYNTH-1"
    ds.StudyDescription = "Synthetic chest"
    ds.SeriesDescription = f"Synthetic {spec.modality}"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = spec.series_uid
    ds.SeriesNumber = 2
    ds.InstanceNumber = spec.n - k  # deliberately opposite to the position order
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in spec.orientation]
    ds.PixelSpacing = [f"{v:.6f}" for v in spec.pixel_spacing]
    ds.SliceThickness = "9.9"  # wrong on purpose: spacing must come from positions
    ds.Rows, ds.Columns = spec.rows, spec.columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = f"{spec.slope:g}"
    ds.RescaleIntercept = f"{spec.intercept:g}"
    if spec.padding_value is not None:
        ds.add_new(0x00280120, "SS", spec.padding_value)
    ds.PixelData = np.ascontiguousarray(stored, dtype="<i2").tobytes()
    return ds


def write_series(folder: Path, spec: SeriesSpec | None = None, shuffle: bool = True
                 ) -> tuple[list[Path], np.ndarray]:
    """Write the series into ``folder``; file names are shuffled against positions.

    Returns:
        Files in position order (slice k first) and the stored values (k, rows, columns).
    """
    spec = spec or SeriesSpec()
    folder.mkdir(parents=True, exist_ok=True)
    stored = spec.stored()
    order = np.random.default_rng(spec.seed + 1).permutation(spec.n) if shuffle else \
        np.arange(spec.n)
    files = []
    for k, position in enumerate(spec.positions()):
        path = folder / f"IM{order[k]:04d}.dcm"
        make_slice(spec, k, stored[k], position).save_as(path, enforce_file_format=True)
        files.append(path)
    return files, stored


def cut_in_header(path: Path) -> None:
    """Truncate a written file inside its SeriesInstanceUID, as an interrupted copy leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"\x20\x00\x0e\x00UI") + 12])  # (0020,000E), 4 bytes in
