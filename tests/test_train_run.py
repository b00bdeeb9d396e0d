"""End-to-end tiny runs: a version with card, report and curves; events; resume; parents."""

from __future__ import annotations

import struct
import zlib

import pytest

from noduleseg.core.model_io import load_model
from noduleseg.training.api import RunOptions, train
from noduleseg.training.config import make_config
from noduleseg.training.registry import ModelRegistry
from noduleseg.training.toy import write_toy_dataset

TINY = dict(decoder_widths=(16, 16, 8, 8), patch_px=32, mm_per_px=(0.7,), batch_size=8, beyond_end_slices=1,
            negative_ratio=0.25, device="cpu")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "ds", n_cases=3)


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and zlib.crc32(data[12:16 + length]) == struct.unpack(">I", data[16 + length:20 + length])[0]
    return struct.unpack(">II", data[16:24])


def test_bsft_run_registers_a_complete_version_and_reports_events(dataset, tmp_path):
    events = []
    config = make_config(strategy="bsft", stage_epochs=(1,), threshold=0.6, **TINY)
    entry = train(config, [dataset], ModelRegistry(tmp_path), events.append, RunOptions(source="transfer"))
    kinds = [e["event"] for e in events if e["event"] != "step"]
    assert kinds == ["run_start"] + ["stage_start", "epoch", "stage_end"] * 5 + ["done"]
    assert [e["released"] for e in events if e["event"] == "stage_start"][0] == ["enc5"]
    epoch = next(e for e in events if e["event"] == "epoch")
    assert {"stage", "epoch", "loss", "val_dice", "eta_s"} <= set(epoch)
    card = entry.card
    assert card["split"]["val_cases"] and not set(card["split"]["val_cases"]) & set(card["split"]["train_cases"])
    assert len(card["stages"]) == 5 and len(card["epochs"]) == 5
    assert card["metrics"]["selected_by"] == "click"  # the default: stages judged as the app outlines
    best = max(range(5), key=lambda n: card["stages"][n]["val_click_dice"])
    assert card["best_stage"]["index"] == best
    assert card["metrics"]["val_dice"] == pytest.approx(card["stages"][best]["val_dice"], abs=0.02)
    assert card["parent"]["kind"] == "transfer" and card["run_id"]
    assert load_model(entry.folder).input.patch_px == 32
    # the app finds nodules at the probability training cut at
    assert card["threshold"] == 0.6 and load_model(entry.folder).threshold == 0.6
    assert png_size(entry.folder / "curves.png") == (640, 320)
    report = (entry.folder / "report.md").read_text()
    assert "| index | name | released" in report and "Validation cut at probability 0.6;" in report
    assert ModelRegistry(tmp_path).current().version == entry.version
    assert not (tmp_path / ".runs").exists() or not any((tmp_path / ".runs").iterdir())


class Kill(Exception):
    pass


def crash_at(**where):
    """A progress callback that raises Kill at the first training step matching ``where``."""
    def crash(event):
        if event["event"] == "step" and all(event[key] == value for key, value in where.items()):
            raise Kill
    return crash


def test_resume_after_a_crash_mid_epoch_loses_no_completed_epoch(dataset, tmp_path):
    config = make_config(strategy="finetune", epochs=3, **TINY)
    registry, before = ModelRegistry(tmp_path), []

    def crash(event):
        before.append(event)
        if event["event"] == "step" and event["epoch"] == 2 and event["step"] == 1:
            raise Kill

    with pytest.raises(Kill):
        train(config, [dataset], registry, crash, RunOptions(source="transfer"))
    assert registry.versions() == [] and [p.name for p in tmp_path.iterdir()] == [".runs"]
    done_before = [e for e in before if e["event"] == "epoch"]
    after = []
    entry = train(config, [dataset], registry, after.append, RunOptions(source="transfer", resume=True))
    assert [e["epoch"] for e in after if e["event"] == "epoch"] == [2]
    assert next(e for e in after if e["event"] == "stage_start")["resumed_at_epoch"] == 2
    assert [e["loss"] for e in entry.card["epochs"][:2]] == [e["loss"] for e in done_before]
    assert len(entry.card["epochs"]) == 3
    again = train(config, [dataset], registry, after.append, RunOptions(source="transfer", resume=True))
    assert again.version == entry.version and len(registry.versions()) == 1


def test_retrain_from_a_version_keeps_its_validation_cases(dataset, tmp_path):
    registry = ModelRegistry(tmp_path)
    parent = train(make_config(strategy="frozen", epochs=1, **TINY), [dataset], registry,
                   options=RunOptions(source="transfer"))
    child = train(make_config(strategy="frozen", epochs=1, seed=7, **TINY), [dataset], registry,
                  options=RunOptions(source=parent.version))
    assert child.card["parent"]["version"] == parent.version
    assert child.card["split"]["val_patients"] == parent.card["split"]["val_patients"]
    assert child.card["baseline"]["version"] == parent.version
    assert registry.current().version == (child.version if child.val_dice >= child.card["baseline"]["val_dice"]
                                          else parent.version)


@pytest.fixture()
def stage_ends(monkeypatch):
    """The real engine, keeping each trained stage's final weights as it records the stage."""
    from noduleseg.training import engine

    kept, record = [], engine._record_stage

    def keep(net, state, stage, *rest):
        if stage.epochs:
            kept.append({k: v.detach().clone().float() for k, v in net.state_dict().items() if v.is_floating_point()})
        return record(net, state, stage, *rest)

    monkeypatch.setattr(engine, "_record_stage", keep)
    return kept


def assert_result_is_the_mean(entry, kept):
    import torch

    saved = torch.load(entry.folder / "weights.pt", weights_only=True)
    # BatchNorm's running statistics are averaged as well (the configs here use a BN decoder)
    for key in ("encoder.enc5.conv3.weight", "decoder.dec1.body.1.running_mean", "head.weight"):
        mean = sum(weights[key] for weights in kept) / len(kept)
        assert torch.allclose(saved[key].float(), mean, atol=2e-3, rtol=2e-3), key  # saved as fp16
    assert not torch.allclose(kept[0]["encoder.enc5.conv3.weight"], kept[-1]["encoder.enc5.conv3.weight"])


def test_average_stages_makes_the_mean_of_the_trained_stages_the_result(dataset, tmp_path, stage_ends):
    config = make_config(strategy="bsft", stage_epochs=(1, 1, 1, 0, 0), average_stages=True, decoder_norm="batch", **TINY)
    events = []
    entry = train(config, [dataset], ModelRegistry(tmp_path), events.append, RunOptions(source="transfer"))
    average = entry.card["stages"][-1]
    assert average["name"] == "average of stages" and average["stages_averaged"] == 3
    assert entry.card["best_stage"] == {"index": 5, "name": "average of stages"}
    assert [s["best"] for s in entry.card["stages"]] == [False] * 5 + [True]
    assert entry.card["metrics"]["val_dice"] == pytest.approx(average["val_dice"], abs=0.02)
    assert [e["name"] for e in events if e["event"] == "stage_end"][-1] == "average of stages"
    assert len(stage_ends) == 3
    assert_result_is_the_mean(entry, stage_ends)
    assert not any((tmp_path / ".runs").rglob("stage_sum_*.pt"))


def test_a_resumed_run_averages_the_stages_finished_before_the_crash(dataset, tmp_path, stage_ends):
    config = make_config(strategy="bsft", stage_epochs=(1, 1, 1, 0, 0), average_stages=True, decoder_norm="batch", **TINY)
    registry = ModelRegistry(tmp_path)
    with pytest.raises(Kill):
        train(config, [dataset], registry, crash_at(stage="+enc3", step=1), RunOptions(source="transfer"))
    assert len(stage_ends) == 2
    sums = [p.name for p in (tmp_path / ".runs").rglob("stage_sum_*.pt")]
    assert sums == ["stage_sum_2.pt"]
    entry = train(config, [dataset], registry, options=RunOptions(source="transfer", resume=True))
    assert entry.card["stages"][-1]["stages_averaged"] == 3 and len(stage_ends) == 3
    assert_result_is_the_mean(entry, stage_ends)


@pytest.fixture()
def epoch_ends(monkeypatch):
    """The real engine, keeping the weights at the end of each epoch."""
    from noduleseg.training import engine

    kept, run_epoch = [], engine._run_epoch

    def keep(model, net, *args):
        validation = run_epoch(model, net, *args)
        kept.append({k: v.detach().clone().float() for k, v in net.state_dict().items() if v.is_floating_point()})
        return validation

    monkeypatch.setattr(engine, "_run_epoch", keep)
    return kept


def test_average_epochs_makes_the_mean_of_every_epochs_weights_the_result_across_a_crash(
        dataset, tmp_path, epoch_ends):
    config = make_config(strategy="bsft", stage_epochs=(2, 1, 0, 0, 0), average_stages=True,
                         average_epochs=True, decoder_norm="batch", **TINY)
    registry = ModelRegistry(tmp_path)
    with pytest.raises(Kill):
        train(config, [dataset], registry, crash_at(stage="decoder+enc5", epoch=1), RunOptions(source="transfer"))
    assert len(epoch_ends) == 1
    assert [p.name for p in (tmp_path / ".runs").rglob("stage_sum_*.pt")] == ["stage_sum_1.pt"]
    entry = train(config, [dataset], registry, options=RunOptions(source="transfer", resume=True))
    average = entry.card["stages"][-1]
    assert average["name"] == "average of stages" and average["epochs_averaged"] == 3
    assert len(epoch_ends) == 3
    assert_result_is_the_mean(entry, epoch_ends)
