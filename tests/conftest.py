"""Shared fixtures: small synthetic volumes, and the shared LIDC data where it exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from noduleseg.core.volume import Volume

# The tiny trained model for inference tests (tests/model_fixtures.py).
pytest_plugins = ["model_fixtures"]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; the test is skipped where it is absent."""
    if not (SHARED_DATA / "lidc").is_dir():
        pytest.skip(f"shared LIDC data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def sphere_volume() -> Volume:
    """32x64x64 HU volume: lung (-850 HU) with one 5-voxel-radius solid sphere (40 HU)."""
    z, y, x = np.mgrid[:32, :64, :64]
    hu = np.full((32, 64, 64), -850, dtype=np.int16)
    hu[(z - 16) ** 2 + (y - 32) ** 2 + (x - 30) ** 2 <= 25] = 40
    return Volume(hu, spacing=(0.7, 0.7, 1.25), origin=(-20.0, 10.0, -100.0))
