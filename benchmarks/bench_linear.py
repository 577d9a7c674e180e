"""Linear-model speed: ms per trial, a dense baseline in the same run, and the paper's Fig. 2+3 sweep.

Run with `make bench` (or `python benchmarks/bench_linear.py [--quick]`). Numbers are machine- and
load-dependent: compare the ratios printed in one run, not figures across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.spatial.distance import pdist
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

from memgen_cli import kde
from memgen_cli.linear.experiment import DEFAULT_ORIGINAL_SETS, LinearConfig, _fixed_original
from memgen_cli.linear.batch import run_linear_trials
from memgen_cli.linear.model import original_reference, run_linear_trial
from memgen_cli.runner.sweep import run_sweep

LAM, T = math.exp(-4.0), 2.0


def dense_baseline_trial(rng, n, d, N):
    """A straightforward implementation: dense B and Σ_G, scipy densities, a fresh original set per trial
    (as the published code does). float64 sums, so its Δ sign is unreliable at large d: timing only."""
    Y = rng.standard_normal((n, d))
    X = np.exp(-T) * Y + np.sqrt(LAM * (1 - np.exp(-2 * T))) * rng.standard_normal((n, d))
    x, y = X - X.mean(0), Y - Y.mean(0)
    B = np.linalg.pinv(x.T @ x) @ x.T @ y
    B = B.T
    var_X = np.exp(-2 * T) * (y**2).sum() / (n * d) + LAM * (1 - np.exp(-2 * T))
    m_G = Y.mean(0) + B @ (np.exp(-T) * Y.mean(0) - X.mean(0))
    cov = var_X * B @ B.T
    original = rng.standard_normal((N, d))
    out = {}
    for name, P in (("T", Y), ("O", original)):
        eps2 = (len(P) ** (-1 / d)) ** 2
        cross = stats.multivariate_normal(m_G, cov + eps2 * np.eye(d), allow_singular=True).logpdf(P)
        pair = -pdist(P, "sqeuclidean") / (4 * eps2)
        out[name] = (logsumexp(cross), logsumexp(pair))
    return out


def cross_term_floor(rng, n, d, N, repeats, clock=time.perf_counter):
    """The cross term's floor for a trial: one N × d × rank product and N exponentials (the mean of ``repeats``)."""
    points = rng.standard_normal((N, d))
    basis = np.linalg.qr(rng.standard_normal((d, max(min(n - 1, d), 1))))[0]

    def floor():
        both = points @ basis
        np.exp(both[:, 0], out=both[:, 0])
    return time_per_trial(floor, repeats, clock)


class strip_pair_sums:
    """Within this block, trials take the earlier full-width strips for their pair sums."""

    def __enter__(self):
        self.tiled = kde.log_kde_self_offdiagonal
        tiles = self.tiled
        kde.log_kde_self_offdiagonal = lambda points, eps, tiled=True: tiles(points, eps, tiled=False)

    def __exit__(self, *exc):
        kde.log_kde_self_offdiagonal = self.tiled


def best_of(fn, *args, tries: int = 3) -> float:
    """The shortest of a few timed calls fn(*args) (after one warm-up)."""
    return min(time_per_trial(lambda: fn(*args), 1) for _ in range(tries))


def pair_sums(rng) -> None:
    """The pair sum of m = 10^4 points, strips against tiles."""
    for d in (16, 100):
        points = rng.standard_normal((10_000, d))
        eps = kde.kde_bandwidth("paper", 10_000, d, 1.0)
        old = best_of(kde.log_kde_self_offdiagonal, points, eps, False)
        new = best_of(kde.log_kde_self_offdiagonal, points, eps)
        print(f"d={d:4d} m=10^4 pair sum: strips {old * 1e3:6.0f} ms, tiles {new * 1e3:6.0f} ms: "
              f"{old / new:.2f}x faster")


def task_seconds(n: int, d: int, orig, trials: int, batched: bool) -> float:
    """Seconds per trial of one task of `trials` trials against a fixed original set (best of 2)."""
    def task():
        rngs = [np.random.default_rng(s) for s in range(trials)]
        if batched:
            run_linear_trials(rngs, n, d, LAM, T, orig)
        else:
            for r in rngs:
                run_linear_trial(r, n, d, LAM, T, orig.points.shape[0], original=orig)
    return min(time_per_trial(task, 1) for _ in range(2)) / trials


def sweep_task_seconds(n: int, d: int, trials: int = 50, reproducibility: bool = True,
                       clock=time.perf_counter) -> float:
    """Seconds per trial of one task of a sweep, as a worker runs it (LinearExperiment.run_task: batched trials,
    their reproducibility pairs unless turned off; one original set, built before timing)."""
    from memgen_cli.linear.experiment import LinearExperiment
    from memgen_cli.seeding import derived_seed

    config = LinearConfig(trials=trials, options={"original_sets": 1, "reproducibility": reproducibility})
    cell = {"n": n, "d": d, "lambda": LAM, "T": T, "N": 10_000, "mu": 10.0, "sigma": 1.0, "bandwidth": "paper",
            "covariance": "BBt", "ridge": 0.0, "original": "fixed"}
    seeds = [(k, derived_seed(0, "bench", k)) for k in range(trials)]
    experiment = LinearExperiment()
    return time_per_trial(lambda: experiment.run_task(config, cell, seeds), 1, clock) / trials


def large_n_panel(rng) -> None:
    """fig3-large-n-d16.yaml's trials (16 n from 2 to N = 10^4, d = 16, 300 trials each, 10 original sets),
    projected from timed tasks: before issue 14 (strips, one trial at a time), tiles one at a time, and now."""
    ns = np.unique(np.round(np.geomspace(2, 10_000, 16)).astype(int))
    points = rng.standard_normal((10_000, 16))
    totals = {}
    for name in ("strips, one by one", "tiles, one by one", "tiles, batched"):
        with strip_pair_sums() if name.startswith("strips") else contextlib.nullcontext():
            start = time.perf_counter()
            orig = original_reference(points, "paper", 1.0)
            per_set = time.perf_counter() - start
            trials = sum(task_seconds(int(n), 16, orig, 50 if n <= 1000 else 2, name.endswith("batched")) * 300
                         for n in ns)
        totals[name] = trials + DEFAULT_ORIGINAL_SETS * per_set
        print(f"large-n panel, {name}: {totals[name]:.0f} s of work (300 trials at each of 16 n, "
              f"{DEFAULT_ORIGINAL_SETS} original sets' self terms)")
    first, last = totals["strips, one by one"], totals["tiles, batched"]
    print(f"large-n panel: {first / last:.2f}x faster than before issue 14, "
          f"{totals['tiles, one by one'] / last:.2f}x from batching alone")


def generalizer_cost(rng, quick: bool) -> None:
    """What the ideal generalizer (issue 22) adds to a task of 50 batched trials against a fixed original set:
    the same tasks timed with it and with its two calls stubbed out, interleaved, best of 5 (a ratio in one run)."""
    from memgen_cli.linear import batch, model

    real_overlaps, real_columns = batch.log_isotropic_kde_overlaps, model.generalizer_columns
    cases = ((16, (10, 100, 1000)), (100, (10, 100, 1000))) if not quick else ((16, (10, 100)),)
    for d, ns in cases:
        orig = original_reference(rng.standard_normal((10_000, d)), "paper", 1.0)
        orig.log_overlap_with_isotropic(1.0)  # once per set, as the sweep's cached fixed sets keep it
        for n in ns:
            with_it, without = [], []
            for _ in range(5):
                with_it.append(task_seconds(n, d, orig, 50, batched=True))
                batch.log_isotropic_kde_overlaps = lambda sq, *a: np.zeros(sq.shape[0])
                model.generalizer_columns = lambda *a: {}
                try:
                    without.append(task_seconds(n, d, orig, 50, batched=True))
                finally:
                    batch.log_isotropic_kde_overlaps, model.generalizer_columns = real_overlaps, real_columns
            a, b = min(with_it), min(without)
            print(f"d={d:4d} N=10^4 n={n:4d}: ideal generalizer adds {100 * (a - b) / b:4.1f}% to a batched trial "
                  f"({b * 1e3:.2f} -> {a * 1e3:.2f} ms); the original set's term once per set")


def time_per_trial(fn, repeats: int, clock=time.perf_counter) -> float:
    fn()  # warm-up
    start = clock()
    for _ in range(repeats):
        fn()
    return (clock() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the dense baseline at d = 100 and the full sweep")
    parser.add_argument("--floors-and-sweep", action="store_true",
                        help="only the per-trial floors and the Fig. 2+3 sweeps (issue 36's figures)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; one BLAS thread per measurement unless stated")
    rng = np.random.default_rng(0)
    rows = []
    with threadpool_limits(1):
        if not args.floors_and_sweep:
            pair_sums(rng)
            generalizer_cost(rng, args.quick)
            large_n_panel(rng)
        for d, ns in ((16, (8, 50, 300)), (100, (8, 50, 300))):
            start = time.perf_counter()
            orig = original_reference(rng.standard_normal((10_000, d)), "paper", 1.0)
            build = time.perf_counter() - start
            print(f"d={d:4d} N=10^4: original set's self term, once per worker: {build:.2f} s")
            for n in ns:
                t = task_seconds(n, d, orig, 50, batched=True)
                one = task_seconds(n, d, orig, 50, batched=False)
                rows.append((d, n, t))
                floor = cross_term_floor(rng, n, d, 10_000, 200)
                print(f"d={d:4d} N=10^4 n={n:4d}: memgen {t * 1e3:6.2f} ms/trial batched (a task of 50 trials), "
                      f"{one * 1e3:6.2f} one by one; cross-term floor {floor * 1e3:5.2f} ms "
                      f"(N x d x rank product + N exps): {t / floor:.1f}x the floor ({one / floor:.1f}x one by one)")
                # interleaved, 5 rounds each, so that other work on the machine moves all three alike; CPU time
                # (one BLAS thread: on an idle machine the wall time), which waiting for a shared core does not count
                cpu = time.process_time
                rounds = [(cross_term_floor(rng, n, d, 10_000, 50, cpu),  # the mean of 50 calls, as above
                           sweep_task_seconds(n, d, clock=cpu), sweep_task_seconds(n, d, reproducibility=False,
                                                                                   clock=cpu)) for _ in range(5)]
                for what, pick in (("best", min), ("median", statistics.median)):
                    least, on, off = (pick(column) for column in zip(*rounds))
                    print(f"d={d:4d} N=10^4 n={n:4d}: in a sweep's task (run_task, interleaved, CPU time, {what} of 5) "
                          f"{on * 1e3:6.2f} ms/trial with the reproducibility pair, {off * 1e3:6.2f} without, floor "
                          f"{least * 1e3:5.2f}: {on / least:.1f}x the floor ({off / least:.1f}x without the pair), "
                          f"the pair {100 * (on - off) / off:+.1f}%", flush=True)
        for d, n in ((16, 300), (100, 300)):
            if (args.quick and d == 100) or args.floors_and_sweep:
                continue
            base = time_per_trial(lambda n=n, d=d: dense_baseline_trial(rng, n, d, 10_000), 1)
            ours = next(t for dd, nn, t in rows if (dd, nn) == (d, n))
            redraw = time_per_trial(lambda n=n, d=d: run_linear_trial(rng, n, d, LAM, T, 10_000), 2)
            print(f"d={d:4d} N=10^4 n={n:4d}: dense baseline {base:6.2f} s/trial; memgen is {base / ours:,.0f}x faster "
                  f"(fixed original), {base / redraw:,.1f}x with original: redraw")
    if not args.quick:
        fig23_sweeps()


def fig23_sweeps(repeats: int = 2) -> None:
    """The paper's Fig. 2+3 sweep with the reproducibility pair on and off, interleaved, best of ``repeats``: wall
    time with --workers 2, and CPU time of the same sweep run serially in this process (less moved by other work on
    a shared machine); then the default K original sets against one set."""
    def sweep(sets: int, pairs: bool, executor: str) -> tuple[float, float]:
        grid = {"n": {"start": 2, "stop": 1000, "num": 12}, "d": [16, 100], "N": [10_000]}
        config = LinearConfig(trials=300, grid=grid, options={"original_sets": sets, "reproducibility": pairs})
        _fixed_original.cache_clear()  # every serial run builds its original sets, as a worker does
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu = time.perf_counter(), time.process_time()
            run_sweep(config, Path(tmp) / "fig23", executor=executor, workers=2 if executor == "local" else None)
            return time.perf_counter() - wall, time.process_time() - cpu

    best: dict = {}
    for _ in range(repeats):
        for pairs in (True, False):
            for executor in ("local", "serial"):
                wall, cpu = sweep(DEFAULT_ORIGINAL_SETS, pairs, executor)
                figure = wall if executor == "local" else cpu
                best[pairs, executor] = min(best.get((pairs, executor), math.inf), figure)
                print(f"paper Fig. 2+3 sweep (d in {{16, 100}}, 12 n from 2 to 1000, 300 trials, N = 10^4, "
                      f"{DEFAULT_ORIGINAL_SETS} original sets), reproducibility {'on' if pairs else 'off'}: "
                      + (f"{wall:.1f} s wall with --workers 2" if executor == "local" else
                         f"{cpu:.1f} s CPU serially ({wall:.1f} s wall)"), flush=True)
    for executor, what in (("local", "wall, --workers 2"), ("serial", "CPU, serial")):
        on, off = best[True, executor], best[False, executor]
        print(f"the reproducibility pair adds {100 * (on - off) / off:+.1f}% to the sweep ({what}, best of {repeats}: "
              f"{on:.1f} s against {off:.1f} s)")
    wall, _ = sweep(1, True, "local")
    print(f"the same sweep with one original set, --workers 2: {wall:.1f} s wall")

if __name__ == "__main__":
    main()
