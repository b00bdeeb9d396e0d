"""``train`` and ``compare``: the typed functions the CLI, the app and the tests call."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from noduleseg.core.atomic import write_json_atomic, write_text_atomic
from noduleseg.core.errors import NodulesegError
from noduleseg.core.model_io import load_model, save_model
from noduleseg.core.nodule_mask import NoduleMask

from .config import TrainConfig
from .data import TrainCase, load_datasets
from .distributed import DistContext, init_distributed
from .engine import TrainingData, click_dice, run_stages, validate_run
from .evaluate import reference_diameter_mm
from .metrics import validate
from .pool import validation_pool
from .progress import Progress, no_progress
from .registry import ModelRegistry, RegistryError, VersionEntry
from .report import table, write_report
from .sampling import NODULE, build_sites
from .split import load_fixed_split, split_by_file, split_cases
from .stages import plan_stages
from .start import StartPoint, start_point
from .synthetic import ShapeLibrary, simulate

# The shared data beside the checkout (as tests/conftest.py finds it); --shapes overrides.
DEFAULT_SHAPES = Path(__file__).resolve().parents[2] / "shared" / "data" / "shapes"
NEGATIVE_MARGIN_MM = 20.0


@dataclass(frozen=True)
class RunOptions:
    """How a run starts and ends (not part of the model's recipe).

    Attributes:
        source: Start weights: ``auto``, ``transfer``, ``shipped`` or a registered version.
        activate: ``gate`` (activate when val Dice is not worse), ``force`` or ``never``.
        resume: Continue the run's checkpoint if one exists.
        shapes: Nodule shape library folder for ``--synthetic``.
    """

    source: str = "auto"
    activate: str = "gate"
    resume: bool = False
    shapes: Path = DEFAULT_SHAPES


def _run_id(config: TrainConfig, sources: Sequence[str], cases: Sequence[TrainCase], start: StartPoint) -> str:
    text = json.dumps([config.to_json(), sorted(sources),
                       [c.case_id for c in cases], start.parent.get("name"), start.parent.get("sha256")],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _prepare(cases: list[TrainCase], config: TrainConfig, options: RunOptions) -> tuple[list[TrainCase], list[dict]]:
    if config.synthetic <= 0:
        return cases, []
    library = ShapeLibrary.load(options.shapes)
    return simulate(cases, config.synthetic, library, tuple(config.synthetic_diameter_mm), config.seed)


def _per_nodule(validation, val_cases: Sequence[TrainCase]) -> list[dict[str, Any]]:
    rows = []
    for case_index, label, value in validation.per_nodule:
        case = val_cases[case_index]
        truth = NoduleMask.from_full(case.labels == label)
        rows.append({"case": case.case_id, "label": label, "simulated": label in case.synthetic,
                     "diameter_mm": round(reference_diameter_mm(case, label, truth), 1), "dice": value})
    return rows


def _baseline(registry: ModelRegistry, data: TrainingData, dist: DistContext) -> dict[str, Any] | None:
    """The current version's Dice on this run's validation data (for the activation gate)."""
    current = registry.current()
    if current is None or not len(data.val_pool):
        return None
    model = load_model(current.folder)
    if model.input != data.spec:
        return None
    result = validate(model.net.to(dist.device), data.val_pool, data.val_sites, data.spec, dist.device, dist,
                      model.threshold)
    return {"version": current.version, "val_dice": result.dice}


def _card(config, start, split, data, state, placed, datasets, val_cases, validation, extra) -> dict:
    best = state.stages[state.best_stage]
    all_cases = [*data.cases, *val_cases]
    n_nodules = sum(len(c.nodule_ids()) for c in all_cases)
    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "strategy": config.strategy, "seed": config.seed, "config": config.to_json(),
        "threshold": config.threshold,
        "transfer_source": start.parent if start.parent["kind"] == "transfer" else start.parent.get("transfer_source"),
        "parent": start.parent,
        "training_data": {"datasets": list(datasets), "cases": len(all_cases),
                          "nodules": n_nodules, "synthetic_nodules": len(placed), "synthetic": placed,
                          "train_sites": len(data.train_sites),
                          "train_nodule_sites": sum(s.kind == NODULE for s in data.train_sites),
                          "val_patches": len(data.val_pool)},
        "split": {**split.to_json(), "val_fingerprint": data.val_pool.fingerprint()},
        "stages": state.stages, "epochs": state.epochs,
        "best_stage": {"index": state.best_stage, "name": best["name"]},
        "metrics": {"val_dice": validation.dice, "val_global_dice": validation.global_dice,
                    "val_click_dice": validation.click_dice, "selected_by": config.select_by,
                    "per_nodule": _per_nodule(validation, val_cases)},
        "wall_time_s": state.wall_s, **extra,
    }


def train(config: TrainConfig, datasets: Sequence[str | Path], registry: ModelRegistry,
          progress: Progress = no_progress, options: RunOptions = RunOptions()) -> VersionEntry:
    """Train one model version on nnU-Net raw data sets and register it.

    Args:
        config: The recipe (strategy, data sampling, stages, learning rates, seed).
        datasets: nnU-Net raw data set folders.
        registry: Where the version goes (and the run's checkpoints, under ``.runs/``).
        progress: Receives the events listed in ``progress.py``.
        options: Start weights, activation policy, resume.

    Returns:
        The new version (or, after a resumed run that had already registered, that version).

    Raises:
        NodulesegError: Bad data (``DatasetError``), config, model or registry problems.
    """
    cases = load_datasets([Path(d) for d in datasets])
    return train_cases(config, cases, [str(Path(d).resolve()) for d in datasets], registry, progress, options)


def _tune_cut(net, data: TrainingData, config: TrainConfig) -> tuple[float, list[dict[str, float]]]:
    """The peak share whose click validation is best among ``config.tune_cut`` (and the table)."""
    if not config.tune_cut or not data.val_cases:
        return config.peak_share, []
    rows = [{"peak_share": share, "click_dice": click_dice(net, data.val_cases, data.spec,
                                                            replace(config, peak_share=share))}
            for share in config.tune_cut]
    best = max(rows, key=lambda row: row["click_dice"] if row["click_dice"] == row["click_dice"] else -1.0)
    return best["peak_share"], rows


def train_cases(config: TrainConfig, cases: list[TrainCase], sources: Sequence[str], registry: ModelRegistry,
                progress: Progress = no_progress, options: RunOptions = RunOptions()) -> VersionEntry:
    """Train one model version on loaded cases and register it (``train`` reads them from disk).

    Args:
        config: The recipe.
        cases: All cases; the split decides which train, validate or stay out.
        sources: Where the cases came from (for the card and the run id).
        registry, progress, options: As for ``train``.
    """
    dist = init_distributed(config.device, config.amp)
    start = start_point(options.source, config, registry)
    run_id = _run_id(config, sources, cases, start)
    if options.resume and (done := registry.find_run(run_id)) is not None:
        return done
    if config.split:
        split = split_by_file(cases, load_fixed_split(config.split), config.seed)
    else:
        split = split_cases(cases, config.val_fraction, config.seed, start.val_patients)
    cases, placed = _prepare(cases, config, options)
    by_id = {c.case_id: c for c in cases}
    train_cases = [by_id[c] for c in split.train_cases]
    val_cases = [by_id[c] for c in split.val_cases]
    if not train_cases:
        raise NodulesegError("no training cases after the split; add data or lower --val-fraction")
    train_sites = build_sites(train_cases, config.beyond_end_slices, config.negative_ratio, NEGATIVE_MARGIN_MM, config.seed)
    val_sites = build_sites(val_cases, config.beyond_end_slices, config.negative_ratio, NEGATIVE_MARGIN_MM, config.seed + 1)
    val_pool = validation_pool(val_cases, val_sites, start.spec, config.jitter_mm, config.seed)
    data = TrainingData(train_cases, train_sites, val_sites, val_pool, start.spec, val_cases)
    stages = plan_stages(config.strategy, start.net, config)
    progress({"event": "run_start", "run_id": run_id, "strategy": config.strategy, "parent": start.parent["name"],
              "stages": [s.to_json() for s in stages], "train_sites": len(train_sites),
              "val_patches": len(val_pool), "device": str(dist.device), "processes": dist.world})
    run_dir = registry.run_dir(run_id)
    state = run_stages(start.net, stages, data, config, dist, run_dir, run_id, progress, options.resume)
    start.net.load_state_dict(state.best_weights)
    validation = validate_run(start.net, data, config, dist)
    peak_share, cut_tuning = _tune_cut(start.net, data, config)
    baseline = _baseline(registry, data, dist)
    if not dist.is_main:
        dist.barrier()
        return registry.find_run(run_id)
    extra = {"run_id": run_id, "device": str(dist.device), "processes": dist.world, "baseline": baseline,
             "peak_share": peak_share, "cut_tuning": cut_tuning}
    card = _card(config, start, split, data, state, placed, sources, val_cases, validation, extra)

    def write(folder: Path, version: str) -> None:
        save_model(folder, start.net.cpu(), {**card, "version": version}, start.spec)
        write_report(folder, {**card, "version": version}, val_cases + train_cases, placed)

    entry = registry.add(write)
    activated, reason = _activate(registry, entry, options.activate)
    shutil.rmtree(run_dir, ignore_errors=True)
    dist.barrier()
    progress({"event": "done", "version": entry.version, "folder": str(entry.folder), "val_dice": validation.dice,
              "val_click_dice": validation.click_dice, "activated": activated, "reason": reason})
    return entry


def _activate(registry: ModelRegistry, entry: VersionEntry, policy: str) -> tuple[bool, str]:
    if policy == "never":
        return False, "activation not requested"
    reason = "forced" if policy == "force" else registry.gate(entry)[1]
    try:
        registry.activate(entry.version, force=policy == "force")
    except RegistryError as error:
        return False, str(error)
    return True, reason


def compare(config: TrainConfig, datasets: Sequence[str | Path], registry: ModelRegistry,
            strategies: Sequence[str], out: Path, progress: Progress = no_progress,
            options: RunOptions = RunOptions(source="transfer", activate="never")) -> list[dict[str, Any]]:
    """Train each strategy on the same data and split; write ``comparison.md`` and ``.json`` to ``out``.

    Returns:
        One row per strategy: version, validation Dice, global Dice, best stage, epochs, seconds.
    """
    rows = []
    for strategy in strategies:
        started = time.monotonic()
        entry = train(replace(config, strategy=strategy), datasets, registry, progress, options)
        card = entry.card
        rows.append({"strategy": strategy, "version": entry.version, "val_dice": card["metrics"]["val_dice"],
                     "val_global_dice": card["metrics"]["val_global_dice"], "best_stage": card["best_stage"]["name"],
                     "epochs": len(card["epochs"]), "wall_s": round(time.monotonic() - started, 1)})
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "comparison.json", {"config": config.to_json(), "rows": rows})
    write_text_atomic(out / "comparison.md", table(rows, ["strategy", "version", "val_dice", "val_global_dice",
                                                          "best_stage", "epochs", "wall_s"]) + "\n")
    return rows
