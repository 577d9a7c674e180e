"""Closed-form model speed: one simulation's sampling at n = 10^4, d = 256 against its floor, and where the rest
of a simulation of configs/closedform/paper-fig4.yaml goes.

The floor is the denoiser's matrix products (per step and query row: |x|·y for every training image, then the
weighted sum of the images, 2 n d FLOPs each) at this machine's GEMM rate, measured here on one thread with a
square product. Run with `python benchmarks/bench_closedform.py [--quick]`; numbers move with the load on a
shared machine: read the ratios within one run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from memgen_cli.closedform import simulation
from memgen_cli.closedform.denoiser import make_denoiser
from memgen_cli.closedform.params import CellParams
from memgen_cli.imaging import data as data_mod
from memgen_cli.imaging import schedules
from memgen_cli.imaging.evaluation import ImageEvaluation, evaluate

TIMED = ("data_seconds", "sample_seconds", "eval_seconds", "reference_seconds")  # a simulation's timed parts


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def gemm_rate(size: int, repeats: int) -> float:
    """FLOP/s of a square float64 product (2 size^3 FLOPs), best of ``repeats``."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    return 2.0 * size**3 / best(lambda: a @ b, repeats)


def sampling_flops(rows: int, n: int, d: int, steps: int) -> float:
    """The products of ``steps`` denoiser calls on ``rows`` query rows: the Gram part and the weighted sum."""
    return steps * 2 * (2.0 * rows * n * d)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 10^3 and N = 10^4, one repeat (a smoke test)")
    args = parser.parse_args()
    n, N, side, steps, generated, draws = (1000, 10_000, 16, 10, 10, 2) if args.quick else (10_000, 100_000, 16, 10,
                                                                                              10, 2)
    repeats = 1 if args.quick else 5
    d = side * side
    with threadpool_limits(limits=1):
        rate = gemm_rate(500 if args.quick else 1500, repeats)
        print(f"GEMM rate, one thread, float64: {rate / 1e9:.1f} GFLOP/s")
        rng = np.random.default_rng(1)
        split = data_mod.sample_split(data_mod.ImageData(), n, N, side, rng)
        print(f"n = {n:,}, d = {d}, M = {generated} generated, {steps} DDPM steps (logsnr_linear):")
        for smoothing, rows in ((0.0, generated), (0.15, generated * draws)):

            def run(smoothing=smoothing):
                denoise = make_denoiser(split.train, smoothing, count=generated, rng=np.random.default_rng(2),
                                        draws=draws)
                schedules.sample(denoise, generated, (side, side), "logsnr_linear", steps, "ddpm", None,
                                 np.random.default_rng(3))

            seconds = best(run, repeats)
            floor = sampling_flops(rows, n, d, steps) / rate
            name = "exact (smoothing 0)" if smoothing == 0 else f"σ-CFDM (smoothing {smoothing}, {draws} draws)"
            print(f"  {name:32s} sampling {seconds * 1e3:7.1f} ms; floor {floor * 1e3:6.2f} ms "
                  f"({rows} rows x {sampling_flops(rows, n, d, steps) / 1e9:.2f} GFLOP); ratio {seconds / floor:5.1f}")

        # The rest of one simulation of the preset: drawing the split (n + N images) and the evaluation.
        params = CellParams.from_cell({"n": n, "side": side, "N": N, "steps": steps, "smoothing": 0.15,
                                       "eval_train": 10, "eval_original": 100})
        draw = best(lambda: data_mod.sample_split(params.data, n, N, side, np.random.default_rng(4)), repeats)
        generated01 = split.train[:generated] + 0.01
        evaluate(generated01, split, ImageEvaluation(), np.random.default_rng(5))  # first call: imports, caches
        for evaluation in (ImageEvaluation(eval_train=10, eval_original=100),
                           ImageEvaluation(eval_train=10, eval_original=10)):
            seconds = best(lambda e=evaluation: evaluate(generated01, split, e, np.random.default_rng(5)), repeats)
            print(f"  evaluation (subsets {evaluation.eval_train} and {evaluation.eval_original}): "
                  f"{seconds * 1e3:7.1f} ms")
        # A whole simulation of the preset's cell, drawing all N originals or only the 100 evaluated (issue 36).
        for name, drawn in (("all", None), ("evaluated", 100)):
            rows = [simulation.simulate(params, 10 + k, originals=drawn).row for k in range(repeats)]
            best_row = min(rows, key=lambda row: sum(row[c] for c in TIMED))
            total = sum(best_row[c] for c in TIMED)
            print(f"  one simulation of the preset's cell, originals: {name}: {total * 1e3:7.1f} ms, of which drawing "
                  f"the data {100 * best_row['data_seconds'] / total:4.1f}%")
        print(f"  drawing the split ({n:,} + {N:,} images of {d} pixels): {draw * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
