"""HU windows: display presets and the model's input channels. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """A window/level pair in HU: voxels in [center - width/2, center + width/2] span 0..1."""

    name: str
    center: float
    width: float

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2


LUNG = Window("lung", -600, 1500)
MEDIASTINUM = Window("mediastinum", 40, 400)
BONE = Window("bone", 300, 1500)
SOFT_TISSUE = Window("soft tissue", 50, 350)
DISPLAY_PRESETS: tuple[Window, ...] = (LUNG, MEDIASTINUM, BONE, SOFT_TISSUE)

# The model's three input channels (see the model card): lung, mediastinum and a narrow
# parenchyma window that separates ground-glass (-750..-300 HU) from aerated lung.
PARENCHYMA = Window("parenchyma", -650, 600)
MODEL_WINDOWS: tuple[Window, ...] = (LUNG, MEDIASTINUM, PARENCHYMA)
INPUT_WINDOWS = {w.name: w for w in (LUNG, MEDIASTINUM, PARENCHYMA, BONE, SOFT_TISSUE)}


def windows_named(names: tuple[str, ...]) -> tuple[Window, ...]:
    """The input windows called ``names`` (keys of ``INPUT_WINDOWS``), in order.

    Raises:
        KeyError: A name is not a known window.
    """
    return tuple(INPUT_WINDOWS[name] for name in names)


def apply_window(hu: np.ndarray, window: Window) -> np.ndarray:
    """HU -> float32 in [0, 1] through ``window``."""
    scaled = (np.asarray(hu, dtype=np.float32) - np.float32(window.low)) / np.float32(window.width)
    return np.clip(scaled, 0.0, 1.0, out=scaled)


def encode_channels(hu: np.ndarray, windows: tuple[Window, ...] = MODEL_WINDOWS) -> np.ndarray:
    """HU array (..., H, W) -> float32 (..., C, H, W), one channel per window."""
    return np.stack([apply_window(hu, w) for w in windows], axis=-3)


def encode_planes(hu: np.ndarray, windows: tuple[Window, ...]) -> np.ndarray:
    """HU planes (..., C, H, W) -> float32 (..., C, H, W), plane c through ``windows[c]``."""
    return np.stack([apply_window(hu[..., c, :, :], w) for c, w in enumerate(windows)], axis=-3)
