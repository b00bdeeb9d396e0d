"""The app's settings (recent files, corrections folder) in an INI file under ``data_dir()``.

Keeping them beside the sessions (not in the platform registry) means NODULESEG_HOME moves
everything a test or a second profile touches.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from noduleseg.core.paths import data_dir

from .keeping import default_corrections_dir

MAX_RECENT = 8


class AppSettings:
    """Typed access to the settings file.

    Args:
        path: The INI file; ``data_dir()/"noduleseg.ini"`` by default.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / "noduleseg.ini"
        self._settings = QSettings(str(self.path), QSettings.Format.IniFormat)

    def recent_files(self) -> list[str]:
        value = self._settings.value("recent", [])
        recent = [value] if isinstance(value, str) else list(value or [])
        return [p for p in recent if p]

    def add_recent(self, path: str) -> None:
        recent = [path] + [p for p in self.recent_files() if p != path]
        self._settings.setValue("recent", recent[:MAX_RECENT])
        self._settings.sync()

    def corrections_dir(self) -> Path:
        value = self._settings.value("corrections_dir", "")
        return Path(value) if value else default_corrections_dir()

    def set_corrections_dir(self, folder: Path) -> None:
        self._settings.setValue("corrections_dir", str(folder))
        self._settings.sync()

    def last_dir(self) -> str:
        return str(self._settings.value("last_dir", "") or Path.home())

    def set_last_dir(self, folder: str) -> None:
        self._settings.setValue("last_dir", folder)
