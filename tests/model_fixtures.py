"""A real (tiny, quickly trained) model for inference tests, as a pytest plugin.

``blob_model`` is a BsftUNet with a small decoder, its encoder transferred from HED when the
converted weights are cached (random otherwise), trained for a few seconds to segment bright
blobs (discs of soft tissue) in lung-like noise. It is real inference, not a mock: it has to
find the blob, and it answers nothing on empty lung.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from noduleseg.core.errors import ModelError
from noduleseg.core.model_io import InputSpec, LoadedModel, load_model, save_model
from noduleseg.core.transfer import load_transfer_weights
from noduleseg.core.unet import build_unet
from noduleseg.core.windowing import encode_channels

TINY_SPEC = InputSpec(patch_px=32, mm_per_px=(1.0, 2.0))
TINY_DECODER = (32, 16, 16, 8)


def blob_batch(rng: np.random.Generator, n: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patches of lung noise with 0-2 bright discs (a quarter empty) and their masks."""
    hu = rng.normal(-840.0, 40.0, (n, size, size))
    masks = np.zeros((n, size, size), bool)
    rows, cols = np.mgrid[:size, :size]
    for index in range(n):
        for _ in range(rng.choice([0, 1, 1, 2])):
            radius = rng.uniform(1.5, 10.0)
            r, c = rng.uniform(2, size - 2, 2)
            masks[index] |= (rows - r) ** 2 + (cols - c) ** 2 <= radius ** 2
    hu[masks] = rng.normal(30.0, 30.0, masks.sum())
    return hu.astype(np.float32), masks


def train_blob_model(folder: Path, steps: int = 40, seed: int = 0) -> Path:
    """Train the tiny decoder on blobs and save a model folder."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    try:
        transfer = load_transfer_weights()
    except ModelError:
        transfer = None
    net = build_unet(transfer, decoder_widths=TINY_DECODER)
    net.release([])
    net.train()
    optimiser = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=3e-3)
    for _ in range(steps):
        hu, masks = blob_batch(rng, 16)
        x = torch.from_numpy(encode_channels(hu, TINY_SPEC.windows))
        target = torch.from_numpy(masks[:, None].astype(np.float32))
        logits = net(x)
        probability = torch.sigmoid(logits)
        dice = 1 - (2 * (probability * target).sum() + 1) / (probability.sum() + target.sum() + 1)
        loss = F.binary_cross_entropy_with_logits(logits, target) + dice
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    card = {"version": "test-blobs", "transfer": "hed" if transfer is not None else "random"}
    return save_model(folder, net.eval(), card, TINY_SPEC, half=False)


@pytest.fixture(scope="session")
def blob_model(tmp_path_factory) -> LoadedModel:
    """The tiny blob-segmenting model, trained once per test session."""
    return load_model(train_blob_model(tmp_path_factory.mktemp("blob_model")))
