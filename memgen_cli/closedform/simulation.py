"""One closed-form simulation: draw the data, sample with the closed-form denoiser, evaluate every metric.

``simulate(params, seed)`` is a pure function of its arguments (the thread count included: it runs with exactly
``threads`` BLAS threads, whatever the process had). The sweep layer calls it once per simulation and owns
all files. Seeds as the U-Net's (unet/simulation.py): the split first from the simulation's own generator,
then one seed each for sampling, the smoothing's perturbations and the evaluation subsets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from memgen_cli.imaging import data as data_mod
from memgen_cli.imaging import schedules
from memgen_cli.imaging.evaluation import measure, prepare
from memgen_cli.imaging.references import evaluate_references, reference_seed
from memgen_cli.imaging.metrics import nearest_neighbour_ratios
from memgen_cli.imaging import pairs
from memgen_cli.seeding import derived_seed

from .denoiser import make_denoiser
from .params import THREADS, CellParams

# After the evaluation's columns: how near the samples are to copies, and where the time went.
RUN_COLUMNS = ("nn_ratio_mean", "nn_ratio_max", "data_seconds", "sample_seconds", "eval_seconds")
TIMINGS = ("data_seconds", "sample_seconds", "eval_seconds")


@dataclass
class SimulationResult:
    row: dict  # the metric columns
    generated: np.ndarray  # (M, side, side) (RGB: (M, side, side, 3)) in [0, 1] pixel units (not clipped)
    train: np.ndarray  # (n, side, side) (RGB: (n, side, side, 3)) in [0, 1] pixel units


def simulate(params: CellParams | dict, seed: int, threads: int = THREADS,
             references: bool | None = None, reproducibility: bool = False,
             originals: int | None = None) -> SimulationResult:
    """n fresh training images, ``generated`` samples of the closed-form model through the U-Net's sampler, and
    every metric of them. params: the typed parameters, or a flat cell (validated here: a MemgenError).
    references: also measure the ideal generalizer and memorizer (imaging.references); None: the evaluation
    section's (a sweep passes its config's: the field is not part of a cell).
    reproducibility: also the partner's samples, compared with these (imaging.pairs.PAIR_COLUMNS after the rest).
    originals: None draws all N originals from the simulation's generator; a count (ClosedFormConfig.originals_drawn,
    ``originals: evaluated``) draws only that many, from a stream of their own (``originals_seed``)."""
    p = params if isinstance(params, CellParams) else CellParams.from_cell(params)
    references = p.evaluation.references if references is None else references
    with _thread_pools().limit(limits=int(threads)):  # how many threads share a product may move its last bits
        return _simulate(p, int(seed), references, reproducibility, originals)


@lru_cache(maxsize=1)
def _thread_pools():
    """The process's BLAS/OpenMP pools, found once (finding them costs ~15 ms, a simulation ~50 ms at n = 10)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _generate(p: CellParams, train01: np.ndarray, smoothing_seed: int, sample_seed: int) -> np.ndarray:
    """The closed-form model of ``train01`` sampled from the given seeds, in [0, 1] pixel units."""
    g, sampling = p.grid, p.sampling
    denoise = make_denoiser(train01, g.smoothing, count=sampling.generated,
                            rng=np.random.default_rng(smoothing_seed), draws=sampling.draws)
    generated = schedules.sample(denoise, sampling.generated, train01.shape[1:], sampling.schedule, g.steps,
                                 sampling.sampler, sampling.sample_steps, np.random.default_rng(sample_seed))
    return data_mod.from_model_scale(generated)


def originals_seed(seed: int) -> int:
    """The stream of a simulation's original images under ``originals: evaluated``: from its seed alone."""
    return derived_seed(seed, "original images")


def _simulate(p: CellParams, seed: int, references: bool, reproducibility: bool = False,
              originals: int | None = None) -> SimulationResult:
    g = p.grid
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    if originals is None:
        split = data_mod.sample_split(p.data, g.n, g.N, g.side, rng)
    else:
        split = data_mod.sample_split_evaluated(p.data, g.n, g.N, g.side, rng,
                                                np.random.default_rng(originals_seed(seed)), originals)
    sample_seed, smoothing_seed, eval_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=3))
    data_seconds = time.perf_counter() - start

    start = time.perf_counter()
    generated01 = _generate(p, split.train, smoothing_seed, sample_seed)
    sample_seconds = time.perf_counter() - start

    start = time.perf_counter()
    rng = np.random.default_rng(eval_seed)
    sets = prepare(split, p.evaluation, rng, generated01.shape[0])  # shared with the references
    row = measure(generated01, sets, rng)
    ratios = nearest_neighbour_ratios(generated01.reshape(len(generated01), -1),
                                      split.train.reshape(len(split.train), -1))
    eval_seconds = time.perf_counter() - start
    refs = evaluate_references(p.data, sets, reference_seed(seed)) if references else {}
    row = {**row, "nn_ratio_mean": float(ratios.mean()), "nn_ratio_max": float(ratios.max()),
           "data_seconds": data_seconds, "sample_seconds": sample_seconds, "eval_seconds": eval_seconds, **refs}
    if reproducibility:
        row.update(_pair(p, seed, split, generated01, smoothing_seed, sample_seed, eval_seed))
    return SimulationResult(row, generated01, split.train)


def _pair(p: CellParams, seed: int, split: data_mod.DataSplit, generated01: np.ndarray, smoothing_seed: int,
          sample_seed: int, eval_seed: int) -> dict:
    """The partner: its own training set (imaging.pairs), the same smoothing perturbations and sampling noise."""
    start = time.perf_counter()
    rng = np.random.default_rng(pairs.partner_seed(seed))
    train = pairs.partner_training_set(p.data, split, p.grid.n, p.grid.side, p.evaluation, eval_seed, rng)
    pair_eval_seed = int(rng.integers(0, 2**63 - 1))
    partner01 = _generate(p, train, smoothing_seed, sample_seed)
    return pairs.pair_columns(generated01, partner01, split, p.evaluation, np.random.default_rng(pair_eval_seed),
                              time.perf_counter() - start)
