"""Progress reporting: the engine calls a plain callback with event dicts.

Events: ``run_start``, ``stage_start``, ``step`` (throttled), ``epoch`` (loss, val_dice,
eta_s), ``stage_end``, ``done`` (version, activated), ``error`` (message). The CLI turns them
into a progress bar on a terminal and/or JSON lines; the app into Qt signals.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

Progress = Callable[[dict[str, Any]], None]


def no_progress(event: dict[str, Any]) -> None:
    """A progress callback that ignores everything."""


def fan_out(callbacks: Sequence[Progress]) -> Progress:
    """One callback calling each of ``callbacks`` in turn."""
    def call(event: dict[str, Any]) -> None:
        for callback in callbacks:
            callback(event)
    return call


class JsonLines:
    """Writes each event as one JSON line (``step`` events only when ``steps`` is set)."""

    def __init__(self, stream: TextIO, steps: bool = False) -> None:
        self.stream, self.steps = stream, steps

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "step" and not self.steps:
            return
        self.stream.write(json.dumps(event, default=str) + "\n")
        self.stream.flush()


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "--:--"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes:02d}:{secs:02d}"


class TerminalBar:
    """A one-line bar per epoch on a terminal: stage, epoch, steps, loss, Dice, ETA."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 24) -> None:
        self.stream, self.width = stream, width
        self.stage, self.eta = "", None

    def _line(self, text: str, end: str = "") -> None:
        self.stream.write("\r\033[K" + text + end)
        self.stream.flush()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "stage_start":
            self.stage = f"stage {event['index'] + 1}/{event['n_stages']} {event['stage']}"
        elif kind == "step":
            filled = int(self.width * event["step"] / max(1, event["steps"]))
            bar = "#" * filled + "." * (self.width - filled)
            self._line(f"{self.stage} epoch {event['epoch'] + 1}/{event['epochs']} [{bar}] "
                       f"loss {event['loss']:.3f} ETA {_duration(self.eta)}")
        elif kind == "epoch":
            self.eta = event.get("eta_s")
            self._line(f"{self.stage} epoch {event['epoch'] + 1}/{event['epochs']} loss {event['loss']:.3f} "
                       f"val Dice {event['val_dice']:.3f} ({event['seconds']:.0f} s) ETA {_duration(self.eta)}", "\n")
        elif kind == "done":
            state = "activated" if event.get("activated") else f"kept, not activated ({event.get('reason', '')})"
            self._line(f"version {event['version']}: val Dice {event['val_dice']:.3f}, {state}", "\n")


class Throttle:
    """Passes ``step`` events at most every ``interval`` seconds (and the last of an epoch)."""

    def __init__(self, progress: Progress, interval: float = 0.5) -> None:
        self.progress, self.interval, self.last = progress, interval, 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        if event["event"] == "step" and event["step"] < event["steps"]:
            now = time.monotonic()
            if now - self.last < self.interval:
                return
            self.last = now
        self.progress(event)
