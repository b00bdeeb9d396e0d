"""Simulated nodules: real LIDC nodule shapes placed into the lung parenchyma of a scan.

Each shape (``shared/data/shapes``: packbits masks with their own voxel spacing) is resampled
to the scan's spacing, placed where the lung is aerated and no nodule is near, and filled with
the HU of its texture class (solid, part-solid, ground-glass) plus texture noise, blended in
with a smooth boundary. The label map gains one new label per simulated nodule, so a simulated
nodule in a validation scan validates.

The boundary follows how LIDC readers outline a nodule: their outline runs on the first pixels
outside it, so the 50%-consensus mask's edge voxels are partial-volume voxels at about half the
nodule's density, not solid nodule. The density therefore fades across the mask's edge as a
normal CDF of the signed distance to it (``EDGE_INSET_MM``, ``EDGE_SIGMA_MM``), measured against
the shared scans' real nodules (``bench/edge_profile.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage, special

from noduleseg.core.errors import DatasetError

from .data import TrainCase
from .lung import lung_mask, parenchyma_voxels
from .sampling import away_from_nodules

SHAPES_NPZ, SHAPES_JSON = "lidc_nodule_shapes.npz", "lidc_nodule_shapes.json"
# (texture class, share of simulated nodules, LIDC texture range, HU range of the fill)
TEXTURES = (("solid", 0.5, (4.5, 5.0), (-50.0, 60.0)),
            ("part-solid", 0.25, (2.5, 4.5), (-650.0, -450.0)),
            ("ground-glass", 0.25, (1.0, 2.5), (-700.0, -400.0)))
SOLID_CORE_HU = (-50.0, 40.0)
# The density reaches half the nodule's this far inside the mask edge, and fades over this width.
EDGE_INSET_MM = 0.9
EDGE_SIGMA_MM = 1.3


@dataclass(frozen=True, eq=False)
class ShapeLibrary:
    """The shared nodule shapes: packed masks and one metadata dict per shape."""

    packed: np.ndarray
    offsets: np.ndarray
    shapes: np.ndarray
    meta: tuple[dict, ...]

    @classmethod
    def load(cls, folder: str | Path) -> "ShapeLibrary":
        folder = Path(folder)
        try:
            arrays = np.load(folder / SHAPES_NPZ)
            meta = tuple(json.loads((folder / SHAPES_JSON).read_text()))
        except (OSError, ValueError) as error:
            raise DatasetError(f"{folder}: cannot read the nodule shape library ({error})") from None
        return cls(arrays["packed"], arrays["offsets"], arrays["shapes"], meta)

    def mask(self, index: int) -> np.ndarray:
        shape = tuple(int(v) for v in self.shapes[index])
        bits = np.unpackbits(self.packed[self.offsets[index]:self.offsets[index + 1]])
        return bits[: int(np.prod(shape))].reshape(shape).astype(bool)

    def choose(self, rng: np.random.Generator, diameter_mm: tuple[float, float]) -> tuple[int, str, tuple]:
        """A random shape in the diameter range: (index, texture class, fill HU range)."""
        shares = np.array([t[1] for t in TEXTURES])
        order = rng.choice(len(TEXTURES), size=len(TEXTURES), replace=False, p=shares / shares.sum())
        for kind in order:
            name, _, (t_low, t_high), hu_range = TEXTURES[kind]
            picks = [i for i, m in enumerate(self.meta)
                     if diameter_mm[0] <= m["diameter_mm"] <= diameter_mm[1]
                     and t_low <= (m.get("texture") or 5.0) <= t_high]
            if picks:
                return int(rng.choice(picks)), name, hu_range
        raise DatasetError(f"no nodule shape between {diameter_mm[0]} and {diameter_mm[1]} mm in the library")


def resample_mask(mask: np.ndarray, spacing_from: Sequence[float], spacing_to: Sequence[float]) -> np.ndarray:
    """A mask moved from one voxel spacing (z, y, x) to another (linear, then >= 0.5)."""
    factors = [a / b for a, b in zip(spacing_from, spacing_to)]
    values = ndimage.zoom(mask.astype(np.float32), factors, order=1, grid_mode=True, mode="grid-constant")
    threshold = min(0.5, 0.5 * float(values.max())) if values.max() > 0 else 0.5
    return values >= max(threshold, 1e-6)


def fill_hu(mask: np.ndarray, kind: str, hu_range: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """The nodule's HU inside ``mask``: texture-class level, a solid core if part-solid, noise."""
    level = rng.uniform(*hu_range)
    texture = ndimage.gaussian_filter(rng.normal(0.0, 1.0, mask.shape), 1.0)
    fill = level + texture / (texture.std() + 1e-6) * rng.uniform(15.0, 40.0)
    if kind == "part-solid":
        depth = ndimage.distance_transform_edt(mask)
        core = depth >= max(1.0, 0.5 * depth.max())
        fill = np.where(core, rng.uniform(*SOLID_CORE_HU) + texture * 20.0, fill)
    return fill.astype(np.float32)


def edge_alpha(mask: np.ndarray, spacing_zyx: Sequence[float]) -> np.ndarray:
    """The nodule's share of each voxel of ``mask``'s box: a normal CDF of the signed distance
    (mm, positive inside) to the mask's edge, half at ``EDGE_INSET_MM`` inside it."""
    depth = ndimage.distance_transform_edt(mask, sampling=spacing_zyx)
    outside = ndimage.distance_transform_edt(~mask, sampling=spacing_zyx)
    signed = np.where(mask, depth, -outside)
    return (0.5 * (1.0 + special.erf((signed - EDGE_INSET_MM) / (EDGE_SIGMA_MM * np.sqrt(2.0))))).astype(np.float32)


def paint(hu: np.ndarray, labels: np.ndarray, corner: tuple[int, int, int], mask: np.ndarray, fill: np.ndarray,
          label: int, kind: str, rng: np.random.Generator, spacing_zyx: Sequence[float]) -> None:
    """Blend a nodule into ``hu`` at ``corner`` with a partial-volume edge; label its voxels."""
    box = tuple(slice(c, c + n) for c, n in zip(corner, mask.shape))
    alpha = edge_alpha(mask, spacing_zyx)
    old = hu[box].astype(np.float32)
    new = old * (1 - alpha) + fill * alpha + rng.normal(0.0, 10.0, mask.shape) * (alpha > 0.05)
    if kind != "solid":  # vessels stay visible through ground glass
        new = np.maximum(new, old)
    hu[box] = np.clip(np.rint(new), -1024, 3071).astype(hu.dtype)
    labels[box][mask] = label


def _fits(hu: np.ndarray, labels: np.ndarray, corner: np.ndarray, mask: np.ndarray) -> bool:
    if np.any(corner < 0) or np.any(corner + mask.shape > np.asarray(hu.shape)):
        return False
    box = tuple(slice(c, c + n) for c, n in zip(corner, mask.shape))
    grown = ndimage.binary_dilation(mask, iterations=2)
    return not labels[box][grown].any() and float(np.mean(hu[box][mask] < -600)) >= 0.85


def simulate_case(case: TrainCase, count: int, library: ShapeLibrary, diameter_mm: tuple[float, float],
                  rng: np.random.Generator) -> tuple[TrainCase, list[dict]]:
    """``case`` with up to ``count`` simulated nodules (fewer where the lung has no room)."""
    hu, labels = case.volume.hu.copy(), case.labels.copy()
    spacing = case.volume.spacing_zyx
    places = parenchyma_voxels(hu, lung_mask(hu, spacing))
    places = away_from_nodules(places, labels, spacing, margin_mm=10.0)
    placed: list[dict] = []
    for _ in range(count * 4):
        if len(placed) >= count or not len(places) or labels.max() >= 255:
            break
        index, kind, hu_range = library.choose(rng, diameter_mm)
        meta = library.meta[index]
        mask = resample_mask(library.mask(index), meta["spacing_zyx"], spacing)
        mask = np.rot90(mask, int(rng.integers(4)), axes=(1, 2))
        corner = places[rng.integers(len(places))] - np.asarray(mask.shape) // 2
        if not mask.any() or not _fits(hu, labels, corner, mask):
            continue
        label = int(labels.max()) + 1
        paint(hu, labels, tuple(int(c) for c in corner), mask, fill_hu(mask, kind, hu_range, rng), label, kind, rng,
              spacing)
        centre = np.argwhere(labels == label).mean(axis=0)
        placed.append({"case": case.case_id, "label": label, "texture": kind, "shape_index": index,
                       "diameter_mm": round(float(meta["diameter_mm"]), 2),
                       "center_kji": [round(float(v), 1) for v in centre]})
    volume = case.volume.with_hu(hu)
    synthetic = tuple(p["label"] for p in placed)
    return replace(case, volume=volume, labels=labels, synthetic=case.synthetic + synthetic), placed


def simulate(cases: Sequence[TrainCase], total: int, library: ShapeLibrary, diameter_mm: tuple[float, float],
             seed: int) -> tuple[list[TrainCase], list[dict]]:
    """Spread ``total`` simulated nodules over the whole scans among ``cases`` (round robin;
    crops have no room), deterministically."""
    hosts = [n for n, case in enumerate(cases) if not case.is_crop]
    counts = dict(zip(hosts, [total // len(hosts) + (n < total % len(hosts)) for n in range(len(hosts))])) if hosts else {}
    result, placed = [], []
    for index, case in enumerate(cases):
        count = counts.get(index, 0)
        rng = np.random.default_rng([seed, index, 31])
        new_case, new_placed = simulate_case(case, count, library, diameter_mm, rng) if count else (case, [])
        result.append(new_case)
        placed += new_placed
    return result, placed
