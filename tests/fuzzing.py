"""Seeded damage to real and made scans, for every reader ``load_volume`` has.

Each case copies one source (a synthetic DICOM series, six slices of a real LIDC series, a
synthetic or real NIfTI, NRRD attached and detached, MetaImage .mhd and .mha), damages it in one
way drawn from a family, and loads it in a worker process. A case passes when it loads a volume
with HU in int16, at least one voxel on every axis and positive finite spacing, or when it is
refused with a ``VolumeError`` whose message names the case's file or folder. Anything else
fails: another exception, a crash of the worker, a hang past ``TIMEOUT_S``, or memory past the
worker's limit (a loader that believes a header's size before checking the file). Case n of a
seed is always the same damage, so a failure replays with ``--case``.

    python tests/fuzzing.py --cases 5000 [--seed 0] [--case 1234]   # make fuzz N=5000
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import shutil
import struct
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TIMEOUT_S = 30.0
MEMORY_LIMIT_BYTES = 4 * 2**30

# --- sources ---------------------------------------------------------------------------------


def make_sources(folder: Path) -> dict[str, Path]:
    """The undamaged files each family starts from (real ones where ../shared/data is present)."""
    import SimpleITK as sitk

    from dicom_factory import SeriesSpec, write_series
    folder.mkdir(parents=True, exist_ok=True)
    sources = {}
    write_series(folder / "dicom_synthetic", SeriesSpec(n=4, rows=12, columns=16))
    sources["dicom_synthetic"] = folder / "dicom_synthetic"
    lidc = SHARED / "lidc" / "LIDC-IDRI-0001" / "dicom"
    if lidc.is_dir():
        from noduleseg.core.dicom_headers import read_slice_header
        files = sorted(lidc.glob("*.dcm"), key=lambda p: read_slice_header(p).position[2])[60:66]
        (folder / "dicom_real").mkdir()
        for path in files:
            shutil.copy2(path, folder / "dicom_real" / path.name)
        sources["dicom_real"] = folder / "dicom_real"
    hu = np.random.default_rng(0).normal(-700, 200, (5, 16, 20)).astype(np.int16)
    image = sitk.GetImageFromArray(hu)
    image.SetSpacing((0.7, 0.8, 2.5))
    image.SetOrigin((-10.0, 20.0, -100.0))
    for name in ("synthetic.nii", "synthetic.nii.gz", "synthetic.nrrd", "synthetic.nhdr", "synthetic.mhd",
                 "synthetic.mha"):
        sitk.WriteImage(image, str(folder / name))
        sources[name] = folder / name
    crop = SHARED / "lidc_crops" / "crops" / "LIDC-IDRI-0003_02_ct.nii.gz"
    if crop.exists():
        shutil.copy2(crop, folder / "real.nii.gz")
        sources["real.nii.gz"] = folder / "real.nii.gz"
    return sources


def copy_source(source: Path, target: Path) -> Path:
    """The source copied into ``target`` (a detached header brings its data file)."""
    target.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target / source.name)
        return target / source.name
    for companion in (source.with_suffix(".raw"),):
        if source.suffix in (".nhdr", ".mhd") and companion.exists():
            shutil.copy2(companion, target / companion.name)
    shutil.copy2(source, target / source.name)
    return target / source.name


# --- DICOM damage -----------------------------------------------------------------------------

DICOM_VALUES = {  # keyword: (VR, bad values as text or numbers)
    "Rows": ("US", [0, 1, 65535]), "Columns": ("US", [0, 1, 65535]),
    "BitsAllocated": ("US", [0, 1, 7, 12, 64, 65535]), "BitsStored": ("US", [0, 1, 17, 64, 65535]),
    "HighBit": ("US", [0, 31, 65535]), "PixelRepresentation": ("US", [2, 65535]),
    "SamplesPerPixel": ("US", [0, 3, 65535]),
    "PixelSpacing": ("DS", ["0\\0", "-1\\-1", "NaN\\NaN", "inf\\1", "1e30\\1e30", "abc", ""]),
    "SliceThickness": ("DS", ["0", "-1", "NaN", "1e30"]),
    "ImagePositionPatient": ("DS", ["NaN\\0\\0", "0\\0\\inf", "1e30\\1e30\\1e30", "abc", "0\\0"]),
    "ImageOrientationPatient": ("DS", ["0\\0\\0\\0\\0\\0", "1\\0\\0\\1\\0\\0", "NaN\\0\\0\\0\\1\\0",
                                       "1e30\\0\\0\\0\\1\\0", "1\\0\\0"]),
    "RescaleSlope": ("DS", ["0", "-1", "NaN", "inf", "1e30", "1e-30", "abc"]),
    "RescaleIntercept": ("DS", ["NaN", "inf", "-1e30", "1e30", "1e10", "abc"]),
    "PhotometricInterpretation": ("CS", ["RGB", "PALETTE COLOR", "YBR_FULL", ""]),
    "NumberOfFrames": ("IS", ["0", "-1", "2", "99999999999", "abc"]),
    "Modality": ("CS", ["MR", "", "SEG", "CT\\MR"]),
    "SeriesInstanceUID": ("UI", ["", "1.2.3"]),
    "PixelPaddingValue": ("SS", [-32768, 0, 32767]),
}
TRANSFER_SYNTAXES = ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
                     "1.2.840.10008.1.2.5", "1.2.3.4", ""]
DELETABLE = ["Rows", "Columns", "PixelData", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
             "BitsAllocated", "RescaleIntercept", "RescaleSlope", "SeriesInstanceUID", "SOPInstanceUID",
             "Modality", "PixelRepresentation", "SamplesPerPixel"]


def _series_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())


def _chosen_files(files: list[Path], rng: np.random.Generator) -> list[Path]:
    """One file or all of them."""
    return files if rng.random() < 0.5 else [files[int(rng.integers(len(files)))]]


def _rewrite(path: Path, change: Callable[[Any], None]) -> None:
    import pydicom
    from pydicom import config

    config.settings.reading_validation_mode = config.IGNORE
    config.settings.writing_validation_mode = config.IGNORE
    ds = pydicom.dcmread(path, force=True)
    implicit, little = ds.original_encoding
    change(ds)
    # the data keep their encoding whatever the (possibly damaged) file meta now claims
    pydicom.dcmwrite(path, ds, implicit_vr=implicit, little_endian=little, enforce_file_format=False)


def dicom_value(folder: Path, rng: np.random.Generator) -> str:
    from pydicom.datadict import tag_for_keyword
    files = _series_files(folder)
    if rng.random() < 0.15:
        syntax = TRANSFER_SYNTAXES[int(rng.integers(len(TRANSFER_SYNTAXES)))]
        for path in _chosen_files(files, rng):
            _set_transfer_syntax(path, syntax)
        return f"TransferSyntaxUID={syntax!r}"
    keyword = list(DICOM_VALUES)[int(rng.integers(len(DICOM_VALUES)))]
    vr, values = DICOM_VALUES[keyword]
    value = values[int(rng.integers(len(values)))]
    wrong_type = rng.random() < 0.1
    tag = tag_for_keyword(keyword)

    def change(ds: Any) -> None:
        if wrong_type:
            ds.add_new(tag, "LO", "abc")
        elif vr in ("US", "SS"):
            ds.add_new(tag, vr, int(value))
        else:  # any text, written as LO, then marked with its own VR (pydicom refuses bad DS)
            ds.add_new(tag, "LO", str(value))
    chosen = _chosen_files(files, rng)
    for path in chosen:
        _rewrite(path, change)
        if not wrong_type and vr not in ("US", "SS"):
            _mark_vr(path, tag, vr)
    return f"{keyword}={'LO:abc' if wrong_type else value!r} in {len(chosen)} file(s)"


def _set_transfer_syntax(path: Path, syntax: str) -> None:
    """Rewrite the file meta's TransferSyntaxUID bytes (the data set stays as it was encoded)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"\x02\x00\x10\x00UI", 132)
    if at < 0:
        return
    old_length = struct.unpack_from("<H", data, at + 6)[0]
    value = syntax.encode() + (b"\x00" if len(syntax) % 2 else b"")
    data[at + 6:at + 8 + old_length] = struct.pack("<H", len(value)) + value
    group = data.find(b"\x02\x00\x00\x00UL", 132)
    if group > 0:
        length = struct.unpack_from("<I", data, group + 8)[0]
        struct.pack_into("<I", data, group + 8, length + len(value) - old_length)
    path.write_bytes(bytes(data))


def _mark_vr(path: Path, tag: int, vr: str) -> None:
    """Give an explicit-VR element written as LO its real VR (the value bytes stay)."""
    marker = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    data = path.read_bytes()
    at = data.find(marker + b"LO", 132)
    if at > 0:
        path.write_bytes(data[:at + 4] + vr.encode() + data[at + 6:])


def dicom_delete(folder: Path, rng: np.random.Generator) -> str:
    keyword = DELETABLE[int(rng.integers(len(DELETABLE)))]
    chosen = _chosen_files(_series_files(folder), rng)
    for path in chosen:
        _rewrite(path, lambda ds: delattr(ds, keyword) if keyword in ds else None)
    return f"{keyword} deleted in {len(chosen)} file(s)"


def flip_bytes(path: Path, rng: np.random.Generator, low: int = 0, high: int | None = None) -> str:
    data = bytearray(path.read_bytes())
    high = len(data) if high is None else min(high, len(data))
    low = min(low, max(0, high - 1))
    count = int(rng.integers(1, 21))
    for _ in range(count):
        data[int(rng.integers(low, max(low + 1, high)))] = int(rng.integers(256))
    path.write_bytes(bytes(data))
    return f"{count} byte(s) flipped in {path.name}[{low}:{high}]"


def truncate(path: Path, rng: np.random.Generator) -> str:
    size = path.stat().st_size
    at = int(rng.integers(0, max(1, size)))
    with open(path, "r+b") as stream:
        stream.truncate(at)
    return f"{path.name} cut at byte {at} of {size}"


def _pixel_offset(path: Path) -> int:
    data = path.read_bytes()
    at = data.rfind(b"\xe0\x7f\x10\x00")
    return at if at > 0 else len(data) // 2


def dicom_flip(folder: Path, rng: np.random.Generator) -> str:
    files = _series_files(folder)
    path = files[int(rng.integers(len(files)))]
    offset = _pixel_offset(path)
    return flip_bytes(path, rng, 128, offset) if rng.random() < 0.7 else flip_bytes(path, rng, offset)


def dicom_truncate(folder: Path, rng: np.random.Generator) -> str:
    files = _series_files(folder)
    return truncate(files[int(rng.integers(len(files)))], rng)


# --- NIfTI, NRRD, MetaImage damage ----------------------------------------------------------------

NIFTI_FIELDS = {  # name: (offset, struct code, count)
    "sizeof_hdr": (0, "i", 1), "dim": (40, "h", 4), "datatype": (70, "h", 1), "bitpix": (72, "h", 1),
    "pixdim": (76, "f", 4), "vox_offset": (108, "f", 1), "scl_slope": (112, "f", 1), "scl_inter": (116, "f", 1),
    "qform_code": (252, "h", 1), "sform_code": (254, "h", 1), "quatern": (256, "f", 6), "srow": (280, "f", 12),
}
BAD_NUMBERS = [0.0, -1.0, float("nan"), float("inf"), 1e30, -1e30, 32767.0, 3.0, 2.0 ** 31]


def _bad_number(code: str, rng: np.random.Generator) -> float | int:
    value = BAD_NUMBERS[int(rng.integers(len(BAD_NUMBERS)))]
    if code == "f":
        return value
    limit = 2 ** 15 - 1 if code == "h" else 2 ** 31 - 1
    return int(max(-limit - 1, min(limit, value))) if np.isfinite(value) else int(rng.integers(-limit, limit))


def nifti_field(path: Path, rng: np.random.Generator) -> str:
    compressed = path.name.endswith(".gz")
    data = bytearray(gzip.decompress(path.read_bytes()) if compressed else path.read_bytes())
    name = list(NIFTI_FIELDS)[int(rng.integers(len(NIFTI_FIELDS)))]
    offset, code, count = NIFTI_FIELDS[name]
    index = int(rng.integers(count))
    value = _bad_number(code, rng)
    struct.pack_into(f"<{code}", data, offset + index * struct.calcsize(code), value)
    path.write_bytes(gzip.compress(bytes(data)) if compressed else bytes(data))
    return f"{name}[{index}]={value!r}"


def gzip_damage(path: Path, rng: np.random.Generator) -> str:
    return truncate(path, rng) if rng.random() < 0.6 else flip_bytes(path, rng, 10)


HEADER_LIES = {
    "nrrd": {"sizes": ["0 6 4", "-8 6 4", "100000 100000 100000", "8 6", "8 6 4 2", "a b c", "8 6 400"],
             "space directions": ["(0,0,0) (0,0.8,0) (0,0,2.5)", "(nan,0,0) (0,0.8,0) (0,0,2.5)",
                                  "(1e30,0,0) (0,1e30,0) (0,0,1e30)", "(1,0,0) (1,0,0) (0,0,2.5)", "none"],
             "type": ["double", "garbage", "uchar", "int64"], "encoding": ["gzip", "bzip2", "ascii", "hex"],
             "dimension": ["2", "4", "0", "-1"], "space origin": ["(nan,0,0)", "(1e308,0,0)", "garbage"],
             "endian": ["big"], "data file": ["missing.raw", "/dev/zero", ""]},
    "mhd": {"DimSize": ["0 6 5", "-8 6 5", "100000 100000 100000", "20 16", "a b c", "20 16 500"],
            "ElementSpacing": ["0 0 0", "-1 0.8 2.5", "nan 0.8 2.5", "1e30 1e30 1e30"],
            "ElementType": ["MET_DOUBLE", "MET_GARBAGE", "MET_UCHAR"], "NDims": ["2", "4", "0"],
            "TransformMatrix": ["0 0 0 0 0 0 0 0 0", "1 0 0 1 0 0 0 0 1", "nan 0 0 0 1 0 0 0 1"],
            "Offset": ["nan 0 0", "1e308 0 0"], "ElementDataFile": ["missing.raw", "LOCAL", "/dev/zero"],
            "CompressedData": ["True"], "HeaderSize": ["-1", "100000000"], "BinaryDataByteOrderMSB": ["True"]},
}


def header_lie(path: Path, rng: np.random.Generator) -> str:
    """One header field of a NRRD or MetaImage file set to a lie (or its line removed)."""
    kind = "nrrd" if path.suffix in (".nrrd", ".nhdr") else "mhd"
    separator = ": " if kind == "nrrd" else " = "
    data = path.read_bytes()
    end = data.find(b"\n\n") if kind == "nrrd" and path.suffix == ".nrrd" else -1
    if kind == "mhd" and path.suffix == ".mha":
        end = data.find(b"ElementDataFile = LOCAL\n") + len(b"ElementDataFile = LOCAL\n")
    header, body = (data[:end], data[end:]) if end > 0 else (data, b"")
    lines = header.decode("latin-1").split("\n")
    field = list(HEADER_LIES[kind])[int(rng.integers(len(HEADER_LIES[kind])))]
    values = HEADER_LIES[kind][field]
    value = values[int(rng.integers(len(values)))]
    keep = [line for line in lines if not line.startswith(field + separator.rstrip())]
    removed = rng.random() < 0.15
    if not removed:
        at = next((n for n, line in enumerate(lines) if line.startswith(field)), len(keep) - 1)
        keep.insert(min(at, len(keep)), f"{field}{separator}{value}")
    path.write_bytes("\n".join(keep).encode("latin-1") + body)
    return f"{field} {'removed' if removed else '= ' + repr(value)} in {path.name}"


def data_truncate(path: Path, rng: np.random.Generator) -> str:
    raw = path.with_suffix(".raw")
    return truncate(raw if raw.exists() and rng.random() < 0.7 else path, rng)


# --- families and cases -------------------------------------------------------------------------

@dataclass(frozen=True)
class Family:
    """A kind of damage and the sources it applies to."""

    name: str
    sources: tuple[str, ...]
    damage: Callable[[Path, np.random.Generator], str]


DICOM_SOURCES = ("dicom_synthetic", "dicom_real")
FAMILIES = (
    Family("dicom-value", DICOM_SOURCES, dicom_value),
    Family("dicom-delete", DICOM_SOURCES, dicom_delete),
    Family("dicom-bytes", DICOM_SOURCES, dicom_flip),
    Family("dicom-truncate", DICOM_SOURCES, dicom_truncate),
    Family("nifti-header", ("synthetic.nii", "synthetic.nii.gz", "real.nii.gz"), nifti_field),
    Family("nifti-gzip", ("synthetic.nii.gz", "real.nii.gz"), gzip_damage),
    Family("nifti-truncate", ("synthetic.nii",), truncate),
    Family("nrrd-header", ("synthetic.nrrd", "synthetic.nhdr"), header_lie),
    Family("mhd-header", ("synthetic.mhd", "synthetic.mha"), header_lie),
    Family("image-data", ("synthetic.nrrd", "synthetic.nhdr", "synthetic.mhd", "synthetic.mha"), data_truncate),
)


@dataclass(frozen=True)
class Case:
    index: int
    family: str
    source: str
    damage: str
    path: Path


def make_case(index: int, seed: int, sources: dict[str, Path], work: Path) -> Case:
    """Case ``index`` of ``seed``: a damaged copy of one source in its own folder."""
    rng = np.random.default_rng([seed, index])
    family = FAMILIES[index % len(FAMILIES)]
    available = [s for s in family.sources if s in sources] or [s for s in DICOM_SOURCES if s in sources]
    source = available[int(rng.integers(len(available)))]
    path = copy_source(sources[source], work / f"case-{index:05d}")
    return Case(index, family.name, source, family.damage(path, rng), path)


# --- the oracle, in a worker process --------------------------------------------------------------


def judge(path: Path) -> dict[str, Any]:
    """Load ``path``: 'loaded' (a sane volume), 'refused' (a VolumeError naming the case) or a failure."""
    from noduleseg.core.errors import VolumeError
    from noduleseg.core.loader import load_volume

    case_folder = next(p for p in [path, *path.parents] if p.name.startswith("case-")).name
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            volume = load_volume(path)
    except VolumeError as error:
        outcome = "refused" if case_folder in str(error) else "failed: refusal does not name the file"
        return {"outcome": outcome, "detail": str(error)[:300], "seconds": time.perf_counter() - started}
    except Exception as error:  # noqa: BLE001 - any other exception is what the harness looks for
        return {"outcome": f"failed: {type(error).__name__}", "detail": str(error)[:300],
                "seconds": time.perf_counter() - started}
    spacing = np.asarray(volume.spacing, dtype=float)
    sane = (volume.hu.dtype == np.int16 and min(volume.hu.shape) >= 1 and volume.hu.ndim == 3
            and np.all(np.isfinite(spacing)) and np.all(spacing > 0)
            and np.all(np.isfinite(volume.origin)) and np.all(np.isfinite(volume.direction)))
    return {"outcome": "loaded" if sane else "failed: insane volume",
            "detail": f"shape {volume.hu.shape} spacing {volume.spacing}", "seconds": time.perf_counter() - started}


def _worker(connection: Any) -> None:
    import logging
    import os
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    logging.disable(logging.CRITICAL)  # skipped files are logged; the harness reads outcomes
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # ITK and GDCM print their complaints there
    while True:
        path = connection.recv()
        if path is None:
            return
        result = judge(Path(path))
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        connection.send(result)


class Worker:
    """A process that judges cases one at a time; replaced after a crash or a hang."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()

    def judge(self, path: Path, timeout_s: float) -> dict[str, Any]:
        self.connection.send(str(path))
        if self.connection.poll(timeout_s):
            try:
                return self.connection.recv()
            except EOFError:
                pass
        alive = self.process.is_alive()
        self.process.kill()
        return {"outcome": "failed: hang" if alive else f"failed: crash (exit {self.process.exitcode})",
                "detail": "", "seconds": timeout_s if alive else 0.0}

    def close(self) -> None:
        if self.process.is_alive():
            self.connection.send(None)
            self.process.join(5)


def run(cases: int, seed: int = 0, only: int | None = None, timeout_s: float = TIMEOUT_S,
        report: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Make and judge ``cases`` cases (or case ``only``); returns one record per case."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # dicom_factory
    records = []
    with tempfile.TemporaryDirectory(prefix="noduleseg-fuzz-") as folder:
        work = Path(folder)
        sources = make_sources(work / "sources")
        worker = Worker()
        for index in ([only] if only is not None else range(cases)):
            case = make_case(index, seed, sources, work / "cases")
            result = worker.judge(case.path, timeout_s)
            if result["outcome"].startswith("failed: crash") or result["outcome"] == "failed: hang":
                worker = Worker()
            records.append({"index": index, "family": case.family, "source": case.source, "damage": case.damage,
                            **result})
            if result["outcome"].startswith("failed"):
                report(f"case {index} ({case.family}, {case.source}, {case.damage}): {result['outcome']} "
                       f"{result['detail']}")
            shutil.rmtree(case.path.parent, ignore_errors=True)
        worker.close()
    return records


def summary(records: list[dict[str, Any]]) -> str:
    """Cases by family: loaded, refused, failed; the slowest case and the workers' peak memory."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        counts[record["family"]][record["outcome"].split(":")[0]] += 1
    lines = ["| family | cases | loaded | refused | failed |", "|---|---|---|---|---|"]
    for family, count in counts.items():
        lines.append(f"| {family} | {sum(count.values())} | {count['loaded']} | {count['refused']} | {count['failed']} |")
    slowest = max(records, key=lambda r: r["seconds"])
    peak = max((r.get("peak_rss_mb", 0.0) for r in records), default=0.0)
    lines.append(f"\nslowest: case {slowest['index']} ({slowest['family']}, {slowest['damage']}) "
                 f"{slowest['seconds']:.2f} s; worker peak RSS {peak:.0f} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case", type=int, default=None, help="replay one case")
    args = parser.parse_args(argv)
    started = time.monotonic()
    records = run(args.cases, args.seed, args.case)
    print(summary(records))
    failed = sum(r["outcome"].startswith("failed") for r in records)
    print(f"{len(records)} cases in {time.monotonic() - started:.0f} s, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
