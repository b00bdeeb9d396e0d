"""Dependencies point one way: app -> training -> core. core and training never import Qt."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "core": ("PySide6", "pyqtgraph", "noduleseg.app", "noduleseg.training"),
    "training": ("PySide6", "pyqtgraph", "noduleseg.app"),
}


def imported_modules(source: Path) -> list[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_forbidden_modules(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    offenders = [f"{path.relative_to(ROOT)} imports {name}"
                 for path in files for name in imported_modules(path)
                 if name.split(".")[0] in FORBIDDEN[package] or name.startswith(FORBIDDEN[package])]
    assert offenders == []


def test_detector_sees_a_qt_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nfrom PySide6 import QtCore\nif True:\n    import pyqtgraph as pg\n")
    assert imported_modules(probe) == ["os", "PySide6", "pyqtgraph"]
