"""The analytically tractable linear one-step denoiser on Gaussian data (spec linear-model.md).

Pure numpy: a trial draws a training set, fits the denoiser Y ≈ θ0 + B X by least squares, forms the
generated distribution ρ_G = N(m_G, Σ_G) and measures it against KDEs of the training and original sets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memgen_cli.kde import (KDEReference, LowRankGaussian, kde_l2_distances, log_delta, log_gaussian_self_overlap,
                            log_isotropic_kde_overlaps)

COVARIANCE_CONVENTIONS = ("BBt", "BtB")
# The ideal generalizer's columns (``generalizer_columns``): ρ_G = ρ measured like the trial's ρ_G.
GENERALIZER_METRICS = ("generalizer_delta_positive", "generalizer_log_abs_delta")
_EPS = np.finfo(float).eps


def noise_variance(T: float, lam: float) -> float:
    """Δ_T = λ (1 - e^(-2T)), the variance added by one forward step of length T."""
    return float(lam * -np.expm1(-2.0 * T))


def forward_noise(Y: np.ndarray, T: float, lam: float, rng: np.random.Generator) -> np.ndarray:
    """X = e^(-T) Y + sqrt(Δ_T) Z with Z ~ N(0, I)."""
    return np.exp(-T) * Y + np.sqrt(noise_variance(T, lam)) * rng.standard_normal(Y.shape)


def draw_training_sets(rngs: list[np.random.Generator], n: int, d: int, lam: float, T: float,
                       sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(Y, X), each (len(rngs), n, d): generator k draws its training set, then its noise, exactly the numbers of
    ``Y = sigma * rng.standard_normal((n, d)); X = forward_noise(Y, T, lam, rng)``, written in place (no stacking
    copies; e^(-T) Y + √Δ_T Z summed in the other order, which IEEE addition leaves bit for bit the same). The
    scalings run once on the whole stack: the same operations on every number, a few calls instead of a few a trial."""
    Y, X = np.empty((len(rngs), n, d)), np.empty((len(rngs), n, d))
    scale, spread = np.exp(-T), np.sqrt(noise_variance(T, lam))
    for k, rng in enumerate(rngs):
        rng.standard_normal(out=Y[k])
        rng.standard_normal(out=X[k])
    if sigma != 1.0:
        Y *= sigma
    X *= spread
    X += scale * Y
    return Y, X


@dataclass(frozen=True)
class LinearDenoiser:
    """Y ≈ θ0 + B X with Bᵀ = V · coef, stored factored so no d × d matrix is formed.

    V (d × r) spans the centred inputs' row space; coef (r × d) = diag(s/(s² + ridge)) Uᵀ y.
    """

    y_mean: np.ndarray
    x_mean: np.ndarray
    V: np.ndarray
    coef: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """θ0 + B x = ȳ + B (x - x̄), for one vector or a batch of rows."""
        return self.y_mean + ((x - self.x_mean) @ self.V) @ self.coef

    def matrix(self) -> np.ndarray:
        """The dense d × d matrix B (for tests and small d only)."""
        return (self.V @ self.coef).T


def fit_denoiser(Y: np.ndarray, X: np.ndarray, ridge: float = 0.0) -> LinearDenoiser:
    """Least squares on centred data: Bᵀ = (xᵀx)⁺ xᵀy (minimum norm), or (xᵀx + ridge·I)⁻¹ xᵀy.

    Through the thin SVD x = U S Vᵀ: no normal equations, no explicit inverse. Singular values below
    numpy's lstsq tolerance are exact zeros of the centring (rank <= n - 1) and are dropped.
    """
    y_mean, x_mean = Y.mean(axis=0), X.mean(axis=0)
    y, x = Y - y_mean, X - x_mean
    U, s, Vt = np.linalg.svd(x, full_matrices=False)
    keep = s > (s[0] if s.size else 0.0) * max(x.shape) * _EPS
    U, s, V = U[:, keep], s[keep], Vt[keep].T
    gain = s / (s**2 + ridge)
    return LinearDenoiser(y_mean, x_mean, V, gain[:, None] * (U.T @ y))


def sampling_distribution(Y: np.ndarray, T: float, lam: float) -> tuple[np.ndarray, float]:
    """(μ_X, σ_X²): the isotropic Gaussian the one-step sampler starts from.

    μ_X = e^(-T) Ȳ,  σ_X² = e^(-2T) (1/(n d)) Σ_k |Y_k - Ȳ|² + Δ_T.
    """
    n, d = Y.shape
    y_mean = Y.mean(axis=0)
    spread = np.sum((Y - y_mean) ** 2) / (n * d)
    return np.exp(-T) * y_mean, float(np.exp(-2.0 * T) * spread + noise_variance(T, lam))


def generated_distribution(denoiser: LinearDenoiser, mu_X: np.ndarray, var_X: float,
                           covariance: str = "BBt") -> LowRankGaussian:
    """ρ_G = N(θ0 + B μ_X, Σ_G) in eigen-form.

    covariance="BBt": Σ_G = σ_X² B Bᵀ, the true covariance of θ0 + B X (default).
    covariance="BtB": Σ_G = σ_X² Bᵀ B, what the published code uses (to reproduce its curves).
    Both come from one SVD of coef = E Γ Wᵀ: B Bᵀ = W Γ² Wᵀ and Bᵀ B = (V E) Γ² (V E)ᵀ.
    """
    if covariance not in COVARIANCE_CONVENTIONS:
        raise ValueError(f"unknown covariance convention {covariance!r}; choose from {COVARIANCE_CONVENTIONS}")
    d = denoiser.y_mean.shape[0]
    E, gamma, Wt = np.linalg.svd(denoiser.coef, full_matrices=False)
    keep = gamma > (gamma[0] if gamma.size else 0.0) * max(denoiser.coef.shape + (d,)) * _EPS
    E, gamma, Wt = E[:, keep], gamma[keep], Wt[keep]
    basis = Wt.T if covariance == "BBt" else denoiser.V @ E
    return LowRankGaussian(denoiser.apply(mu_X), basis, var_X * gamma**2)


def hellinger_squared(gen: LowRankGaussian, mu: np.ndarray, sigma: float) -> tuple[float, float]:
    """(H², ln(1 - H²)) between gen and N(mu, sigma² I).

    H² = 1 - det(Σ_G)^¼ det(σ²I)^¼ det(S)^-½ exp(-⅛ δᵀ S⁻¹ δ), S = (Σ_G + σ²I)/2, δ = m_G - mu.
    In Σ_G's eigenbasis each direction contributes ½ ln(2 γ σ / (γ² + σ²)); H² = 1 when Σ_G is singular.
    """
    if gen.is_singular:
        return 1.0, -np.inf
    log_gamma = 0.5 * np.log(gen.variances)
    log_sigma = np.log(sigma)
    log_bc = 0.5 * np.sum(np.log(2.0) + log_gamma + log_sigma - np.logaddexp(2 * log_gamma, 2 * log_sigma))
    coords = (gen.mean - mu) @ gen.basis
    log_bc -= 0.125 * np.sum(coords**2 / (0.5 * (gen.variances + sigma**2)))
    return float(-np.expm1(log_bc)), float(log_bc)


def original_reference(points: np.ndarray, bandwidth: str, sigma: float) -> KDEReference:
    """The original set's KDE with its self-overlap computed once (reused by every trial of a cell)."""
    return KDEReference.for_rule(points, bandwidth, sigma)


def run_linear_trial(rng: np.random.Generator, n: int, d: int, lam: float, T: float, N: int,
                     mu: float = 10.0, sigma: float = 1.0, bandwidth: str = "paper", covariance: str = "BBt",
                     ridge: float = 0.0, original: KDEReference | None = None) -> dict:
    """One trial: fresh training set and noise; returns the metric columns of trials.csv.

    original: a fixed original set (already in mu-centred coordinates, see below); None draws N fresh
    points from rng after the training data and noise.

    Every distance is translation invariant and ρ_G moves with the data, so the trial runs in
    coordinates centred at mu·1: same numbers, smaller magnitudes, less rounding.
    """
    Y = sigma * rng.standard_normal((n, d))
    X = forward_noise(Y, T, lam, rng)
    if original is None:
        original = original_reference(sigma * rng.standard_normal((N, d)), bandwidth, sigma)
    gen = generated_distribution(fit_denoiser(Y, X, ridge), *sampling_distribution(Y, T, lam), covariance)
    train = KDEReference.for_rule(Y, bandwidth, sigma)
    distances = kde_l2_distances(log_gaussian_self_overlap(gen),
                                 train.log_overlap_with(gen), original.log_overlap_with(gen),
                                 train, original)
    log_c_train = float(log_isotropic_kde_overlaps(train.sq_norms, train.eps, sigma, d))
    return trial_row(distances, gen, train, original, sigma, log_c_train)


def generalizer_columns(log_c_train: float, train: KDEReference, original: KDEReference, sigma: float) -> dict:
    """The ideal generalizer ρ_G = ρ = N(0, σ² I) (the data distribution itself, in the trial's centred
    coordinates) against the trial's own training and original KDEs: Δ's sign and ln|Δ|.

    ∫ρ_G² cancels from Δ, so only C_T = ∫ρ ρ_T (``log_c_train``) and C_O = ∫ρ ρ_O enter; C_O is computed once per
    original set (``KDEReference.log_overlap_with_isotropic``). Its H² to ρ is 0. No memorizer column: every ρ_G
    that puts its mass on the training points is decided by its self-match term (docs/linear-model.md).
    """
    log_abs, sign = log_delta(log_c_train, original.log_overlap_with_isotropic(sigma), train, original)
    return {"generalizer_delta_positive": int(sign > 0), "generalizer_log_abs_delta": log_abs}


def trial_row(distances: dict, gen: LowRankGaussian, train: KDEReference, original: KDEReference,
              sigma: float, log_c_train: float, hellinger: tuple[float, float] | None = None) -> dict:
    """A trial's metric columns of trials.csv from its distances, its generated Gaussian and the ideal
    generalizer's cross term with the training KDE (``generalizer_columns``). ``hellinger``: gen's
    ``hellinger_squared`` to N(0, sigma² I) where already computed (a batch's, stacked)."""
    h2, log_bc = hellinger or hellinger_squared(gen, np.zeros(gen.dim), sigma)
    return {
        **distances,
        "delta_positive": int(distances["delta_sign"] > 0),
        "H2": h2,
        "log_one_minus_H2": log_bc,
        "rank_G": gen.rank,
        "eps_n": train.eps,
        "eps_N": original.eps,
        **generalizer_columns(log_c_train, train, original, sigma),
    }
