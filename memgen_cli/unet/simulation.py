"""One U-Net simulation: draw data, train a DDPM, generate a batch, evaluate every metric.

``simulate(params, seed)`` is a pure function of its arguments (the device and thread count included: it runs
with exactly ``threads`` torch and BLAS threads, whatever the process had): the sweep layer calls it once per
simulation and owns all files. Its parameters are ``params.SimulationParams``.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import data as data_mod
from . import metrics
from .models import get_preset
from .params import THREADS, SimulationParams, UnetCompute, UnetEvaluation

BINARY_METRICS = ("delta_positive", "delta_positive_exact", "delta_positive_kde")
MEAN_METRICS = ("E_TG", "E_OG", "Delta", "E_TG_exact", "E_OG_exact", "Delta_exact", "log_E_TG_kde",
                "log_E_OG_kde", "log_abs_delta_kde", "memorized_fraction", "final_loss", "train_seconds",
                "sample_seconds", "eval_seconds")


def _subset(images: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """A random subset of ``size`` images (all of them when size is None), flattened to (size, d)."""
    flat = images.reshape(images.shape[0], -1)
    if size is None or size >= flat.shape[0]:
        return flat
    return flat[rng.choice(flat.shape[0], size=size, replace=False)]


def full_dimensional_kde(generated, train, original, sigma: float) -> dict:
    """The paper's metric between d-dimensional isotropic KDEs (eps = sigma m^(-1/d), eq. 9), natural logs.

    Built from ``memgen_cli.kde`` (shared with the linear model) with the rule-exact diagonal terms, so the
    equal diagonals of the training and original KDEs cancel exactly in Delta.
    """
    from ..kde import isotropic_kde_distances

    out = isotropic_kde_distances(generated, train, original, sigma, rule="paper")
    return {"log_E_TG_kde": float(out["log_E_TG"]), "log_E_OG_kde": float(out["log_E_OG"]),
            "delta_sign_kde": int(out["delta_sign"]), "log_abs_delta_kde": float(out["log_abs_delta"]),
            "delta_positive_kde": int(out["delta_sign"] > 0)}


def evaluate(generated01: np.ndarray, split: data_mod.DataSplit, evaluation: UnetEvaluation,
             rng: np.random.Generator, device: str = "cpu") -> dict:
    """Every metric of one simulation; all sets in [0, 1] pixel units. On CUDA the exact per-pixel metric and
    the nearest-neighbour ratios run in float64 torch on the GPU (device_metrics); elsewhere in numpy."""
    gen = generated01.reshape(generated01.shape[0], -1)
    train_eval = _subset(split.train, evaluation.eval_train, rng)
    original_eval = _subset(split.original, evaluation.eval_original, rng)
    sigma = split.pixel_sigma
    grid = metrics.pixel_kde_distances_grid(gen, train_eval, original_eval, sigma, points=evaluation.grid_points)
    train_flat = split.train.reshape(split.train.shape[0], -1)
    ratios = None
    if device == "cuda":
        from . import device_metrics

        exact = device_metrics.pixel_kde_distances_exact(gen, train_eval, original_eval, sigma, device)
        ratios = device_metrics.nearest_neighbour_ratios(gen, train_flat, device)
    else:
        exact = metrics.pixel_kde_distances_exact(gen, train_eval, original_eval, sigma)
    cap = evaluation.kde_max_points
    kde = full_dimensional_kde(gen, _subset(train_eval, cap, rng), _subset(original_eval, cap, rng), sigma)
    nn = metrics.memorized_fraction(gen, train_flat, rng, resamples=evaluation.bootstrap, ratios=ratios)
    return {
        "delta_positive": int(grid["Delta"] > 0), "delta_positive_exact": int(exact["Delta"] > 0),
        "delta_positive_kde": kde.pop("delta_positive_kde"),
        "E_TG": grid["E_TG"], "E_OG": grid["E_OG"], "Delta": grid["Delta"],
        "E_TG_exact": exact["E_TG"], "E_OG_exact": exact["E_OG"], "Delta_exact": exact["Delta"],
        **kde, **nn,
        "pixel_sigma": sigma, "pixel_scale": split.pixel_scale, "n_eval_train": len(train_eval),
        "n_eval_original": len(original_eval), "n_original": int(split.original.shape[0]),
    }


@dataclass
class SimulationResult:
    row: dict  # the metric columns
    generated: np.ndarray  # (M, side, side) (RGB: (M, side, side, 3)) in [0, 1] pixel units (not clipped)
    train: np.ndarray  # (n, side, side) (RGB: (n, side, side, 3)) in [0, 1] pixel units
    curve: list[dict] | None = None  # with ``every``: the metrics at each checkpoint, the last = ``row``'s


def checkpoint_seed(seed: int, step: int) -> int:
    """A checkpoint's own seed (its samples, its evaluation subsets), from the simulation's and the step."""
    return int(np.random.SeedSequence([seed, step]).generate_state(2, np.uint64)[0] >> np.uint64(1))


@contextmanager
def exactly_threads(threads: int):
    """torch and every BLAS/OpenMP pool use ``threads`` threads inside, then what they had before.

    How many threads share a sum (a convolution, a matrix product) changes its last bits, and training
    amplifies them: a worker's share of the cores must not decide the numbers.
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    with threadpool_limits(limits=threads):
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def simulate(params: SimulationParams | dict, seed: int, device: str = "auto", threads: int = THREADS,
             every: int | None = None, compute: UnetCompute = UnetCompute()) -> SimulationResult:
    """Train on n fresh images, generate ``generated`` images, evaluate them: the metric columns and the images.

    params: the typed parameters, or a flat cell (validated here: a MemgenError before any training).
    threads: torch and BLAS threads (the config's ``threads``); the numbers depend on it.
    every: also evaluate fresh samples after every every-th optimizer step (``SimulationResult.curve``); the
    final row is the same with or without it.
    compute: precision and compile on the device (params.UnetCompute).
    """
    return simulate_group(params, [seed], device, threads, every, compute)[0]


def simulate_group(params: SimulationParams | dict, seeds: list[int], device: str = "auto", threads: int = THREADS,
                   every: int | None = None, compute: UnetCompute = UnetCompute()) -> list[SimulationResult]:
    """``simulate`` for several seeds of one cell. Two or more train at once (``grouped.train_together``: one
    vmapped step for all, each with its own data, draws and Adam state); then each samples and is evaluated
    alone. Every simulation's numbers are those of a run alone up to floating-point rounding."""
    p = params if isinstance(params, SimulationParams) else SimulationParams.from_cell(params)
    with exactly_threads(int(threads)):
        return _simulate_group(p, [int(s) for s in seeds], device, every, compute)


@dataclass
class _Setup:
    """One simulation before training: its data, seeds, fresh model and training budget."""

    split: data_mod.DataSplit
    train_seed: int
    sample_seed: int
    eval_seed: int
    model: object
    train_steps: int
    batch_size: int


def _setup(p: SimulationParams, seed: int) -> _Setup:
    from .diffusion import epoch_batch_size, init_model, steps_for_epochs

    grid, training = p.grid, p.training
    rng = np.random.default_rng(seed)
    split = data_mod.sample_split(p.data, grid.n, grid.N, grid.side, rng)
    init_seed, train_seed, sample_seed, eval_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=4))
    preset = get_preset(grid.preset)
    model = init_model(lambda: preset.build(grid.side, p.channels), init_seed)
    if grid.train_steps is not None:  # full-size batches, whatever n (see diffusion._batch_indices)
        train_steps, batch_size = grid.train_steps, training.batch_size
    else:  # the paper's epochs: batches of min(batch_size, n)
        train_steps = steps_for_epochs(grid.epochs, grid.n, training.batch_size)
        batch_size = epoch_batch_size(grid.n, training.batch_size)
    return _Setup(split, train_seed, sample_seed, eval_seed, model, train_steps, batch_size)


def _draw(p: SimulationParams, model, seed: int, dev: str) -> np.ndarray:
    from .diffusion import make_scheduler, sample

    return sample(model, make_scheduler(p.training.schedule, p.grid.steps, p.sampling.sampler), p.sampling.generated,
                  p.grid.side, seed=seed, device=dev, sample_steps=p.sampling.sample_steps, channels=p.channels)


def _checkpoint(p: SimulationParams, s: _Setup, model, step: int, losses_so_far: np.ndarray, every: int,
                dev: str) -> dict:
    """The metrics on fresh samples at a training checkpoint (their own seeds: training is not disturbed)."""
    images = data_mod.from_model_scale(_draw(p, model, checkpoint_seed(s.sample_seed, step), dev))
    metrics_now = evaluate(images, s.split, p.evaluation, np.random.default_rng(checkpoint_seed(s.eval_seed, step)),
                           dev)
    return {"step": step, "train_loss": float(losses_so_far[-every:].mean()), **metrics_now}


def _simulate_group(p: SimulationParams, seeds: list[int], device: str, every: int | None,
                    compute: UnetCompute) -> list[SimulationResult]:
    from .diffusion import make_scheduler, resolve_device, resolve_precision, train
    from .grouped import train_together

    dev = resolve_device(device)
    precision = resolve_precision(compute.precision, dev)
    setups = [_setup(p, seed) for seed in seeds]
    curves: list[list[dict]] = [[] for _ in setups]
    checkpoint_seconds = [0.0]
    scheduler = make_scheduler(p.training.schedule, p.grid.steps)
    data = [data_mod.to_model_scale(s.split.train) for s in setups]
    first = setups[0]

    def checkpoint(step: int, losses_so_far: np.ndarray, models=None) -> None:
        begin = time.perf_counter()
        for k, s in enumerate(setups):
            model = s.model if models is None else models[k]
            losses_k = losses_so_far if models is None else losses_so_far[k]
            curves[k].append(_checkpoint(p, s, model, step, losses_k, every, dev))
        checkpoint_seconds[0] += time.perf_counter() - begin

    start = time.perf_counter()
    if len(setups) == 1:
        losses = train(first.model, data[0], scheduler, train_steps=first.train_steps, batch_size=first.batch_size,
                       lr=p.training.lr, seed=first.train_seed, device=dev, every=every, checkpoint=checkpoint,
                       precision=precision, compile_model=compute.compile)[None]
    else:
        losses = train_together([s.model for s in setups], data, scheduler, train_steps=first.train_steps,
                                batch_size=first.batch_size, lr=p.training.lr, seeds=[s.train_seed for s in setups],
                                device=dev, precision=precision, every=every, checkpoint=checkpoint)
    # a group's training time is shared: each simulation is charged its share
    train_seconds = (time.perf_counter() - start - checkpoint_seconds[0]) / len(setups)
    return [_finish(p, s, losses[k], curves[k], dev, train_seconds, every, len(setups))
            for k, s in enumerate(setups)]


def _finish(p: SimulationParams, s: _Setup, losses: np.ndarray, curve: list[dict], dev: str, train_seconds: float,
            every: int | None, together: int) -> SimulationResult:
    """Sample the trained model and evaluate: the row (and the curve's last point, the end of training)."""
    start = time.perf_counter()
    generated = _draw(p, s.model, s.sample_seed, dev)
    sample_seconds = time.perf_counter() - start

    start = time.perf_counter()
    generated01 = data_mod.from_model_scale(generated)
    row = evaluate(generated01, s.split, p.evaluation, np.random.default_rng(s.eval_seed), dev)
    eval_seconds = time.perf_counter() - start
    row = {
        **row,
        # mean over the last tenth of the steps: one step's loss is noisy (random batch, time steps, noise)
        "final_loss": float(losses[-max(1, s.train_steps // 10):].mean()),
        "train_steps_done": int(s.train_steps), "device": dev,
        "train_seconds": train_seconds, "sample_seconds": sample_seconds, "eval_seconds": eval_seconds,
        **({"trained_together": together} if together > 1 else {}),
    }
    if every:  # the last checkpoint is the end of training: the final samples, evaluated once
        last = {k: row[k] for k in ("final_loss", "device", "train_seconds", "sample_seconds", "eval_seconds",
                                    "trained_together") if k in row}
        metrics_end = {k: v for k, v in row.items() if k not in last and k != "train_steps_done"}
        tail = float(losses[-min(every, s.train_steps):].mean())
        curve.append({"step": int(s.train_steps), "train_loss": tail, **metrics_end})
        return SimulationResult(row, generated01, s.split.train, curve)
    return SimulationResult(row, generated01, s.split.train)
