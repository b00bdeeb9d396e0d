"""Paired comparison of leave-one-scan-out runs, nodule by nodule.

Each pair is a NEW and a BASE work folder of ``bench/eval_loso.py`` whose test nodules are the
same (same seed and simulator, so the same held-out shapes at the same places; the script refuses
pairs that differ). Prints per group the mean 3D and central-slice 2D Dice, slices past and
short of the nodule's ends, and how many nodules NEW scores higher / lower than BASE:

  .venv/bin/python bench/pair_loso.py NEW_SEED0 BASE_SEED0 NEW_SEED2 BASE_SEED2 ...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from noduleseg.training.evaluate import markdown_table

FIELDS = ("dice_3d", "dice_2d", "over_slices", "under_slices")
TIE = 1e-3


def nodules(work: Path) -> dict[tuple, dict]:
    """The run's nodule records by (case, label, seed)."""
    path = work / "loso.json"
    try:
        records = json.loads(path.read_text())["nodules"]
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(f"{path}: not a finished leave-one-scan-out run ({error})") from None
    return {(n["case_id"], n["label"], tuple(n["seed_ijk"])): n for n in records}


def groups(record: dict, run: str) -> list[str]:
    """The groups a nodule counts in: all, its size band or real, its texture, its run."""
    if not record["simulated"]:
        return ["all", "real", f"run {run}"]
    return ["all", f"simulated {record['band']}", f"simulated {record['texture']}", f"run {run}"]


def paired_rows(pairs: list[tuple[Path, Path]]) -> dict[str, np.ndarray]:
    """Per group an (n, 2, 4) array: [new, base] x FIELDS (a missed nodule counts Dice 0)."""
    rows = defaultdict(list)
    for new, base in pairs:
        ours, theirs = nodules(new), nodules(base)
        if set(ours) != set(theirs):
            raise SystemExit(f"{new} and {base} do not test the same nodules "
                             f"({len(set(ours) ^ set(theirs))} differ)")
        for key, record in ours.items():
            row = [[r[field] or 0.0 for field in FIELDS] for r in (record, theirs[key])]
            for group in groups(record, new.name):
                rows[group].append(row)
    return {group: np.asarray(values, dtype=float) for group, values in rows.items()}


COLUMNS = ("group", "n", "3D new", "3D base", "2D new", "2D base", "past end new / base", "short new / base",
           "3D higher / lower")


def report(rows: dict[str, np.ndarray]) -> str:
    table = []
    for group in sorted(rows, key=lambda g: (g != "all", g)):
        values = rows[group]
        new, base = values[:, 0].mean(axis=0), values[:, 1].mean(axis=0)
        higher = int((values[:, 0, 0] > values[:, 1, 0] + TIE).sum())
        lower = int((values[:, 0, 0] < values[:, 1, 0] - TIE).sum())
        table.append(dict(zip(COLUMNS, (group, len(values), new[0], base[0], new[1], base[1],
                                        f"{new[2]:.2f} / {base[2]:.2f}", f"{new[3]:.2f} / {base[3]:.2f}",
                                        f"{higher} / {lower}"))))
    return markdown_table(table, COLUMNS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="NEW BASE [NEW BASE ...] eval_loso.py work folders")
    args = parser.parse_args(argv)
    if len(args.runs) % 2:
        parser.error("give the runs in pairs: NEW BASE [NEW BASE ...]")
    print(report(paired_rows(list(zip(args.runs[::2], args.runs[1::2])))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
