"""Progress of a long command: a bar on a terminal, one line per finished step elsewhere (a log)."""

from __future__ import annotations

import sys
from typing import TextIO

BAR_WIDTH = 30
_CLEAR_TO_END = "\x1b[K"


class ConsoleProgress:
    """Turns core's progress callback (0..1) and step lines into terminal output.

    On a terminal (``bar_stream.isatty()``) a bar is redrawn in place, labelled with the last
    step; elsewhere each step is printed as a line on ``line_stream`` and the fraction is not.

    Args:
        bar_stream: Where the bar is drawn (stderr, so stdout stays a clean log).
        line_stream: Where step lines go when there is no terminal.
    """

    def __init__(self, bar_stream: TextIO | None = None, line_stream: TextIO | None = None) -> None:
        self.bar_stream = bar_stream or sys.stderr
        self.line_stream = line_stream or sys.stdout
        self.on_terminal = bool(getattr(self.bar_stream, "isatty", lambda: False)())
        self.fraction, self.label, self.drawn = 0.0, "", False

    def progress(self, fraction: float) -> None:
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        self._draw()

    def step(self, line: str) -> None:
        """A finished step: the bar's label on a terminal, a printed line elsewhere."""
        if self.on_terminal:
            self.label = line
            self._draw()
        else:
            print(line, file=self.line_stream, flush=True)

    def close(self) -> None:
        """End the bar's line, so what follows starts on its own."""
        if self.drawn:
            self.bar_stream.write("\n")
            self.bar_stream.flush()
            self.drawn = False

    def _draw(self) -> None:
        if not self.on_terminal:
            return
        filled = round(self.fraction * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.bar_stream.write(f"\r[{bar}] {self.fraction * 100:3.0f}%  {self.label[:70]}{_CLEAR_TO_END}")
        self.bar_stream.flush()
        self.drawn = True
