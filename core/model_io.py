"""Model folders: ``weights.pt`` (plain tensors, loaded with ``weights_only=True``) + ``card.json``.

The card records what inference needs to cut patches the way training did (input windows,
patch size, mm per pixel), plus provenance and metrics. Its ``sha256`` is the weights file's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from .atomic import atomic_path, write_json_atomic
from .digest import sha256_of
from .errors import ModelError
from .windowing import MODEL_WINDOWS, Window

if TYPE_CHECKING:  # torch loads only when a model is saved or loaded: reading cards stays light
    from .unet import BsftUNet

WEIGHTS_FILE = "weights.pt"
CARD_FILE = "card.json"
ARCHITECTURE = "bsft-unet-vgg16"
# A nodule is found where the probability reaches the card's "threshold" (cards before it: 0.5);
# its outline is then cut at the card's "peak_share" of its own peak probability (cards before
# it: 0.6; 0 cuts the outline at the threshold itself). ``core.segment`` says why.
DEFAULT_THRESHOLD = 0.5
DEFAULT_PEAK_SHARE = 0.6


@dataclass(frozen=True)
class InputSpec:
    """How CT becomes model input.

    Attributes:
        windows: One HU window per input channel.
        patch_px: Patch side in pixels (multiple of 16).
        mm_per_px: The scale ladder, finest first: inference starts at the first and moves to
            the next coarser one while the nodule reaches the patch border.
        slice_offsets_mm: Where each channel's plane lies along z from the patch's slice:
            all 0 is 2D input; e.g. (-2.5, 0, 2.5) gives the network the planes above and
            below (2.5D), interpolated at the same distance in mm on every scan.
    """

    windows: tuple[Window, ...] = MODEL_WINDOWS
    patch_px: int = 64
    mm_per_px: tuple[float, ...] = (0.5, 1.0)
    slice_offsets_mm: tuple[float, ...] = (0.0, 0.0, 0.0)

    def offsets_k(self, spacing_z: float) -> tuple[float, ...]:
        """Each channel's plane offset in (fractional) slices of a scan with this spacing."""
        return tuple(offset / spacing_z for offset in self.slice_offsets_mm)

    def to_json(self) -> dict[str, Any]:
        return {"windows": [[w.name, w.center, w.width] for w in self.windows],
                "patch_px": self.patch_px, "mm_per_px": list(self.mm_per_px),
                "slice_offsets_mm": list(self.slice_offsets_mm)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "InputSpec":
        windows = tuple(Window(n, float(c), float(w)) for n, c, w in data["windows"])
        offsets = data.get("slice_offsets_mm", [0.0] * len(windows))  # cards before 2.5D
        return cls(windows=windows, patch_px=int(data["patch_px"]),
                   mm_per_px=tuple(float(v) for v in data["mm_per_px"]),
                   slice_offsets_mm=tuple(float(v) for v in offsets))


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A network ready for inference with the card it came with."""

    net: "BsftUNet"
    input: InputSpec
    card: dict[str, Any]
    folder: Path | None = None

    @property
    def version(self) -> str:
        return str(self.card.get("version", "unversioned"))

    @property
    def threshold(self) -> float:
        """The probability at which a nodule is found (from the card; 0.5 on cards before it)."""
        return float(self.card.get("threshold", DEFAULT_THRESHOLD))

    @property
    def peak_share(self) -> float:
        """The share of a nodule's own peak probability its outline is cut at (0: at ``threshold``)."""
        return float(self.card.get("peak_share", DEFAULT_PEAK_SHARE))


def save_model(folder: str | Path, net: "BsftUNet", card: dict[str, Any], input_spec: InputSpec,
               half: bool = True) -> Path:
    """Write weights (fp16 by default, to keep shipped files small) and the card."""
    import torch

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).clone().contiguous()
             for k, v in net.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as temporary:
        torch.save(state, temporary)
    card = {**card, "architecture": ARCHITECTURE, "decoder_widths": list(net.decoder_widths),
            "decoder_norm": net.decoder_norm,
            "input": input_spec.to_json(), "weights": WEIGHTS_FILE,
            "sha256": sha256_of(folder / WEIGHTS_FILE)}
    write_json_atomic(folder / CARD_FILE, card)
    return folder


def read_card(folder: str | Path) -> dict[str, Any]:
    """A model folder's card.

    Raises:
        ModelError: No card, or it is not a readable JSON object.
    """
    path = Path(folder) / CARD_FILE
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: no model card here; is {folder} a model folder?") from None
    except ValueError as error:  # JSONDecodeError, or bytes that are not UTF-8 text
        raise ModelError(f"{path}: model card is not valid JSON ({error})") from None
    except OSError as error:
        raise ModelError(f"{path}: model card cannot be read ({error.strerror or error})") from None
    if not isinstance(card, dict):
        raise ModelError(f"{path}: model card is not a JSON object")
    return card


def check_model_folder(folder: str | Path) -> tuple[dict[str, Any], InputSpec, Path]:
    """Everything about a model folder that can be checked without torch.

    Returns:
        The card, its input spec and the weights file (whose sha256 matches the card's).

    Raises:
        ModelError: No or unreadable card, another architecture, a malformed input section,
            missing weights, or weights that are not the ones the card describes.
    """
    folder = Path(folder)
    card = read_card(folder)
    if card.get("architecture") != ARCHITECTURE:
        raise ModelError(f"{folder}: architecture {card.get('architecture')!r} is not {ARCHITECTURE}")
    spec = _input_spec(card, folder / CARD_FILE)
    weights = folder / str(card.get("weights", WEIGHTS_FILE))
    if not weights.is_file():
        raise ModelError(f"{weights}: weights file missing")
    try:
        digest = sha256_of(weights)
    except OSError as error:
        raise ModelError(f"{weights}: weights cannot be read ({error.strerror or error})") from None
    if digest != card.get("sha256"):
        raise ModelError(f"{weights}: sha256 {digest[:12]}... does not match the card's "
                         f"{str(card.get('sha256'))[:12]}...: the weights were damaged or replaced")
    return card, spec, weights


def load_model(folder: str | Path | None = None) -> LoadedModel:
    """Load a model folder (the shipped default model when ``folder`` is None).

    Raises:
        ModelError: The folder fails ``check_model_folder`` or its weights cannot be loaded.
    """
    import torch

    from .unet import DEFAULT_DECODER_WIDTHS, BsftUNet

    folder = Path(folder) if folder is not None else shipped_model_dir()
    card, spec, weights = check_model_folder(folder)
    try:  # cards before the decoder_norm key had BatchNorm
        net = BsftUNet(tuple(card.get("decoder_widths", DEFAULT_DECODER_WIDTHS)), card.get("decoder_norm", "batch"))
    except (TypeError, ValueError) as error:
        raise ModelError(f"{folder / CARD_FILE}: the network section is malformed ({error})") from None
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except Exception as error:  # torch raises many types for a corrupt or foreign file
        raise ModelError(f"{weights}: cannot load weights ({error})") from None
    net.eval()
    return LoadedModel(net, spec, card, folder)


def _input_spec(card: dict[str, Any], path: Path) -> InputSpec:
    """The card's input section, refused (naming the card) where it cannot drive inference."""
    try:
        spec = InputSpec.from_json(card["input"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"{path}: the input section is missing or malformed ({error!r})") from None
    if spec.patch_px <= 0 or not spec.mm_per_px or min(spec.mm_per_px) <= 0:
        raise ModelError(f"{path}: input needs a positive patch_px and mm_per_px scales, got "
                         f"{spec.patch_px} and {list(spec.mm_per_px)}")
    return spec


def shipped_model_dir() -> Path:
    """The default model that ships in ``noduleseg.assets``."""
    return Path(str(resources.files("noduleseg.assets") / "model"))
