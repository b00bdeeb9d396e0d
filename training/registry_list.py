"""What ``noduleseg-train list`` prints: every version, the active one marked, and what is wrong.

A damaged version (a card that is not JSON, weights that do not match the card) or a damaged
``current.json`` never hides the other versions; each problem gets its own line, and the app
uses the shipped model while the active version cannot be used.
"""

from __future__ import annotations

from noduleseg.core.errors import ModelError
from noduleseg.core.model_io import check_model_folder

from .registry import ModelRegistry, VersionEntry


def weights_problem(entry: VersionEntry) -> str:
    """Why a version's folder cannot be loaded (checked without torch), or ""."""
    try:
        check_model_folder(entry.folder)
    except ModelError as error:
        return str(error)
    return ""


def _line(entry: VersionEntry, active: bool, problem: str) -> str:
    dice = entry.val_dice
    line = (f"{'*' if active else ' '} {entry.version}  {entry.card.get('strategy', '?'):8s} "
            f"val Dice {'n/a' if dice is None else f'{dice:.4f}'}  {entry.created}")
    return f"{line}  DAMAGED: {problem}" if problem else line


def list_lines(registry: ModelRegistry) -> list[str]:
    """One line per version (``*`` the active one), then the damaged ones and the active model."""
    try:
        current, pointer_problem = registry.current(), ""
    except ModelError as error:
        current, pointer_problem = None, str(error)
    lines, active_problem = [], ""
    for entry in registry.versions():
        active = current is not None and entry.version == current.version
        problem = weights_problem(entry)
        active_problem = problem if active else active_problem
        lines.append(_line(entry, active, problem))
    lines += [f"! {d.version}  DAMAGED: {d.problem}" for d in registry.damaged()]
    if pointer_problem:
        lines.append(f"(the active model cannot be used: {pointer_problem}; the app uses the shipped model)")
    elif active_problem:
        lines.append(f"(the active version {current.version} is damaged: the app uses the shipped model; "
                     "choose another with `noduleseg-train rollback VERSION` or `rollback shipped`)")
    elif current is None:
        lines.append("(no current version: the shipped model is used)")
    return lines
