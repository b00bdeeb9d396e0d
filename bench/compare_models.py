"""Two or more models on the same nodules: a held-out case's real nodules plus simulated ones
drawn from shapes that none of the models trained or validated on.

Used to decide whether a new shipped model is better than the one it replaces. Both should have
left the case out of training (the shipped recipes validate on LIDC-IDRI-0001):

  .venv/bin/python bench/compare_models.py --data /work/runs/lidc_raw --case LIDC-IDRI-0001 \
      --model assets/model --model REGISTRY/v0001 --synthetic 45
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from noduleseg.core.errors import NodulesegError
from noduleseg.core.model_io import load_model
from noduleseg.training.api import DEFAULT_SHAPES
from noduleseg.training.data import load_case
from noduleseg.training.eval_run import DEFAULT_EVAL_SEED, evaluate_cases, shapes_used_in_training
from noduleseg.training.evaluate import SUMMARY_COLUMNS, markdown_table, summary_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="converted data set (nnU-Net raw)")
    parser.add_argument("--case", required=True, help="the held-out case")
    parser.add_argument("--model", type=Path, action="append", required=True, help="model folder (repeat)")
    parser.add_argument("--synthetic", type=int, default=45, help="simulated test nodules")
    parser.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED)
    parser.add_argument("--shapes", type=Path, default=DEFAULT_SHAPES)
    args = parser.parse_args(argv)
    try:
        models = [load_model(folder) for folder in args.model]
        trained_on_by_any = set().union(*(shapes_used_in_training(m.card) for m in models))
        case = load_case(args.data, args.case)
        for folder, model in zip(args.model, models):
            evaluation = evaluate_cases(model, [case], args.synthetic, args.shapes, args.seed,
                                        exclude_shapes=trained_on_by_any)
            print(f"\n{folder} ({model.version}) on {args.case}\n")
            print(markdown_table(summary_rows(evaluation.summary), SUMMARY_COLUMNS))
    except NodulesegError as error:
        print(f"compare_models: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
