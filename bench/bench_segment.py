"""Benchmark: click-to-segment latency, overhead over a bare forward pass, CLI peak memory.

Prints medians of seed-to-2D, seed-to-3D and a bare forward pass of the same network on the
same patch size (the baseline, measured in the same run), their ratio, and the peak resident
memory of ``noduleseg-segment`` on a 512x512x300 volume. Targets (issue 3, 2-core CPU):
seed-to-3D <= 0.5 s and seed-to-2D <= 50 ms for a 10 mm nodule, ratio <= 1.5, memory <= 1.5 GB.

Model: the shipped one when present; otherwise the shipped architecture with the transferred
HED encoder and its decoder trained for a few dozen steps on synthetic blobs (timing is
representative, accuracy is not). Run: ``.venv/bin/python bench/bench_segment.py``.
"""

from __future__ import annotations

import csv
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from noduleseg.core.errors import ModelError, SegmentationError
from noduleseg.core.loader import load_volume
from noduleseg.core.model_io import InputSpec, LoadedModel, load_model, save_model
from noduleseg.core.segment import segment_nodule, segment_slice
from noduleseg.core.transfer import load_transfer_weights
from noduleseg.core.unet import build_unet
from noduleseg.core.volume import Volume, image_like
from noduleseg.core.windowing import encode_channels

SPACING = (0.7, 0.7, 1.25)
LIDC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lidc"
REPEATS_2D, REPEATS_3D = 15, 5


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


def report_nodule(name: str, volume: Volume, seed: tuple[int, int, int], model: LoadedModel) -> None:
    try:
        nodule = segment_nodule(volume, seed, model)
    except SegmentationError as error:
        print(f"{name:28s} not segmented: {error}")
        return
    x = torch.rand(1, 3, model.input.patch_px, model.input.patch_px)
    t2, forward = paired_medians_s(lambda: segment_slice(volume, seed, model),
                                   lambda: model.net.predict(x), REPEATS_2D)
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


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        try:
            model = load_model(None)
            print(f"model: shipped, version {model.version}")
        except ModelError:
            model = blob_trained_model(scratch / "model")
            print("model: NO shipped model; shipped architecture with transferred HED encoder, "
                  "decoder trained 40 steps on synthetic blobs (timing only)")
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
        folder = model.folder if model.folder is not None else scratch / "model"
        print(f"peak memory: {peak_memory_mb(folder, scratch):.0f} MB (target <= 1536 MB)")


if __name__ == "__main__":
    main()
