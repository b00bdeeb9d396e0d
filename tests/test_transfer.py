"""The transfer source is real: HED's converted weights find edges in a natural photograph.

The same network with random weights is the baseline; both are scored against Canny edges
(ROC AUC, edges dilated by one pixel since HED's are thick) and Sobel magnitude (correlation).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.stats import rankdata

from noduleseg.core.errors import ModelError
from noduleseg.core.hed import build_hed
from noduleseg.core.transfer import load_transfer_weights

skimage = pytest.importorskip("skimage", reason="scikit-image (dev extra) gives the test photograph")
from skimage import color, data, feature, filters, transform  # noqa: E402


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC by ranks (Mann-Whitney U)."""
    ranks = rankdata(score.ravel())
    positive = positive.ravel()
    n_pos, n_neg = positive.sum(), positive.size - positive.sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@pytest.fixture(scope="module")
def hed_tensors():
    try:
        return load_transfer_weights()
    except ModelError as error:
        pytest.skip(f"converted HED weights not available: {error}")


@pytest.fixture(scope="module")
def photograph():
    rgb = transform.resize(data.astronaut(), (256, 256), anti_aliasing=True)
    rgb = (rgb * 255).astype(np.uint8)
    gray = color.rgb2gray(rgb)
    canny = ndimage.binary_dilation(feature.canny(gray, sigma=2.0))
    return rgb, canny, filters.sobel(gray)


def test_auc_helper_scores_known_cases():
    positive = np.array([False, False, True, True])
    assert auc(np.array([0.1, 0.2, 0.8, 0.9]), positive) == 1.0
    assert auc(np.array([0.9, 0.8, 0.2, 0.1]), positive) == 0.0


def test_transferred_hed_finds_edges_random_weights_do_not(hed_tensors, photograph):
    rgb, canny, sobel = photograph
    edges = build_hed(hed_tensors).edges(rgb)
    assert edges.shape == rgb.shape[:2]
    transferred_auc = auc(edges, canny)
    transferred_r = np.corrcoef(edges.ravel(), sobel.ravel())[0, 1]
    random_auc, random_r = [], []
    for seed in range(3):
        torch.manual_seed(seed)
        noise = build_hed().edges(rgb)
        random_auc.append(auc(noise, canny))
        random_r.append(np.corrcoef(noise.ravel(), sobel.ravel())[0, 1])
    assert transferred_auc > 0.75
    assert transferred_auc - max(random_auc) > 0.12, (transferred_auc, random_auc)
    assert transferred_r > 0.5 and transferred_r - max(random_r) > 0.2, (transferred_r, random_r)


def test_hed_loads_every_tensor_of_the_file(hed_tensors):
    hed = build_hed(hed_tensors)
    assert torch.equal(hed.blocks["block3"].conv2.weight, hed_tensors["block3.conv2.weight"])
    assert torch.equal(hed.dsn["dsn5"].weight, hed_tensors["dsn5.weight"])
    assert torch.equal(hed.fuse.bias, hed_tensors["fuse.bias"])
