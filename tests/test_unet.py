"""The BSFT U-Net: shapes, transfer into the encoder, release order, frozen BatchNorm."""

from __future__ import annotations

import pytest
import torch

from noduleseg.core.unet import build_unet


def test_forward_gives_one_logit_map_per_patch():
    model = build_unet()
    logits = model(torch.rand(2, 3, 64, 64))
    assert logits.shape == (2, 1, 64, 64)


def test_blocks_are_listed_deepest_first():
    model = build_unet()
    assert model.encoder_blocks() == ["enc5", "enc4", "enc3", "enc2", "enc1"]
    layers = model.encoder_layers()
    assert layers[0] == "enc5.conv3" and layers[-1] == "enc1.conv1" and len(layers) == 13


def test_transfer_tensors_land_in_the_encoder():
    model = build_unet()
    weight = torch.randn(64, 3, 3, 3)
    tensors = {k.replace("enc", "block", 1): v.clone() for k, v in model.encoder.state_dict().items()}
    tensors["block1.conv1.weight"] = weight
    model.load_encoder(tensors)
    assert torch.equal(model.encoder["enc1"].conv1.weight, weight)


def test_release_trains_decoder_and_named_parts_only():
    model = build_unet()
    model.release(["enc5", "enc4.conv3"])
    trainable = {n.split(".")[0] + "." + n.split(".")[1] for n, p in model.named_parameters()
                 if p.requires_grad}
    assert "encoder.enc5" in trainable and "encoder.enc3" not in trainable
    assert model.encoder["enc4"].conv3.weight.requires_grad
    assert not model.encoder["enc4"].conv2.weight.requires_grad
    assert all(p.requires_grad for p in model.decoder.parameters())


def test_frozen_block_keeps_batchnorm_in_eval_after_train():
    model = build_unet()
    model.freeze(model.decoder["dec1"])
    model.train()
    frozen_bn = [m for m in model.decoder["dec1"].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    live_bn = [m for m in model.decoder["dec2"].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert frozen_bn and all(not m.training for m in frozen_bn)
    assert live_bn and all(m.training for m in live_bn)
    before = frozen_bn[0].running_mean.clone()
    model(torch.rand(2, 3, 32, 32))
    assert torch.equal(frozen_bn[0].running_mean, before)


def test_predict_is_eval_and_without_grad():
    model = build_unet().train()
    probabilities = model.predict(torch.rand(1, 3, 32, 32))
    assert not model.training
    assert not probabilities.requires_grad
    assert float(probabilities.min()) >= 0.0 and float(probabilities.max()) <= 1.0


def test_decoder_norm_is_a_value_not_a_subclass():
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in build_unet(decoder_norm="none").modules())
    assert any(isinstance(m, torch.nn.GroupNorm) for m in build_unet(decoder_norm="group").modules())
    with pytest.raises(ValueError, match="decoder_norm"):
        build_unet(decoder_norm="layer")


def test_bf16_can_be_switched_off_and_agrees_with_fp32(blob_model, monkeypatch):
    import numpy as np

    from noduleseg.core import precision
    from noduleseg.core.windowing import encode_channels
    from model_fixtures import TINY_SPEC, blob_batch

    hu, masks = blob_batch(np.random.default_rng(3), 8)
    x = torch.from_numpy(encode_channels(hu, TINY_SPEC.windows))
    fast = blob_model.net.predict(x)
    monkeypatch.setenv(precision.ENVIRONMENT, "0")
    assert not precision.uses_bf16(torch.device("cpu"))
    exact = blob_model.net.predict(x)
    assert fast.dtype == exact.dtype == torch.float32
    assert float((fast - exact).abs().mean()) < 0.02
    a, b = fast >= 0.5, exact >= 0.5
    assert float((a & b).sum()) / float((a | b).sum()) > 0.95
