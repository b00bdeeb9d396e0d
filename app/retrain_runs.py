"""Retraining runs started from the app, as files: no Qt here.

A run lives in ``REGISTRY/.app-runs/<stamp>/`` (hidden, so the registry never lists it):
``run.json`` (command, pid, start time), ``progress.jsonl`` (the engine's ``--progress-json``
events), ``stdout.txt``, ``stderr.txt``, ``exit_status`` (written by ``engine_run`` when the
engine returns) and ``seen`` (the app has shown the result). Because everything is in files,
a run can outlive the app that started it, and the next start picks its result up.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from noduleseg.core.atomic import write_json_atomic, write_text_atomic

RUNS_FOLDER = ".app-runs"
ENGINE_MODULE = "noduleseg.training.cli"
LAUNCHER_MODULE = "noduleseg.app.engine_run"


@dataclass(frozen=True)
class RunFolder:
    """The files of one app-started run."""

    path: Path

    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

    @property
    def progress(self) -> Path:
        return self.path / "progress.jsonl"

    @property
    def stdout(self) -> Path:
        return self.path / "stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.path / "stderr.txt"

    @property
    def status_file(self) -> Path:
        return self.path / "exit_status"

    @property
    def seen_file(self) -> Path:
        return self.path / "seen"

    def record(self) -> dict[str, Any]:
        """``run.json`` ({} when missing or unreadable)."""
        try:
            return json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            return {}

    def exit_status(self) -> int | None:
        """The engine's exit status, or None while it runs (or when it was killed)."""
        try:
            return int(self.status_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stderr_tail(self, lines: int = 5) -> str:
        try:
            text = self.stderr.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])

    def mark_seen(self) -> None:
        write_text_atomic(self.seen_file, time.strftime("%Y-%m-%dT%H:%M:%S\n"))

    @property
    def seen(self) -> bool:
        return self.seen_file.exists()


def new_run_folder(registry_root: Path) -> RunFolder:
    """A fresh, empty run folder under the registry."""
    base = Path(registry_root) / RUNS_FOLDER
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for n in range(1000):
        path = base / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()
            return RunFolder(path)
        except FileExistsError:
            continue
    raise OSError(f"{base}: cannot create a run folder")


def list_run_folders(registry_root: Path) -> list[RunFolder]:
    """App-started runs, oldest first."""
    base = Path(registry_root) / RUNS_FOLDER
    if not base.is_dir():
        return []
    return [RunFolder(p) for p in sorted(base.iterdir()) if (p / "run.json").exists()]


@dataclass(frozen=True)
class RunRequest:
    """What to retrain on and from.

    Attributes:
        datasets: nnU-Net raw folders: the corrections first, then those listed in the settings.
        registry_root: The model registry (``--out``).
        source: ``--from``: the active registered version, or ``auto`` (the shipped model).
        extra_args: Further engine flags from the settings (``--stage-epochs 1`` ...).
    """

    datasets: tuple[Path, ...]
    registry_root: Path
    source: str = "auto"
    extra_args: tuple[str, ...] = ()


def engine_args(request: RunRequest, progress_file: Path) -> list[str]:
    """``noduleseg-train`` arguments: BSFT from the active version, activation left to the reader."""
    return ["train", *(str(d) for d in request.datasets), "--strategy", "bsft", "--from", request.source,
            "--out", str(request.registry_root), "--no-activate", "--progress-json", str(progress_file),
            *request.extra_args]


def launcher_args(run: RunFolder, engine: Sequence[str]) -> list[str]:
    """Arguments after the Python executable: the launcher keeps output and exit status in ``run``."""
    return ["-m", LAUNCHER_MODULE, str(run.path), "--", *engine]


def parse_lines(text: str) -> tuple[list[dict[str, Any]], str]:
    """Events in the complete lines of ``text``, and the incomplete rest.

    Lines that are not JSON objects with an ``event`` key are skipped (a stray print).
    """
    *lines, rest = text.split("\n")
    events = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "event" in value:
            events.append(value)
    return events, rest




def write_run_record(run: RunFolder, pid: int, argv: Sequence[str], request: RunRequest) -> None:
    write_json_atomic(run.run_file, {"pid": pid, "argv": list(argv), "started": time.time(),
                                     "registry": str(request.registry_root), "source": request.source,
                                     "datasets": [str(d) for d in request.datasets]})


@dataclass(frozen=True)
class RunProgress:
    """What the panel draws of a run, folded from its events.

    Attributes:
        run_id: The engine's run id (names its checkpoint folder ``.runs/<run_id>``).
        stages: Stage names in order; ``stage_epochs`` their planned epochs.
        stage: Index of the stage in progress (-1 before the first).
        epochs_done: Completed epochs over all stages.
        eta_s: The engine's last remaining-time estimate.
        loss, val_dice: One value per completed epoch.
        boundaries: Epochs completed when each stage began (for the plot's stage lines).
        done: The ``done`` event; error: the ``error`` event's message.
    """

    run_id: str = ""
    stages: tuple[str, ...] = ()
    stage_epochs: tuple[int, ...] = ()
    stage: int = -1
    epoch_in_stage: int = 0
    epochs_done: int = 0
    eta_s: float | None = None
    loss: tuple[float, ...] = ()
    val_dice: tuple[float, ...] = ()
    boundaries: tuple[tuple[int, str], ...] = ()
    done: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def epochs_total(self) -> int:
        return sum(self.stage_epochs)

    @property
    def fraction(self) -> float:
        return 1.0 if self.done else self.epochs_done / max(1, self.epochs_total)


def fold(progress: RunProgress, event: dict[str, Any]) -> RunProgress:
    """``progress`` after ``event``."""
    kind = event.get("event")
    if kind == "run_start":
        stages = event.get("stages", [])
        return replace(progress, run_id=str(event.get("run_id", "")), stages=tuple(s["name"] for s in stages),
                       stage_epochs=tuple(int(s["epochs"]) for s in stages))
    if kind == "stage_start":
        return replace(progress, stage=int(event["index"]), epoch_in_stage=int(event.get("resumed_at_epoch", 0)),
                       boundaries=(*progress.boundaries, (progress.epochs_done, str(event["stage"]))))
    if kind == "epoch":
        return replace(progress, epoch_in_stage=int(event["epoch"]) + 1, epochs_done=progress.epochs_done + 1,
                       eta_s=event.get("eta_s"), loss=(*progress.loss, float(event["loss"])),
                       val_dice=(*progress.val_dice, float(event["val_dice"])))
    if kind == "done":
        return replace(progress, done=dict(event), eta_s=0.0)
    if kind == "error":
        return replace(progress, error=str(event.get("message", "")))
    return progress


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, in words a reader can act on.

    Attributes:
        status: The engine's exit status (None: unknown, the process was killed).
        version: The new version, when one was registered.
        message: What happened.
        cancelled: The reader stopped it.
    """

    status: int | None
    version: str | None
    message: str
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.version is not None


def outcome(status: int | None, progress: RunProgress, stderr_tail: str, cancelled: bool = False) -> RunOutcome:
    """Combine the exit status, the events and the last stderr lines into one outcome."""
    if progress.done:
        version = str(progress.done.get("version"))
        dice = progress.done.get("val_dice")
        text = f"{version} registered" + (f" (validation Dice {dice:.3f})" if isinstance(dice, float) else "")
        return RunOutcome(status, version, text)
    if cancelled:
        return RunOutcome(status, None, "retraining cancelled; no version was registered", True)
    if progress.error:
        return RunOutcome(status, None, f"training stopped: {progress.error}")
    if status is None:
        return RunOutcome(None, None, "the training process ended without a result (it was killed); "
                                      "no version was registered")
    last = stderr_tail.splitlines()[-1] if stderr_tail else ""
    return RunOutcome(status, None, f"training failed (exit status {status})" + (f": {last}" if last else ""))


def discard_leftovers(registry_root: Path, run_id: str, since: float) -> list[Path]:
    """Remove a stopped run's checkpoints and any staging folder it left; return what went.

    Only ``.runs/<run_id>`` and ``.staging-*`` folders changed after ``since`` (the run's start)
    are touched: both are hidden and never listed as versions, so this only frees the disk.
    """
    root, removed = Path(registry_root), []
    candidates = [root / ".runs" / run_id] if run_id else []
    candidates += [p for p in root.glob(".staging-*") if p.is_dir() and p.stat().st_mtime >= since - 1]
    for path in candidates:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
