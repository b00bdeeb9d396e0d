"""Many training runs at once, each scored on the validation split by clicks: recipe sweeps,
seeds and the strategy comparison, on a machine with more cores (and a GPU) than this one.

``pack`` (here) writes the train and validation cases of the committed split into one ``.npz``
(test patients never leave this machine) and the transfer weights beside it, small enough to
travel. ``run`` (there) trains every run of a sweep file in its own process, evaluates each
result on the validation cases from a click at every nodule's centre and at moved clicks, and
writes all results into one JSON file after each run, so a run cut short by its deadline keeps
what finished.

  .venv/bin/python bench/sweep.py pack --data data/lidc_crops --out .device/pack.npz
  python bench/sweep.py run --pack .device/pack.npz --sweep bench/sweeps/real-1.json \\
      --out $OUT/sweep.json --workers 15 --deadline-s 500
  .venv/bin/python bench/sweep.py report RESULT.json [--baseline NAME]

On a machine where the project is not installed, the three folders can be put on the path as
the ``noduleseg`` namespace (``mkdir -p /tmp/ns/noduleseg; ln -s $PWD/core $PWD/training
/tmp/ns/noduleseg/; PYTHONPATH=/tmp/ns``) with ``NODULESEG_CACHE=.device/cache``; training needs
neither SimpleITK nor pydicom once the cases are packed. Each run gets ``--threads`` torch
threads: on a small machine two single-threaded runs beat one with two threads.

The sweep file: ``{"base": {TrainConfig fields}, "runs": [{"name": ..., "config": {...}}]}``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from noduleseg.core.volume import Volume
from noduleseg.training.data import LidcRecord, TrainCase

PACK_SPLIT_ROLES = ("train", "val")


# --- pack -----------------------------------------------------------------------------------


def pack(datasets: list[Path], out: Path, split_name: str) -> None:
    from noduleseg.core.transfer import CONVERTED_NAME, load_transfer_weights
    from noduleseg.training.data import load_datasets
    from noduleseg.training.split import load_fixed_split

    fixed = load_fixed_split(split_name)
    cases = [c for c in load_datasets(datasets) if fixed.role(c.patient_id) in PACK_SPLIT_ROLES]
    arrays, meta = {}, []
    for n, case in enumerate(cases):
        arrays[f"hu{n}"], arrays[f"labels{n}"] = case.volume.hu, case.labels
        meta.append({"case_id": case.case_id, "patient_id": case.patient_id, "spacing": case.volume.spacing,
                     "origin": case.volume.origin, "direction": case.volume.direction,
                     "provenance": {"lidc": case.provenance.get("lidc")} if case.provenance else None})
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, meta=np.array(json.dumps(meta)), **arrays)
    cache = out.parent / "cache" / "transfer"
    cache.mkdir(parents=True, exist_ok=True)
    import torch

    from noduleseg.core.digest import sha256_of
    weights = cache / CONVERTED_NAME
    torch.save({k: v.half() for k, v in load_transfer_weights().items()}, weights)  # fp16: half the bytes
    weights.with_name(CONVERTED_NAME + ".json").write_text(json.dumps({"sha256": sha256_of(weights)}))
    print(f"{len(cases)} cases ({split_name}: {', '.join(PACK_SPLIT_ROLES)}) -> {out} "
          f"({out.stat().st_size / 2**20:.1f} MiB); transfer weights -> {weights}")


def unpack(path: Path) -> list[TrainCase]:
    data = np.load(path)
    cases = []
    for n, m in enumerate(json.loads(str(data["meta"]))):
        volume = Volume(data[f"hu{n}"], tuple(m["spacing"]), tuple(m["origin"]), tuple(m["direction"]))
        lidc = LidcRecord.from_provenance(m["provenance"], path)
        cases.append(TrainCase(m["case_id"], m["patient_id"], volume, data[f"labels{n}"], m["provenance"], lidc=lidc))
    return cases


# --- run --------------------------------------------------------------------------------------

_CASES: list[TrainCase] | None = None


def _one_run(job: tuple[dict[str, Any], dict[str, Any], str, int, int]) -> dict[str, Any]:
    """Train one run and score it on the validation cases (in a worker process)."""
    import torch

    from noduleseg.core.model_io import load_model
    from noduleseg.training.api import RunOptions, train_cases
    from noduleseg.training.config import make_config
    from noduleseg.training.evaluate import evaluate_model
    from noduleseg.training.registry import ModelRegistry
    from noduleseg.training.split import load_fixed_split
    from noduleseg.training.summary import summarise

    global _CASES
    base, run, pack_path, moved, threads = job
    torch.set_num_threads(threads)
    if _CASES is None:
        _CASES = unpack(Path(pack_path))
    started = time.monotonic()
    config = make_config(None, **{**base, **run.get("config", {})})
    folder = Path(tempfile.mkdtemp(prefix=f"sweep-{run['name']}-"))
    try:
        entry = train_cases(config, list(_CASES), ["pack"], ModelRegistry(folder),
                            options=RunOptions(source="transfer", activate="never"))
        train_s = time.monotonic() - started
        model = load_model(entry.folder)
        val_cases = load_fixed_split(config.split or "lidc").cases(_CASES, "val")
        results = evaluate_model(model, val_cases, moved_clicks=moved, baseline=False)
        card = entry.card
        return {"name": run["name"], "group": run.get("group", ""), "config": config.to_json(),
                "train_s": round(train_s, 1), "eval_s": round(time.monotonic() - started - train_s, 1),
                "stages": card["stages"], "epochs": card["epochs"], "best_stage": card["best_stage"],
                "peak_share": card.get("peak_share"), "cut_tuning": card.get("cut_tuning"),
                "summary": summarise(results, resamples=1000), "nodules": [r.to_row() for r in results]}
    except Exception as error:  # noqa: BLE001 - one failed run must not stop the sweep; it is reported
        return {"name": run["name"], "group": run.get("group", ""), "error": f"{type(error).__name__}: {error}"}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_sweep(pack_path: Path, sweep_path: Path, out: Path, workers: int, deadline_s: float, moved: int,
              threads: int = 1) -> int:
    sweep = json.loads(sweep_path.read_text())
    jobs = [(sweep.get("base", {}), run, str(pack_path), moved, threads) for run in sweep["runs"]]
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes=min(workers, len(jobs)), maxtasksperchild=None) as pool:
        pending = pool.imap_unordered(_one_run, jobs)
        for _ in jobs:
            left = deadline_s - (time.monotonic() - started)
            try:
                result = pending.next(timeout=max(1.0, left))
            except multiprocessing.TimeoutError:
                print(f"deadline: {len(results)} of {len(jobs)} runs finished", flush=True)
                break
            results.append(result)
            _write(out, sweep, results, time.monotonic() - started)
            figure = result.get("summary", {}).get("all", {}).get("dice_3d")
            print(f"[{time.monotonic() - started:6.0f} s] {result['name']}: "
                  f"{result.get('error') or f'val 3D Dice {figure}'}", flush=True)
        pool.terminate()
    _write(out, sweep, results, time.monotonic() - started)
    return 0 if results else 1


def _write(out: Path, sweep: dict, results: list[dict], seconds: float) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_suffix(".tmp")
    temporary.write_text(json.dumps({"sweep": sweep, "seconds": round(seconds), "host_cpus": os.cpu_count(),
                                     "results": results}))
    temporary.replace(out)


# --- report -------------------------------------------------------------------------------------


def report(path: Path, baseline: str | None) -> str:
    """One row per run: val 3D Dice (interval), moved clicks, by band; paired against a baseline."""
    from noduleseg.training.evaluate import NoduleResult
    from noduleseg.training.summary import paired_difference

    data = json.loads(path.read_text())
    runs = [r for r in data["results"] if "error" not in r]
    by_name = {r["name"]: r for r in runs}
    rows = ["| run | best stage | peak share | 3D Dice (95% CI) | moved clicks | <6 | 6-10 | 10-20 | >=20 | "
            "minus baseline (95% CI) | train s |", "|" + "---|" * 11]
    base = by_name.get(baseline) if baseline else None
    for run in sorted(runs, key=lambda r: (r.get("group", ""), r["name"])):
        s = run["summary"]
        cell = (lambda g: f"{s[g]['dice_3d'][0]:.3f}" if g in s else "-")
        figure = s["all"]["dice_3d"]
        paired = "-"
        if base is not None and run is not base:
            diff = paired_difference([NoduleResult.from_row(r) for r in run["nodules"]],
                                     [NoduleResult.from_row(r) for r in base["nodules"]], resamples=1000)["dice_3d"]
            paired = f"{diff[0]:+.3f} ({diff[1]:+.3f} to {diff[2]:+.3f})"
        moved = s["all"]["moved_dice_3d"]
        rows.append(f"| {run['name']} | {run['best_stage']['name']} | {run['peak_share']} | "
                    f"{figure[0]:.3f} ({figure[1]:.3f}-{figure[2]:.3f}) | {moved[0]:.3f} | {cell('<6 mm')} | "
                    f"{cell('6-10 mm')} | {cell('10-20 mm')} | {cell('>=20 mm')} | {paired} | {run['train_s']:.0f} |")
    failed = [f"- {r['name']}: {r['error']}" for r in data["results"] if "error" in r]
    return "\n".join(rows + ([""] + failed if failed else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack")
    p.add_argument("--data", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--split", default="lidc")
    r = commands.add_parser("run")
    r.add_argument("--pack", type=Path, required=True)
    r.add_argument("--sweep", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    r.add_argument("--deadline-s", type=float, default=3600.0)
    r.add_argument("--moved-clicks", type=int, default=2)
    r.add_argument("--threads", type=int, default=1, help="torch threads per run")
    q = commands.add_parser("report")
    q.add_argument("result", type=Path)
    q.add_argument("--baseline")
    args = parser.parse_args(argv)
    if args.command == "pack":
        pack(args.data, args.out, args.split)
        return 0
    if args.command == "run":
        return run_sweep(args.pack, args.sweep, args.out, args.workers, args.deadline_s, args.moved_clicks,
                         args.threads)
    print(report(args.result, args.baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
