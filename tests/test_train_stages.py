"""Stage plans as data, released parts, frozen BatchNorm, per-depth learning rates and their
schedule within a stage."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from noduleseg.core.unet import build_unet
from noduleseg.training.config import ConfigError, make_config
from noduleseg.training.stages import parameter_groups, plan_stages, schedule_factor, set_schedule


@pytest.fixture(scope="module")
def net():
    return build_unet(None, (16, 16, 8, 8))


def test_bsft_releases_enc5_first_and_enc1_last(net):
    stages = plan_stages("bsft", net, make_config(stage_epochs=(3,)))
    assert [s.released for s in stages] == [("enc5",), ("enc5", "enc4"), ("enc5", "enc4", "enc3"),
                                            ("enc5", "enc4", "enc3", "enc2"), ("enc5", "enc4", "enc3", "enc2", "enc1")]
    assert [s.epochs for s in stages] == [3] * 5 and stages[0].name == "decoder+enc5"


def test_lsft_releases_one_layer_per_stage(net):
    stages = plan_stages("lsft", net, make_config(layer_stage_epochs=(1,)))
    assert len(stages) == 13
    assert stages[0].released == ("enc5.conv3",) and stages[-1].released[-1] == "enc1.conv1"
    assert all(len(b.released) == len(a.released) + 1 for a, b in zip(stages, stages[1:]))


def test_one_stage_strategies(net):
    config = make_config(epochs=4)
    assert [(s.released, s.epochs) for s in plan_stages("frozen", net, config)] == [((), 4)]
    assert plan_stages("finetune", net, config)[0].released == tuple(net.encoder_blocks())
    assert plan_stages("scratch", net, config)[0].scaled is False


def test_per_stage_epoch_lists_must_match_the_stage_count(net):
    assert [s.epochs for s in plan_stages("bsft", net, make_config(stage_epochs=(1, 2, 3, 4, 5)))] == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="5 stages"):
        plan_stages("bsft", net, make_config(stage_epochs=(1, 2)))


def _trainable_blocks(net):
    return [name for name in net.encoder_blocks() if any(p.requires_grad for p in net.encoder[name].parameters())]


def test_each_bsft_stage_trains_exactly_its_blocks_and_frozen_bn_stays_eval(net):
    config = make_config()
    for stage in plan_stages("bsft", net, config):
        net.release(stage.released)
        net.train()
        assert _trainable_blocks(net) == list(stage.released)
        assert all(p.requires_grad for p in net.decoder.parameters())
    net.freeze(net.decoder["dec4"])
    net.train()
    batch_norms = [m for m in net.decoder["dec4"].modules() if isinstance(m, nn.BatchNorm2d)]
    assert batch_norms and not any(m.training for m in batch_norms)
    assert all(m.training for m in net.decoder["dec1"].modules() if isinstance(m, nn.BatchNorm2d))


def test_shallower_blocks_get_lower_learning_rates(net):
    config = make_config(lr=1e-3, encoder_lr_factor=0.5, block_lr_decay=0.5)
    stage = plan_stages("bsft", net, config)[-1]
    net.release(stage.released)
    rates = {g["name"]: g["lr"] for g in parameter_groups(net, stage, config)}
    assert rates["decoder"] == pytest.approx(1e-3)
    assert [rates[b] for b in ("enc5", "enc4", "enc3", "enc2", "enc1")] == pytest.approx(
        [5e-4, 2.5e-4, 1.25e-4, 6.25e-5, 3.125e-5])
    scratch = plan_stages("scratch", net, config)[0]
    assert {g["lr"] for g in parameter_groups(net, scratch, config)} == {1e-3}


def test_cosine_schedule_falls_from_each_start_rate_to_the_floor(net):
    config = make_config(lr=1e-3, encoder_lr_factor=0.5, block_lr_decay=0.5, lr_floor=0.1)
    assert [schedule_factor(config, t) for t in (0.0, 0.5, 1.0, 2.0)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    assert schedule_factor(make_config(lr_schedule="constant"), 0.9) == 1.0
    stage = plan_stages("bsft", net, config)[1]
    net.release(stage.released)
    optimizer = torch.optim.Adam(parameter_groups(net, stage, config))
    set_schedule(optimizer, 0.5)
    assert {g["name"]: g["lr"] for g in optimizer.param_groups} == pytest.approx(
        {"decoder": 5e-4, "enc5": 2.5e-4, "enc4": 1.25e-4})
    with pytest.raises(ConfigError, match="lr_schedule 'step'"):
        make_config(lr_schedule="step")


def test_config_from_toml_with_flags_on_top_and_refusals(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text('[train]\nstrategy = "lsft"\nstage_epochs = [1, 2, 3, 4, 5]\nlr = 0.01\n')
    config = make_config(path, lr="0.002")
    assert (config.strategy, config.stage_epochs, config.lr) == ("lsft", (1, 2, 3, 4, 5), 0.002)
    assert make_config(path).fingerprint() != config.fingerprint()
    with pytest.raises(ConfigError, match="unknown config keys: learning_rate"):
        make_config(learning_rate=1)
    assert make_config(input_windows="lung,lung,lung").input_windows == ("lung",) * 3
    with pytest.raises(ConfigError, match="input_windows lung, cardiac must be three of"):
        make_config(input_windows="lung,cardiac")
    assert make_config(slice_offsets_mm="-2.5,0,2.5").slice_offsets_mm == (-2.5, 0.0, 2.5)
    with pytest.raises(ConfigError, match="slice_offsets_mm"):
        make_config(slice_offsets_mm="0,0")
    with pytest.raises(ConfigError, match="patch_px 30"):
        make_config(patch_px=30)
    with pytest.raises(ConfigError, match="average_epochs needs average_stages"):
        make_config(average_epochs=True)
