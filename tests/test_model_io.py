"""Model folders round-trip and refuse tampered or foreign files."""

from __future__ import annotations

import json

import pytest
import torch

from noduleseg.core.errors import ModelError
from noduleseg.core.model_io import InputSpec, load_model, save_model
from noduleseg.core.unet import build_unet


def test_round_trip_keeps_outputs(tmp_path):
    net = build_unet(decoder_widths=(32, 16, 16, 8)).eval()
    save_model(tmp_path / "m", net, {"version": "t1"}, InputSpec(patch_px=32), half=False)
    loaded = load_model(tmp_path / "m")
    x = torch.rand(1, 3, 32, 32)
    assert loaded.version == "t1" and loaded.input.patch_px == 32
    assert torch.allclose(loaded.net.predict(x), net.predict(x))


def test_tampered_weights_are_refused(tmp_path):
    save_model(tmp_path / "m", build_unet(decoder_widths=(8, 8, 8, 8)), {}, InputSpec())
    with open(tmp_path / "m" / "weights.pt", "ab") as stream:
        stream.write(b"x")
    with pytest.raises(ModelError, match="sha256"):
        load_model(tmp_path / "m")


def test_folder_without_card_is_refused(tmp_path):
    with pytest.raises(ModelError, match="no model card"):
        load_model(tmp_path)


@pytest.mark.parametrize("change, message", [
    ({"mm_per_px": [0.0]}, "positive patch_px and mm_per_px"),
    ({"mm_per_px": []}, "positive patch_px and mm_per_px"),
    ({"patch_px": None}, "input section is missing or malformed"),
])
def test_a_card_whose_input_cannot_drive_inference_is_refused(tmp_path, change, message):
    folder = save_model(tmp_path / "m", build_unet(decoder_widths=(8, 8, 8, 8)), {}, InputSpec())
    card = json.loads((folder / "card.json").read_text())
    card["input"].update(change)
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=message) as refused:
        load_model(folder)
    assert "card.json" in str(refused.value)


def test_input_spec_keeps_its_slice_offsets_and_older_cards_read_as_2d():
    spec = InputSpec(patch_px=32, slice_offsets_mm=(-2.5, 0.0, 2.5))
    assert InputSpec.from_json(spec.to_json()) == spec
    assert spec.offsets_k(1.25) == (-2.0, 0.0, 2.0)
    older = {key: value for key, value in InputSpec().to_json().items() if key != "slice_offsets_mm"}
    assert InputSpec.from_json(older).slice_offsets_mm == (0.0, 0.0, 0.0)
