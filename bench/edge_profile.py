"""Where a nodule mask's edge lies in density: the shared scans' real LIDC masks against simulated ones.

For each nodule the density is normalised between the lung around it (0: median HU of an in-plane
ring 3 to 5 pixels outside the mask, at most -700) and the nodule (1: the 75th percentile of HU inside
it, at most 100). Printed per nodule, as medians: the second and first in-plane pixel rings inside
the mask's edge, the first and second outside it, and the mask's end slices. A simulator whose edge
matches the readers' has the same figures as the real masks (``training/synthetic.py``).

Run: .venv/bin/python bench/edge_profile.py [--data ../shared/data] [--simulated 24]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from noduleseg.core.loader import load_volume
from noduleseg.training.api import DEFAULT_SHAPES
from noduleseg.training.data import TrainCase
from noduleseg.training.synthetic import ShapeLibrary, simulate_case

SCANS = {"LIDC-IDRI-0001": "dicom", "LIDC-IDRI-0002": "LIDC-IDRI-0002_ct.nii.gz",
         "LIDC-IDRI-0003": "LIDC-IDRI-0003_ct.nii.gz"}
COLUMNS = ("inside 2", "inside 1", "outside 1", "outside 2", "end slices")
IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
IN_PLANE[1] = ndimage.generate_binary_structure(2, 1)


def ring(mask: np.ndarray, near: int, far: int) -> np.ndarray:
    """In-plane pixels at least ``near`` and fewer than ``far`` steps outside (negative: inside)."""
    def grow(steps: int) -> np.ndarray:
        if steps == 0:
            return mask
        if steps > 0:
            return ndimage.binary_dilation(mask, IN_PLANE, iterations=steps)
        return ndimage.binary_erosion(mask, IN_PLANE, iterations=-steps)
    return grow(far - 1) & ~grow(near - 1)


def edge_profile(hu: np.ndarray, mask: np.ndarray) -> tuple[float, ...]:
    """Normalised median density of the rings of ``COLUMNS`` around one nodule's mask."""
    box = tuple(slice(max(0, s.start - 8), s.stop + 8) for s in ndimage.find_objects(mask.astype(np.uint8))[0])
    values, inside = hu[box].astype(np.float64), mask[box]
    lung = min(float(np.median(values[ring(inside, 3, 6)])), -700.0)
    core = min(float(np.percentile(values[inside], 75.0)), 100.0)
    slices = np.flatnonzero(inside.any(axis=(1, 2)))
    ends = np.zeros_like(inside)
    ends[[slices[0], slices[-1]]] = inside[[slices[0], slices[-1]]]
    rings = (ring(inside, -1, 0), ring(inside, 0, 1), ring(inside, 1, 2), ring(inside, 2, 3), ends)
    return tuple(float(np.median((values[r] - lung) / (core - lung))) for r in rings)


def row(name: str, figures: tuple[float, ...]) -> str:
    return f"| {name} | " + " | ".join(f"{v:.2f}" for v in figures) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_SHAPES.parent, help="the shared data folder")
    parser.add_argument("--simulated", type=int, default=24, help="simulated nodules, 5-20 mm")
    args = parser.parse_args(argv)
    print("| nodule | " + " | ".join(COLUMNS) + " |\n|---|" + "---|" * len(COLUMNS))
    for scan, image in SCANS.items():
        folder = args.data / "lidc" / scan
        volume = load_volume(folder / image)
        labels = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / f"{scan}_nodules.nii.gz")))
        for label in np.unique(labels)[1:]:
            print(row(f"{scan} real {label}", edge_profile(volume.hu, labels == label)), flush=True)
    folder = args.data / "lidc" / "LIDC-IDRI-0002"
    volume = load_volume(folder / SCANS["LIDC-IDRI-0002"])
    empty = TrainCase("sim", "sim", volume, np.zeros(volume.shape_zyx, dtype=np.uint8))
    library = ShapeLibrary.load(args.data / "shapes")
    case, placed = simulate_case(empty, args.simulated, library, (5.0, 20.0), np.random.default_rng(5))
    figures = np.array([edge_profile(case.volume.hu, case.labels == p["label"]) for p in placed])
    print(row(f"simulated in LIDC-IDRI-0002, median of {len(placed)}", tuple(np.median(figures, axis=0))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
