"""Gaussian kernel density estimates and exact L² distances between Gaussian mixtures, in log space.

Everything here returns natural logarithms: at d = 100 the densities involved are about e^-127 and
below the smallest float64 for d above about 560 (spec linear-model.md, section 4).
Identity used throughout: ∫ N(x|a,A) N(x|b,B) dx = N(a | b, A + B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from memgen_cli.pair_sums import TILE, log_pair_sum_strips, sq_norms, stacked_upper_log_pair_sums, tiled_log_pair_sum

LOG_2PI = float(np.log(2.0 * np.pi))
BANDWIDTH_RULES = ("paper", "mixing", "rosenblatt")


def kde_bandwidth(rule: str, m: int, d: int, sigma: float) -> float:
    """Kernel width eps_m for an m-point KDE of d-dimensional data with per-coordinate std sigma."""
    log_m = np.log(m)
    if rule == "paper":  # eps = sigma m^(-1/d)  (what the paper's Fig. 3 uses)
        return float(sigma * np.exp(-log_m / d))
    if rule == "mixing":  # eps² = log(1 + sigma² / (m^(2/d) - 1)), Biroli et al.'s mixing time (eq. 9)
        return float(np.sqrt(np.log1p(sigma**2 / np.expm1(2.0 * log_m / d))))
    if rule == "rosenblatt":  # L²-optimal rule (eq. 11)
        return float((4.0 / (d + 2)) ** (1.0 / (d + 4)) * sigma * np.exp(-log_m / (d + 4)))
    raise ValueError(f"unknown bandwidth rule {rule!r}; choose from {BANDWIDTH_RULES}")


def log_kde_diagonal_for_rule(rule: str, m: int, d: int, sigma: float) -> float:
    """ln D_m for a KDE whose width follows ``rule``, exact where the rule allows.

    Under the paper's rule D_m = (4π sigma²)^(-d/2) for every m; computing it from the rounded eps_m
    instead would leave D_n - D_N ≈ 1e-14 D, as large as the terms that decide Δ's sign at d = 100.
    """
    if rule == "paper":
        return float(-0.5 * d * np.log(4.0 * np.pi * sigma**2))
    return log_kde_self_diagonal(m, d, kde_bandwidth(rule, m, d, sigma))


def log_kde_self_diagonal(m: int, d: int, eps: float) -> float:
    """ln of the i = j part of ∫ρ² for an m-point KDE with kernel width eps: (1/m)(4π eps²)^(-d/2)."""
    return float(-np.log(m) - 0.5 * d * np.log(4.0 * np.pi * eps**2))


def log_kde_self_offdiagonal(points: np.ndarray, eps: float, tiled: bool = True) -> float:
    """ln of the i != j part of ∫ρ²: (1/m²) Σ_{i≠j} N(x_i | x_j, 2 eps² I).  -inf when m = 1.

    Only the upper triangle is summed (the sum is symmetric), in cache-sized tiles (pair_sums.py);
    tiled=False takes the earlier full-width strips (same terms, another order: equal up to the last bits).
    """
    m, d = points.shape
    if m < 2:
        return -np.inf
    points = np.ascontiguousarray(points, dtype=float)
    if tiled:
        sq = sq_norms(points)
        log_upper = tiled_log_pair_sum(points, sq, points, sq, 0.25 / eps**2, upper=True)
    else:
        log_upper = log_pair_sum_strips(points, None, 0.25 / eps**2)
    return float(np.log(2.0) + log_upper - 2.0 * np.log(m) - 0.5 * d * np.log(4.0 * np.pi * eps**2))


def log_kde_self_overlap(points: np.ndarray, eps: float) -> float:
    """ln ∫ρ² for the KDE (1/m) Σ N(x_i, eps² I)."""
    m, d = points.shape
    return float(np.logaddexp(log_kde_self_diagonal(m, d, eps), log_kde_self_offdiagonal(points, eps)))


def log_kde_cross_overlap(a: np.ndarray, b: np.ndarray, eps_a: float, eps_b: float, tiled: bool = True) -> float:
    """ln ∫ρ_a ρ_b for two isotropic KDEs: (1/(m_a m_b)) Σ_ij N(a_i | b_j, (eps_a² + eps_b²) I).

    tiled=False takes the earlier full-width strips (equal up to the last bits).
    """
    (ma, d), mb = a.shape, b.shape[0]
    var = eps_a**2 + eps_b**2
    a, b = np.ascontiguousarray(a, dtype=float), np.ascontiguousarray(b, dtype=float)
    log_sum = (tiled_log_pair_sum(a, sq_norms(a), b, sq_norms(b), 0.5 / var, upper=False) if tiled
               else log_pair_sum_strips(a, b, 0.5 / var))
    return float(log_sum - np.log(ma) - np.log(mb) - 0.5 * d * (LOG_2PI + np.log(var)))


@dataclass(frozen=True)
class LowRankGaussian:
    """N(mean, basis · diag(variances) · basisᵀ): basis has orthonormal columns (d × r), r <= d.

    A rank below d means a singular covariance (the generated distribution when n <= d).
    """

    mean: np.ndarray
    basis: np.ndarray
    variances: np.ndarray

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    @property
    def rank(self) -> int:
        return self.variances.shape[0]

    @property
    def is_singular(self) -> bool:
        return self.rank < self.dim

    def logdet(self) -> float:
        return float(np.sum(np.log(self.variances))) if not self.is_singular else -np.inf

    def covariance(self) -> np.ndarray:
        """The dense d × d covariance (for tests and small d only)."""
        return (self.basis * self.variances) @ self.basis.T


def log_density_plus_isotropic(points: np.ndarray, gauss: LowRankGaussian, iso_var: float,
                               points_sq_norms: np.ndarray | None = None) -> np.ndarray:
    """ln N(x_k | mean, Σ + iso_var I) for every row x_k, without forming Σ (Woodbury in the eigenbasis).

    One product points @ [basis, mean] does the work; |x_k|² can be passed in when it is reused.
    """
    d, r = gauss.dim, gauss.rank
    if points_sq_norms is None:
        points_sq_norms = sq_norms(points)
    both = points @ np.column_stack([gauss.basis, gauss.mean])
    proj = both[:, :r] - gauss.mean @ gauss.basis
    sq_dist = points_sq_norms - 2.0 * both[:, r] + gauss.mean @ gauss.mean
    total_var = gauss.variances + iso_var
    if r == d:  # the span is everything: no |u|²/iso term to cancel (see _overlap_columns)
        quad = (proj**2) @ (1.0 / total_var)
    else:  # |u|²/iso minus the part of the span that has variance iso + v_i instead of iso.
        quad = sq_dist / iso_var - (proj**2) @ (gauss.variances / (iso_var * total_var))
    logdet = (d - r) * np.log(iso_var) + np.sum(np.log(total_var))
    return -0.5 * (d * LOG_2PI + logdet + quad)


def log_gaussian_kde_overlap(gauss: LowRankGaussian, points: np.ndarray, eps: float,
                             points_sq_norms: np.ndarray | None = None) -> float:
    """ln ∫ρ_G ρ_X, ρ_G = gauss, ρ_X = (1/m) Σ N(x_k, eps² I): (1/m) Σ_k N(x_k | mean, Σ + eps² I)."""
    logs = log_density_plus_isotropic(points, gauss, eps**2, points_sq_norms)
    return float(logsumexp(logs) - np.log(points.shape[0]))


def log_sum_exp_columns(half: np.ndarray, axis: int) -> np.ndarray:
    """ln Σ exp along an axis, in place (one exp pass)."""
    top = half.max(axis=axis, keepdims=True)
    half -= top
    np.exp(half, out=half)
    return np.squeeze(top, axis) + np.log(half.sum(axis=axis))


def log_isotropic_kde_overlaps(point_sq_norms: np.ndarray, eps: float, sigma: float, d: int) -> np.ndarray:
    """ln ∫ρ ρ_X = ln (1/m) Σ_k N(x_k | 0, (sigma² + eps²) I) for ρ = N(0, sigma² I) and the KDE (width eps) of
    each row's points, given as their |x_k|² (shape (..., m)): no matrix product (the linear model's ideal
    generalizer ρ_G = ρ, in the trial's coordinates centred at mu)."""
    var = sigma**2 + eps**2
    half = np.array(point_sq_norms, dtype=float) * (-0.5 / var)
    m = half.shape[-1]
    return log_sum_exp_columns(half, axis=-1) - np.log(m) - 0.5 * d * (LOG_2PI + np.log(var))


def log_gaussian_self_overlap(gauss: LowRankGaussian) -> float:
    """ln ∫ρ_G² = -(d/2) ln 4π - (1/2) ln det Σ;  +inf when Σ is singular."""
    if gauss.is_singular:
        return np.inf
    return float(-0.5 * gauss.dim * np.log(4.0 * np.pi) - 0.5 * gauss.logdet())


def _floats(values) -> list[float]:
    """A flat list of floats; a list of plain numbers without np.ravel (four sums a trial: its calls added up)."""
    if isinstance(values, (list, tuple)):
        try:
            return [float(v) for v in values]
        except TypeError:  # a list holding arrays: flattened below
            pass
    return [float(v) for v in np.ravel(values)]


def signed_log_sum(logs, signs) -> tuple[float, int]:
    """(ln|s|, sign s) of s = Σ sign_i exp(log_i), summed at the scale of the largest term.

    The few scaled terms are added by math.fsum, exactly rounded: where they nearly cancel (Δ at d = 100)
    the sign comes out right whenever the rounded terms allow it.
    """
    logs, signs = _floats(logs), _floats(signs)
    live = [(v, s) for v, s in zip(logs, signs) if v != -math.inf and s != 0]
    if not live:
        return -math.inf, 0
    top = max(v for v, _ in live)
    if top == math.inf:
        total = math.fsum(s for v, s in live if v == math.inf)
        return (math.inf, int(np.sign(total))) if total else (math.nan, 0)
    total = math.fsum(s * math.exp(v - top) for v, s in live)
    if total == 0:
        return -math.inf, 0
    return top + math.log(abs(total)), 1 if total > 0 else -1


def log_l2_distance(log_gg: float, log_gx: float, log_xx: float) -> float:
    """ln E = ln(∫ρ_G² - 2∫ρ_Gρ_X + ∫ρ_X²); +inf when ∫ρ_G² is."""
    if log_gg == np.inf:
        return np.inf
    value, sign = signed_log_sum([log_gg, np.log(2.0) + log_gx, log_xx], [1, -1, 1])
    return value if sign > 0 else -np.inf  # E >= 0; a non-positive sum is rounding at E ≈ 0


def log_diagonal_difference(log_dn: float, log_dN: float) -> tuple[float, int]:
    """(ln|D_n - D_N|, sign) of the diagonal parts D_m = (4π eps_m²)^(-d/2)/m, via expm1 of the log gap.

    With the paper's bandwidth D_n = D_N exactly: the two huge terms cancel here, not in floating point.
    """
    gap = log_dn - log_dN
    if gap == 0.0:
        return -np.inf, 0
    return float(log_dN + np.log(abs(np.expm1(gap)))), int(np.sign(gap))


@dataclass(frozen=True)
class KDEReference:
    """A point set with its kernel width and the parts of ∫ρ² computed once (reused across trials)."""

    points: np.ndarray
    eps: float
    log_self_diagonal: float
    log_self_offdiagonal: float
    sq_norms: np.ndarray
    # ln ∫ρ ρ_X for centred isotropic ρ = N(0, sigma² I), by sigma: computed once per set (a fixed original set
    # serves every trial of every n that meets it).
    _isotropic: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, points: np.ndarray, eps: float, log_self_diagonal: float | None = None) -> "KDEReference":
        """log_self_diagonal: pass the rule-exact value (``log_kde_diagonal_for_rule``) when known."""
        m, d = points.shape
        if log_self_diagonal is None:
            log_self_diagonal = log_kde_self_diagonal(m, d, eps)
        return cls(points, eps, log_self_diagonal, log_kde_self_offdiagonal(points, eps), sq_norms(points))

    def log_overlap_with(self, gauss: LowRankGaussian) -> float:
        """ln ∫ρ_G ρ for a Gaussian ρ_G."""
        return log_gaussian_kde_overlap(gauss, self.points, self.eps, self.sq_norms)

    @classmethod
    def for_rule(cls, points: np.ndarray, rule: str, sigma: float) -> "KDEReference":
        """The KDE of points with the width given by a bandwidth rule for data of std sigma."""
        m, d = points.shape
        return cls.build(points, kde_bandwidth(rule, m, d, sigma), log_kde_diagonal_for_rule(rule, m, d, sigma))

    @property
    def log_self_overlap(self) -> float:
        return float(np.logaddexp(self.log_self_diagonal, self.log_self_offdiagonal))

    def log_overlap_with_isotropic(self, sigma: float) -> float:
        """ln ∫ρ ρ_X for ρ = N(0, sigma² I) (``log_isotropic_kde_overlaps``), kept once computed."""
        if sigma not in self._isotropic:
            self._isotropic[sigma] = float(log_isotropic_kde_overlaps(self.sq_norms, self.eps, sigma,
                                                                      self.points.shape[1]))
        return self._isotropic[sigma]


def kde_references_for_rule(point_sets: np.ndarray, rule: str, sigma: float) -> list[KDEReference]:
    """``KDEReference.for_rule`` of every set of a stack (k, m, d), the same values: sets of at most TILE points
    (one tile each) take their pair sums as one stacked call, the rest one set at a time."""
    k, m, d = point_sets.shape
    if not 2 <= m <= TILE:
        return [KDEReference.for_rule(points, rule, sigma) for points in point_sets]
    eps = kde_bandwidth(rule, m, d, sigma)
    diagonal = log_kde_diagonal_for_rule(rule, m, d, sigma)
    norms = np.einsum("kij,kij->ki", point_sets, point_sets)
    uppers = stacked_upper_log_pair_sums(point_sets, norms, 0.25 / eps**2)
    return [KDEReference(points, eps, diagonal,
                         float(np.log(2.0) + upper - 2.0 * np.log(m) - 0.5 * d * np.log(4.0 * np.pi * eps**2)), sq)
            for points, upper, sq in zip(point_sets, uppers, norms)]


def log_delta(log_g_train: float, log_g_orig: float, train: KDEReference, orig: KDEReference) -> tuple[float, int]:
    """(ln|Δ|, sign Δ), Δ = E_TG - E_OG = (D_n - D_N) + (P_n - P_N) - 2 C_T + 2 C_O, from the cross terms
    C_X = ∫ρ_G ρ_X: ∫ρ_G² cancels, and the diagonal parts D are differenced analytically, so Δ is finite even
    when E_TG and E_OG are not."""
    log_dd, sign_dd = log_diagonal_difference(train.log_self_diagonal, orig.log_self_diagonal)
    return signed_log_sum(
        [log_dd, train.log_self_offdiagonal, orig.log_self_offdiagonal,
         np.log(2.0) + log_g_train, np.log(2.0) + log_g_orig],
        [sign_dd, 1, -1, -1, 1])


def kde_l2_distances(log_gg: float, log_g_train: float, log_g_orig: float,
                     train: KDEReference, orig: KDEReference) -> dict:
    """E_TG, E_OG and Δ = E_TG - E_OG from the overlap terms, with Δ's sign exact where it can be (``log_delta``)."""
    log_abs_delta, delta_sign = log_delta(log_g_train, log_g_orig, train, orig)
    return {
        "log_E_TG": log_l2_distance(log_gg, log_g_train, train.log_self_overlap),
        "log_E_OG": log_l2_distance(log_gg, log_g_orig, orig.log_self_overlap),
        "delta_sign": delta_sign,
        "log_abs_delta": log_abs_delta,
    }


def isotropic_kde_distances(generated: np.ndarray, train: np.ndarray, original: np.ndarray, sigma: float,
                            rule: str = "paper") -> dict:
    """E_TG, E_OG, Δ between the KDEs of a generated, a training and an original set (all (m, d)).

    Every KDE's width follows ``rule`` for data of per-coordinate std sigma; the training and original
    diagonal parts come from the rule exactly (see ``log_kde_diagonal_for_rule``). For the U-Net, whose
    generated distribution is itself a KDE of its samples.
    """
    eps_g = kde_bandwidth(rule, generated.shape[0], generated.shape[1], sigma)
    train_ref = KDEReference.for_rule(train, rule, sigma)
    orig_ref = KDEReference.for_rule(original, rule, sigma)
    return kde_l2_distances(log_kde_self_overlap(generated, eps_g),
                            log_kde_cross_overlap(generated, train, eps_g, train_ref.eps),
                            log_kde_cross_overlap(generated, original, eps_g, orig_ref.eps), train_ref, orig_ref)
