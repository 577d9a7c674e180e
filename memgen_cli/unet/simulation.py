"""One U-Net simulation: draw data, train a DDPM, generate a batch, evaluate every metric.

``run_simulation(params, seed)`` is a pure function of its arguments (and the device and thread count):
the sweep layer calls it once per simulation and owns all files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import MemgenError
from . import data as data_mod
from . import metrics
from .models import check_side, get_preset

# Every parameter a simulation reads, with its default. ``epochs`` or ``train_steps`` sets the training budget.
DEFAULTS: dict = {
    "data": "gaussian",  # gaussian | gmm | digits
    "mu": 0.5,  # gaussian pixel mean ([0, 1] pixel units; paper 0.5)
    "sigma": 0.1,  # gaussian pixel std (paper 0.1); gmm: component std unless gmm_sigmas is given
    "gmm_means": [0.3, 0.7],
    "gmm_sigmas": None,
    "gmm_weights": None,
    "n": 10,  # training images
    "side": 8,  # image side s, d = s^2 (paper 16; digits 8)
    "N": 10_000,  # original images (paper 1e5); digits: every digit not used for training
    "preset": "tiny",
    "steps": 10,  # diffusion steps (paper 10)
    "schedule": "logsnr_linear",  # logsnr_linear | cosine | published
    "sampler": "ddpm",  # ddpm | ddim
    "sample_steps": None,  # sampler steps (default: all diffusion steps)
    "epochs": None,  # paper: 20
    "train_steps": None,  # optimizer steps; exactly one of epochs / train_steps
    "batch_size": 128,
    "lr": 2e-4,  # paper 2e-4 (Adam)
    "generated": 10,  # M, images generated per simulation (paper 10)
    "eval_train": None,  # training images in the per-pixel metric (paper 10 or 100); None: all n
    "eval_original": None,  # original images in the per-pixel metric (paper 10 or 100); None: all N
    "grid_points": 16,  # points per pixel of the published grid integral
    "kde_max_points": 2000,  # cap on each set in the full-dimensional KDE (its cost is quadratic)
    "bootstrap": 1000,  # resamples for the memorized-fraction interval
}

BINARY_METRICS = ("delta_positive", "delta_positive_exact", "delta_positive_kde")
MEAN_METRICS = ("E_TG", "E_OG", "Delta", "E_TG_exact", "E_OG_exact", "Delta_exact", "log_E_TG_kde",
                "log_E_OG_kde", "log_abs_delta_kde", "memorized_fraction", "final_loss", "train_seconds",
                "sample_seconds", "eval_seconds")


def resolved_params(params: dict) -> dict:
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise MemgenError(f"{unknown[0]}: unknown U-Net parameter (known: {', '.join(DEFAULTS)})")
    return {**DEFAULTS, **params}


def _positive_int(p: dict, key: str, minimum: int = 1) -> int:
    value = p[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise MemgenError(f"{key}: must be an integer >= {minimum} (got {value!r})")
    return int(value)


def original_count(p: dict) -> int:
    """Size of the original set: N, or for digits every digit not used for training."""
    if p["data"] == "digits":
        return data_mod.digits_available() - int(p["n"])
    return int(p["N"])


def validate_params(params: dict) -> dict:
    """Check a simulation's parameters before any training; returns them with defaults filled in.

    Every problem is a MemgenError whose one-line message starts with the field.
    """
    from .diffusion import check_sampler, check_schedule

    p = resolved_params(params)
    if p["data"] not in data_mod.FAMILIES:
        raise MemgenError(f"data: unknown data family {p['data']!r} (choose from {', '.join(data_mod.FAMILIES)})")
    get_preset(p["preset"])
    check_schedule(p["schedule"])
    check_sampler(p["sampler"])
    n = _positive_int(p, "n", 2)  # the nearest-neighbour test needs two training images
    side = _positive_int(p, "side", 1)
    check_side(p["preset"], side)
    steps = _positive_int(p, "steps", 2)
    if p["sample_steps"] is not None and not 1 <= _positive_int(p, "sample_steps") <= steps:
        raise MemgenError(f"sample_steps: must be between 1 and steps = {steps} (got {p['sample_steps']})")
    for key in ("batch_size", "generated", "grid_points", "kde_max_points", "bootstrap"):
        _positive_int(p, key, 2 if key == "kde_max_points" else 1)
    if (p["epochs"] is None) == (p["train_steps"] is None):
        raise MemgenError("epochs: give exactly one training budget, epochs or train_steps")
    _positive_int(p, "epochs" if p["epochs"] is not None else "train_steps")
    if not float(p["lr"]) > 0:
        raise MemgenError(f"lr: must be > 0 (got {p['lr']})")
    if p["data"] == "digits":
        if side != data_mod.DIGITS_SIDE:
            raise MemgenError(f"side: the digits are {data_mod.DIGITS_SIDE}x{data_mod.DIGITS_SIDE}, so side must be "
                              f"{data_mod.DIGITS_SIDE} (got {side})")
        available = data_mod.digits_available()
        if n >= available:
            raise MemgenError(f"n: only {available} digits are available and some must stay in the original set "
                              f"(got n = {n})")
    else:
        _positive_int(p, "N", 1)
        if not float(p["sigma"]) > 0:
            raise MemgenError(f"sigma: must be > 0 (got {p['sigma']})")
    if p["data"] == "gmm":
        means, sigmas, weights = data_mod.gmm_components(p)
        if not (len(means) == len(sigmas) == len(weights)) or min(weights) < 0 or sum(weights) <= 0:
            raise MemgenError("gmm_weights: gmm_means, gmm_sigmas and gmm_weights must have one non-negative "
                              "entry per component")
    if p["eval_train"] is not None and _positive_int(p, "eval_train", 2) > n:
        raise MemgenError(f"eval_train: evaluation subset of {p['eval_train']} is larger than the training set "
                          f"(n = {n})")
    n_original = original_count(p)
    if p["eval_original"] is not None and _positive_int(p, "eval_original", 2) > n_original:
        raise MemgenError(f"eval_original: evaluation subset of {p['eval_original']} is larger than the original "
                          f"set ({n_original} images)")
    return p


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


def evaluate(generated01: np.ndarray, split: data_mod.DataSplit, p: dict, rng: np.random.Generator) -> dict:
    """Every metric of one simulation; all sets in [0, 1] pixel units."""
    gen = generated01.reshape(generated01.shape[0], -1)
    train_eval = _subset(split.train, p["eval_train"], rng)
    original_eval = _subset(split.original, p["eval_original"], rng)
    sigma = split.pixel_sigma
    grid = metrics.pixel_kde_distances_grid(gen, train_eval, original_eval, sigma, points=p["grid_points"])
    exact = metrics.pixel_kde_distances_exact(gen, train_eval, original_eval, sigma)
    cap = p["kde_max_points"]
    kde = full_dimensional_kde(gen, _subset(train_eval, cap, rng), _subset(original_eval, cap, rng), sigma)
    nn = metrics.memorized_fraction(gen, split.train.reshape(split.train.shape[0], -1), rng,
                                    resamples=p["bootstrap"])
    return {
        "delta_positive": int(grid["Delta"] > 0), "delta_positive_exact": int(exact["Delta"] > 0),
        "delta_positive_kde": kde.pop("delta_positive_kde"),
        "E_TG": grid["E_TG"], "E_OG": grid["E_OG"], "Delta": grid["Delta"],
        "E_TG_exact": exact["E_TG"], "E_OG_exact": exact["E_OG"], "Delta_exact": exact["Delta"],
        **kde, **nn,
        "pixel_sigma": sigma, "n_eval_train": len(train_eval), "n_eval_original": len(original_eval),
        "n_original": int(split.original.shape[0]),
    }


def run_simulation(params: dict, seed: int, device: str = "auto", threads: int | None = None) -> dict:
    """Train on n fresh images, generate ``generated`` images, evaluate; returns a flat dict of metric columns."""
    return simulate(params, seed, device, threads).row


@dataclass
class SimulationResult:
    row: dict  # the metric columns
    generated: np.ndarray  # (M, side, side) in [0, 1] pixel units (not clipped)
    train: np.ndarray  # (n, side, side) in [0, 1] pixel units


def simulate(params: dict, seed: int, device: str = "auto", threads: int | None = None) -> SimulationResult:
    """``run_simulation`` that also hands back the images (for the per-cell image grids)."""
    import torch

    from .diffusion import (
        epoch_batch_size,
        init_model,
        make_scheduler,
        resolve_device,
        sample,
        steps_for_epochs,
        train,
    )

    p = validate_params(params)
    dev = resolve_device(device)
    if threads:
        torch.set_num_threads(int(threads))
    rng = np.random.default_rng(seed)
    split = data_mod.sample_split(p, rng)
    init_seed, train_seed, sample_seed, eval_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=4))

    preset, side = get_preset(p["preset"]), int(p["side"])
    model = init_model(lambda: preset.build(side), init_seed)
    if p["train_steps"] is not None:  # full-size batches, whatever n (see diffusion._batch_indices)
        train_steps, batch_size = int(p["train_steps"]), int(p["batch_size"])
    else:  # the paper's epochs: batches of min(batch_size, n)
        train_steps = steps_for_epochs(p["epochs"], p["n"], p["batch_size"])
        batch_size = epoch_batch_size(p["n"], p["batch_size"])
    start = time.perf_counter()
    losses = train(model, data_mod.to_model_scale(split.train), make_scheduler(p["schedule"], p["steps"]),
                   train_steps=train_steps, batch_size=batch_size, lr=float(p["lr"]), seed=train_seed,
                   device=dev)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    generated = sample(model, make_scheduler(p["schedule"], p["steps"], p["sampler"]), p["generated"], side,
                       seed=sample_seed, device=dev, sample_steps=p["sample_steps"])
    sample_seconds = time.perf_counter() - start

    start = time.perf_counter()
    generated01 = data_mod.from_model_scale(generated)
    row = evaluate(generated01, split, p, np.random.default_rng(eval_seed))
    eval_seconds = time.perf_counter() - start
    row = {
        **row,
        # mean over the last tenth of the steps: one step's loss is noisy (random batch, time steps, noise)
        "final_loss": float(losses[-max(1, train_steps // 10):].mean()),
        "train_steps_done": int(train_steps), "device": dev,
        "train_seconds": train_seconds, "sample_seconds": sample_seconds, "eval_seconds": eval_seconds,
    }
    return SimulationResult(row, generated01, split.train)
