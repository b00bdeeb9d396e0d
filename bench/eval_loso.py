"""Leave-one-scan-out accuracy on the converted LIDC data (issue 3 "Accuracy").

For each scan X: a fold data set under WORK/fold-X/data links the other scans' files; BSFT
(``training.api.train``, from the natural-image transfer, the fold's own registry) trains on
them; the fold's best model then segments every nodule of X from its centre: X's real nodules
plus --eval-synthetic simulated ones placed into X (a seed and random stream training never
uses, shapes the model's card does not list). Per fold: WORK/fold-X/result.json and .md;
pooled over the folds done so far: WORK/loso.json and WORK/loso.md (per nodule, by size band).
A fold whose result.json exists is skipped (with --reevaluate, its model is evaluated again with
the current inference code and simulator); an interrupted fold resumes its training run.

Validation (best-stage choice) with only two training scans, --fold-val:
  simval (default): both scans train; validation is a z-slab of the first training scan that
      lies at least --margin-mm away from its nodules, holding --val-synthetic simulated
      nodules (its tissue is seen in training, its nodules are not). Its patient id is chosen
      so that the engine's patient split validates exactly this case.
  split: the engine's own patient split of the two scans (trains on one, validates on the other).

Run (sizes: see --help; the lead's command is in the evaluation report):
  nice -n 10 .venv/bin/python bench/eval_loso.py --data /work/runs/lidc_raw --work /work/runs/loso \
      --config /work/runs/shipped.toml --stage-epochs 3,2,2,2,1 --synthetic 30 --eval-synthetic 30
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from noduleseg.core import cases as layout
from noduleseg.core.atomic import write_json_atomic, write_text_atomic
from noduleseg.core.errors import DatasetError, NodulesegError
from noduleseg.core.model_io import load_model
from noduleseg.training.api import DEFAULT_SHAPES, RunOptions, train
from noduleseg.training.cli import CONFIG_FLAGS
from noduleseg.training.config import TrainConfig, make_config
from noduleseg.training.data import TrainCase, load_case
from noduleseg.training.eval_run import (DEFAULT_EVAL_SEED, Evaluation, evaluate_cases, place_test_nodules,
                                         write_evaluation)
from noduleseg.training.evaluate import (NODULE_COLUMNS, SUMMARY_COLUMNS, NoduleResult, markdown_table,
                                         summarise, summary_rows)
from noduleseg.training.registry import ModelRegistry
from noduleseg.training.split import patient_unit
from noduleseg.training.synthetic import ShapeLibrary

FOLD_COLUMNS = ("fold", "version", "best_stage", "val_dice", "n", "found", "dice_3d", "dice_2d", "slice_error",
                "train_s", "eval_s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="converted LIDC data set (nnU-Net raw)")
    parser.add_argument("--work", type=Path, required=True, help="folds, registries and results go here")
    parser.add_argument("--config", type=Path, help="TOML with TrainConfig fields (flags override)")
    for flag, field in CONFIG_FLAGS.items():
        parser.add_argument(flag, dest=field, default=None)
    parser.add_argument("--no-amp", dest="amp", action="store_const", const=False, default=None)
    parser.add_argument("--shapes", type=Path, default=DEFAULT_SHAPES, help="nodule shape library")
    parser.add_argument("--eval-synthetic", type=int, default=30, help="simulated test nodules per held-out scan")
    parser.add_argument("--eval-seed", type=int, default=DEFAULT_EVAL_SEED, help="seed of the test nodules")
    parser.add_argument("--fold-val", choices=("simval", "split"), default="simval")
    parser.add_argument("--val-synthetic", type=int, default=12, help="simulated nodules in the simval slab")
    parser.add_argument("--margin-mm", type=float, default=10.0, help="simval slab distance from real nodules")
    parser.add_argument("--folds", help="comma-separated scans to hold out (default: all)")
    parser.add_argument("--reevaluate", action="store_true",
                        help="evaluate the trained model of a finished fold again (no training)")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def progress_printer(fold: str):
    def show(event: dict) -> None:
        if event["event"] == "epoch":
            log(f"[{fold}] {event['stage']} epoch {event['epoch'] + 1}/{event['epochs']} loss {event['loss']:.4f} "
                f"val Dice {event['val_dice']:.4f} ({event['seconds']:.0f} s)")
        elif event["event"] in ("stage_end", "done"):
            log(f"[{fold}] {event['event']}: " + ", ".join(f"{k} {v}" for k, v in event.items()
                                                         if k in ("name", "val_dice", "best", "version")))
    return show


def link_case(source: Path, target: Path, case_id: str) -> None:
    """Symlink a case's image, label map and provenance (if any) into ``target``."""
    for path_of in (layout.image_path, layout.label_path, layout.provenance_path):
        origin, link = path_of(source, case_id), path_of(target, case_id)
        if origin.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(origin.resolve())


def slab_away_from_nodules(labels: np.ndarray, spacing_z: float, margin_mm: float,
                           min_slices: int = 8) -> tuple[int, int]:
    """The longest run of slices [k0, k1) at least ``margin_mm`` from every labelled slice."""
    margin = int(np.ceil(margin_mm / spacing_z))
    allowed = np.ones(labels.shape[0], bool)
    for k in np.flatnonzero(labels.any(axis=(1, 2))):
        allowed[max(0, k - margin):k + margin + 1] = False
    best, start = (0, 0), None
    for k, ok in enumerate([*allowed, False]):
        if ok and start is None:
            start = k
        elif not ok and start is not None:
            best, start = max(best, (start, k), key=lambda r: r[1] - r[0]), None
    if best[1] - best[0] < min_slices:
        raise DatasetError(f"no {min_slices} slices {margin_mm} mm away from the nodules for a simval slab; "
                           "use --fold-val split or a smaller --margin-mm")
    return best


def validating_patient(base: str, others: list[str], seed: int) -> str:
    """A patient id the engine's split (sha256 rank with ``seed``) puts before all ``others``."""
    lowest = min(patient_unit(p, seed) for p in others)
    return next(f"{base}{n}" for n in itertools.count() if patient_unit(f"{base}{n}", seed) < lowest)


def add_simval_case(data: Path, fold_data: Path, source_id: str, patients: list[str], config: TrainConfig,
                    args: argparse.Namespace) -> list[dict]:
    """Write the simval case (slab of ``source_id`` + simulated nodules); returns its nodules."""
    case_id = f"{source_id}-simval"
    if layout.label_path(fold_data, case_id).exists():
        return (layout.read_provenance(fold_data, case_id) or {}).get("simulated", [])
    if round(config.val_fraction * (len(patients) + 1)) != 1:
        raise DatasetError(f"--fold-val simval needs val_fraction {config.val_fraction} to pick one patient "
                           f"of {len(patients) + 1}; use 0.34")
    source = load_case(data, source_id)
    k0, k1 = slab_away_from_nodules(source.labels, source.volume.spacing_zyx[0], args.margin_mm)
    slab = TrainCase(case_id, case_id, source.volume.crop(k0, k1), np.zeros_like(source.labels[k0:k1]))
    library = ShapeLibrary.load(args.shapes)
    (slab,), placed = place_test_nodules([slab], args.val_synthetic, library, args.eval_seed + 1)
    if not placed:
        raise DatasetError(f"{source_id}: no room for simulated validation nodules in slices {k0}..{k1 - 1}")
    patient = validating_patient(f"{case_id}-", patients, config.seed)
    layout.write_case(fold_data, case_id, slab.volume, slab.labels,
                      {"patient_id": patient, "source": f"{source_id} slices {k0}..{k1 - 1}", "simulated": placed})
    return placed


def build_fold(data: Path, fold_dir: Path, train_ids: list[str], config: TrainConfig,
               args: argparse.Namespace) -> tuple[Path, list[dict]]:
    """The fold's data set folder (links + dataset.json, + simval case) and the simval nodules."""
    fold_data = fold_dir / "data"
    for case_id in train_ids:
        link_case(data, fold_data, case_id)
    simval: list[dict] = []
    if args.fold_val == "simval":
        patients = [str((layout.read_provenance(data, c) or {}).get("patient_id") or c) for c in train_ids]
        simval = add_simval_case(data, fold_data, train_ids[0], patients, config, args)
    write_json_atomic(fold_data / "dataset.json", layout.dataset_json(len(layout.list_cases(fold_data))))
    return fold_data, simval


def evaluate_fold(data: Path, held_out: str, model_folder: Path, simval: list[dict],
                  args: argparse.Namespace) -> tuple[dict, Evaluation]:
    """Evaluate a fold's model on the held-out scan: the result fields and the evaluation."""
    started = time.monotonic()
    evaluation = evaluate_cases(load_model(model_folder), [load_case(data, held_out)], args.eval_synthetic,
                                args.shapes, args.eval_seed, exclude_shapes={p["shape_index"] for p in simval})
    fields = {"eval_s": round(time.monotonic() - started, 1), "eval_seed": args.eval_seed, **evaluation.to_json()}
    return fields, evaluation


def write_fold(fold_dir: Path, result: dict, evaluation: Evaluation) -> None:
    notes = [f"Held out {result['fold']}; trained on {', '.join(result['train_cases'])} ({result['fold_val']} "
             f"validation), model {result['version']}, best stage {result['best_stage']}, val Dice "
             f"{result['val_dice']}."]
    write_evaluation(evaluation, None, fold_dir / "result.md", f"LOSO fold {result['fold']}", notes)
    write_json_atomic(fold_dir / "result.json", result)


def run_fold(data: Path, held_out: str, all_ids: list[str], config: TrainConfig, args: argparse.Namespace) -> dict:
    fold_dir = args.work / f"fold-{held_out}"
    train_ids = [c for c in all_ids if c != held_out]
    fold_data, simval = build_fold(data, fold_dir, train_ids, config, args)
    started = time.monotonic()
    options = RunOptions(source="transfer", activate="force", resume=True, shapes=args.shapes)
    entry = train(config, [fold_data], ModelRegistry(fold_dir / "registry"), progress_printer(held_out), options)
    train_s = time.monotonic() - started
    fields, evaluation = evaluate_fold(data, held_out, entry.folder, simval, args)
    result = {"fold": held_out, "train_cases": train_ids, "fold_val": args.fold_val, "version": entry.version,
              "model_folder": str(entry.folder), "best_stage": entry.card["best_stage"]["name"],
              "val_dice": entry.val_dice, "train_s": round(train_s, 1), "config": config.to_json(), **fields}
    write_fold(fold_dir, result, evaluation)
    return result


def fold_simval(fold_dir: Path) -> list[dict]:
    """The simulated nodules a built fold validated on (their shapes stay out of its test nodules)."""
    return [p for case_id in layout.list_cases(fold_dir / "data")
            for p in (layout.read_provenance(fold_dir / "data", case_id) or {}).get("simulated", [])]


def reevaluate_fold(data: Path, held_out: str, args: argparse.Namespace) -> dict:
    """A finished fold's model evaluated again; the training fields stay as they were."""
    fold_dir = args.work / f"fold-{held_out}"
    result = json.loads((fold_dir / "result.json").read_text())
    fields, evaluation = evaluate_fold(data, held_out, Path(result["model_folder"]), fold_simval(fold_dir), args)
    result = {**result, **fields}
    write_fold(fold_dir, result, evaluation)
    return result


def fold_row(result: dict) -> dict:
    overall = result["summary"].get("all", {})
    return {**{k: result[k] for k in ("fold", "version", "best_stage", "val_dice", "train_s", "eval_s")},
            **{k: overall.get(k) for k in ("n", "found", "dice_3d", "dice_2d", "slice_error")}}


def write_pooled(work: Path, results: list[dict]) -> dict:
    """``loso.json`` and ``loso.md`` over the folds done; returns the pooled summary."""
    rows = [row for result in results for row in result["nodules"]]
    summary = summarise([NoduleResult.from_row(row) for row in rows])
    write_json_atomic(work / "loso.json", {"folds": [fold_row(r) for r in results], "summary": summary,
                                           "nodules": rows})
    text = ["# Leave-one-scan-out evaluation", "", f"Folds done: {len(results)}. Real nodules are the 50%-consensus "
            "LIDC masks; simulated ones are held-out library shapes placed into the held-out scan. Size band by "
            "the true long axis.", "", "## Folds", "", markdown_table([fold_row(r) for r in results], FOLD_COLUMNS),
            "", "## Pooled, by size band and origin", "", markdown_table(summary_rows(summary), SUMMARY_COLUMNS),
            "", "## Per nodule", "", markdown_table(rows, NODULE_COLUMNS)]
    write_text_atomic(work / "loso.md", "\n".join(text) + "\n")
    return summary


def run(args: argparse.Namespace) -> dict:
    overrides = {field: getattr(args, field) for field in CONFIG_FLAGS.values()}
    config = make_config(args.config, amp=args.amp, **overrides)
    all_ids = layout.list_cases(args.data)
    if len(all_ids) < 3:
        raise DatasetError(f"{args.data}: leave-one-scan-out needs at least 3 cases, found {len(all_ids)}")
    folds = [f.strip() for f in args.folds.split(",")] if args.folds else all_ids
    unknown = sorted(set(folds) - set(all_ids))
    if unknown:
        raise DatasetError(f"--folds: unknown cases {', '.join(unknown)} (known: {', '.join(all_ids)})")
    for held_out in folds:
        done = args.work / f"fold-{held_out}" / "result.json"
        if done.exists() and not args.reevaluate:
            log(f"[{held_out}] skipped: {done} exists")
            continue
        if done.exists():
            result = reevaluate_fold(args.data, held_out, args)
        else:
            result = run_fold(args.data, held_out, all_ids, config, args)
        log(f"[{held_out}] mean 3D Dice {result['summary'].get('all', {}).get('dice_3d')}")
    finished = [args.work / f"fold-{c}" / "result.json" for c in all_ids]
    results = [json.loads(p.read_text()) for p in finished if p.exists()]
    return write_pooled(args.work, results)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = run(args)
    except NodulesegError as error:
        print(f"eval_loso: {error}", file=sys.stderr)
        return 2
    print(markdown_table(summary_rows(summary), SUMMARY_COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
