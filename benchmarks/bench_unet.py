"""Speed of the U-Net experiment's parts (a benchmark, not a test).

    python benchmarks/bench_unet.py [--presets tiny,small,paper] [--side 16] [--threads 2] [--N 100000]

Prints, per preset: training images/s (batch 128, DDPM loss, Adam) and the time to sample 10 images in one
batch; then the time of the exact and grid per-pixel metrics against N original images (10 generated,
100 training images); then what the reference models add to one simulation (ratios). Set --device cuda to time a
GPU. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bench_preset(name: str, side: int, steps: int, batch: int, device: str) -> dict:
    from memgen_cli.unet import diffusion, models

    model = diffusion.init_model(lambda: models.build_model(name, side), 0)
    scheduler = diffusion.make_scheduler("logsnr_linear", 10)
    images = np.random.default_rng(0).normal(0.0, 0.2, (batch, side, side))
    diffusion.train(model, images, scheduler, train_steps=1, batch_size=batch, lr=2e-4, seed=0, device=device)
    start = time.perf_counter()
    diffusion.train(model, images, scheduler, train_steps=steps, batch_size=batch, lr=2e-4, seed=1, device=device)
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    diffusion.sample(model, scheduler, 10, side, seed=0, device=device)
    sample_s = time.perf_counter() - start
    return {"preset": name, "params_M": models.parameter_count(model) / 1e6,
            "train_images_per_s": steps * batch / train_s, "sample_10_s": sample_s}


def bench_metric(N: int, d: int) -> dict:
    from memgen_cli.imaging import metrics

    rng = np.random.default_rng(0)
    gen, train, orig = rng.normal(0.5, 0.1, (10, d)), rng.normal(0.5, 0.1, (100, d)), rng.normal(0.5, 0.1, (N, d))
    start = time.perf_counter()
    metrics.pixel_kde_distances_exact(gen, train, orig, 0.1)
    exact_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics.pixel_kde_distances_grid(gen, train, orig, 0.1)
    grid_s = time.perf_counter() - start
    return {"N": N, "d": d, "exact_s": exact_s, "grid_s": grid_s}


# Cells whose reference cost docs/benchmarks.md reports: the paper's subsets (configs/paper/fig4-unet-quick.yaml) and
# the common width against every training image and 3000 originals (configs/unet/gaussian-calibrated.yaml).
REFERENCE_CELLS = {
    "paper subsets (fig4-unet-quick)": {"side": 16, "N": 10_000, "preset": "tiny", "steps": 10, "epochs": 20,
                                        "schedule": "published", "lr": 2e-4, "batch_size": 128, "generated": 10,
                                        "eval_train": 10, "eval_original": 100},
    "common width (gaussian-calibrated)": {"side": 8, "N": 3000, "preset": "tiny", "steps": 10, "train_steps": 400,
                                           "lr": 2e-3, "batch_size": 32, "generated": 10, "bandwidth": "common"},
}


def bench_references(ns: list[int], device: str) -> None:
    """What the two references (issue 22) add to one simulation, as ratios in one run: their seconds against one
    evaluation of the model (which prepares the training and original sides they share) and against the whole
    simulation (training, sampling, evaluation)."""
    from memgen_cli.unet.simulation import simulate

    for name, cell in REFERENCE_CELLS.items():
        for n in ns:
            row = simulate({**cell, "n": n}, seed=0, device=device, references=True).row
            total = row["train_seconds"] + row["sample_seconds"] + row["eval_seconds"]
            print(f"references, {name}, n = {n}: {row['reference_seconds']:.2f} s for both = "
                  f"{row['reference_seconds'] / row['eval_seconds']:.2f} x one evaluation "
                  f"({row['eval_seconds']:.2f} s), {100 * row['reference_seconds'] / total:.1f}% of the simulation "
                  f"({total:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,small,paper")
    parser.add_argument("--side", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per preset")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--d", default="64,256", help="pixel counts for the metric timing")
    parser.add_argument("--references", default="10,100,1000", help="n of the reference-cost cells ('' to skip)")
    args = parser.parse_args()

    import torch

    from memgen_cli.unet.diffusion import resolve_device

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"# torch {torch.__version__}, {args.threads} threads, device {device}, side {args.side}")
    for name in args.presets.split(","):
        r = bench_preset(name, args.side, args.steps, args.batch, device)
        print(f"{r['preset']:6s} {r['params_M']:6.2f} M params  {r['train_images_per_s']:8.1f} training images/s  "
              f"sampling 10 images: {r['sample_10_s']:.3f} s")
    for d in (int(v) for v in args.d.split(",")):
        r = bench_metric(args.N, d)
        print(f"per-pixel metric vs N = {r['N']}, d = {r['d']}: exact {r['exact_s']:.2f} s, "
              f"grid (16 points) {r['grid_s']:.2f} s")
    if args.references:
        bench_references([int(v) for v in args.references.split(",")], device)


if __name__ == "__main__":
    main()
