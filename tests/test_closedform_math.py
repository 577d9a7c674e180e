"""closedform.denoiser: the empirical posterior mean against high-precision and brute-force references, its
limits and chunking, σ-CFDM smoothing against Gauss-Hermite quadrature, and what sampling with them gives."""

import math

import mpmath
import numpy as np
import pytest

from memgen_cli.closedform import denoiser as cf
from memgen_cli.imaging import schedules
from memgen_cli.imaging.data import from_model_scale
from memgen_cli.imaging.metrics import nearest_neighbour_ratios

ALPHA_BARS = [0.0, 1e-8, 0.3, 0.5, 0.9, 0.9999, 1 - 1e-12]


def mp_posterior_mean(x: np.ndarray, y: np.ndarray, alpha_bar: float, dps: int = 40) -> np.ndarray:
    """E[x0 | x] for one x (d,) by mpmath at ``dps`` digits, from the float inputs as given."""
    with mpmath.workdps(dps):
        a, var = mpmath.sqrt(mpmath.mpf(alpha_bar)), 1 - mpmath.mpf(alpha_bar)
        logits = [-mpmath.fsum((mpmath.mpf(xi) - a * mpmath.mpf(yi)) ** 2 for xi, yi in zip(x, row)) / (2 * var)
                  for row in y]
        top = max(logits)
        w = [mpmath.exp(v - top) for v in logits]
        total = mpmath.fsum(w)
        return np.array([float(mpmath.fsum(wk * mpmath.mpf(row[i]) for wk, row in zip(w, y)) / total)
                         for i in range(y.shape[1])])


def direct_posterior_mean(x: np.ndarray, y: np.ndarray, alpha_bar: float) -> np.ndarray:
    """The brute-force float64 reference: every distance by direct differences, then a log-sum-exp."""
    sq = ((x[:, None, :] - math.sqrt(alpha_bar) * y[None, :, :]) ** 2).sum(-1)
    logits = -sq / (2 * (1 - alpha_bar))
    w = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (w @ y) / w.sum(axis=1, keepdims=True)


def forward(y: np.ndarray, alpha_bar: float, rng: np.random.Generator, count: int) -> np.ndarray:
    """x_t of random training images at alpha_bar: where the sampler evaluates the denoiser."""
    k = rng.integers(0, len(y), count)
    return math.sqrt(alpha_bar) * y[k] + math.sqrt(1 - alpha_bar) * rng.standard_normal((count, y.shape[1]))


@pytest.mark.slow  # starts processes
def test_the_module_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, memgen_cli.closedform.denoiser; "
            "print(any(m.split('.')[0] in ('torch', 'diffusers') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --------------------------------------------------------------------------------------------------------------
# The exact (empirical-optimal) denoiser


@pytest.mark.parametrize("alpha_bar", ALPHA_BARS)
def test_exact_equals_mpmath_in_low_dimension(alpha_bar):
    rng = np.random.default_rng(1)
    y = rng.uniform(-1, 1, (7, 3))
    x = np.concatenate([forward(y, alpha_bar, rng, 4), rng.standard_normal((2, 3))])
    ours = cf.posterior_mean(x, cf.training_set(y), alpha_bar)
    reference = np.array([mp_posterior_mean(row, y, alpha_bar) for row in x])
    np.testing.assert_allclose(ours, reference, rtol=1e-11, atol=1e-13)


def test_near_tie_of_near_duplicates_at_d4096_is_exact_and_needs_the_direct_distances(monkeypatch):
    """Two near-duplicate training images among spread-out ones, x near their bisector at 1 - abar = 1e-6:
    weights e^0.8 : 1 decided by distances |x - sqrt(abar) y|² ~ 0.1, small next to |x|² ~ 1400 (the Gram
    expansion's cancellation). The weighty distances recomputed directly (``_refine``) keep the error at the
    level of a direct brute force; the expansion alone is far worse."""
    rng = np.random.default_rng(2)
    d, alpha_bar = 4096, 1 - 1e-6
    y = rng.uniform(-1, 1, (8, d))
    y[1] = y[0] + 0.01 * rng.standard_normal(d)
    a, gap = math.sqrt(alpha_bar), np.linalg.norm(y[0] - y[1])
    u = (y[0] - y[1]) / gap
    z = rng.standard_normal((2, d))
    z -= (z @ u)[:, None] * u
    shift = 0.8 * (1 - alpha_bar) / (a * gap)  # logit difference 0.8 between y[0] and y[1]
    x = a * (y[0] + y[1]) / 2 + shift * u + math.sqrt(1 - alpha_bar) * z
    reference = np.array([mp_posterior_mean(row, y, alpha_bar, dps=30) for row in x])
    weights = (reference - y[1]) @ (y[0] - y[1]) / gap**2
    np.testing.assert_allclose(weights, 1 / (1 + math.exp(-0.8)), rtol=1e-6)  # a genuine near tie

    def error(values):
        return np.abs(values - reference).max() / np.abs(y[0] - y[1]).max()

    ours = error(cf.posterior_mean(x, cf.training_set(y), alpha_bar))
    direct = error(direct_posterior_mean(x, y, alpha_bar))
    monkeypatch.setattr(cf, "REFINE_MAX", 0)
    gram = error(cf.posterior_mean(x, cf.training_set(y), alpha_bar))
    assert ours < max(10 * direct, 1e-11)
    assert gram > 1000 * ours


@pytest.mark.parametrize("alpha_bar", [1e-6, 0.5, 0.999, 1 - 1e-10])
def test_exact_equals_direct_brute_force_at_d4096(alpha_bar):
    rng = np.random.default_rng(3)
    y = rng.uniform(-1, 1, (30, 4096)) * 0.3 + 0.4  # off-centre data, as pixels are
    x = forward(y, alpha_bar, rng, 6)
    ours = cf.posterior_mean(x, cf.training_set(y), alpha_bar)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, direct_posterior_mean(x, y, alpha_bar), rtol=1e-10, atol=1e-12)


def test_single_training_image_is_returned_at_any_noise_and_dimension():
    rng = np.random.default_rng(4)
    y = rng.uniform(-1, 1, (1, 4096))
    train = cf.training_set(y)
    for alpha_bar in [0.0, 1e-3, 0.5, 1 - 1e-15]:
        x = 50 * rng.standard_normal((3, 4096))  # far from the image too
        np.testing.assert_array_equal(cf.posterior_mean(x, train, alpha_bar), np.repeat(y, 3, axis=0))
        smoothed = cf.smoothed_posterior_mean(x, train, alpha_bar, 2.0, rng.standard_normal((3, 3, 4096)))
        np.testing.assert_allclose(smoothed, np.repeat(y, 3, axis=0), rtol=1e-15, atol=1e-15)


def test_alpha_bar_limits():
    rng = np.random.default_rng(5)
    y = rng.uniform(-1, 1, (6, 64))
    train = cf.training_set(y)
    x = rng.standard_normal((4, 64))
    for alpha_bar in (0.0, 1e-300):  # no signal: the training mean, whatever x
        np.testing.assert_allclose(cf.posterior_mean(x, train, alpha_bar), np.tile(y.mean(0), (4, 1)),
                                   rtol=1e-14, atol=1e-15)
    alpha_bar = 1 - 1e-15  # almost no noise: exactly the image x came from (its nearest)
    k = np.array([3, 0, 5, 3])
    x = math.sqrt(alpha_bar) * y[k] + math.sqrt(1 - alpha_bar) * rng.standard_normal((4, 64))
    out = cf.posterior_mean(x, train, alpha_bar)
    np.testing.assert_array_equal(out, y[k])
    with pytest.raises(ValueError, match=r"alpha_bar must be in \[0, 1\)"):
        cf.posterior_mean(x, train, 1.0)
    with pytest.raises(ValueError, match="pixels"):
        cf.posterior_mean(x[:, :10], train, 0.5)


@pytest.mark.parametrize("alpha_bar", [0.02, 0.7, 0.9999])
def test_chunked_running_sums_equal_one_pass(monkeypatch, alpha_bar):
    """Chunks of 2 training images (the best one in the last chunk for some samples) against one chunk."""
    rng = np.random.default_rng(6)
    y = rng.uniform(-1, 1, (9, 16))
    x = np.concatenate([forward(y[-1:], alpha_bar, rng, 2), forward(y, alpha_bar, rng, 2)])
    whole = cf.posterior_mean(x, cf.training_set(y), alpha_bar)
    monkeypatch.setattr(cf, "_CHUNK_ELEMENTS", 8)  # 4 samples -> 2 images a chunk, 5 chunks
    chunked = cf.posterior_mean(x, cf.training_set(y), alpha_bar)
    np.testing.assert_allclose(chunked, whole, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(chunked, np.array([mp_posterior_mean(r, y, alpha_bar) for r in x]), rtol=1e-11,
                               atol=1e-13)


def test_shapes_pass_through():
    rng = np.random.default_rng(7)
    y = rng.uniform(-1, 1, (5, 4, 4, 3))
    x = rng.standard_normal((2, 4, 4, 3))
    out = cf.posterior_mean(x, cf.training_set(y), 0.5)
    assert out.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(out.reshape(2, -1), direct_posterior_mean(x.reshape(2, -1), y.reshape(5, -1), 0.5),
                               rtol=1e-12)


# --------------------------------------------------------------------------------------------------------------
# σ-CFDM smoothing


def test_perturbation_scale_is_sigma_in_z_units():
    assert cf.perturbation_scale(0.0, 0.4) == pytest.approx(0.4, rel=1e-15)
    assert cf.perturbation_scale(0.5, 0.4) == pytest.approx(0.4 * math.sqrt(2), rel=1e-15)
    assert cf.perturbation_scale(1 - 1e-12, 0.4) == pytest.approx(0.4, rel=1e-6)
    assert cf.model_scale_smoothing(0.1) == pytest.approx(0.2)


def test_smoothing_zero_is_the_exact_model_and_small_smoothing_tends_to_it():
    rng = np.random.default_rng(8)
    y = rng.uniform(-1, 1, (10, 32))
    train = cf.training_set(y)
    x = forward(y, 0.6, rng, 5)
    noise = rng.standard_normal((3, 5, 32))
    exact = cf.posterior_mean(x, train, 0.6)
    np.testing.assert_array_equal(cf.smoothed_posterior_mean(x, train, 0.6, 0.0, noise), exact)
    near = cf.smoothed_posterior_mean(x, train, 0.6, 1e-9, noise)
    np.testing.assert_allclose(near, exact, rtol=1e-6, atol=1e-7)
    assert np.abs(cf.smoothed_posterior_mean(x, train, 0.6, 0.5, noise) - exact).max() > 1e-2
    with pytest.raises(ValueError, match="smoothing must be >= 0"):
        cf.smoothed_posterior_mean(x, train, 0.6, -0.1, noise)


def test_smoothed_is_the_mean_of_exact_denoisers_at_perturbed_inputs():
    rng = np.random.default_rng(9)
    y = rng.uniform(-1, 1, (10, 8))
    train = cf.training_set(y)
    x, noise, sigma, alpha_bar = rng.standard_normal((4, 8)), rng.standard_normal((3, 4, 8)), 0.3, 0.5
    by_hand = np.mean([direct_posterior_mean(x + sigma * math.sqrt(2) * e, y, alpha_bar) for e in noise], axis=0)
    np.testing.assert_allclose(cf.smoothed_posterior_mean(x, train, alpha_bar, sigma, noise), by_hand, rtol=1e-12)


@pytest.mark.parametrize("d", [1, 2])
def test_smoothed_estimator_converges_to_gauss_hermite_quadrature(d):
    """σ-CFDM's x0 is E_e D(x + σ c e): quadrature of the brute-force D against the estimator with 2·10^5
    draws (its mean must lie within 5 standard errors), and smoothing must move the answer."""
    rng = np.random.default_rng(10 + d)
    y = rng.uniform(-1, 1, (5, d))
    alpha_bar, sigma = 0.6, 0.4
    x = np.full((1, d), 0.15)
    c = sigma * (math.sqrt(alpha_bar) + math.sqrt(1 - alpha_bar))
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)  # weight exp(-t²/2): E over N(0, 1)
    weights = weights / math.sqrt(2 * math.pi)
    grid = np.stack(np.meshgrid(*[nodes] * d, indexing="ij"), -1).reshape(-1, d)
    w = np.prod(np.stack(np.meshgrid(*[weights] * d, indexing="ij"), -1).reshape(-1, d), axis=1)
    quadrature = w @ direct_posterior_mean(x + c * grid, y, alpha_bar)
    draws = rng.standard_normal((200_000, 1, d))
    estimate = cf.smoothed_posterior_mean(x, cf.training_set(y), alpha_bar, sigma, draws)[0]
    per_draw = direct_posterior_mean(x + c * draws[:, 0], y, alpha_bar)
    se = per_draw.std(axis=0) / math.sqrt(len(draws))
    np.testing.assert_allclose(estimate, per_draw.mean(axis=0), rtol=1e-10)
    assert np.all(np.abs(estimate - quadrature) < 5 * se)
    assert np.any(np.abs(direct_posterior_mean(x, y, alpha_bar)[0] - quadrature) > 20 * se)


def test_make_denoiser_units_and_fixed_perturbations():
    rng = np.random.default_rng(11)
    train01 = rng.uniform(0, 1, (6, 4, 4))
    x = rng.standard_normal((3, 4, 4))
    exact = cf.make_denoiser(train01, 0.0, count=3)
    np.testing.assert_array_equal(exact(x, 0.5), cf.posterior_mean(x, cf.training_set(2 * train01 - 1), 0.5))
    smooth = cf.make_denoiser(train01, 0.1, count=3, rng=np.random.default_rng(0), draws=4)
    noise = np.random.default_rng(0).standard_normal((4, 3, 16))
    expected = cf.smoothed_posterior_mean(x.reshape(3, -1), cf.training_set(2 * train01 - 1), 0.5, 0.2, noise)
    np.testing.assert_allclose(smooth(x, 0.5), expected.reshape(3, 4, 4), rtol=1e-13)
    np.testing.assert_array_equal(smooth(x, 0.5), smooth(x, 0.5))  # the same draws at every step
    with pytest.raises(ValueError, match="needs an rng"):
        cf.make_denoiser(train01, 0.1, count=3)
    with pytest.raises(ValueError, match="made for 3 samples"):
        smooth(x[:2], 0.5)


# --------------------------------------------------------------------------------------------------------------
# Sampling


def _gaussian_train(n: int, side: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.5, 0.1, (n, side, side))  # [0, 1] pixel units


def _sample(train01, smoothing, sampler, count, seed=0, draws=cf.DEFAULT_DRAWS):
    rng = np.random.default_rng(seed)
    denoise = cf.make_denoiser(train01, smoothing, count=count, rng=rng, draws=draws)
    out = schedules.sample(denoise, count, train01.shape[1:], "logsnr_linear", 10, sampler, None, rng)
    return from_model_scale(out)


@pytest.mark.parametrize("sampler", schedules.X0_SAMPLERS)
def test_exact_model_samples_are_training_images(sampler):
    train01 = _gaussian_train(4, 8, seed=12)
    generated = _sample(train01, 0.0, sampler, count=16)
    ratios = nearest_neighbour_ratios(generated, train01)
    assert ratios.max() < 1e-9
    nearest = np.argmin(((generated[:, None] - train01[None]) ** 2).sum((-1, -2)), axis=1)
    np.testing.assert_allclose(generated, train01[nearest], atol=1e-9)
    assert len(set(nearest)) > 1  # not one image for every sample


@pytest.mark.parametrize("sampler", schedules.X0_SAMPLERS)
def test_smoothed_model_samples_are_barycenters_not_copies(sampler):
    """σ = 2 model units, M = 2 draws: the last update returns the mean of two nearly one-hot posterior means,
    so every sample is the midpoint of two training images (its own pair), a copy only when both draws land
    on the same image."""
    train01 = _gaussian_train(4, 8, seed=12)
    generated = _sample(train01, 1.0, sampler, count=40)
    ratios = nearest_neighbour_ratios(generated, train01)
    assert np.mean(ratios < 1 / 3) < 0.5  # most are not copies
    assert np.median(ratios) > 0.9  # midpoints: as far from one image of the pair as from the other
    pairs = [(i, j) for i in range(4) for j in range(i, 4)]
    midpoints = np.array([(train01[i] + train01[j]) / 2 for i, j in pairs])
    nearest_midpoint = np.abs(generated[:, None] - midpoints[None]).max(axis=(-1, -2)).min(axis=1)
    assert nearest_midpoint.max() < 1e-9
