"""The model registry: immutable versions, the Dice gate, activation, rollback, atomicity."""

from __future__ import annotations

import pytest

from noduleseg.core.model_io import InputSpec, load_model, save_model, shipped_model_dir
from noduleseg.core.unet import build_unet
from noduleseg.training.registry import SHIPPED, ModelRegistry, RegistryError

NET = build_unet(None, (8, 8, 8, 8))


def add(registry, dice, fingerprint="same", baseline=None):
    card = {"created": "2026-01-01T00:00:00+00:00", "strategy": "bsft",
            "metrics": {"val_dice": dice}, "split": {"val_fingerprint": fingerprint}, "baseline": baseline}
    return registry.add(lambda folder, version: save_model(folder, NET, {**card, "version": version},
                                                           InputSpec(patch_px=32)))


def test_versions_are_numbered_complete_model_folders(tmp_path):
    registry = ModelRegistry(tmp_path)
    first, second = add(registry, 0.5), add(registry, 0.6)
    assert [e.version for e in registry.versions()] == ["v0001", "v0002"]
    assert (first.version, second.val_dice) == ("v0001", 0.6)
    assert load_model(second.folder).version == "v0002"
    assert registry.current() is None and registry.current_model_dir() == shipped_model_dir()


def test_gate_activates_only_when_dice_is_not_worse_on_the_same_split(tmp_path):
    registry = ModelRegistry(tmp_path)
    v1, v2, v3 = add(registry, 0.5), add(registry, 0.4), add(registry, 0.5)
    registry.activate(v1.version)
    assert registry.current().version == "v0001"
    with pytest.raises(RegistryError, match="v0002 not activated: val Dice 0.4000 < v0001's 0.5000"):
        registry.activate(v2.version)
    assert registry.current().version == "v0001"
    registry.activate(v3.version)
    assert registry.current_model_dir() == v3.folder


def test_gate_uses_the_baseline_when_validation_data_differ(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.activate(add(registry, 0.9, fingerprint="old").version)
    no_baseline = add(registry, 0.95, fingerprint="new")
    with pytest.raises(RegistryError, match="validated on different data"):
        registry.activate(no_baseline.version)
    worse = add(registry, 0.6, fingerprint="new", baseline={"version": "v0001", "val_dice": 0.7})
    with pytest.raises(RegistryError, match="< v0001's 0.7000"):
        registry.activate(worse.version)
    better = add(registry, 0.6, fingerprint="new", baseline={"version": "v0001", "val_dice": 0.55})
    assert registry.activate(better.version).version == "v0004"


def test_force_and_rollback_move_the_pointer_and_keep_history(tmp_path):
    registry = ModelRegistry(tmp_path)
    v1, v2 = add(registry, 0.8), add(registry, 0.2)
    registry.activate(v1.version)
    registry.activate(v2.version, force=True)
    assert registry.current().version == "v0002"
    registry.rollback(v1.version)
    assert registry.current().version == "v0001"
    history = registry._pointer()["history"]
    assert [h["version"] for h in history] == ["v0001", "v0002", "v0001"]
    with pytest.raises(RegistryError, match="no model version 'v0042'"):
        registry.rollback("v0042")


def test_rollback_to_the_shipped_model_keeps_the_versions(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.activate(add(registry, 0.8).version)
    assert registry.rollback(SHIPPED) is None
    assert registry.current() is None and registry.current_model_dir() == shipped_model_dir()
    assert [e.version for e in registry.versions()] == ["v0001"]
    assert [h["version"] for h in registry._pointer()["history"]] == ["v0001", SHIPPED]
    assert registry.activate("v0001").version == "v0001"  # the gate has no current version to beat


def test_a_version_that_fails_while_written_is_never_visible(tmp_path):
    registry = ModelRegistry(tmp_path)
    add(registry, 0.5)

    def broken(folder, version):
        save_model(folder, NET, {"version": version}, InputSpec(patch_px=32))
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.add(broken)
    assert [e.version for e in registry.versions()] == ["v0001"]
    assert [p.name for p in tmp_path.iterdir()] == ["v0001"]
    assert add(registry, 0.5).version == "v0002"
