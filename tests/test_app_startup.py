"""The window appears before the model loads: building it imports no torch."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from noduleseg.app.window import MainWindow
window = MainWindow()
window.show()
app.processEvents()
print("torch" in sys.modules)
"""


def test_building_the_window_does_not_import_torch(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "NODULESEG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
