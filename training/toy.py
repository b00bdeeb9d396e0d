"""Tiny synthetic data sets (spheres in lung HU, a vessel, a chest wall) for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noduleseg.core.cases import write_case
from noduleseg.core.volume import Volume

TOY_SHAPE = (24, 64, 64)
TOY_SPACING = (0.7, 0.7, 1.25)  # x, y, z


def toy_case(seed: int, n_nodules: int = 1, shape: tuple[int, int, int] = TOY_SHAPE) -> tuple[Volume, np.ndarray]:
    """A lung-like HU volume with ``n_nodules`` solid spheres (labels 1..n), a vessel and a wall."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    hu = rng.normal(-850, 20, shape)
    hu[:, :, : shape[2] // 8] = 40  # chest wall along one side
    vessel_row = shape[1] // 4 + int(rng.integers(-3, 4))
    hu[(y - vessel_row) ** 2 + (z - shape[0] // 2) ** 2 <= 4] = 30  # a vessel along x
    labels = np.zeros(shape, np.uint8)
    for label in range(1, n_nodules + 1):
        radius = rng.uniform(3.0, 5.0)
        centre = (rng.uniform(radius + 2, shape[0] - radius - 2) if shape[0] > 2 * radius + 4 else shape[0] / 2,
                  rng.uniform(shape[1] / 2, shape[1] - radius - 3), rng.uniform(shape[2] / 3, shape[2] - radius - 3))
        sphere = ((z - centre[0]) * 1.25) ** 2 + ((y - centre[1]) * 0.7) ** 2 + ((x - centre[2]) * 0.7) ** 2 <= (radius * 0.7) ** 2 * 1.0
        sphere &= labels == 0
        hu[sphere] = rng.uniform(0, 60)
        labels[sphere] = label
    volume = Volume(np.rint(hu).astype(np.int16), spacing=TOY_SPACING, origin=(-20.0, 10.0, -100.0))
    return volume, labels


def write_toy_dataset(folder: str | Path, n_cases: int = 3, seed: int = 0, n_nodules: int = 1) -> Path:
    """A data set of ``n_cases`` toy cases (one patient each) in the nnU-Net raw layout."""
    folder = Path(folder)
    for index in range(n_cases):
        volume, labels = toy_case(seed * 1000 + index, n_nodules)
        write_case(folder, f"toy{index:03d}", volume, labels, {"patient_id": f"patient{index:03d}"})
    return folder
