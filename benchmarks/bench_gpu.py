"""U-Net speed where the paper's Fig. 4 runs: a GPU (a benchmark, not a test; `make bench-gpu`).

    python benchmarks/bench_gpu.py [--device auto] [--presets tiny,small,paper] [--together 20] [--quick]

Prints, per preset: training images/s for one simulation (batch 128) and for S simulations trained at once
(batch 10, the paper's n = 10 cell), in fp32 and bf16; the time to sample 10 images; then the exact per-pixel
metric against N = 10^5 originals at d = 256; and the projected time of configs/paper/fig4-unet.yaml from the
measured throughput of its own batch sizes. On CPU, --quick runs a small budget (the tiny preset, few steps,
N = 2000) so that the script itself is tested (tests/test_benchmarks.py). Compare figures within one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def throughput(preset: str, side: int, batch: int, together: int, precision: str, steps: int, device: str) -> float:
    """Training images/s: `together` simulations of `batch` images each, one step for all."""
    from memgen_cli.unet import diffusion, grouped, models

    scheduler = diffusion.make_scheduler("published", 10)
    data = [np.random.default_rng(s).uniform(-1, 1, (batch, side, side)) for s in range(together)]
    nets = [diffusion.init_model(lambda: models.build_model(preset, side), s) for s in range(together)]

    def run(count: int, seed: int) -> None:
        if together == 1:
            diffusion.train(nets[0], data[0], scheduler, train_steps=count, batch_size=batch, lr=2e-4, seed=seed,
                            device=device, precision=precision)
        else:
            grouped.train_together(nets, data, scheduler, train_steps=count, batch_size=batch, lr=2e-4,
                                   seeds=[seed + s for s in range(together)], device=device, precision=precision)
    run(1, 0)  # warm-up: kernels chosen, memory allocated
    synchronize(device)
    start = time.perf_counter()
    run(steps, 1)
    synchronize(device)
    return steps * batch * together / (time.perf_counter() - start)


def sampling_seconds(preset: str, side: int, device: str) -> float:
    from memgen_cli.unet import diffusion, models

    model = diffusion.init_model(lambda: models.build_model(preset, side), 0)
    scheduler = diffusion.make_scheduler("published", 10)
    diffusion.sample(model, scheduler, 10, side, seed=0, device=device)
    synchronize(device)
    start = time.perf_counter()
    diffusion.sample(model, scheduler, 10, side, seed=1, device=device)
    synchronize(device)
    return time.perf_counter() - start


def evaluation_seconds(N: int, d: int, device: str) -> float:
    """The exact per-pixel metric (10 generated, 100 training images) against N originals: on the GPU
    through device_metrics, on CPU through metrics (what simulation.evaluate picks)."""
    from memgen_cli.imaging import metrics
    from memgen_cli.unet import device_metrics

    rng = np.random.default_rng(0)
    gen, train, orig = (np.clip(rng.normal(0.5, 0.1, (m, d)), 0, 1) for m in (10, 100, N))
    if device == "cuda":
        device_metrics.pixel_kde_distances_exact(gen, train, orig[:1000], 0.1, device)  # warm-up
        start = time.perf_counter()
        device_metrics.pixel_kde_distances_exact(gen, train, orig, 0.1, device)
    else:
        start = time.perf_counter()
        metrics.pixel_kde_distances_exact(gen, train, orig, 0.1)
    return time.perf_counter() - start


def fig4_projection(measure, sample_s: float, together: int) -> tuple[float, list[str]]:
    """Seconds for configs/paper/fig4-unet.yaml: each cell's training images at the throughput measured for
    its batch size with its simulations trained together, plus sampling each simulation (evaluation against
    its 100-image subsets is negligible)."""
    from memgen_cli.runner.sweep import load_sweep_config
    from memgen_cli.unet.params import epochs_budget

    config = load_sweep_config(ROOT / "configs" / "paper" / "fig4-unet.yaml", model="unet")
    total, lines = 0.0, []
    for n in config.grid.n:
        steps, batch = epochs_budget(config.grid.epochs[0], n, config.training.batch_size)
        images = steps * batch
        rate = measure(batch)
        seconds = config.simulations * (images / rate + sample_s)
        lines.append(f"  n = {n:5d}: batch {batch:3d}, {config.simulations} x {images} training images at "
                     f"{rate:,.0f} images/s ({together} at once): {seconds:6.1f} s")
        total += seconds
    return total, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cuda or cpu")
    parser.add_argument("--presets", default="tiny,small,paper")
    parser.add_argument("--together", type=int, default=0, help="simulations at once (default 20, --quick 3)")
    parser.add_argument("--steps", type=int, default=0, help="timed steps per measurement (default 10, --quick 2)")
    parser.add_argument("--quick", action="store_true", help="a small budget for CPU: tiny preset, N = 2000")
    args = parser.parse_args()

    import torch

    from memgen_cli.unet.diffusion import resolve_device

    device = resolve_device(args.device)
    presets = ["tiny"] if args.quick else args.presets.split(",")
    together = args.together or (3 if args.quick else 20)
    steps = args.steps or (2 if args.quick else 10)
    N = 2000 if args.quick else 100_000
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; 16 x 16 images; {steps} timed steps per figure")
    side = 16
    for preset in presets:
        for precision in ("fp32", "bf16"):
            one = throughput(preset, side, 128, 1, precision, steps, device)
            small = throughput(preset, side, 10, 1, precision, steps, device)
            grouped = throughput(preset, side, 10, together, precision, steps, device)
            print(f"{preset:5s} {precision}: one simulation, batch 128: {one:9,.0f} images/s; batch 10: alone "
                  f"{small:8,.0f}, {together} at once {grouped:9,.0f} images/s ({grouped / small:.1f}x)")
        print(f"{preset:5s} sampling 10 images (10 steps, one batch): {sampling_seconds(preset, side, device):.3f} s")
    print(f"exact per-pixel metric, N = {N:,} originals, d = 256: {evaluation_seconds(N, 256, device):.2f} s")
    preset = presets[-1]
    precision = "bf16" if device == "cuda" else "fp32"
    cache: dict[int, float] = {}

    def measure(batch: int) -> float:
        if batch not in cache:
            cache[batch] = throughput(preset, side, batch, together, precision, steps, device)
        return cache[batch]

    total, lines = fig4_projection(measure, sampling_seconds(preset, side, device), together)
    print(f"configs/paper/fig4-unet.yaml projected with the {preset} preset, {precision}, "
          f"{together} simulations at once:")
    print("\n".join(lines))
    print(f"  total: {total / 60:.1f} minutes ({total / 3600:.2f} hours)")


if __name__ == "__main__":
    main()
