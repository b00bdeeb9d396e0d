"""``noduleseg-train`` from the command line: user errors, progress JSON, registry commands,
and the same command under torchrun with 2 CPU processes (DDP over gloo)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from noduleseg.core import cases
from noduleseg.training.cli import main
from noduleseg.training.registry import ModelRegistry
from noduleseg.training.toy import write_toy_dataset

TINY_FLAGS = ["--decoder-widths", "16,16,8,8", "--patch-px", "32", "--mm-per-px", "0.7", "--batch-size", "4",
              "--beyond-end", "1", "--negative-ratio", "0.25", "--device", "cpu", "--from", "transfer"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "ds", n_cases=3)


def test_bad_data_is_one_line_on_stderr_and_exit_2(tmp_path, capsys):
    broken = write_toy_dataset(tmp_path / "broken", n_cases=2)
    cases.label_path(broken, "toy001").unlink()
    events = tmp_path / "events.jsonl"
    status = main(["train", str(broken), "--out", str(tmp_path / "reg"), "--progress-json", str(events)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "toy001_0000.nii.gz: no label map" in err and "Traceback" not in err
    assert json.loads(events.read_text())["event"] == "error"
    assert main(["list", "--out", str(tmp_path / "reg")]) == 0
    assert main(["rollback", "v0009", "--out", str(tmp_path / "reg")]) == 2
    assert main(["train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "reg")]) == 2
    assert "not an nnU-Net raw data set" in capsys.readouterr().err


def test_bad_flag_values_exit_2_without_traceback(dataset, tmp_path, capsys):
    assert main([str(dataset), "--patch-px", "30", "--out", str(tmp_path)]) == 2
    assert "patch_px 30 must be a positive multiple of 16" in capsys.readouterr().err
    assert main([str(dataset), "--crop-fill", "sideways", "--select-by", "luck", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "crop_fill 'sideways'" in err and "select_by 'luck'" in err and "Traceback" not in err
    assert main([str(dataset), "--split", "nosuchsplit", "--out", str(tmp_path)]) == 2
    assert "no such split file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([str(dataset), "--strategy", "fancy"])
    assert exit_info.value.code == 2


def test_compare_then_activate_rollback_and_list(dataset, tmp_path, capsys):
    registry = tmp_path / "reg"
    events = tmp_path / "events.jsonl"
    args = [str(dataset), "--out", str(registry), "--epochs", "1", *TINY_FLAGS]
    assert main([*args, "--compare", "frozen,scratch", "--progress-json", str(events)]) == 0
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["event"] for e in lines] == ["run_start", "stage_start", "epoch", "stage_end", "done"] * 2
    assert [e["version"] for e in lines if e["event"] == "done"] == ["v0001", "v0002"]
    assert not any(e["activated"] for e in lines if e["event"] == "done")
    table = (registry / "comparisons" / "comparison.md").read_text()
    rows = json.loads((registry / "comparisons" / "comparison.json").read_text())["rows"]
    assert [r["strategy"] for r in rows] == ["frozen", "scratch"] and "| frozen | v0001 |" in table
    versions = ModelRegistry(registry).versions()
    assert versions[0].card["split"] == versions[1].card["split"]
    assert ModelRegistry(registry).current() is None
    assert main(["activate", "v0001", "--out", str(registry)]) == 0
    assert main(["activate", "v0002", "--force", "--out", str(registry)]) == 0
    assert main(["rollback", "v0001", "--out", str(registry)]) == 0
    assert ModelRegistry(registry).current().version == "v0001"
    capsys.readouterr()
    assert main(["list", "--out", str(registry)]) == 0
    listing = capsys.readouterr().out
    assert "* v0001  frozen" in listing and "  v0002  scratch" in listing
    assert main(["rollback", "shipped", "--out", str(registry)]) == 0
    assert "current: the shipped model" in capsys.readouterr().out
    assert ModelRegistry(registry).current() is None and len(ModelRegistry(registry).versions()) == 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_torchrun_two_cpu_processes_train_like_one(dataset, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [str(dataset), "--strategy", "bsft", "--stage-epochs", "1,0,0,0,1", *TINY_FLAGS]
    one = subprocess.run([sys.executable, "-m", "noduleseg.training.cli", *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
                          "-m", "noduleseg.training.cli", *args, "--out", str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.splitlines() == [f"v0001 {tmp_path / 'two' / 'v0001'}"]  # one process reports
    (single,), (double,) = ModelRegistry(tmp_path / "one").versions(), ModelRegistry(tmp_path / "two").versions()
    assert double.card["processes"] == 2 and single.card["processes"] == 1
    assert double.card["split"] == single.card["split"]
    assert [s["name"] for s in double.card["stages"]] == [s["name"] for s in single.card["stages"]]
    assert [e["patches"] for e in double.card["epochs"]] == [e["patches"] for e in single.card["epochs"]]
    assert all(0.0 <= s["val_dice"] <= 1.0 for s in double.card["stages"])
    assert len(double.card["metrics"]["per_nodule"]) == len(single.card["metrics"]["per_nodule"])
