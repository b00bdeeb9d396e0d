"""Retraining settings (extra data sets, extra engine flags) beside the app's other settings.

They live in the same INI file as ``AppSettings`` under a ``training/`` group, so
NODULESEG_HOME moves them too. The dialog edits both.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit,
                               QListWidget, QMessageBox, QPushButton, QVBoxLayout, QWidget)

from noduleseg.core.errors import NodulesegError


class TrainingSettingsError(NodulesegError):
    """A setting cannot be used as given."""


class TrainingSettings:
    """Typed access to the ``training/`` keys of the settings file at ``path``."""

    def __init__(self, path: Path) -> None:
        self._settings = QSettings(str(path), QSettings.Format.IniFormat)

    def datasets(self) -> list[Path]:
        """Extra nnU-Net raw folders every retrain also uses (the shared LIDC data, say)."""
        value = self._settings.value("training/datasets", [])
        values = [value] if isinstance(value, str) else list(value or [])
        return [Path(v) for v in values if v]

    def set_datasets(self, folders: list[Path]) -> None:
        self._settings.setValue("training/datasets", [str(f) for f in folders])
        self._settings.sync()

    def engine_args_text(self) -> str:
        return str(self._settings.value("training/engine_args", "") or "")

    def engine_args(self) -> list[str]:
        """Further ``noduleseg-train`` flags (``--stage-epochs 1 --device cpu`` ...)."""
        return parse_engine_args(self.engine_args_text())

    def set_engine_args(self, text: str) -> None:
        parse_engine_args(text)
        self._settings.setValue("training/engine_args", text.strip())
        self._settings.sync()


FIXED_FLAGS = ("--strategy", "--from", "--out", "--progress-json", "--activate", "--no-activate", "--compare")


def parse_engine_args(text: str) -> list[str]:
    """Split extra flags like a shell would; refuse the ones the panel sets itself.

    Raises:
        TrainingSettingsError: Unbalanced quotes, or a flag the panel owns.
    """
    try:
        args = shlex.split(text)
    except ValueError as error:
        raise TrainingSettingsError(f"extra training flags: {error}") from None
    owned = [a for a in args if a.split("=", 1)[0] in FIXED_FLAGS]
    if owned:
        flag = owned[0].split("=", 1)[0]
        raise TrainingSettingsError(f"extra training flags: {flag} is set by the Training panel; remove it")
    return args


class TrainingSettingsDialog(QDialog):
    """Edit the extra data sets and flags."""

    def __init__(self, settings: TrainingSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent, windowTitle="Retraining settings")
        self.settings = settings
        self.folders = QListWidget()
        self.folders.addItems([str(p) for p in settings.datasets()])
        add, remove = QPushButton("Add data set..."), QPushButton("Remove")
        add.clicked.connect(self._add)
        remove.clicked.connect(lambda: [self.folders.takeItem(self.folders.row(i))
                                        for i in self.folders.selectedItems()])
        self.flags = QLineEdit(settings.engine_args_text(), placeholderText="e.g. --stage-epochs 2,2,1,1,1")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        form = QFormLayout()
        form.addRow("Extra flags", self.flags)
        layout = QVBoxLayout(self)
        layout.addWidget(self.folders)
        layout.addLayout(row)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Training data set (nnU-Net raw folder)")
        if folder:
            self.folders.addItem(folder)

    def accept(self) -> None:
        try:
            self.settings.set_engine_args(self.flags.text())
        except TrainingSettingsError as error:
            QMessageBox.warning(self, "Retraining settings", str(error))
            return
        self.settings.set_datasets([Path(self.folders.item(n).text()) for n in range(self.folders.count())])
        super().accept()
