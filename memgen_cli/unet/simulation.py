"""One U-Net simulation: draw data, train a DDPM, generate a batch, evaluate every metric.

``simulate(params, seed)`` is a pure function of its arguments (the device and thread count included: it runs
with exactly ``threads`` torch and BLAS threads, whatever the process had): the sweep layer calls it once per
simulation and owns all files. Its parameters are ``params.SimulationParams``.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from memgen_cli.imaging import data as data_mod
from memgen_cli.imaging import pairs
from memgen_cli.imaging.evaluation import evaluate, measure, pixel_sums_for, prepare
from memgen_cli.imaging.references import evaluate_references, reference_seed
from memgen_cli.seeding import derived_seed

from .models import get_preset
from .params import THREADS, SimulationParams, UnetCompute

def _device_metrics(device: str):
    """On CUDA the heaviest metrics run in torch on the GPU (device_metrics); elsewhere in numpy (None)."""
    if device != "cuda":
        return None
    from . import device_metrics

    return device_metrics


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
             every: int | None = None, compute: UnetCompute = UnetCompute(),
             references: bool | None = None, reproducibility: bool = False) -> SimulationResult:
    """Train on n fresh images, generate ``generated`` images, evaluate them: the metric columns and the images.

    params: the typed parameters, or a flat cell (validated here: a MemgenError before any training).
    threads: torch and BLAS threads (the config's ``threads``); the numbers depend on it.
    every: also evaluate fresh samples after every every-th optimizer step (``SimulationResult.curve``); the
    final row is the same with or without it.
    compute: precision and compile on the device (params.UnetCompute).
    references: also measure the ideal generalizer and memorizer (imaging.references); None: the evaluation
    section's ``references`` (a sweep passes its config's: the field is not part of a cell).
    reproducibility: also train a partner on a training set of its own and sample it from this simulation's noise
    (imaging.pairs: PAIR_COLUMNS after the rest of the row); the row's other columns are unchanged.
    """
    return simulate_group(params, [seed], device, threads, every, compute, references, reproducibility)[0]


def simulate_group(params: SimulationParams | dict, seeds: list[int], device: str = "auto", threads: int = THREADS,
                   every: int | None = None, compute: UnetCompute = UnetCompute(),
                   references: bool | None = None, reproducibility: bool = False) -> list[SimulationResult]:
    """``simulate`` for several seeds of one cell. Two or more train at once (``grouped.train_together``: one
    vmapped step for all, each with its own data, draws and Adam state); then each samples and is evaluated
    alone. Every simulation's numbers are those of a run alone up to floating-point rounding."""
    p = params if isinstance(params, SimulationParams) else SimulationParams.from_cell(params)
    references = p.evaluation.references if references is None else references
    with exactly_threads(int(threads)):
        return _simulate_group(p, [int(s) for s in seeds], device, every, compute, references, reproducibility)


@dataclass
class _Setup:
    """One simulation before training: its data, seeds, fresh model and training budget."""

    split: data_mod.DataSplit
    train_seed: int
    sample_seed: int
    eval_seed: int
    reference_seed: int  # the references' images and bootstrap (imaging.references): not from the split's generator
    model: object
    train_steps: int
    batch_size: int
    heldout_seed: int  # the held-out loss' noise and time steps along training (curves.csv's heldout_loss)


def heldout_seed(seed: int) -> int:
    """Derived from the simulation's seed on its own: the simulation's generator draws exactly what it did before."""
    return derived_seed(seed, "heldout loss")


def _setup(p: SimulationParams, seed: int) -> _Setup:
    from .diffusion import init_model

    grid = p.grid
    rng = np.random.default_rng(seed)
    split = data_mod.sample_split(p.data, grid.n, grid.N, grid.side, rng)
    init_seed, train_seed, sample_seed, eval_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=4))
    preset = get_preset(grid.preset)
    model = init_model(lambda: preset.build(grid.side, p.channels), init_seed)
    return _Setup(split, train_seed, sample_seed, eval_seed, reference_seed(seed), model, p.train_step_count,
                  p.train_batch_size, heldout_seed(seed))


def _draw(p: SimulationParams, model, seed: int, dev: str) -> np.ndarray:
    from .diffusion import make_scheduler, sample

    return sample(model, make_scheduler(p.training.schedule, p.grid.steps, p.sampling.sampler), p.sampling.generated,
                  p.grid.side, seed=seed, device=dev, sample_steps=p.sampling.sample_steps, channels=p.channels)


def _heldout_loss(s: _Setup, model, scheduler, dev: str) -> float:
    """The epsilon loss on (up to) HELDOUT_IMAGES images of the original set, which the model never trains on."""
    from .diffusion import HELDOUT_IMAGES, heldout_loss

    images = data_mod.to_model_scale(s.split.original[:HELDOUT_IMAGES])
    return heldout_loss(model, images, scheduler, seed=s.heldout_seed, device=dev)


def _checkpoint(p: SimulationParams, s: _Setup, model, step: int, losses_so_far: np.ndarray, every: int,
                dev: str, scheduler) -> dict:
    """The metrics on fresh samples at a training checkpoint (their own seeds: training is not disturbed), and
    the held-out loss."""
    images = data_mod.from_model_scale(_draw(p, model, checkpoint_seed(s.sample_seed, step), dev))
    metrics_now = evaluate(images, s.split, p.evaluation, np.random.default_rng(checkpoint_seed(s.eval_seed, step)),
                           dev, _device_metrics(dev))
    return {"step": step, "train_loss": float(losses_so_far[-every:].mean()),
            "heldout_loss": _heldout_loss(s, model, scheduler, dev), **metrics_now}


def _train(p: SimulationParams, setups: list[_Setup], scheduler, dev: str, precision: str, compute: UnetCompute,
           every: int | None = None, checkpoint=None) -> np.ndarray:
    """Train every setup's model (one alone, several at once): the (S, train_steps) losses."""
    from .diffusion import train
    from .grouped import train_together

    data = [data_mod.to_model_scale(s.split.train) for s in setups]
    first = setups[0]
    if len(setups) == 1:
        return train(first.model, data[0], scheduler, train_steps=first.train_steps, batch_size=first.batch_size,
                     lr=p.training.lr, seed=first.train_seed, device=dev, every=every, checkpoint=checkpoint,
                     precision=precision, compile_model=compute.compile)[None]
    return train_together([s.model for s in setups], data, scheduler, train_steps=first.train_steps,
                          batch_size=first.batch_size, lr=p.training.lr, seeds=[s.train_seed for s in setups],
                          device=dev, precision=precision, every=every, checkpoint=checkpoint)


def _partner(p: SimulationParams, seed: int, s: _Setup) -> _Setup:
    """A simulation's reproducibility partner (imaging.pairs): a training set, initial weights and batch order of
    its own, all from the partner's generator; the simulation's sampling seed; its eval_seed seeds the pairs'
    bootstrap."""
    from .diffusion import init_model

    grid = p.grid
    rng = np.random.default_rng(pairs.partner_seed(seed))
    train = pairs.partner_training_set(p.data, s.split, grid.n, grid.side, p.evaluation, s.eval_seed, rng)
    init_seed, train_seed, pair_eval_seed = (int(v) for v in rng.integers(0, 2**63 - 1, size=3))
    preset = get_preset(grid.preset)
    model = init_model(lambda: preset.build(grid.side, p.channels), init_seed)
    return _Setup(dataclasses.replace(s.split, train=train), train_seed, s.sample_seed, pair_eval_seed,
                  s.reference_seed, model, s.train_steps, s.batch_size, s.heldout_seed)


def _add_pairs(p: SimulationParams, seeds: list[int], setups: list[_Setup], results: list[SimulationResult],
               scheduler, dev: str, precision: str, compute: UnetCompute) -> None:
    """Train the simulations' partners (together where the simulations were), sample each from its simulation's
    noise, and add the pair's columns to the simulation's row."""
    start = time.perf_counter()
    partners = [_partner(p, seed, s) for seed, s in zip(seeds, setups)]
    _train(p, partners, scheduler, dev, precision, compute)
    shared = (time.perf_counter() - start) / len(partners)
    for result, partner in zip(results, partners):
        begin = time.perf_counter()
        partner01 = data_mod.from_model_scale(_draw(p, partner.model, partner.sample_seed, dev))
        result.row.update(pairs.pair_columns(result.generated, partner01, partner.split, p.evaluation,
                                             np.random.default_rng(partner.eval_seed),
                                             shared + time.perf_counter() - begin))


def _simulate_group(p: SimulationParams, seeds: list[int], device: str, every: int | None,
                    compute: UnetCompute, references: bool, reproducibility: bool = False) -> list[SimulationResult]:
    from .diffusion import make_scheduler, resolve_device, resolve_precision

    dev = resolve_device(device)
    precision = resolve_precision(compute.precision, dev)
    setups = [_setup(p, seed) for seed in seeds]
    curves: list[list[dict]] = [[] for _ in setups]
    checkpoint_seconds = [0.0]
    scheduler = make_scheduler(p.training.schedule, p.grid.steps)

    def checkpoint(step: int, losses_so_far: np.ndarray, models=None) -> None:
        begin = time.perf_counter()
        for k, s in enumerate(setups):
            model = s.model if models is None else models[k]
            losses_k = losses_so_far if models is None else losses_so_far[k]
            curves[k].append(_checkpoint(p, s, model, step, losses_k, every, dev, scheduler))
        checkpoint_seconds[0] += time.perf_counter() - begin

    start = time.perf_counter()
    losses = _train(p, setups, scheduler, dev, precision, compute, every, checkpoint)
    # a group's training time is shared: each simulation is charged its share
    train_seconds = (time.perf_counter() - start - checkpoint_seconds[0]) / len(setups)
    results = [_finish(p, s, losses[k], curves[k], dev, train_seconds, every, len(setups), references,
                       scheduler)
               for k, s in enumerate(setups)]
    if reproducibility:
        _add_pairs(p, seeds, setups, results, scheduler, dev, precision, compute)
    return results


def _finish(p: SimulationParams, s: _Setup, losses: np.ndarray, curve: list[dict], dev: str, train_seconds: float,
            every: int | None, together: int, references: bool, scheduler=None) -> SimulationResult:
    """Sample the trained model and evaluate: the row (and the curve's last point, the end of training)."""
    start = time.perf_counter()
    generated = _draw(p, s.model, s.sample_seed, dev)
    sample_seconds = time.perf_counter() - start

    start = time.perf_counter()
    generated01 = data_mod.from_model_scale(generated)
    rng, device_metrics = np.random.default_rng(s.eval_seed), _device_metrics(dev)
    # The training and original sides are prepared once: the references measure against the same ones.
    sets = prepare(s.split, p.evaluation, rng, generated01.shape[0], pixel_sums_for(dev, device_metrics))
    row = measure(generated01, sets, rng, dev, device_metrics)
    eval_seconds = time.perf_counter() - start
    refs = evaluate_references(p.data, sets, s.reference_seed, dev, device_metrics) if references else {}
    row = {
        **row,
        # mean over the last tenth of the steps: one step's loss is noisy (random batch, time steps, noise)
        "final_loss": float(losses[-max(1, s.train_steps // 10):].mean()),
        "train_steps_done": int(s.train_steps), "device": dev,
        "train_seconds": train_seconds, "sample_seconds": sample_seconds, "eval_seconds": eval_seconds,
        **refs,
        **({"trained_together": together} if together > 1 else {}),
    }
    if every:  # the last checkpoint is the end of training: the final samples, evaluated once
        last = {k: row[k] for k in ("final_loss", "device", "train_seconds", "sample_seconds", "eval_seconds",
                                    "trained_together", *refs) if k in row}
        metrics_end = {k: v for k, v in row.items() if k not in last and k != "train_steps_done"}
        tail = float(losses[-min(every, s.train_steps):].mean())
        curve.append({"step": int(s.train_steps), "train_loss": tail,
                      "heldout_loss": _heldout_loss(s, s.model, scheduler, dev), **metrics_end})
        return SimulationResult(row, generated01, s.split.train, curve)
    return SimulationResult(row, generated01, s.split.train)
