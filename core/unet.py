"""The BSFT U-Net: HED's VGG16 blocks as encoder (transferred), a new decoder with skips.

The model exposes its parts by name so that training can release them one at a time:
``encoder_blocks()`` lists the encoder blocks deepest first (enc5 .. enc1), ``encoder_layers()``
the convolution layers deepest first (enc5.conv3 .. enc1.conv1). The decoder and head are new
and always trainable. Frozen blocks keep BatchNorm in eval mode after ``model.train()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from . import precision
from .transfer import BGR_MEAN

VGG16_WIDTHS: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256),
                                             (512, 512, 512), (512, 512, 512))
DEFAULT_DECODER_WIDTHS = (256, 128, 64, 32)
# The decoder's normalisation: BatchNorm (as trained before), GroupNorm (statistics per patch:
# the same in training and inference) or none.
DECODER_NORMS = ("batch", "group", "none")
GROUPS = 8
ENCODER_BLOCKS_DEEPEST_FIRST = ("enc5", "enc4", "enc3", "enc2", "enc1")


class VggBlock(nn.Module):
    """2 or 3 3x3 convolutions with ReLU; blocks after the first start with a 2x2 max-pool."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], pool: bool) -> None:
        super().__init__()
        self.pool = pool
        self.n_convs = len(widths)
        for n, width in enumerate(widths, start=1):
            setattr(self, f"conv{n}", nn.Conv2d(in_channels, width, 3, padding=1))
            in_channels = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool:
            x = F.max_pool2d(x, 2)
        for n in range(1, self.n_convs + 1):
            x = F.relu(getattr(self, f"conv{n}")(x), inplace=True)
        return x


def _norm(kind: str, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(width)
    if kind == "group":
        return nn.GroupNorm(min(GROUPS, width), width)
    return nn.Identity()


class UpBlock(nn.Module):
    """Bilinear 2x up-sampling, concatenation with the skip, two conv-norm-ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, width: int, norm: str = "batch") -> None:
        super().__init__()
        bias = norm == "none"
        self.body = nn.Sequential(
            nn.Conv2d(in_channels + skip_channels, width, 3, padding=1, bias=bias),
            _norm(norm, width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=bias),
            _norm(norm, width), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.body(torch.cat([x, skip], dim=1))


class BsftUNet(nn.Module):
    """U-Net for 2D nodule patches.

    Input: (B, 3, H, W) float in [0, 1], H and W multiples of 16: three HU windows of a CT
    patch. Internally scaled to the VGG range (0..255 minus the BGR means) so that the
    transferred first layer sees the statistics it was trained on. Output: (B, 1, H, W) logits.
    """

    def __init__(self, decoder_widths: tuple[int, ...] = DEFAULT_DECODER_WIDTHS,
                 decoder_norm: str = "batch") -> None:
        super().__init__()
        if decoder_norm not in DECODER_NORMS:
            raise ValueError(f"decoder_norm {decoder_norm!r} is not one of {', '.join(DECODER_NORMS)}")
        self.decoder_widths = tuple(decoder_widths)
        self.decoder_norm = decoder_norm
        # one value per channel, 1-D so that a channels-last network keeps it plain
        self.register_buffer("pixel_mean", torch.tensor(BGR_MEAN), persistent=False)
        encoder, in_channels = {}, 3
        for index, widths in enumerate(VGG16_WIDTHS, start=1):
            encoder[f"enc{index}"] = VggBlock(in_channels, widths, pool=index > 1)
            in_channels = widths[-1]
        self.encoder = nn.ModuleDict(encoder)
        skips = [w[-1] for w in VGG16_WIDTHS[:-1]][::-1]  # 512, 256, 128, 64
        decoder = {}
        for level, (skip, width) in zip((4, 3, 2, 1), zip(skips, self.decoder_widths)):
            decoder[f"dec{level}"] = UpBlock(in_channels, skip, width, decoder_norm)
            in_channels = width
        self.decoder = nn.ModuleDict(decoder)
        self.head = nn.Conv2d(in_channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 255.0 - self.pixel_mean.view(1, -1, 1, 1)
        features = []
        for block in self.encoder.values():
            x = block(x)
            features.append(x)
        x = features.pop()
        for up, skip in zip(self.decoder.values(), reversed(features)):
            x = up(x, skip)
        return self.head(x)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, 1, H, W) in eval mode without autograd, in bfloat16 where the
        device computes it natively (``core.precision``); float32 out."""
        self.eval()
        device = next(self.parameters()).device
        fmt = precision.memory_format(device)
        with torch.inference_mode(), precision.autocast(device):
            return torch.sigmoid(self.to(memory_format=fmt)(x.to(device).contiguous(memory_format=fmt)).float())

    # --- transfer -----------------------------------------------------------------------

    def load_encoder(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Copy HED/VGG16 tensors (``block{b}.conv{n}.weight|bias``) into the encoder."""
        state = {f"enc{key[len('block'):]}": value for key, value in tensors.items()
                 if key.startswith("block")}
        self.encoder.load_state_dict(state, strict=True)

    # --- release for block-wise fine-tuning ---------------------------------------------

    def encoder_blocks(self) -> list[str]:
        """Encoder block names, deepest (last down-sampling) first."""
        return list(ENCODER_BLOCKS_DEEPEST_FIRST)

    def encoder_layers(self) -> list[str]:
        """Encoder convolution names (``enc5.conv3`` .. ``enc1.conv1``), deepest first."""
        names = []
        for block in self.encoder_blocks():
            n_convs = self.encoder[block].n_convs
            names += [f"{block}.conv{n}" for n in range(n_convs, 0, -1)]
        return names

    def encoder_part(self, name: str) -> nn.Module:
        """The module for ``enc3`` or ``enc3.conv2``."""
        module: nn.Module = self.encoder
        for part in name.split("."):
            module = getattr(module, part) if not isinstance(module, nn.ModuleDict) else module[part]
        return module

    def release(self, encoder_parts: Iterable[str] = ()) -> None:
        """Train the decoder, the head and the named encoder parts; freeze the rest."""
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(False)
        for name in encoder_parts:
            for parameter in self.encoder_part(name).parameters():
                parameter.requires_grad_(True)
        for parameter in [*self.decoder.parameters(), *self.head.parameters()]:
            parameter.requires_grad_(True)
        self.train(self.training)

    def freeze(self, module: nn.Module) -> None:
        """Freeze any sub-module (its BatchNorm then stays in eval under ``train()``)."""
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> "BsftUNet":
        super().train(mode)
        if mode:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                        p.requires_grad for p in module.parameters()):
                    module.eval()
        return self


def build_unet(transfer: Mapping[str, torch.Tensor] | None = None,
               decoder_widths: tuple[int, ...] = DEFAULT_DECODER_WIDTHS, decoder_norm: str = "batch") -> BsftUNet:
    """A BSFT U-Net, its encoder from ``transfer`` (HED/VGG16 tensors) or random (scratch)."""
    model = BsftUNet(decoder_widths, decoder_norm)
    if transfer is not None:
        model.load_encoder(transfer)
    return model
