"""Benchmark: click-to-segment latency, overhead over a bare forward pass, CLI peak memory.

Prints medians of seed-to-2D, seed-to-3D and a bare forward pass of the same network on the
same patch size (the baseline, measured in the same run), their ratio, and the peak resident
memory of ``noduleseg-segment`` on a 512x512x300 volume. Targets (issue 3, 2-core CPU):
seed-to-3D <= 0.5 s and seed-to-2D <= 50 ms for a 10 mm nodule, ratio <= 1.5, memory <= 1.5 GB.

Real nodules (issue 18, target: median seed-to-3D <= 0.5 s): every nodule of the three shared
whole scans and a seeded sample of the shared crops spread evenly over the size bands, each
clicked at its label voxel nearest the centroid. Per group: n, median and 90th percentile of
seed-to-3D, median forward passes and patches, and the median's ratio to a bare forward pass of
one patch timed alternately with it. Skipped, with the reason printed, without ``../shared/data``.

Model: ``--model DIR``; else the shipped one when present; otherwise the shipped architecture
with the transferred HED encoder and its decoder trained for a few dozen steps on synthetic
blobs (timing is representative, accuracy is not). Precision (bfloat16 or float32,
``core.precision``) is printed. Run: ``.venv/bin/python bench/bench_segment.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import SimpleITK as sitk
import torch

from noduleseg.core.errors import ModelError, SegmentationError
from noduleseg.core.loader import load_volume
from noduleseg.core.metrics import SIZE_BANDS, size_band
from noduleseg.core.model_io import InputSpec, LoadedModel, load_model, save_model
from noduleseg.core.precision import uses_bf16
from noduleseg.core.segment import segment_nodule, segment_slice
from noduleseg.core.transfer import load_transfer_weights
from noduleseg.core.unet import build_unet
from noduleseg.core.volume import Volume, image_like
from noduleseg.core.windowing import encode_channels
from noduleseg.training.evaluate import seed_near_centroid

SPACING = (0.7, 0.7, 1.25)
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LIDC, CROPS = SHARED / "lidc", SHARED / "lidc_crops"
SCANS = {"LIDC-IDRI-0001": "dicom", "LIDC-IDRI-0002": "LIDC-IDRI-0002_ct.nii.gz",
         "LIDC-IDRI-0003": "LIDC-IDRI-0003_ct.nii.gz"}
REPEATS_2D, REPEATS_3D = 15, 5
REPEATS_REAL = 3  # timed seed-to-3D runs per real nodule (after one warm-up that counts passes)
CROP_SAMPLE, CROP_RNG_SEED = 40, 18
REAL_TARGET_S = 0.5


def blob_trained_model(folder: Path, steps: int = 40) -> LoadedModel:
    """Shipped architecture, HED encoder, decoder trained briefly on bright discs in lung."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    spec = InputSpec()
    net = build_unet(load_transfer_weights())
    net.release([])
    net.train()
    optimiser = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=3e-3)
    rows, cols = np.mgrid[:spec.patch_px, :spec.patch_px]
    for _ in range(steps):
        hu = rng.normal(-840, 40, (12, spec.patch_px, spec.patch_px))
        masks = np.zeros(hu.shape, bool)
        for index in range(9):
            r, c = rng.uniform(8, spec.patch_px - 8, 2)
            masks[index] = (rows - r) ** 2 + (cols - c) ** 2 <= rng.uniform(3, 20) ** 2
        hu[masks] = rng.normal(30, 30, masks.sum())
        logits = net(torch.from_numpy(encode_channels(hu.astype(np.float32), spec.windows)))
        target = torch.from_numpy(masks[:, None].astype(np.float32))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    save_model(folder, net.eval(), {"version": "bench-blobs"}, spec, half=True)
    return load_model(folder)


def synthetic_chest(n_slices: int, nodules: list[tuple[tuple[int, int, int], float]]) -> Volume:
    """512x512 slices: soft-tissue body, two lungs (-850 HU, noisy), spherical nodules (ijk, mm)."""
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[:512, :512]
    plane = np.full((512, 512), -1000, np.int16)
    plane[((rows - 256) / 200) ** 2 + ((cols - 256) / 240) ** 2 <= 1] = 40
    for centre in (150, 362):
        plane[((rows - 250) / 160) ** 2 + ((cols - centre) / 90) ** 2 <= 1] = -850
    plane = plane + rng.normal(0, 25, plane.shape).astype(np.int16)
    hu = np.repeat(plane[None], n_slices, axis=0)
    for (i, j, k), diameter in nodules:
        r = diameter / 2
        box = tuple(slice(max(0, c - int(r / s) - 1), c + int(r / s) + 2)
                    for c, s in zip((k, j, i), SPACING[::-1]))
        z, y, x = np.mgrid[box]
        inside = ((z - k) * SPACING[2]) ** 2 + ((y - j) * SPACING[1]) ** 2 + ((x - i) * SPACING[0]) ** 2 <= r * r
        hu[box][inside] = 30
    return Volume(hu, SPACING, (-180.0, -180.0, -350.0))


def median_s(call, repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_medians_s(call, baseline, repeats: int) -> tuple[float, float]:
    """Medians of ``call`` and ``baseline`` timed alternately, so machine load hits both alike."""
    call(), baseline()
    times: list[list[float]] = [[], []]
    for _ in range(repeats):
        for index, function in enumerate((call, baseline)):
            start = time.perf_counter()
            function()
            times[index].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def bare_forward(model: LoadedModel) -> Callable[[], torch.Tensor]:
    """The baseline: one forward pass of one patch of the model's size."""
    x = torch.rand(1, 3, model.input.patch_px, model.input.patch_px)
    return lambda: model.net.predict(x)


def report_nodule(name: str, volume: Volume, seed: tuple[int, int, int], model: LoadedModel) -> None:
    try:
        nodule = segment_nodule(volume, seed, model)
    except SegmentationError as error:
        print(f"{name:28s} not segmented: {error}")
        return
    t2, forward = paired_medians_s(lambda: segment_slice(volume, seed, model),
                                   bare_forward(model), REPEATS_2D)
    t3 = median_s(lambda: segment_nodule(volume, seed, model), REPEATS_3D)
    m = nodule.measurements
    print(f"{name:24s} 2D {t2 * 1000:6.1f} ms  forward {forward * 1000:6.1f} ms  "
          f"ratio {t2 / forward:4.2f}  3D {t3:5.2f} s  (long axis {m.long_axis_mm:.1f} mm, "
          f"slices {m.k_first}-{m.k_last})")


def peak_memory_mb(model_dir: Path, scratch: Path) -> float:
    """Peak RSS of ``noduleseg-segment`` on a 512x512x300 scan with a 10 and a 30 mm nodule."""
    seeds = [((150, 250, 150), 10.0), ((362, 250, 100), 30.0)]
    volume = synthetic_chest(300, seeds)
    scan = scratch / "chest_512x512x300.nii.gz"
    sitk.WriteImage(image_like(volume.hu, volume), str(scan), useCompression=False)
    del volume
    script = Path(sys.executable).with_name("noduleseg-segment")
    command = [str(script), str(scan), "--out", str(scratch / "labels.nii.gz"),
               "--model", str(model_dir), "--overwrite"]
    for (i, j, k), _ in seeds:
        command += ["--seed", f"{i},{j},{k}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        print(f"noduleseg-segment failed: {result.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"noduleseg-segment on 512x512x300: {elapsed:.1f} s wall (load + model + 2 nodules + write)")
    return max(peak, before) / 1024.0


def lidc_cases() -> list[tuple[str, Path, tuple[int, int, int], float]]:
    cases = []
    for scan in ("LIDC-IDRI-0003", "LIDC-IDRI-0002"):
        table = LIDC / scan / f"{scan}_nodules.csv"
        if not table.exists():
            continue
        with open(table, newline="") as stream:
            for row in csv.DictReader(stream):
                seed = (int(row["center_i"]), int(row["center_j"]), int(row["center_k"]))
                cases.append((scan, LIDC / scan / f"{scan}_ct.nii.gz", seed, float(row["diameter_mm"])))
    return cases


# --- real nodules (issue 18) ---------------------------------------------------------------


class RealCase(NamedTuple):
    name: str
    volume: Volume
    seed_ijk: tuple[int, int, int]


class CaseTime(NamedTuple):
    """One nodule: median seed-to-3D, the bare forwards timed beside it, passes, patches, found."""

    seconds: float
    forward_s: list[float]
    passes: int
    patches: int
    found: bool


def read_labels(path: Path, volume: Volume) -> np.ndarray | None:
    """A label map (z, y, x) on ``volume``'s grid, or None (printed) where its shape differs."""
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    if labels.shape != volume.shape_zyx:
        print(f"{path.name}: labels {labels.shape} do not match the scan {volume.shape_zyx}; skipped")
        return None
    return labels


def scan_cases() -> Iterator[RealCase]:
    """Every labelled nodule of the shared whole scans, one scan loaded at a time."""
    for scan, image in SCANS.items():
        volume = load_volume(LIDC / scan / image)
        labels = read_labels(LIDC / scan / f"{scan}_nodules.nii.gz", volume)
        for label in ([] if labels is None else np.unique(labels)[1:]):
            seed = seed_near_centroid(labels == label, volume.spacing_zyx)
            yield RealCase(f"{scan} nodule {label}", volume, seed)


def crop_sample(count: int) -> list[dict[str, str]]:
    """``count`` rows of crops.csv, an equal seeded share from each size band."""
    with open(CROPS / "crops.csv", newline="") as stream:
        rows = sorted(csv.DictReader(stream), key=lambda row: row["crop"])
    rng = np.random.default_rng(CROP_RNG_SEED)
    chosen = []
    for _, _, band in SIZE_BANDS:
        in_band = [row for row in rows if size_band(float(row["diameter_mm"])) == band]
        picks = rng.choice(len(in_band), size=min(count // len(SIZE_BANDS), len(in_band)), replace=False)
        chosen += [in_band[index] for index in sorted(picks)]
    return chosen


def crop_case(row: dict[str, str]) -> RealCase | None:
    """A crop clicked at its nodule (label 1) voxel nearest the centroid."""
    volume = load_volume(CROPS / "crops" / f"{row['crop']}_ct.nii.gz")
    labels = read_labels(CROPS / "crops" / f"{row['crop']}_label.nii.gz", volume)
    if labels is None or not (labels == 1).any():
        return None
    return RealCase(row["crop"], volume, seed_near_centroid(labels == 1, volume.spacing_zyx))


@contextlib.contextmanager
def counted_passes(net: torch.nn.Module) -> Iterator[list[int]]:
    """[forward passes, patches] through ``net`` while the block runs (a forward hook)."""
    counts = [0, 0]

    def count(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        counts[0] += 1
        counts[1] += int(inputs[0].shape[0])

    handle = net.register_forward_hook(count)
    try:
        yield counts
    finally:
        handle.remove()


def time_case(case: RealCase, model: LoadedModel, forward: Callable[[], torch.Tensor]) -> CaseTime:
    """Seed-to-3D of one nodule timed alternately with the bare forward pass; a miss is timed too
    (the user waits for it as well)."""
    def segment() -> bool:
        try:
            segment_nodule(case.volume, case.seed_ijk, model)
        except SegmentationError:
            return False
        return True

    with counted_passes(model.net) as counts:
        found = segment()  # warm-up
    times: list[list[float]] = [[], []]
    for _ in range(REPEATS_REAL):
        for index, function in enumerate((segment, forward)):
            start = time.perf_counter()
            function()
            times[index].append(time.perf_counter() - start)
    return CaseTime(statistics.median(times[0]), times[1], counts[0], counts[1], found)


def report_group(name: str, cases: list[CaseTime]) -> None:
    if not cases:
        print(f"{name:24s} no cases")
        return
    seconds = [case.seconds for case in cases]
    forward = statistics.median([t for case in cases for t in case.forward_s])
    median, p90 = statistics.median(seconds), float(np.percentile(seconds, 90))
    print(f"{name:24s} n {len(cases):3d}  3D median {median:5.2f} s  p90 {p90:5.2f} s  "
          f"passes {statistics.median(c.passes for c in cases):4.1f}  "
          f"patches {statistics.median(c.patches for c in cases):5.1f}  forward {forward * 1000:5.1f} ms  "
          f"ratio {median / forward:5.1f}  missed {sum(not c.found for c in cases)}")


def report_real(model: LoadedModel, crop_count: int) -> None:
    """Seed-to-3D on the shared whole scans' nodules and a sample of crops, per group."""
    if not LIDC.is_dir() or not (CROPS / "crops.csv").is_file():
        print(f"real nodules: skipped, shared data not found ({LIDC} and {CROPS / 'crops.csv'})")
        return
    print(f"real nodules: seed-to-3D clicked at the label voxel nearest the centroid, median of "
          f"{REPEATS_REAL} runs each after a warm-up; passes/patches per nodule (medians); forward = bare "
          f"forward of one patch timed alternately; ratio = 3D median / forward; "
          f"target: median <= {REAL_TARGET_S} s")
    forward = bare_forward(model)
    report_group("whole scans", [time_case(case, model, forward) for case in scan_cases()])
    by_band: dict[str, list[CaseTime]] = {band: [] for _, _, band in SIZE_BANDS}
    for row in crop_sample(crop_count):
        case = crop_case(row)
        if case is not None:
            by_band[size_band(float(row["diameter_mm"]))].append(time_case(case, model, forward))
    report_group(f"crops (seed {CROP_RNG_SEED})", [t for times in by_band.values() for t in times])
    for band, times in by_band.items():
        report_group(f"  crops {band}", times)


def choose_model(folder: Path | None, scratch: Path) -> LoadedModel:
    """The model at ``folder``; else the shipped one; else one trained briefly on blobs."""
    if folder is not None:
        model = load_model(folder)
        print(f"model: {folder}, version {model.version}")
        return model
    try:
        model = load_model(None)
        print(f"model: shipped, version {model.version}")
    except ModelError:
        model = blob_trained_model(scratch / "model")
        print("model: NO shipped model; shipped architecture with transferred HED encoder, "
              "decoder trained 40 steps on synthetic blobs (timing only)")
    return model


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, metavar="DIR", help="model folder (default: the shipped model)")
    parser.add_argument("--crops", type=int, default=CROP_SAMPLE, metavar="N",
                        help=f"crops sampled for the real-nodule section, split over the size bands "
                             f"(default {CROP_SAMPLE})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    precision = "bfloat16" if uses_bf16(torch.device("cpu")) else "float32"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, precision {precision}")
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        try:
            model = choose_model(args.model, scratch)
        except ModelError as error:
            print(f"--model {args.model}: {error}")
            return 1
        print(f"input: patch {model.input.patch_px} px, scales {model.input.mm_per_px} mm/px")
        print("2D = seed-to-2D, forward = bare forward of one patch (baseline, timed alternately "
              "with 2D), ratio = 2D / forward, 3D = seed-to-3D; medians")
        nodules = [((150, 250, 60), 10.0), ((362, 250, 60), 30.0)]
        volume = synthetic_chest(120, nodules)
        for (seed, diameter) in nodules:
            report_nodule(f"synthetic {diameter:.0f} mm", volume, seed, model)
        scans: dict[Path, Volume] = {}
        for scan, path, seed, diameter in lidc_cases():
            scans.setdefault(path, load_volume(path))
            report_nodule(f"{scan} {diameter:.1f} mm", scans[path], seed, model)
        if not scans:
            print("shared LIDC data not found: synthetic volumes only")
        scans.clear()
        report_real(model, args.crops)
        folder = model.folder if model.folder is not None else scratch / "model"
        print(f"peak memory: {peak_memory_mb(folder, scratch):.0f} MB (target <= 1536 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
