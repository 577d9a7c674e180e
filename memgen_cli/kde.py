"""Gaussian kernel density estimates and exact L² distances between Gaussian mixtures, in log space.

Everything here returns natural logarithms: at d = 100 the densities involved are about e^-127 and
below the smallest float64 for d above about 560 (spec linear-model.md, section 4).
Identity used throughout: ∫ N(x|a,A) N(x|b,B) dx = N(a | b, A + B).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

LOG_2PI = float(np.log(2.0 * np.pi))
BANDWIDTH_RULES = ("paper", "mixing", "rosenblatt")
_BLOCK_ROWS = 1024  # rows of a strip in the earlier pair sums: memory BLOCK x m floats
_TILE = 256  # side of a pair-sum tile: 512 KiB of float64 (cache-sized), reused for every tile


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


def _sq_norms(points: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", points, points)


def _logsumexp_inplace(a: np.ndarray) -> float:
    """ln Σ exp(a), overwriting a: one pass of exp without temporaries (the pair sums are 10^8 terms)."""
    top = a.max()
    if top == -np.inf:
        return -np.inf
    a -= top
    np.exp(a, out=a)
    return float(top + np.log(a.sum()))


def _scaled_sq_distances(rows: np.ndarray, rows_sq: np.ndarray, cols: np.ndarray, cols_sq: np.ndarray,
                         scale: float) -> np.ndarray:
    """-scale · |r_i - c_j|² for a block, in place on the Gram matrix (|r|² + |c|² - 2 r·c, clipped at 0)."""
    block = rows @ cols.T
    block *= -2.0
    block += rows_sq[:, None]
    block += cols_sq[None, :]
    np.maximum(block, 0.0, out=block)
    block *= -scale
    return block


def _tiled_log_pair_sum(a: np.ndarray, sq_a: np.ndarray, b: np.ndarray, sq_b: np.ndarray, scale: float,
                        upper: bool) -> float:
    """ln Σ exp(-scale |a_i - b_j|²) over every (i, j), or over j > i only when upper (b is a).

    Cache-sized _TILE × _TILE tiles reuse one buffer (memory bounded by the tile, whatever m): the product
    (-2a) b (exactly -2 a b: a power of two), the squared norms, the clip at 0 and the scaling are the
    strips' arithmetic element by element; each tile is shifted by its own max before exp and the
    tiles' (max, sum) pairs are combined at the end, so only the order of summation differs from the strips.
    """
    ma, mb, t = a.shape[0], b.shape[0], _TILE
    a2 = -2.0 * a
    buf = np.empty(t * t)
    lower = ~np.triu(np.ones((t, t), dtype=bool), k=1) if upper else None  # i >= j within a diagonal tile
    tops, sums = [], []
    for i0 in range(0, ma, t):
        i1 = min(i0 + t, ma)
        for j0 in range(i0 if upper else 0, mb, t):
            j1 = min(j0 + t, mb)
            tile = buf[:(i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)
            np.matmul(a2[i0:i1], b[j0:j1].T, out=tile)
            tile += sq_a[i0:i1, None]
            tile += sq_b[None, j0:j1]
            np.maximum(tile, 0.0, out=tile)
            tile *= -scale
            if upper and i0 == j0:
                np.copyto(tile, -np.inf, where=lower[:i1 - i0, :j1 - j0])
            top = tile.max()
            if top == -np.inf:
                continue
            tile -= top
            np.exp(tile, out=tile)
            tops.append(top)
            sums.append(tile.sum())
    if not tops:
        return -np.inf
    return float(logsumexp(tops, b=sums))


def log_kde_self_offdiagonal(points: np.ndarray, eps: float, tiled: bool = True) -> float:
    """ln of the i != j part of ∫ρ²: (1/m²) Σ_{i≠j} N(x_i | x_j, 2 eps² I).  -inf when m = 1.

    Only the upper triangle is summed (the sum is symmetric), in cache-sized tiles; tiled=False takes
    the earlier full-width strips (same terms, summed in another order: equal up to the last bits).
    """
    if not tiled:
        return _log_kde_self_offdiagonal_strips(points, eps)
    m, d = points.shape
    if m < 2:
        return -np.inf
    points = np.ascontiguousarray(points, dtype=float)
    sq = _sq_norms(points)
    log_upper = _tiled_log_pair_sum(points, sq, points, sq, 0.25 / eps**2, upper=True)
    return float(np.log(2.0) + log_upper - 2.0 * np.log(m) - 0.5 * d * np.log(4.0 * np.pi * eps**2))


def _log_kde_self_offdiagonal_strips(points: np.ndarray, eps: float) -> float:
    """ln of the i != j part of ∫ρ²: (1/m²) Σ_{i≠j} N(x_i | x_j, 2 eps² I).  -inf when m = 1.

    The earlier path (kept as the reference for the tiles): 1024-row strips of full width, the upper
    triangle only.
    """
    m, d = points.shape
    if m < 2:
        return -np.inf
    sq = _sq_norms(points)
    block_logs = []
    for start in range(0, m - 1, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, m)
        expo = _scaled_sq_distances(points[start:stop], sq[start:stop], points[start:], sq[start:],
                                    0.25 / eps**2)
        expo[np.tril_indices(stop - start)] = -np.inf  # keep j > i only (the square part holds i, j < stop)
        block_logs.append(_logsumexp_inplace(expo))
    log_upper = logsumexp(block_logs)
    return float(np.log(2.0) + log_upper - 2.0 * np.log(m) - 0.5 * d * np.log(4.0 * np.pi * eps**2))


def log_kde_self_overlap(points: np.ndarray, eps: float) -> float:
    """ln ∫ρ² for the KDE (1/m) Σ N(x_i, eps² I)."""
    m, d = points.shape
    return float(np.logaddexp(log_kde_self_diagonal(m, d, eps), log_kde_self_offdiagonal(points, eps)))


def log_kde_cross_overlap(a: np.ndarray, b: np.ndarray, eps_a: float, eps_b: float, tiled: bool = True) -> float:
    """ln ∫ρ_a ρ_b for two isotropic KDEs: (1/(m_a m_b)) Σ_ij N(a_i | b_j, (eps_a² + eps_b²) I).

    tiled=False takes the earlier full-width strips (equal up to the last bits).
    """
    if not tiled:
        return _log_kde_cross_overlap_strips(a, b, eps_a, eps_b)
    (ma, d), mb = a.shape, b.shape[0]
    var = eps_a**2 + eps_b**2
    a, b = np.ascontiguousarray(a, dtype=float), np.ascontiguousarray(b, dtype=float)
    log_sum = _tiled_log_pair_sum(a, _sq_norms(a), b, _sq_norms(b), 0.5 / var, upper=False)
    return float(log_sum - np.log(ma) - np.log(mb) - 0.5 * d * (LOG_2PI + np.log(var)))


def _log_kde_cross_overlap_strips(a: np.ndarray, b: np.ndarray, eps_a: float, eps_b: float) -> float:
    """ln ∫ρ_a ρ_b for two isotropic KDEs: (1/(m_a m_b)) Σ_ij N(a_i | b_j, (eps_a² + eps_b²) I).

    The earlier path in 1024-row strips of full width (the reference for the tiles).
    """
    (ma, d), mb = a.shape, b.shape[0]
    var = eps_a**2 + eps_b**2
    sq_a, sq_b = _sq_norms(a), _sq_norms(b)
    block_logs = [_logsumexp_inplace(_scaled_sq_distances(a[s:s + _BLOCK_ROWS], sq_a[s:s + _BLOCK_ROWS], b, sq_b,
                                                          0.5 / var))
                  for s in range(0, ma, _BLOCK_ROWS)]
    return float(logsumexp(block_logs) - np.log(ma) - np.log(mb) - 0.5 * d * (LOG_2PI + np.log(var)))


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
        points_sq_norms = _sq_norms(points)
    both = points @ np.column_stack([gauss.basis, gauss.mean])
    proj = both[:, :r] - gauss.mean @ gauss.basis
    sq_dist = points_sq_norms - 2.0 * both[:, r] + gauss.mean @ gauss.mean
    total_var = gauss.variances + iso_var
    # |u|²/iso minus the part of the span that has variance iso + v_i instead of iso.
    quad = sq_dist / iso_var - (proj**2) @ (gauss.variances / (iso_var * total_var))
    logdet = (d - r) * np.log(iso_var) + np.sum(np.log(total_var))
    return -0.5 * (d * LOG_2PI + logdet + quad)


def log_gaussian_kde_overlap(gauss: LowRankGaussian, points: np.ndarray, eps: float,
                             points_sq_norms: np.ndarray | None = None) -> float:
    """ln ∫ρ_G ρ_X, ρ_G = gauss, ρ_X = (1/m) Σ N(x_k, eps² I): (1/m) Σ_k N(x_k | mean, Σ + eps² I)."""
    logs = log_density_plus_isotropic(points, gauss, eps**2, points_sq_norms)
    return float(logsumexp(logs) - np.log(points.shape[0]))


def log_gaussian_self_overlap(gauss: LowRankGaussian) -> float:
    """ln ∫ρ_G² = -(d/2) ln 4π - (1/2) ln det Σ;  +inf when Σ is singular."""
    if gauss.is_singular:
        return np.inf
    return float(-0.5 * gauss.dim * np.log(4.0 * np.pi) - 0.5 * gauss.logdet())


def signed_log_sum(logs, signs) -> tuple[float, int]:
    """(ln|s|, sign s) of s = Σ sign_i exp(log_i), summed at the scale of the largest term."""
    logs = np.asarray(logs, dtype=float)
    signs = np.asarray(signs, dtype=float)
    if np.all(logs == -np.inf):
        return -np.inf, 0
    value, sign = logsumexp(logs, b=signs, return_sign=True)
    if sign == 0:
        return -np.inf, 0
    return float(value), int(sign)


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

    @classmethod
    def build(cls, points: np.ndarray, eps: float, log_self_diagonal: float | None = None) -> "KDEReference":
        """log_self_diagonal: pass the rule-exact value (``log_kde_diagonal_for_rule``) when known."""
        m, d = points.shape
        if log_self_diagonal is None:
            log_self_diagonal = log_kde_self_diagonal(m, d, eps)
        return cls(points, eps, log_self_diagonal, log_kde_self_offdiagonal(points, eps), _sq_norms(points))

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


def kde_l2_distances(log_gg: float, log_g_train: float, log_g_orig: float,
                     train: KDEReference, orig: KDEReference) -> dict:
    """E_TG, E_OG and Δ = E_TG - E_OG from the overlap terms, with Δ's sign exact where it can be.

    Δ = (D_n - D_N) + (P_n - P_N) - 2 C_T + 2 C_O: ∫ρ_G² cancels, and the diagonal parts D are
    differenced analytically, so Δ is finite even when E_TG and E_OG are not.
    """
    log_dd, sign_dd = log_diagonal_difference(train.log_self_diagonal, orig.log_self_diagonal)
    log_abs_delta, delta_sign = signed_log_sum(
        [log_dd, train.log_self_offdiagonal, orig.log_self_offdiagonal,
         np.log(2.0) + log_g_train, np.log(2.0) + log_g_orig],
        [sign_dd, 1, -1, -1, 1])
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
