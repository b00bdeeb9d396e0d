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
    for field in recipe:
        if field in ("device", "amp"):  # where it ran, not what it is
            continue
        value = list(recipe[field]) if isinstance(recipe[field], tuple) else recipe[field]
        assert value == recorded[field], field
    assert card["decoder_norm"] == recipe["decoder_norm"] and card["parent"]["kind"] == "transfer"


def test_every_recipe_file_is_a_valid_config():
    recipes = sorted(RECIPES.glob("*.toml"))
    for recipe in recipes:
        make_config(recipe)  # raises ConfigError naming the problem
    assert make_config(RECIPES / "shipped-2.toml").split == "lidc" and recipes
