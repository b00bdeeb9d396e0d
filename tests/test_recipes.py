"""The recipe file in training/recipes reproduces the shipped model's recorded configuration."""

from __future__ import annotations

from pathlib import Path

from noduleseg.core.model_io import read_card, shipped_model_dir
from noduleseg.training.config import make_config

RECIPES = Path(__file__).resolve().parents[1] / "training" / "recipes"


def test_shipped_recipe_matches_the_shipped_card():
    card = read_card(shipped_model_dir())
    recipe = make_config(RECIPES / f"{card['version']}.toml").to_json()
    recorded = card["config"]
    for field in ("strategy", "seed", "synthetic", "stage_epochs", "synthetic_diameter_mm",
                  "mm_per_px", "patch_px", "lr"):
        value = list(recipe[field]) if isinstance(recipe[field], tuple) else recipe[field]
        assert value == recorded[field], field


def test_every_recipe_file_is_a_valid_config():
    for recipe in sorted(RECIPES.glob("*.toml")):
        make_config(recipe)  # raises ConfigError naming the problem
    assert make_config(RECIPES / "short-average.toml").average_stages
