"""The probability-flow ODE sampler ("euler", imaging.schedules.euler_sample) against an independent
implementation of the σ-CFDM reference code's update, written in the reference's own variables; and what it
samples with the closed-form model: copies at smoothing 0, barycenters when smoothed."""

import numpy as np
import pytest

from memgen_cli.closedform import denoiser as cf
from memgen_cli.closedform.params import CellParams, ClosedFormSampling
from memgen_cli.errors import MemgenError
from memgen_cli.imaging import schedules
from memgen_cli.imaging.data import from_model_scale, to_model_scale
from memgen_cli.imaging.metrics import nearest_neighbour_ratios


# The reference, in its own terms (Scarvelis, Borde & Solomon's σ-CFDM code: scores.py's SmoothedScore.forward
# and the sampling script's sampling_loop, "sampling algorithm (7)"). The process is z_t = t x + (1 - t) eps,
# t = 0 noise, t = 1 data; the smoothed closed-form score of training points X (n, d) with M fixed noises
# (M, d) is
#   s(t, z) = (mean_j sum_k softmax_k(-(|z - t X_k|² - 2 σ t noise_j · X_k) / 2(1 - t)²) t X_k - z) / (1 - t)²
# and the sampler integrates dz/dt = (z + (1 - t) s(t, z)) / t with S Euler steps of h = 1/S, skipping t = 0.
# One sample at a time, as the reference loops. Nothing here calls memgen's denoiser or sampler.

def reference_score(X: np.ndarray, sigma: float, noise: np.ndarray, t: float, z: np.ndarray) -> np.ndarray:
    tX = t * X
    sq = ((z[None, :] - tX) ** 2).sum(axis=1)  # (n,)
    logits = -(sq[None, :] - 2 * sigma * t * (noise @ X.T)) / (2 * (1 - t) ** 2)  # (M, n)
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return ((w @ tX).sum(axis=0) / len(noise) - z) / (1 - t) ** 2


def reference_sampling_loop(X: np.ndarray, sigma: float, noise: np.ndarray, z: np.ndarray, S: int) -> np.ndarray:
    h = 1 / S
    z = z.copy()
    for n in range(0, S):
        t = n * h
        if t != 0:
            v = (1 / t) * (z + (1 - t) * reference_score(X, sigma, noise, t, z))
            z += h * v
    return z


def memgen_euler(train01: np.ndarray, smoothing: float, count: int, steps: int, seed: int, draws: int = 2):
    rng = np.random.default_rng(seed)
    denoise = cf.make_denoiser(train01, smoothing, count=count, rng=rng, draws=draws)
    return schedules.sample(denoise, count, train01.shape[1:], "logsnr_linear", steps, "euler", None, rng)


@pytest.mark.parametrize("smoothing,steps", [(0.0, 10), (0.02, 10), (0.02, 37), (0.05, 100)])
def test_euler_matches_the_reference_update(smoothing, steps):
    """Same training set, start and perturbations (drawn in memgen's order: the perturbations, then the
    start): memgen's Euler samples are the reference loop's, to rounding. The training images lie close
    together (pixel std 0.02), so the last softmax is not one-hot and the result depends on every step: one
    step more (S + 1) moves it by more than 1e-4."""
    count, draws, seed = 6, 2, 5
    train01 = np.random.default_rng(3).normal(0.5, 0.02, (5, 2, 3))
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((draws, count, 6)) if smoothing > 0 else np.zeros((draws, count, 6))
    start = rng.standard_normal((count, 6))
    X = to_model_scale(train01).reshape(5, -1)
    expected = np.array([reference_sampling_loop(X, 2 * smoothing, noise[:, i], start[i], steps)
                         for i in range(count)])
    got = memgen_euler(train01, smoothing, count, steps, seed, draws).reshape(count, -1)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.abs(memgen_euler(train01, smoothing, count, steps + 1, seed, draws).reshape(count, -1)
                  - expected).max() > 1e-4


def test_euler_times_and_alpha_bar_are_the_reference_clock():
    np.testing.assert_array_equal(schedules.euler_times(4), [0.25, 0.5, 0.75])
    for t in (0.1, 0.5, 0.9):  # x = c z with c = sqrt(abar) + sqrt(1 - abar) and t = sqrt(abar) / c
        abar = schedules.euler_alpha_bar(t)
        c = abar**0.5 + (1 - abar) ** 0.5
        assert abar**0.5 / c == pytest.approx(t, abs=1e-15)
        assert c == pytest.approx(1 / (t * t + (1 - t) ** 2) ** 0.5, abs=1e-15)


@pytest.mark.parametrize("n", [2, 4, 16])
def test_exact_model_copies_under_the_ode_sampler(n):
    """Smoothing 0: every Euler sample is a training image to rounding, at small n (memorized fraction 1)."""
    train01 = np.random.default_rng(12 + n).normal(0.5, 0.1, (n, 8, 8))
    generated = from_model_scale(memgen_euler(train01, 0.0, count=20, steps=10, seed=n))
    ratios = nearest_neighbour_ratios(generated.reshape(20, -1), train01.reshape(n, -1))
    assert ratios.max() < 1e-9 and np.mean(ratios < 1 / 3) == 1.0
    nearest = np.argmin(((generated[:, None] - train01[None]) ** 2).sum((-1, -2)), axis=1)
    np.testing.assert_allclose(generated, train01[nearest], atol=1e-12)
    assert len(set(nearest)) > 1


def test_smoothed_model_makes_midpoints_under_the_ode_sampler():
    """σ = 2 model units, M = 2: the last Euler step lands on the mean of two nearly one-hot posterior means."""
    train01 = np.random.default_rng(12).normal(0.5, 0.1, (4, 8, 8))
    generated = from_model_scale(memgen_euler(train01, 1.0, count=40, steps=10, seed=0))
    ratios = nearest_neighbour_ratios(generated.reshape(40, -1), train01.reshape(4, -1))
    assert np.mean(ratios < 1 / 3) < 0.5 and np.median(ratios) > 0.9
    midpoints = np.array([(train01[i] + train01[j]) / 2 for i in range(4) for j in range(i, 4)])
    assert np.abs(generated[:, None] - midpoints[None]).max(axis=(-1, -2)).min(axis=1).max() < 1e-9


def test_euler_is_a_closed_form_sampler_only_and_takes_no_sample_steps():
    assert schedules.SAMPLERS == ("ddpm", "ddim")  # the U-Net's (diffusers') list is unchanged
    assert ClosedFormSampling(sampler="euler").sampler == "euler"
    cell = {"n": 4, "side": 2, "N": 20, "steps": 10, "smoothing": 0.0, "data": "gaussian", "mu": 0.5, "sigma": 0.1,
            "sampler": "euler", "sample_steps": 5, "generated": 2, "schedule": "logsnr_linear", "draws": 2,
            "eval_train": None, "eval_original": 10, "grid_points": 16, "kde_max_points": 2000, "bootstrap": 10}
    with pytest.raises(MemgenError, match="sampling.sample_steps: the euler sampler takes its steps from grid.steps"):
        CellParams.from_cell(cell)
    assert CellParams.from_cell({**cell, "sample_steps": None}).to_cell() == {**cell, "sample_steps": None}
    with pytest.raises(ValueError, match="not sample_steps"):
        schedules.sample(lambda x, a: x, 1, (2,), "logsnr_linear", 10, "euler", 5, np.random.default_rng(0))
    with pytest.raises(MemgenError, match="unknown sampler 'rk4'"):
        schedules.sample(lambda x, a: x, 1, (2,), "logsnr_linear", 10, "rk4", None, np.random.default_rng(0))
