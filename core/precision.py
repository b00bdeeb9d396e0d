"""Where the network runs in bfloat16: one rule for inference and training.

bfloat16 (with channels-last memory) runs the U-Net about four times faster on CPUs with
AMX or AVX512-BF16 units and on CUDA GPUs; elsewhere it would be emulated and slower, so fp32
stays. ``NODULESEG_BF16=0`` forces fp32 everywhere (to compare, or on a CPU that misreports).
The two agree closely (``tests/test_unet.py``; on the validation split shipped-1 scored 0.614
in bfloat16 and 0.616 in float32).
"""

from __future__ import annotations

import contextlib
import functools
import os

import torch

ENVIRONMENT = "NODULESEG_BF16"


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX tiles or AVX512-BF16)."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    try:
        return any(check() for check in checks if check is not None)
    except RuntimeError:  # an old or unusual build that cannot tell
        return False


def uses_bf16(device: torch.device) -> bool:
    """Whether work on ``device`` runs in bfloat16 (unless ``NODULESEG_BF16=0``)."""
    if os.environ.get(ENVIRONMENT, "1") == "0":
        return False
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on ``device`` where ``uses_bf16``, else nothing."""
    if uses_bf16(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last where bfloat16 runs (the fast CPU kernels want it), else contiguous."""
    return torch.channels_last if uses_bf16(device) else torch.contiguous_format
