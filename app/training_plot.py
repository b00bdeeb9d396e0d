"""The retraining curves: training loss and validation Dice per epoch, stage boundaries marked."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from .retrain_runs import RunProgress

LOSS_PEN = pg.mkPen("#d9822b", width=2)
DICE_PEN = pg.mkPen("#2b8cd9", width=2)
STAGE_PEN = pg.mkPen("#888888", style=pg.QtCore.Qt.PenStyle.DashLine)


def merged_boundaries(boundaries: tuple[tuple[int, str], ...]) -> list[tuple[int, str]]:
    """One line per position: stages without epochs share their neighbour's line ("+enc2, +enc1")."""
    merged: list[tuple[int, str]] = []
    for done, name in boundaries:
        if merged and merged[-1][0] == done:
            merged[-1] = (done, f"{merged[-1][1]}, {name}")
        else:
            merged.append((done, name))
    return merged


class TrainingPlot(pg.PlotWidget):
    """Draws a ``RunProgress``: x is the epoch count over all stages (1 = first epoch)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setMinimumHeight(160)
        self.plotItem.showGrid(x=True, y=True, alpha=0.25)
        self.plotItem.setLabel("bottom", "epoch")
        self.plotItem.setLabel("left", "loss / Dice")
        self.plotItem.addLegend(offset=(-10, -55))
        self.loss = self.plotItem.plot([], [], pen=LOSS_PEN, symbol="o", symbolSize=5, name="training loss")
        self.dice = self.plotItem.plot([], [], pen=DICE_PEN, symbol="o", symbolSize=5, name="validation Dice")
        self.stage_lines: list[pg.InfiniteLine] = []

    def show_progress(self, progress: RunProgress) -> None:
        epochs = list(range(1, len(progress.loss) + 1))
        self.loss.setData(epochs, list(progress.loss))
        self.dice.setData(epochs, [d if d == d else 0.0 for d in progress.val_dice])
        if len(self.stage_lines) != len(merged_boundaries(progress.boundaries)):
            self._draw_stages(progress)

    def _draw_stages(self, progress: RunProgress) -> None:
        for line in self.stage_lines:
            self.plotItem.removeItem(line)
        self.stage_lines = []
        for done, name in merged_boundaries(progress.boundaries):
            line = pg.InfiniteLine(pos=done + 0.5, angle=90, pen=STAGE_PEN, label=name,
                                   labelOpts={"position": 0.62, "color": "#555555", "rotateAxis": (1, 0)})
            self.plotItem.addItem(line)
            self.stage_lines.append(line)

    def clear_run(self) -> None:
        self.show_progress(RunProgress())
