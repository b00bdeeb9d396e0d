"""A version's ``report.md`` (tables), ``curves.png`` and simulated-nodule examples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from noduleseg.core.atomic import write_text_atomic
from noduleseg.core.patches import PatchGeometry, sample_mask_patch, sample_patch
from noduleseg.core.model_io import DEFAULT_PEAK_SHARE
from noduleseg.core.windowing import LUNG, apply_window

from .data import TrainCase
from .png import curves_image, montage, write_png

LOSS_COLOUR, DICE_COLOUR, GLOBAL_COLOUR = (30, 90, 200), (220, 60, 30), (40, 160, 60)


def write_curves(path: Path, epochs: Sequence[dict[str, Any]]) -> None:
    """Loss (blue, scaled to its maximum), validation Dice (red) and global Dice (green) per
    epoch; grey vertical lines mark stage boundaries."""
    losses = np.array([e["loss"] for e in epochs], dtype=float)
    scaled = losses / losses.max() if len(losses) and losses.max() > 0 else losses
    boundaries = [n for n in range(1, len(epochs)) if epochs[n]["stage_index"] != epochs[n - 1]["stage_index"]]
    series = [(list(scaled), LOSS_COLOUR), ([e["val_dice"] for e in epochs], DICE_COLOUR),
              ([e["val_global_dice"] for e in epochs], GLOBAL_COLOUR)]
    write_png(path, curves_image(series, boundaries))


def write_examples(path: Path, cases: Sequence[TrainCase], placed: Sequence[dict], limit: int = 8) -> None:
    """Axial 48 mm patches (lung window) through simulated nodules, outline in red."""
    by_id = {case.case_id: case for case in cases}
    patches, masks = [], []
    for item in list(placed)[:limit]:
        case = by_id[item["case"]]
        k, j, i = item["center_kji"]
        geometry = PatchGeometry((j, i), 0.75, 64, case.volume.spacing_zyx[1:])
        patches.append(apply_window(sample_patch(case.volume.hu[int(round(k))], geometry), LUNG))
        masks.append(sample_mask_patch(case.labels[int(round(k))] == item["label"], geometry))
    write_png(path, montage(patches, masks))


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4f}"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table of ``rows`` restricted to ``columns``."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def report_markdown(card: dict[str, Any]) -> str:
    """The version's report: summary, data, split, stages, epochs, per-nodule Dice."""
    metrics, data, split = card["metrics"], card["training_data"], card["split"]
    stages = [{**s, "released": ",".join(s["released"]) or "-"} for s in card["stages"]]
    share = float(card.get("peak_share", DEFAULT_PEAK_SHARE))
    cut = f"at {share:.0%} of the nodule's peak" if share > 0 else "at that probability too"
    parts = [
        f"# Model {card['version']} ({card['strategy']})", "",
        f"Validation Dice (mean per nodule, beyond-end slices included): {_fmt(metrics['val_dice'])}; "
        f"global Dice over all validation patches: {_fmt(metrics['val_global_dice'])}; "
        f"3D Dice of click-to-segment on the validation nodules: {_fmt(metrics.get('val_click_dice'))}; "
        f"best stage: {card['best_stage']['name']} (chosen by {metrics.get('selected_by', 'patch')} Dice). Validation cut at probability {card['threshold']}; "
        f"click-to-segment finds a nodule at it and cuts its outline {cut}. Parent: {card['parent']['name']}. "
        f"Wall time {card['wall_time_s']:.0f} s on {card['device']} x{card['processes']}.", "",
        "## Data", "",
        f"{data['cases']} cases ({data['nodules']} nodules, {data['synthetic_nodules']} simulated) from "
        f"{', '.join(data['datasets'])}; {data['train_sites']} training sites, {data['val_patches']} validation patches.",
        "", f"Validation cases: {', '.join(split['val_cases']) or 'none'}; training cases: "
        f"{', '.join(split['train_cases'])}.", "",
        "## Stages", "", table(stages, ["index", "name", "released", "epochs", "lr", "val_dice", "val_global_dice",
                                             "val_click_dice", "best"]),
        "", "## Epochs", "", table(card["epochs"], ["stage", "epoch", "loss", "val_dice", "val_global_dice", "patches", "seconds"]),
        "", "![curves](curves.png)", "",
        "Curves: blue loss (scaled to its maximum), red validation Dice, green global Dice; grey lines mark stages.",
        "", "## Validation nodules", "",
        table(metrics["per_nodule"], ["case", "label", "simulated", "diameter_mm", "dice"]),
    ]
    if data["synthetic_nodules"]:
        parts += ["", "## Simulated nodules (examples)", "", "![examples](synthetic_examples.png)"]
    return "\n".join(parts) + "\n"


def write_report(folder: Path, card: dict[str, Any], cases: Sequence[TrainCase], placed: Sequence[dict]) -> None:
    write_text_atomic(folder / "report.md", report_markdown(card))
    write_curves(folder / "curves.png", card["epochs"])
    if placed:
        write_examples(folder / "synthetic_examples.png", cases, placed)
