"""Damaged model versions and a damaged registry pointer: named, listed, and the shipped model used.

A version whose weights do not match its card or whose card is not JSON, and a ``current.json``
that is not JSON or names a version that is gone: ``noduleseg-train list`` still lists the
other versions and says what is wrong; the app says so and uses the shipped model.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QMessageBox

from noduleseg.app.menus import fill_model_menu
from noduleseg.app.model_service import ModelService, read_card_json
from noduleseg.app.window import MainWindow
from noduleseg.core.digest import sha256_of
from noduleseg.core.errors import ModelError
from noduleseg.core.model_io import InputSpec, save_model, shipped_model_dir
from noduleseg.core.unet import build_unet
from noduleseg.training.cli import main as train_main
from noduleseg.training.registry import SHIPPED, ModelRegistry, RegistryError

NET = build_unet(None, (8, 8, 8, 8))
SHIPPED_VERSION = read_card_json(shipped_model_dir())["version"]


def add(registry, dice=0.5):
    card = {"created": "2026-01-01T00:00:00+00:00", "strategy": "bsft", "metrics": {"val_dice": dice}}
    return registry.add(lambda folder, version: save_model(folder, NET, {**card, "version": version},
                                                           InputSpec(patch_px=32)))


def tamper_weights(folder):
    with open(folder / "weights.pt", "ab") as stream:
        stream.write(b"damage")


def break_card(folder):
    (folder / "card.json").write_text('{"version": "half a card", "inp')


@pytest.fixture
def registry(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    for dice in (0.5, 0.6, 0.7):
        add(registry, dice)
    return registry


def listing(registry, capsys) -> list[str]:
    capsys.readouterr()
    assert train_main(["list", "--out", str(registry.root)]) == 0
    return capsys.readouterr().out.splitlines()


def test_list_names_damaged_versions_and_still_lists_the_others(registry, capsys):
    registry.activate("v0003")
    break_card(registry.root / "v0002")
    tamper_weights(registry.root / "v0003")
    assert [e.version for e in registry.versions()] == ["v0001", "v0003"]
    (damaged,) = registry.damaged()
    assert damaged.version == "v0002" and "not valid JSON" in damaged.problem
    lines = listing(registry, capsys)
    assert lines[0].startswith("  v0001  bsft") and "DAMAGED" not in lines[0]
    assert lines[1].startswith("* v0003") and "DAMAGED:" in lines[1] and "does not match the card's" in lines[1]
    assert lines[2].startswith("! v0002  DAMAGED:") and "v0002/card.json" in lines[2]
    assert lines[3].startswith("(the active version v0003 is damaged: the app uses the shipped model")


@pytest.mark.parametrize("pointer, problem", [
    ('{"version": "v0009", "history": []}', "the active version 'v0009' is not in"),
    ('{"version": "v00', "not valid JSON"),
    ('["v0001"]', "not a current-version record"),
])
def test_a_damaged_pointer_is_named_and_repaired_by_rollback(registry, capsys, pointer, problem):
    (registry.root / "current.json").write_text(pointer)
    with pytest.raises(RegistryError, match="rollback") as refused:
        registry.current()
    assert problem in str(refused.value) and "current.json" in str(refused.value)
    lines = listing(registry, capsys)
    assert [line[2:7] for line in lines[:3]] == ["v0001", "v0002", "v0003"]
    assert lines[3].startswith("(the active model cannot be used: ") and problem in lines[3]
    assert train_main(["rollback", "v0002", "--out", str(registry.root)]) == 0
    assert registry.current().version == "v0002"
    assert listing(registry, capsys)[1].startswith("* v0002")


def test_the_app_uses_the_shipped_model_when_the_active_weights_do_not_match(registry):
    registry.activate("v0002")
    service = ModelService(registry_root=registry.root)
    assert service.active_dir() == registry.root / "v0002" and service.problem() == ""
    tamper_weights(registry.root / "v0002")
    choice = service.resolve()
    assert choice.folder == shipped_model_dir() and service.version() == SHIPPED_VERSION
    assert "v0002/weights.pt" in choice.problem and "does not match the card's" in choice.problem
    assert f"uses the shipped model ({SHIPPED_VERSION})" in choice.problem
    assert [v for v, _ in service.damaged_versions()] == ["v0002"]
    registry.rollback("v0001")  # the reader switches: the problem goes
    assert service.active_dir() == registry.root / "v0001" and service.problem() == ""


@pytest.mark.parametrize("damage, problem", [
    (lambda root: (root / "current.json").write_text('{"version": "v0009"}'), "'v0009' is not in"),
    (lambda root: (root / "current.json").write_text("{"), "not valid JSON"),
    (lambda root: break_card(root / "v0001"), "v0001/card.json: model card is not valid JSON"),
])
def test_the_app_uses_the_shipped_model_when_the_registry_is_damaged(registry, damage, problem):
    registry.activate("v0001")
    damage(registry.root)
    service = ModelService(registry_root=registry.root)
    assert service.active_dir() == shipped_model_dir() and service.using_shipped()
    assert problem in service.problem() and "shipped model" in service.problem()


def test_weights_that_pass_the_check_but_do_not_load_fall_back_when_loaded(registry):
    registry.activate("v0001")
    folder = registry.root / "v0001"
    (folder / "weights.pt").write_bytes(b"not a torch file")
    card = json.loads((folder / "card.json").read_text())
    (folder / "card.json").write_text(json.dumps({**card, "sha256": sha256_of(folder / "weights.pt")}))
    service = ModelService(registry_root=registry.root)
    assert service.problem() == ""  # nothing to see without torch
    model = service.get()
    assert model.folder == shipped_model_dir() and model.version == SHIPPED_VERSION
    assert "cannot load weights" in service.problem() and service.active_dir() == shipped_model_dir()
    with pytest.raises(ModelError, match="cannot load weights"):
        ModelService(folder=folder).get()  # a folder asked for by name is not swapped silently


def test_the_window_says_so_and_the_menu_marks_the_damaged_version(qtbot, registry, monkeypatch):
    registry.activate("v0003")
    tamper_weights(registry.root / "v0003")
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    window = MainWindow(service=ModelService(registry_root=registry.root))
    qtbot.addWidget(window)
    assert window.model_label.text().startswith(f"model {SHIPPED_VERSION} (active version unusable")
    assert "v0003/weights.pt" in window.model_label.toolTip()
    assert "v0003/weights.pt" in window.report_model_problem() and len(warnings) == 1
    assert "v0003/weights.pt" in warnings[0] and "shipped model" in warnings[0]
    fill_model_menu(window)
    switch = next(a.menu() for a in window.model_menu.actions() if a.text() == "Switch to version")
    actions = {a.text(): a for a in switch.actions() if a.text()}
    assert not actions["v0003 (damaged)"].isEnabled() and actions["v0001"].isEnabled()
    assert actions["Shipped model"].isChecked()
    asked = []
    monkeypatch.setattr(QMessageBox, "question",  # the gate: v0001's Dice is below v0003's
                        lambda *args: asked.append(args[2]) or QMessageBox.StandardButton.Yes)
    actions["v0001"].trigger()
    assert len(asked) == 1 and window.service.version() == "v0001" and window.model_label.text() == "model v0001"
    assert len(warnings) == 1  # no new warning: v0001 is fine


def test_switching_to_the_shipped_model_repairs_a_damaged_pointer(qtbot, registry):
    (registry.root / "current.json").write_text("not json")
    window = MainWindow(service=ModelService(registry_root=registry.root))
    qtbot.addWidget(window)
    assert "not valid JSON" in window.model_label.toolTip()
    window.service.use_shipped()
    window.show_model()
    assert registry.current() is None and window.model_label.toolTip() == ""
    assert [h["version"] for h in registry._pointer()["history"]] == [SHIPPED]
