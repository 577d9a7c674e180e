"""The reproducibility pairs of a task's trials, batched (issue 36): the columns of
``reproducibility.pair_from_rngs`` for every trial of a task, to rounding, at a few percent of a trial.

- Member 1 is the trial's own fit, handed over by ``batch.run_linear_trials`` (its centred data, its SVD, its
  generated mean): nothing is redrawn or refitted.
- The partners draw from their own generators exactly what ``pair_from_rngs`` draws (training set, then noise),
  and are fitted as one stack. Where the partners' centred inputs have full column rank and are well
  conditioned (n - 1 >= d and a Cholesky condition estimate of xᵀx + ridge·I within ``GRAM_RCOND``), the fit is
  the normal equations, Bᵀ = (xᵀx + ridge·I)⁻¹ xᵀy: the same matrix as the SVD's, to cond(xᵀx)·ε <= 10^4 ε
  relative, for an n d² product and a d³/3 factorisation instead of an SVD of the n × d matrix (6× cheaper at
  n = 1000, d = 100). Otherwise (n <= d, the interpolation threshold, a ridge-free rank cut) the partners take
  the SVD with lstsq's cut, as ``model.fit_denoiser`` does, stacked.
- The paired distances are formed entry by entry as ``reproducibility.paired_distance`` forms them (the thin
  QR of the two bases when r₁ + r₂ < d, the dense difference otherwise), as stacked products.

Stacks whose trials differ in rank (rare: the ranks of Gaussian data are min(n - 1, d) with probability 1) go
pair by pair through ``reproducibility.paired_distance`` on the same draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memgen_cli.linear.model import _EPS, draw_training_sets, fit_denoiser, noise_variance, sampling_distribution
from memgen_cli.linear.reproducibility import REPRODUCED_LEVEL, paired_distance

GRAM_RCOND = 1e-4  # the normal equations only where cond(xᵀx) <= 10^4: Bᵀ within ~10^-12 of the SVD's, relative
CHUNK = 1 << 15  # partners are drawn and fitted a few at a time, each array at most 2^15 numbers (256 kB): in cache


@dataclass(frozen=True)
class FitStack:
    """Fits of a stack of trials: Bᵀ_k = V_k coef_k (factored, V: (t, d, r), coef: (t, r, d)), or dense
    (``Bt``: (t, d, d), V and coef None); ``mean`` = θ0 + B μ_X (t, d), ``var_X`` = σ_X² (t,)."""

    mean: np.ndarray
    var_X: np.ndarray
    V: np.ndarray | None = None
    coef: np.ndarray | None = None
    Bt: np.ndarray | None = None
    orthonormal: bool = True  # V's columns (an SVD's), or a Helmert-row basis (the Gram fit's, n - 1 < d)

    @property
    def rank(self) -> int:
        return self.V.shape[2] if self.V is not None else self.Bt.shape[1]

    def dense(self) -> np.ndarray:
        """Bᵀ of every trial, (t, d, d)."""
        return self.Bt if self.Bt is not None else np.matmul(self.V, self.coef)

    def __getitem__(self, part: slice) -> "FitStack":
        def cut(a):
            return None if a is None else a[part]
        return FitStack(self.mean[part], self.var_X[part], cut(self.V), cut(self.coef), cut(self.Bt), self.orthonormal)


def _sampling(Y: np.ndarray, X: np.ndarray, T: float, lam: float):
    n, d = Y.shape[1:]
    y_mean, x_mean = Y.mean(axis=1), X.mean(axis=1)
    y, x = Y - y_mean[:, None], X - x_mean[:, None]
    var_X = np.exp(-2.0 * T) * (np.sum(y**2, axis=(1, 2)) / (n * d)) + noise_variance(T, lam)
    return y_mean, x_mean, y, x, np.exp(-T) * y_mean - x_mean, var_X  # shift = μ_X - x̄


def helmert(A: np.ndarray) -> np.ndarray:
    """Hᵀ A for every trial of a stack (t, n, d): H the n × (n - 1) Helmert basis of the vectors orthogonal to 1,
    row j = (A_1 + ... + A_j - j A_(j+1)) / √(j (j + 1)). So x = H Hᵀ x for centred x, and x̃ = Hᵀx has full
    row rank n - 1 where x has rank n - 1: x⁺ y = x̃⁺ Hᵀ y, with no rank cut to make."""
    j = np.arange(1, A.shape[1], dtype=float)[:, None]
    return (np.cumsum(A, axis=1)[:, :-1] - j * A[:, 1:]) / np.sqrt(j * (j + 1))


def _solved(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
    """gram⁻¹ rhs by Cholesky, or None when gram's reciprocal condition number (LAPACK's 1-norm estimate) is below
    GRAM_RCOND."""
    from scipy.linalg import lapack  # here, not above: a refused linear config need not load scipy.linalg

    factor, info = lapack.dpotrf(gram, lower=0)
    if info:
        return None
    rcond, info = lapack.dpocon(factor, np.abs(gram).sum(axis=0).max())
    if info or not rcond >= GRAM_RCOND:
        return None
    solution, info = lapack.dpotrs(factor, rhs)
    return None if info else solution


def _gram_fit(X: np.ndarray, Y: np.ndarray, x: np.ndarray, y: np.ndarray, y_mean: np.ndarray, shift: np.ndarray,
              var_X: np.ndarray, ridge: float) -> FitStack | None:
    """Bᵀ = (xᵀx + ridge·I)⁻¹ xᵀy from the smaller Gram matrix: d × d when n - 1 >= d, else (n - 1) × (n - 1)
    through the Helmert rows x̃ = Hᵀx, Bᵀ = x̃ᵀ (x̃x̃ᵀ + ridge·I)⁻¹ Hᵀy (the minimum-norm fit). None where one
    trial's Gram matrix is not well conditioned (module docstring)."""
    n, d = X.shape[1:]
    if n - 1 >= d:
        xt, left = np.swapaxes(x, 1, 2), None
        gram, rhs = np.matmul(xt, x), np.matmul(xt, y)
    else:
        rows = helmert(X)
        left = np.swapaxes(rows, 1, 2)  # (t, d, n - 1)
        gram, rhs = np.matmul(rows, left), helmert(Y)
    if ridge:
        gram += ridge * np.eye(gram.shape[1])
    coef = np.empty_like(rhs)
    for k in range(len(X)):
        solved = _solved(gram[k], rhs[k])
        if solved is None:
            return None
        coef[k] = solved
    if left is None:
        return FitStack(y_mean + np.matmul(shift[:, None, :], coef)[:, 0], var_X, Bt=coef)
    return FitStack(y_mean + np.matmul(np.matmul(shift[:, None, :], left), coef)[:, 0], var_X, left, coef,
                    orthonormal=False)


def fit_partners(Y: np.ndarray, X: np.ndarray, T: float, lam: float, ridge: float,
                 gram: bool = True) -> FitStack | None:
    """The partners' fits as a stack (module docstring), or None when their SVD ranks differ. gram=False: the SVD
    always (where the QR of the two bases is cheaper than a dense difference)."""
    n, d = Y.shape[1:]
    y_mean, x_mean, y, x, shift, var_X = _sampling(Y, X, T, lam)
    fits = _gram_fit(X, Y, x, y, y_mean, shift, var_X, ridge) if gram else None
    if fits is not None:
        return fits
    U, s, Vt = np.linalg.svd(x, full_matrices=False)
    top = s[:, :1] if s.shape[1] else np.zeros((s.shape[0], 1))
    ranks = np.count_nonzero(s > top * max(n, d) * _EPS, axis=1)  # fit_denoiser's cut
    if len(set(ranks.tolist())) != 1:
        return None
    r = ranks[0]
    V = np.swapaxes(Vt[:, :r], 1, 2)
    coef = (s[:, :r] / (s[:, :r] ** 2 + ridge))[:, :, None] * np.matmul(np.swapaxes(U[:, :, :r], 1, 2), y)
    return FitStack(y_mean + np.matmul(np.matmul(shift[:, None, :], V), coef)[:, 0], var_X, V, coef)


def difference_norms2(first: FitStack, second: FitStack) -> np.ndarray:
    """‖σ₁B₁ − σ₂B₂‖_F² per trial, formed entry by entry as reproducibility.generator_difference_norm2 forms it:
    the thin QR of the two orthonormal bases when r₁ + r₂ < d/2 (its cost, 4 d k², is below the dense
    difference's 2 d² k only there), the dense d × d difference otherwise."""
    s1, s2 = np.sqrt(first.var_X)[:, None, None], np.sqrt(second.var_X)[:, None, None]
    d = first.mean.shape[1]
    k = first.rank + second.rank
    if k == 0:
        return np.zeros(first.mean.shape[0])
    if 2 * k >= d or not (first.orthonormal and second.orthonormal):
        diff = s1 * first.dense() - s2 * second.dense()
        return np.sum(diff * diff, axis=(1, 2))
    left = np.concatenate([np.swapaxes(first.coef, 1, 2), np.swapaxes(second.coef, 1, 2)], axis=2)  # (t, d, k)
    right = np.concatenate([s1 * first.V, -s2 * second.V], axis=2)
    t = np.linalg.qr(right, mode="r")
    product = np.matmul(left, np.swapaxes(t, 1, 2))
    return np.sum(product * product, axis=(1, 2))


def pair_columns(log_scaled: float) -> dict:
    """PAIR_METRICS from ln(D / 2dσ²), as reproducibility.pair_from_rngs writes them."""
    scaled = float(np.exp(log_scaled))
    return {"paired_distance": scaled, "log_paired_distance": float(log_scaled),
            "reproduced": int(scaled < REPRODUCED_LEVEL)}


def batched_pair_columns(Y: np.ndarray, X: np.ndarray, own: FitStack | None, partners: list[np.random.Generator],
                         T: float, lam: float, sigma: float, ridge: float) -> list[dict]:
    """Every trial's PAIR_METRICS: its fit (``own``, from its data Y, X) against its partner's, drawn from
    ``partners`` (one generator per trial, seeded as experiment.partner_seed does). The partners go a chunk of
    trials at a time (CHUNK), so their n × d arrays are drawn, centred and multiplied while in cache."""
    n, d = Y.shape[1:]
    size = max(1, CHUNK // (n * d))
    log_norm = np.log(2.0 * d * sigma**2)
    gram = own is not None and 4 * own.rank >= d  # r₁ + r₂ >= d/2: the dense difference, so any basis will do
    logs = []
    for start in range(0, len(partners), size):
        part = slice(start, start + size)
        Y2, X2 = draw_training_sets(partners[part], n, d, lam, T, sigma)
        other = fit_partners(Y2, X2, T, lam, ridge, gram) if own is not None else None
        if other is None:  # ranks differ within the stack: pair by pair, on the same draws
            logs += [_one_log_scaled(Y[start + k], X[start + k], Y2[k], X2[k], T, lam, sigma, ridge)
                     for k in range(len(Y2))]
            continue
        mine = own[part]
        gap = mine.mean - other.mean
        totals = [float(g @ g) + float(m) for g, m in zip(gap, difference_norms2(mine, other))]
        logs += [(np.log(total) if total > 0 else -np.inf) - log_norm for total in totals]
    return [pair_columns(value) for value in logs]


def _one_log_scaled(Y1, X1, Y2, X2, T, lam, sigma, ridge) -> float:
    den1, den2 = fit_denoiser(Y1, X1, ridge), fit_denoiser(Y2, X2, ridge)
    return paired_distance(den1, *sampling_distribution(Y1, T, lam), den2, *sampling_distribution(Y2, T, lam),
                           sigma)[1]
