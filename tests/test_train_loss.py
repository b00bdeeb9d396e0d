"""The training loss: cross-entropy plus soft Dice, pooled over the batch or per patch."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from noduleseg.training.config import ConfigError, make_config
from noduleseg.training.metrics import dice_bce_loss

SURE = 12.0  # a logit whose sigmoid is 1 to six decimals


def disc_target(radius: int, size: int = 32) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (((rows - size // 2) ** 2 + (cols - size // 2) ** 2) <= radius ** 2).float()


def answer(prediction: torch.Tensor) -> torch.Tensor:
    """Logits that say ``prediction`` (1 inside, 0 outside) with certainty."""
    return (prediction * 2 - 1) * SURE


def test_per_patch_dice_weighs_a_missed_small_nodule_as_much_as_a_found_large_one():
    large, small = disc_target(12), disc_target(2)
    target = torch.stack([large, small])[:, None]
    logits = answer(torch.stack([large, torch.zeros_like(small)])[:, None])

    pooled = dice_bce_loss(logits, target)
    per_patch = dice_bce_loss(logits, target, patch_share=1.0)
    half = dice_bce_loss(logits, target, patch_share=0.5)
    bce = F.binary_cross_entropy_with_logits(logits, target)

    assert pooled - bce < 0.05  # 13 missed pixels among 450: the batch Dice hardly notices
    assert per_patch - bce == pytest.approx(0.5, abs=0.05)  # one of two nodules found
    assert half == pytest.approx((pooled + per_patch) / 2)


def test_per_patch_dice_leaves_empty_patches_to_the_cross_entropy():
    target = torch.zeros(2, 1, 32, 32)
    logits = answer(torch.stack([disc_target(3), torch.zeros(32, 32)])[:, None])
    bce = F.binary_cross_entropy_with_logits(logits, target)

    assert dice_bce_loss(logits, target, patch_share=1.0) == pytest.approx(bce.item())
    assert dice_bce_loss(logits, target) > bce + 0.9  # pooled: a false positive on an empty batch


def test_every_mix_agrees_on_a_perfect_answer_and_a_share_outside_0_1_is_refused():
    target = torch.stack([disc_target(5), torch.zeros(32, 32)])[:, None]
    logits = answer(target)
    for share in (0.0, 0.5, 1.0):
        assert dice_bce_loss(logits, target, patch_share=share) == pytest.approx(0.0, abs=1e-3)
    assert make_config(patch_dice_share="0.5").patch_dice_share == 0.5
    with pytest.raises(ConfigError, match="patch_dice_share 1.5"):
        make_config(patch_dice_share=1.5)


def test_a_nodule_tip_below_full_weight_counts_in_proportion_to_its_area():
    large, tip = disc_target(12), disc_target(1)  # 5 pixels: a nodule's tip on its end slice
    target = torch.stack([large, tip])[:, None]
    logits = answer(torch.stack([large, torch.zeros_like(tip)])[:, None])
    bce = F.binary_cross_entropy_with_logits(logits, target)

    even = (dice_bce_loss(logits, target, patch_share=1.0) - bce).item()
    weighted = (dice_bce_loss(logits, target, patch_share=1.0, full_weight_px=50.0) - bce).item()

    tip_loss = 1 - 1 / 6  # the missed tip's own soft Dice: (0 + 1) / (0 + 5 + 1)
    assert even == pytest.approx(tip_loss / 2, abs=0.01)
    assert weighted == pytest.approx(tip_loss * 0.1 / 1.1, abs=0.01)  # the tip weighs 5/50 against 1
    both_large = torch.stack([large, large])[:, None]
    assert dice_bce_loss(answer(both_large), both_large, 1.0, 50.0) == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ConfigError, match="patch_dice_full_px -1"):
        make_config(patch_dice_full_px=-1)
