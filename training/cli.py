"""``noduleseg-train``: parse arguments, call the typed functions, report; nothing else here.

    noduleseg-train [train] DATASET... [--strategy bsft] [--out REGISTRY] [--config FILE.toml] ...
    noduleseg-train train DATASET... --compare scratch,frozen,finetune,bsft,lsft
    noduleseg-train convert IMAGE LABELS --out DATASET --case ID [--patient ID]
    noduleseg-train convert-lidc LIDC_ROOT --out DATASET
    noduleseg-train convert-crops LIDC_CROPS --out DATASET
    noduleseg-train list | activate VERSION [--force] | rollback VERSION|shipped   [--out REGISTRY]
    noduleseg-train ship VERSION_FOLDER --name NAME --evaluation VAL.json TEST.json [--to DIR]
    noduleseg-train evaluate MODEL [--split test|val|train|all] [--data DATASET...] [--moved-clicks N]
                    [--synthetic N --seed S --shapes DIR] [--out FILE.json] [--markdown FILE.md]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import TextIO

from noduleseg.core.errors import NodulesegError

from .config import STRATEGIES, make_config
from .progress import JsonLines, Progress, TerminalBar, Throttle, fan_out, no_progress
from .registry import ModelRegistry, default_registry_root

COMMANDS = ("train", "convert", "convert-lidc", "convert-crops", "ship", "list", "activate", "rollback", "evaluate")
# flag -> TrainConfig field (values parsed by make_config to the field's type)
CONFIG_FLAGS = {"--strategy": "strategy", "--seed": "seed", "--val-fraction": "val_fraction",
                "--patch-px": "patch_px", "--mm-per-px": "mm_per_px", "--decoder-widths": "decoder_widths",
                "--batch-size": "batch_size", "--repeats": "repeats", "--negative-ratio": "negative_ratio",
                "--beyond-end": "beyond_end_slices", "--synthetic": "synthetic", "--lr": "lr",
                "--epochs": "epochs", "--stage-epochs": "stage_epochs",
                "--layer-stage-epochs": "layer_stage_epochs", "--lr-schedule": "lr_schedule",
                "--patch-dice-share": "patch_dice_share",
                "--patch-dice-full-px": "patch_dice_full_px", "--threshold": "threshold",
                "--input-windows": "input_windows",
                "--slice-offsets-mm": "slice_offsets_mm",
                "--average-stages": "average_stages", "--average-epochs": "average_epochs",
                "--split": "split", "--crop-fill": "crop_fill", "--decoder-norm": "decoder_norm",
                "--select-by": "select_by", "--peak-share": "peak_share", "--tune-cut": "tune_cut",
                "--device": "device"}


def _train_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("train", help="train a model version from nnU-Net raw data sets")
    parser.add_argument("datasets", nargs="+", type=Path, help="nnU-Net raw data set folders")
    parser.add_argument("--out", type=Path, default=None, help="model registry (default: %(default)s = data dir/models)")
    parser.add_argument("--config", type=Path, help="TOML file with TrainConfig fields (flags override)")
    for flag, field in CONFIG_FLAGS.items():
        parser.add_argument(flag, dest=field, default=None,
                            choices=STRATEGIES if field == "strategy" else None)
    parser.add_argument("--no-amp", dest="amp", action="store_const", const=False, default=None)
    parser.add_argument("--compare", help="comma-separated strategies to run on the same split")
    parser.add_argument("--from", dest="source", default=None,
                        help="start weights: auto, transfer, shipped or a registered version")
    parser.add_argument("--activate", action="store_true", help="make the new version current whatever its Dice")
    parser.add_argument("--no-activate", action="store_true", help="register the new version but leave `current` alone")
    parser.add_argument("--resume", action="store_true", help="continue the same run after a crash or kill")
    parser.add_argument("--shapes", type=Path, help="nodule shape library folder for --synthetic")
    parser.add_argument("--progress-json", help="write one JSON line per event to FILE ('-': stdout)")


DEFAULT_EVAL_DATA = (Path("data/lidc_crops"), Path("data/lidc_raw"))


def _evaluate_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="per-nodule accuracy of a model from clicks, by size band and texture, with intervals")
    parser.add_argument("model", help="a model folder, 'shipped', or a registered version (v0001 ...)")
    parser.add_argument("--split", default="test", help="role in the committed split: test (default), val, train, all")
    parser.add_argument("--split-file", default="lidc", help="committed split name or split JSON file (default: lidc)")
    parser.add_argument("--data", type=Path, nargs="+", default=None,
                        help="nnU-Net raw data sets (default: data/lidc_crops and data/lidc_raw, made by "
                             "convert-crops and convert-lidc)")
    parser.add_argument("--moved-clicks", type=int, default=None,
                        help="extra clicks per nodule 1-3 mm from its centre (default 4)")
    parser.add_argument("--synthetic", type=int, default=0, help="simulated test nodules to add to whole scans")
    parser.add_argument("--seed", type=int, default=None, help="seed of the simulated test nodules")
    parser.add_argument("--shapes", type=Path, help="nodule shape library folder for --synthetic")
    parser.add_argument("--registry", type=Path, default=None, help="model registry for a version name")
    parser.add_argument("--against", help="a second model scored on the same nodules and clicks: prints its table "
                                          "and the paired difference of 3D Dice with a 95%% interval over patients")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the report as markdown here")


def _model_folder(name: str, registry_root: Path | None) -> Path | None:
    """A model folder from a path, 'shipped' (None: the shipped model) or a registered version."""
    if name == "shipped":
        return None
    if Path(name).is_dir():
        return Path(name)
    return ModelRegistry(registry_root).get(name).folder


def _run_evaluate(args: argparse.Namespace) -> None:
    from noduleseg.core.model_io import load_model

    from .data import load_datasets
    from .eval_run import (DEFAULT_EVAL_SEED, DEFAULT_MOVED_CLICKS, evaluate_cases, shapes_used_in_training,
                           write_evaluation)
    from .split import load_fixed_split
    from .summary import paired_difference, summary_table
    datasets = args.data or [d for d in DEFAULT_EVAL_DATA if d.is_dir()]
    if not datasets:
        raise NodulesegError("no data: convert the shared data first (noduleseg-train convert-crops "
                             "../shared/data/lidc_crops --out data/lidc_crops) or pass --data")
    model = load_model(_model_folder(args.model, args.registry))
    other = load_model(_model_folder(args.against, args.registry)) if args.against else None
    fixed = load_fixed_split(args.split_file)
    cases = fixed.cases(load_datasets(datasets), args.split)
    seed = DEFAULT_EVAL_SEED if args.seed is None else args.seed
    moved = DEFAULT_MOVED_CLICKS if args.moved_clicks is None else args.moved_clicks
    # simulated test nodules: none that either model trained on, so both see the same ones
    exclude = shapes_used_in_training(other.card) if other is not None else set()
    run = dict(split=f"{fixed.name}:{args.split}", synthetic=args.synthetic, shapes=args.shapes, seed=seed,
               moved_clicks=moved)
    evaluation = evaluate_cases(model, cases, exclude_shapes=exclude, **run)
    notes = [f"Model {evaluation.model_version}; split {evaluation.split} ({len(cases)} cases of "
             f"{', '.join(map(str, datasets))}); {moved} moved clicks per nodule; "
             f"{len(evaluation.placed)} simulated nodules (seed {seed})."]
    write_evaluation(evaluation, args.out, args.markdown, f"Evaluation of model {evaluation.model_version}", notes)
    print(notes[0])
    print(summary_table(evaluation.summary))
    if other is not None:
        against = evaluate_cases(other, cases, exclude_shapes=shapes_used_in_training(model.card), **run)
        difference = paired_difference(evaluation.results, against.results)
        print(f"\nModel {against.model_version} on the same nodules:")
        print(summary_table(against.summary))
        (d, low, high), (m, m_low, m_high) = difference["dice_3d"], difference["moved_dice_3d"]
        print(f"\n{evaluation.model_version} minus {against.model_version}, 3D Dice per nodule "
              f"(n={difference['n']}): {d:+.3f} ({low:+.3f} to {high:+.3f}); "
              f"moved clicks {m:+.3f} ({m_low:+.3f} to {m_high:+.3f})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="noduleseg-train", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    _train_parser(commands)
    convert = commands.add_parser("convert", help="write a scan + label map as a training case")
    convert.add_argument("image", type=Path)
    convert.add_argument("labels", type=Path)
    convert.add_argument("--out", type=Path, required=True, help="data set folder")
    convert.add_argument("--case", required=True, help="case id")
    convert.add_argument("--patient", help="patient id (groups cases in the split)")
    lidc = commands.add_parser("convert-lidc", help="convert the shared LIDC folders")
    lidc.add_argument("root", type=Path)
    lidc.add_argument("--out", type=Path, required=True, help="data set folder")
    crops = commands.add_parser("convert-crops", help="convert the shared LIDC nodule crops (one case per crop)")
    crops.add_argument("root", type=Path, help="the lidc_crops folder (crops.csv, crops/)")
    crops.add_argument("--out", type=Path, required=True, help="data set folder")
    _evaluate_parser(commands)
    ship = commands.add_parser("ship", help="make a version folder the shipped model (assets/model)")
    ship.add_argument("version_folder", type=Path, help="a registered version's folder")
    ship.add_argument("--name", required=True, help="the shipped model's name, e.g. shipped-2")
    ship.add_argument("--evaluation", type=Path, nargs="*", default=[],
                      help="evaluate --out JSON files whose summaries go on the card")
    ship.add_argument("--to", type=Path, default=None, help="target folder (default: the package's assets/model)")
    for name in ("list", "activate", "rollback"):
        sub = commands.add_parser(name, help=f"{name} model versions")
        if name != "list":
            sub.add_argument("version", help="v0001, ..." if name == "activate" else "v0001, ... or shipped")
        if name == "activate":
            sub.add_argument("--force", action="store_true", help="skip the validation Dice gate")
        sub.add_argument("--out", type=Path, default=None, help="model registry")
    return parser


def _progress(args: argparse.Namespace, stack: contextlib.ExitStack, stderr: TextIO) -> Progress:
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only the first process reports
        return no_progress
    callbacks: list[Progress] = []
    if args.progress_json == "-":
        callbacks.append(JsonLines(sys.stdout))
    elif args.progress_json:
        callbacks.append(JsonLines(stack.enter_context(open(args.progress_json, "a", encoding="utf-8"))))
    if stderr.isatty():
        callbacks.append(TerminalBar(stderr))
    return Throttle(fan_out(callbacks)) if callbacks else no_progress


def _run_train(args: argparse.Namespace, progress: Progress) -> None:
    from .api import RunOptions, compare, train  # torch loads only for commands that train
    from .distributed import shutdown
    overrides = {field: getattr(args, field) for field in CONFIG_FLAGS.values()}
    config = make_config(args.config, amp=args.amp, **overrides)
    registry = ModelRegistry(args.out)
    activate = "force" if args.activate else ("never" if args.compare or args.no_activate else "gate")
    source = args.source or ("transfer" if args.compare else "auto")
    options = RunOptions(source=source, activate=activate, resume=args.resume,
                         **({"shapes": args.shapes} if args.shapes else {}))
    try:
        if args.compare:
            strategies = [s.strip() for s in args.compare.split(",") if s.strip()]
            unknown = [s for s in strategies if s not in STRATEGIES]
            if unknown:
                raise NodulesegError(f"--compare: unknown strategies {', '.join(unknown)} (known: {', '.join(STRATEGIES)})")
            rows = compare(config, args.datasets, registry, strategies, registry.root / "comparisons", progress, options)
            print("\n".join(f"{r['strategy']}: {r['version']} val Dice {r['val_dice']:.4f}" for r in rows))
        else:
            entry = train(config, args.datasets, registry, progress, options)
            if int(os.environ.get("RANK", "0")) == 0:
                print(f"{entry.version} {entry.folder}")
    finally:
        shutdown()


def _run_registry(args: argparse.Namespace) -> None:
    registry = ModelRegistry(args.out or default_registry_root())
    if args.command == "list":
        from .registry_list import list_lines
        print("\n".join(list_lines(registry)))
    elif args.command == "activate":
        print(f"current: {registry.activate(args.version, force=args.force).version}")
    else:
        entry = registry.rollback(args.version)
        print(f"current: {entry.version if entry is not None else 'the shipped model'}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for user errors, with one line on stderr)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        argv.insert(0, "train")
    args = build_parser().parse_args(argv)
    with contextlib.ExitStack() as stack:
        progress = _progress(args, stack, sys.stderr) if args.command == "train" else no_progress
        try:
            if args.command == "train":
                _run_train(args, progress)
            elif args.command == "convert":
                from .convert import convert_case
                print(convert_case(args.image, args.labels, args.out, args.case, args.patient))
            elif args.command == "evaluate":
                _run_evaluate(args)
            elif args.command == "convert-lidc":
                from .convert import convert_lidc
                print("\n".join(str(p) for p in convert_lidc(args.root, args.out)))
            elif args.command == "ship":
                from noduleseg.core.model_io import shipped_model_dir

                from .ship import ship
                print(ship(args.version_folder, args.to or shipped_model_dir(), args.name, args.evaluation))
            elif args.command == "convert-crops":
                from .convert import convert_crops
                print(f"{len(convert_crops(args.root, args.out))} crops written to {args.out}")
            else:
                _run_registry(args)
        except NodulesegError as error:
            progress({"event": "error", "message": str(error)})
            print(f"noduleseg-train: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            progress({"event": "error", "message": "interrupted"})
            print("noduleseg-train: interrupted; run the same command with --resume to continue",
                  file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
