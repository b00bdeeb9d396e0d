"""Training throughput: the engine's epoch (cut patches + train) vs a bare PyTorch loop.

Same model (BSFT U-Net, every block released), batch, patches and optimiser in one run; the
bare loop gets the patches already as tensors. Prints patches/s of both and their ratio
(target >= 0.9). Run: `.venv/bin/python bench/bench_train.py [--patches 96] [--batch 16]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from noduleseg.core.model_io import InputSpec
from noduleseg.core.unet import build_unet
from noduleseg.core.windowing import MODEL_WINDOWS
from noduleseg.training.config import make_config
from noduleseg.training.data import load_datasets
from noduleseg.training.distributed import DistContext
from noduleseg.training.engine import epoch_order, train_epoch
from noduleseg.training.metrics import dice_bce_loss
from noduleseg.training.pool import training_pool
from noduleseg.training.sampling import build_sites
from noduleseg.training.stages import parameter_groups, plan_stages
from noduleseg.training.toy import write_toy_dataset


def engine_epoch(net, optimizer, cases, sites, spec, config, key) -> tuple[float, object]:
    started = time.perf_counter()
    order = epoch_order(len(sites), config.repeats, key, 1)
    pool = training_pool(cases, sites, spec, config.jitter_mm, order, key, config.augmentation())
    train_epoch(net, optimizer, pool, spec, config, DistContext(), {"stage": "all", "epoch": 0, "epochs": 1},
                lambda event: None)
    return time.perf_counter() - started, pool


def bare_epoch(net, optimizer, images, targets, batch) -> float:
    started = time.perf_counter()
    net.train()
    for start in range(0, len(images), batch):
        loss = dice_bce_loss(net(images[start:start + batch]), targets[start:start + batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=96, help="at least this many patches per epoch")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch-px", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        cases = load_datasets([write_toy_dataset(f"{folder}/ds", n_cases=4, n_nodules=2)])
    config = make_config(strategy="finetune", batch_size=args.batch, patch_px=args.patch_px, negative_ratio=1.0,
                         device="cpu")
    sites = build_sites(cases, config.beyond_end_slices, config.negative_ratio, 10.0, 0)
    config = make_config(**{**config.to_json(), "repeats": max(1, -(-args.patches // len(sites)))})
    spec = InputSpec(MODEL_WINDOWS, config.patch_px, config.mm_per_px)
    net = build_unet(None)
    stage = plan_stages("finetune", net, config)[0]
    net.release(stage.released)
    optimizer = torch.optim.Adam(parameter_groups(net, stage, config), foreach=True)
    engine_epoch(net, optimizer, cases, sites, spec, config, (0, 0, 0))  # warm-up
    engine_s, bare_s, n = 0.0, 0.0, 0
    for round_ in range(args.rounds):
        seconds, pool = engine_epoch(net, optimizer, cases, sites, spec, config, (0, 0, round_ + 1))
        images, targets, _ = pool.batch(np.arange(len(pool)), spec)
        engine_s += seconds
        bare_s += bare_epoch(net, optimizer, images, targets, args.batch)
        n += len(pool)
    engine, bare = n / engine_s, n / bare_s
    print(f"train throughput, {n} patches of {args.patch_px} px, batch {args.batch}, {torch.get_num_threads()} threads")
    print(f"  engine (cut + augment + train): {engine:7.2f} patches/s")
    print(f"  bare PyTorch loop (tensors):    {bare:7.2f} patches/s")
    print(f"  ratio engine / bare: {engine / bare:.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
