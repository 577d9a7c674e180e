"""`memgen evaluate`'s neighbour search against the float32 GEMM it is built on, timed in one run (a ratio).

Issue 33's target: 2,000 samples against 50,000 training images of 32 x 32 x 3 within 1.5x a float32 GEMM of the
same shape. Also: a whole cell (the samples and both references, i.e. three searches, and the KDE Δ), with the
near-duplicate scan of the training set off (it is n² and is timed on its own at a smaller n).

Usage: python benchmarks/bench_evaluate.py [--samples 2000] [--train 50000] [--side 32]
"""

from __future__ import annotations

import argparse
import numpy as np
from bench_closedform import best

from memgen_cli.evaluate import neighbours as nb
from memgen_cli.evaluate.cell import score_cell
from memgen_cli.evaluate.params import EvaluateSettings


def best_of(fn, repeats: int = 3) -> float:
    return best(fn, repeats)  # the closed-form benchmark's timer: the fastest of a few runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--side", type=int, default=32)
    args = parser.parse_args()
    d = args.side * args.side * 3
    rng = np.random.default_rng(0)
    train = rng.random((args.train, d), dtype=np.float32).astype(np.float64)
    samples = rng.random((args.samples, d))
    samples[: args.samples // 4] = train[: args.samples // 4] + 0.01 * rng.standard_normal((args.samples // 4, d))
    s32, t32 = samples.astype(np.float32), train.astype(np.float32)
    gemm = best_of(lambda: s32 @ t32.T)
    search = best_of(lambda: nb.nearest(samples, train, 50, budget_bytes=512e6))
    index = nb.SearchBase(train)
    reused = best_of(lambda: nb.nearest(samples, index, 50, budget_bytes=512e6))
    print(f"evaluate search: {args.samples} samples x {args.train} training images of {args.side}x{args.side}x3 "
          f"(d = {d}), k = 50")
    print(f"  float32 GEMM of the same shape     {gemm:8.2f} s")
    print(f"  memgen's exact search              {search:8.2f} s   ratio {search / gemm:.2f}x (target <= 1.5x)")
    print(f"  ... in a training set prepared once {reused:7.2f} s   ratio {reused / gemm:.2f}x (a cell's 2nd, 3rd)")
    five = best_of(lambda: nb.nearest(samples, index, 5, budget_bytes=512e6))
    print(f"  ... k = 5 (the ratio alone)        {five:8.2f} s   ratio {five / gemm:.2f}x")
    settings = EvaluateSettings(drop_duplicates=False, bootstrap=1000)
    heldout = rng.random((2 * args.samples, d))
    cell = best_of(lambda: score_cell(samples, train, heldout, settings, "l2", 0), repeats=1)
    print(f"  a whole cell (3 searches + KDE Δ)  {cell:8.2f} s   ratio {cell / gemm:.2f}x")
    small = min(args.train, 10_000)
    dup = best_of(lambda: nb.nearest(train[:small], train[:small], 2, exclude_self=True, budget_bytes=512e6),
                  repeats=1)
    dup_gemm = best_of(lambda: t32[:small] @ t32[:small].T, repeats=1)
    print(f"  near-duplicate scan at n = {small}: {dup:.2f} s, {dup / dup_gemm:.2f}x its GEMM (grows as n²)")


if __name__ == "__main__":
    main()
