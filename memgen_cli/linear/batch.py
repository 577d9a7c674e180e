"""The trials of one task, batched: they share one original set, so they share one matrix product against it.

A trial's cost is dominated by ∫ρ_G ρ_O, the overlap of its generated Gaussian with the original set's KDE
(N points): N × d × rank(Σ_G) multiply-adds and N exponentials. ``run_linear_trials`` gives the same rows as
calling ``model.run_linear_trial`` once per trial (same draws, same formulas up to the order of rounding:
the last bits; tests/test_batched_trials.py), but

- every trial's overlap columns go into one product with the original points
  (``kde_overlaps.log_gaussian_kde_overlaps``), which keeps the BLAS kernel busy at d = 16, where one trial's
  product is only 17 columns wide (there, at high rank, through the points' quadratic features: half the
  multiply-adds, all in the product);
- the per-trial fits and eigen-decompositions run as numpy's stacked linear algebra, one call for the batch;
- the training sets' self terms (``kde.kde_references_for_rule``) and H² (``_hellinger_stack``) run as stacks,
  with the one-trial path's values bit for bit: at d = 16, n = 50 a trial's own Python calls cost as much as its
  share of the product.
"""

from __future__ import annotations

import numpy as np

from memgen_cli.kde import (KDEReference, LowRankGaussian, kde_l2_distances, kde_references_for_rule,
                            log_gaussian_self_overlap, log_isotropic_kde_overlaps)
from memgen_cli.linear.kde_overlaps import log_gaussian_kde_overlaps, log_gaussian_kde_overlaps_each
from memgen_cli.linear.model import (COVARIANCE_CONVENTIONS, _EPS, LinearDenoiser, draw_training_sets,
                                     generated_distribution, noise_variance, trial_row)
from memgen_cli.linear.pair_batch import FitStack, batched_pair_columns


def _kept(s: np.ndarray, size: int) -> np.ndarray:
    """How many leading singular values of each row of s (sorted, descending) pass lstsq's tolerance."""
    top = s[:, :1] if s.shape[1] else np.zeros((s.shape[0], 1))
    return np.count_nonzero(s > top * size * _EPS, axis=1)


def generated_distributions(Y: np.ndarray, X: np.ndarray, T: float, lam: float, ridge: float,
                            covariance: str) -> list[LowRankGaussian]:
    """ρ_G of every trial of a stack (Y, X of shape (trials, n, d)), as model.generated_distribution does one."""
    return fits_and_distributions(Y, X, T, lam, ridge, covariance)[0]


def fits_and_distributions(Y: np.ndarray, X: np.ndarray, T: float, lam: float, ridge: float,
                           covariance: str) -> tuple[list[LowRankGaussian], FitStack | None]:
    """(ρ_G of every trial, their fits as a stack for the reproducibility pairs, or None where their ranks differ).

    The same steps as model.fit_denoiser and model.generated_distribution, each as one stacked call; every
    trial keeps its own rank (its own tolerance cut). Where the cuts differ between trials, the
    trials go on one by one from the cut.
    """
    if covariance not in COVARIANCE_CONVENTIONS:
        raise ValueError(f"unknown covariance convention {covariance!r}; choose from {COVARIANCE_CONVENTIONS}")
    trials, n, d = Y.shape
    y_mean, x_mean = Y.mean(axis=1), X.mean(axis=1)
    y, x = Y - y_mean[:, None], X - x_mean[:, None]
    spread = np.sum(y**2, axis=(1, 2)) / (n * d)  # model.sampling_distribution, per trial
    var_X = np.exp(-2.0 * T) * spread + noise_variance(T, lam)
    shift = np.exp(-T) * y_mean - x_mean  # μ_X - x̄
    U, s, Vt = np.linalg.svd(x, full_matrices=False)  # one LAPACK call per trial, one Python call in all
    ranks = _kept(s, max(n, d))
    if len(set(ranks.tolist())) != 1:
        return [_generated_one(U[k], s[k], Vt[k], ranks[k], y[k], y_mean[k], shift[k], var_X[k], ridge, covariance)
                for k in range(trials)], None
    r = ranks[0]
    V = np.swapaxes(Vt[:, :r], 1, 2)
    gain = s[:, :r] / (s[:, :r] ** 2 + ridge)
    coef = gain[:, :, None] * np.matmul(np.swapaxes(U[:, :, :r], 1, 2), y)
    fits = FitStack(y_mean + np.matmul(np.matmul(shift[:, None, :], V), coef)[:, 0], var_X, V, coef)
    E, gamma, Wt = np.linalg.svd(coef, full_matrices=False)
    kept = _kept(gamma, max(r, d))
    if len(set(kept.tolist())) != 1:
        return [_generated_one(U[k], s[k], Vt[k], r, y[k], y_mean[k], shift[k], var_X[k], ridge, covariance)
                for k in range(trials)], fits
    q = kept[0]
    basis = np.swapaxes(Wt[:, :q], 1, 2) if covariance == "BBt" else np.matmul(V, E[:, :, :q])
    variances = var_X[:, None] * gamma[:, :q] ** 2
    return [LowRankGaussian(fits.mean[k], basis[k], variances[k]) for k in range(trials)], fits


def _generated_one(U, s, Vt, r, y, y_mean, shift, var_X, ridge, covariance) -> LowRankGaussian:
    """One trial's ρ_G from its first SVD, cut at its own rank r (the path of model.py, step by step)."""
    U, s, V = U[:, :r], s[:r], Vt[:r].T
    denoiser = LinearDenoiser(y_mean, y_mean - shift, V, (s / (s**2 + ridge))[:, None] * (U.T @ y))
    return generated_distribution(denoiser, denoiser.x_mean + shift, var_X, covariance)


def _hellinger_stack(gens: list[LowRankGaussian], sigma: float) -> list[tuple[float, float] | None]:
    """model.hellinger_squared(gen, 0, sigma) of every trial, its formula on a stack (the same values: a trial's
    sums run along its own row); None for each where the ranks differ or Σ_G is singular (that path is cheap)."""
    if len({g.rank for g in gens}) != 1 or gens[0].is_singular:
        return [None] * len(gens)
    variances = np.stack([g.variances for g in gens])
    log_gamma = 0.5 * np.log(variances)
    log_sigma = np.log(sigma)
    log_bc = 0.5 * np.sum(np.log(2.0) + log_gamma + log_sigma - np.logaddexp(2 * log_gamma, 2 * log_sigma), axis=1)
    coords = np.stack([g.mean @ g.basis for g in gens])
    log_bc -= 0.125 * np.sum(coords**2 / (0.5 * (variances + sigma**2)), axis=1)
    return list(zip((-np.expm1(log_bc)).tolist(), log_bc.tolist()))


def run_linear_trials(rngs: list[np.random.Generator], n: int, d: int, lam: float, T: float,
                      original: KDEReference, sigma: float = 1.0, bandwidth: str = "paper",
                      covariance: str = "BBt", ridge: float = 0.0,
                      partners: list[np.random.Generator] | None = None) -> list[dict]:
    """One row per rng, as ``run_linear_trial(rng, ..., original=original)`` gives it (to the last bits).

    Each trial draws its training set and noise from its own rng, in the one-trial path's order, so a
    trial's data do not depend on the batch it runs in. Coordinates are centred at mu·1 (see model.py).
    ``partners`` (one generator per trial): each row also gets its reproducibility pair's columns, the trial's own
    fit against a partner drawn from that generator (pair_batch.py; reproducibility.pair_from_rngs to rounding).
    """
    if not rngs:
        return []
    Y, X = draw_training_sets(rngs, n, d, lam, T, sigma)
    gens, fits = fits_and_distributions(Y, X, T, lam, ridge, covariance)
    log_g_orig = log_gaussian_kde_overlaps(gens, original.points, original.eps, original.sq_norms)
    trains = kde_references_for_rule(Y, bandwidth, sigma)
    log_g_train = log_gaussian_kde_overlaps_each(gens, Y, trains[0].eps)
    # The ideal generalizer's cross terms with the training sets, all at once (its term with the original set is
    # kept on ``original``, computed once per set).
    log_c_train = log_isotropic_kde_overlaps(np.stack([t.sq_norms for t in trains]), trains[0].eps, sigma, d)
    rows = []
    for k, (gen, train, hellinger) in enumerate(zip(gens, trains, _hellinger_stack(gens, sigma))):
        distances = kde_l2_distances(log_gaussian_self_overlap(gen), log_g_train[k], log_g_orig[k], train, original)
        rows.append(trial_row(distances, gen, train, original, sigma, float(log_c_train[k]), hellinger))
    if partners is not None:
        pairs = batched_pair_columns(Y, X, fits, partners, T, lam, sigma, ridge)
        rows = [{**row, **pair} for row, pair in zip(rows, pairs)]
    return rows
