"""How much any choice of the outline's cut could still gain, on saved leave-one-scan-out models.

Each finished fold of each ``bench/eval_loso.py`` work folder is evaluated again (nothing is
retrained) with the nodule cut at several shares of its own peak probability
(``core.segment.PEAK_SHARE``, overridden here for the measurement only). Printed: the mean 3D
Dice at each share, and the mean of every nodule's best share chosen with the answer. No rule
that picks one cut per nodule from what inference can see does better than that best; a target
above it needs better probability maps, not a better rule.

  .venv/bin/python bench/cut_ceiling.py --data /work/runs/lidc_raw /work/runs/s0 /work/runs/s2
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from noduleseg.core import segment
from noduleseg.core.errors import NodulesegError
from noduleseg.core.model_io import load_model
from noduleseg.training.api import DEFAULT_SHAPES
from noduleseg.training.data import load_case
from noduleseg.training.eval_run import DEFAULT_EVAL_SEED, evaluate_cases
from noduleseg.training.evaluate import markdown_table

from eval_loso import fold_simval  # bench/ is on the path of a script run from it


def dice_by_share(works: list[Path], data: Path, shares: list[float], synthetic: int,
                  shapes: Path) -> dict[tuple, dict[float, float]]:
    """(work, case, label) -> {share: 3D Dice} over every finished fold."""
    table: dict[tuple, dict[float, float]] = defaultdict(dict)
    default = segment.PEAK_SHARE
    try:
        for work in works:
            for done in sorted(work.glob("fold-*/result.json")):
                result = json.loads(done.read_text())
                model, case = load_model(Path(result["model_folder"])), load_case(data, result["fold"])
                exclude = {p["shape_index"] for p in fold_simval(done.parent)}
                for share in shares:
                    segment.PEAK_SHARE = share
                    evaluation = evaluate_cases(model, [case], synthetic, shapes,
                                                result.get("eval_seed", DEFAULT_EVAL_SEED), exclude_shapes=exclude)
                    for nodule in evaluation.results:
                        table[(work.name, nodule.case_id, nodule.label)][share] = nodule.dice_3d
    finally:
        segment.PEAK_SHARE = default
    return table


def report(table: dict[tuple, dict[float, float]], shares: list[float]) -> str:
    rows = [{"cut": f"{share:g} of the peak", "mean 3D Dice": float(np.mean([d[share] for d in table.values()]))}
            for share in shares]
    rows.append({"cut": "each nodule's best share (chosen with the answer)",
                 "mean 3D Dice": float(np.mean([max(d.values()) for d in table.values()]))})
    return f"{len(table)} nodules\n\n" + markdown_table(rows, ("cut", "mean 3D Dice"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("works", nargs="+", type=Path, help="eval_loso.py work folders")
    parser.add_argument("--data", type=Path, required=True, help="converted LIDC data set (nnU-Net raw)")
    parser.add_argument("--shares", default="0.3,0.4,0.5,0.6,0.7,0.8", help="comma-separated shares of the peak")
    parser.add_argument("--eval-synthetic", type=int, default=30, help="as the runs were evaluated")
    parser.add_argument("--shapes", type=Path, default=DEFAULT_SHAPES)
    args = parser.parse_args(argv)
    shares = [float(s) for s in args.shares.split(",")]
    try:
        table = dice_by_share(args.works, args.data, shares, args.eval_synthetic, args.shapes)
    except NodulesegError as error:
        print(f"cut_ceiling: {error}", file=sys.stderr)
        return 2
    if not table:
        print(f"cut_ceiling: no finished fold under {', '.join(map(str, args.works))}", file=sys.stderr)
        return 2
    print(report(table, shares))
    return 0


if __name__ == "__main__":
    sys.exit(main())
