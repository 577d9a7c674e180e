"""Reproducibility of the linear one-step denoiser, in closed form (a third transition criterion).

Kadkhodaie, Guth, Simoncelli & Mallat (ICLR 2024, "Generalization in diffusion models arises from
geometry-adaptive harmonic representations"): two models trained on *disjoint* training sets of the same
size n and sampled from the same initial noise produce nearly the same samples once they generalize, and
unrelated samples (each close to its own training set) while they memorize.

In the linear model (spec linear-model.md, section 1) a generated sample is θ0 + B X with
X = μ_X + σ_X z, z ~ N(0, I). With z shared, each model is an affine map of the same z:

    G_i(z) = m_i + A_i z,   m_i = θ0_i + B_i μ_X,i,   A_i = σ_X,i B_i,

and E_z ‖G₁(z) − G₂(z)‖² = ‖m₁ − m₂‖² + ‖A₁ − A₂‖_F² exactly (the cross term has mean zero). The value is
finite for every n, also for n <= d where Σ_G is singular and the KDE distances need care.

Scale: it is reported relative to 2 d σ², the same quantity for two independent draws from the data
distribution N(μ1, σ² I). At n = 1 the fit has B = 0 and G_i = Y_i (the one training point), so the
scaled distance is χ²_d / d with mean exactly 1. As n → ∞ both fits tend to the population denoiser
B* = e^{-T} σ² / σ_x² · I (σ_x² = e^{-2T} σ² + Δ_T), each entry off by O(1/√n) (least squares with residual
variance σ² Δ_T / σ_x² per coordinate), and to leading order

    n · E[D] / (2 d σ²) → d Δ_T / σ_x² + 1 + B*² Δ_T / σ²

(the first term from ‖A₁ − A₂‖_F², the rest from the means m_i − μ = (Ȳ_i − μ) − B* √Δ_T z̄_i): the distance
vanishes like d / n. In between it peaks near n = d + 1, where the centred data first reach full rank and
the minimum-norm fit is at its interpolation threshold (double descent).

A scaled distance below (1/3)² = 1/9 mirrors the memorization test's 1/3 (imaging.reproducibility uses
the same reference 2 tr Σ and the same 1/3 on the root of it).

Covariance convention. "BBt" (Σ_G = σ_X² B Bᵀ) is exactly the covariance of the generator above.
"BtB" (Σ_G = σ_X² Bᵀ B, the published code's) has no generator θ0 + B(μ_X + σ_X z) sharing z; its
natural analogue is A = σ_X Bᵀ (A Aᵀ = σ_X² Bᵀ B, same mean). Since ‖σ₁B₁ − σ₂B₂‖_F = ‖(σ₁B₁ − σ₂B₂)ᵀ‖_F,
that choice gives *the same* paired distance as BBt: under shared noise the convention does not matter.
(Any A = σ_X Bᵀ Q with Q orthogonal, e.g. the symmetric root σ_X (BᵀB)^½, has the same covariance but
couples the two models differently; the transpose is chosen because it is linear in B, like BBt's σ_X B.)
The argument is kept, and checked, so callers pass the convention they use elsewhere; tests build both
generators densely and agree.
"""

from __future__ import annotations

import numpy as np

from memgen_cli.linear.model import COVARIANCE_CONVENTIONS, LinearDenoiser, fit_denoiser, forward_noise, \
    sampling_distribution
from memgen_cli.imaging.metrics import MEMORIZATION_RATIO

REPRODUCED_LEVEL = MEMORIZATION_RATIO**2  # scaled squared distance below 1/9: "the same sample"


def generator_difference_norm2(den1: LinearDenoiser, scale1: float, den2: LinearDenoiser, scale2: float) -> float:
    """‖scale1·B₁ − scale2·B₂‖_F² without forming B₁ or B₂ when their ranks are small.

    Bᵀ = V·coef (V: d × r orthonormal columns), so scale1·B₁ − scale2·B₂ = L Rᵀ with L = [coef₁ᵀ, coef₂ᵀ]
    and R = [scale1·V₁, −scale2·V₂], both d × k, k = r₁ + r₂. For k < d a thin QR R = Q T gives
    ‖L Rᵀ‖_F = ‖L Tᵀ‖_F (Q has orthonormal columns): O(d k²) work and no d × d matrix. For k >= d the
    dense difference is as cheap. Either way the difference is formed entry by entry: the expansion
    ‖A₁‖² + ‖A₂‖² − 2 tr(A₁ᵀA₂) would lose every digit when the two generators nearly agree (large n),
    where each term is ~d and the result ~d²/n or, for equal fits, 0.
    """
    d = den1.V.shape[0]
    k = den1.V.shape[1] + den2.V.shape[1]
    if k == 0:
        return 0.0
    if k >= d:  # dense: (V C)ᵀ = B, d × d
        diff = scale1 * (den1.V @ den1.coef) - scale2 * (den2.V @ den2.coef)
        return float(np.sum(diff * diff))
    left = np.hstack([den1.coef.T, den2.coef.T])  # d × k
    right = np.hstack([scale1 * den1.V, -scale2 * den2.V])  # d × k
    _, t = np.linalg.qr(right)  # right = Q t, t: k × k upper triangular
    product = left @ t.T
    return float(np.sum(product * product))


def paired_distance(den1: LinearDenoiser, mu1: np.ndarray, var1: float, den2: LinearDenoiser, mu2: np.ndarray,
                    var2: float, sigma: float, covariance: str = "BBt") -> tuple[float, float]:
    """(D / (2 d σ²), ln of it): D = E_z ‖G₁(z) − G₂(z)‖² for two one-step generators fed the same z.

    (mu_i, var_i) is model i's sampling distribution N(μ_X, σ_X² I) (linear.model.sampling_distribution);
    sigma is the data's per-coordinate std. The mean part ‖m₁ − m₂‖² is computed directly (m_i = θ0_i +
    B_i μ_X,i through the factored denoiser), the matrix part by generator_difference_norm2. The log is
    -inf when the generators coincide.
    """
    if covariance not in COVARIANCE_CONVENTIONS:
        raise ValueError(f"unknown covariance convention {covariance!r}; choose from {COVARIANCE_CONVENTIONS}")
    # BtB's A = σ_X Bᵀ has the same Frobenius distances as BBt's σ_X B (module docstring): one formula.
    mean_gap = den1.apply(mu1) - den2.apply(mu2)
    total = float(mean_gap @ mean_gap) + generator_difference_norm2(den1, np.sqrt(var1), den2, np.sqrt(var2))
    d = mean_gap.shape[0]
    log_scaled = (np.log(total) if total > 0 else -np.inf) - np.log(2.0 * d * sigma**2)
    return float(np.exp(log_scaled)), float(log_scaled)


def _fit(rng: np.random.Generator, n: int, d: int, lam: float, T: float, sigma: float, ridge: float):
    """A training set of n, its noisy copy and the fit, drawn as a linear trial draws them (data, then noise)."""
    Y = sigma * rng.standard_normal((n, d))
    X = forward_noise(Y, T, lam, rng)
    return (fit_denoiser(Y, X, ridge), *sampling_distribution(Y, T, lam))


def pair_from_rngs(first: np.random.Generator, second: np.random.Generator, n: int, d: int, lam: float, T: float,
                   sigma: float = 1.0, covariance: str = "BBt", ridge: float = 0.0) -> dict:
    """A pair's columns, member i's training set and noise drawn from rng i (run_pair_trial's docstring).

    In a sweep (linear.experiment) ``first`` is a fresh generator from the trial's own seed, so member 1 is the
    trial's own fit (a trial draws its training set and then its noise first: model.run_linear_trial, and
    batch.run_linear_trials in the same order), and ``second`` one from a seed derived from the trial's alone,
    so the partner is a fresh, independent (hence disjoint) training set and no existing stream is shifted.
    """
    den1, mu1, var1 = _fit(first, n, d, lam, T, sigma, ridge)
    den2, mu2, var2 = _fit(second, n, d, lam, T, sigma, ridge)
    scaled, log_scaled = paired_distance(den1, mu1, var1, den2, mu2, var2, sigma, covariance)
    mean_gap = den1.apply(mu1) - den2.apply(mu2)
    return {
        "paired_distance": scaled,
        "log_paired_distance": log_scaled,
        "paired_mean_distance": float(mean_gap @ mean_gap) / (2.0 * d * sigma**2),
        "reproduced": int(scaled < REPRODUCED_LEVEL),
    }


def run_pair_trial(rng: np.random.Generator, n: int, d: int, lam: float, T: float, sigma: float = 1.0,
                   covariance: str = "BBt", ridge: float = 0.0) -> dict:
    """One pair trial: two training sets of n, each noised and fitted, then their paired distance.

    Two disjoint training sets drawn from one Gaussian population are two independent draws of n points,
    so each set is drawn fresh (set 1's data, its noise, then set 2's data, its noise, in that order).
    The distance is translation invariant and both generators move with the data, so the trial runs in
    coordinates centred at mu·1 (as linear.model.run_linear_trial does); mu does not enter.

    Columns: ``paired_distance`` (D / 2dσ²), ``log_paired_distance``, ``paired_mean_distance`` (the mean
    part ‖m₁ − m₂‖² / 2dσ² alone) and ``reproduced`` (1 when paired_distance < 1/9): over trials,
    P(reproduced) rises through 0.5 where the median paired distance falls through 1/9.
    """
    return pair_from_rngs(rng, rng, n, d, lam, T, sigma, covariance, ridge)
