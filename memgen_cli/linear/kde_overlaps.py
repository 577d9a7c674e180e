"""Many Gaussians against one KDE at once: ln ∫ρ_G ρ_X for every trial of a task (linear/batch.py), in one
matrix product per row block of the KDE's points, against kde.log_gaussian_kde_overlap one Gaussian at a time.

Identity used: ∫ N(x|m, Σ) (1/M) Σ_k N(x|x_k, ε² I) dx = (1/M) Σ_k N(x_k | m, Σ + ε² I), in log space (kde.py).
"""

from __future__ import annotations

import numpy as np

from memgen_cli.kde import LOG_2PI, LowRankGaussian, log_sum_exp_columns
from memgen_cli.pair_sums import sq_norms

# log_gaussian_kde_overlaps's quadratic features for QUADRATIC_MIN_D <= d <= QUADRATIC_MAX_D: no faster at d = 64
# (measured); below d = 8 the kernel width N^(-1/d) is so small that both expanded forms round at 10^-10 (d = 1,
# N = 10^4, a ridge: a form of scale 1/eps² = 10^8), and the features' extra rounding step there costs up to 10×
QUADRATIC_MIN_D, QUADRATIC_MAX_D = 8, 32


def _overlap_columns(gaussians: list[LowRankGaussian], iso: float, d: int) -> tuple[list, list, np.ndarray,
                                                                                     np.ndarray]:
    """Per Gaussian, the columns and constant that give ln N(x | mean, Σ + iso I) from one product x @ [B, u].

    Rank r < d: B = basis · diag(√w), w = v / (iso (iso + v)), c = mean B, u = mean/iso - B c, and the
    quadratic form is |x|²/iso - |x B|² - 2 x·u + |mean|²/iso - |c|² (log_density_plus_isotropic's Woodbury
    identity, expanded). Rank d: B = basis · diag(1/√(iso + v)), u = B c, and the form is |x B|² - 2 x·u + |c|²:
    no |x|²/iso, which would cancel against |x B|² to the factor (iso + v)/iso (10^5 at d = 1, N = 700).
    Returns (bases, shifts, constants, sign of |x B|² in -quad: +1 for r < d, -1 for rank d).
    """
    bases, shifts, consts, signs = [], [], [], []
    for g in gaussians:
        logdet = (d - g.rank) * np.log(iso) + np.sum(np.log(g.variances + iso))
        if g.is_singular:
            scaled = g.basis * np.sqrt(g.variances / (iso * (g.variances + iso)))
            c = g.mean @ scaled
            shifts.append(g.mean / iso - scaled @ c)
            consts.append(d * LOG_2PI + logdet + g.mean @ g.mean / iso - c @ c)
        else:
            scaled = g.basis / np.sqrt(g.variances + iso)
            c = g.mean @ scaled
            shifts.append(scaled @ c)
            consts.append(d * LOG_2PI + logdet + c @ c)
        bases.append(scaled)
        signs.append(1.0 if g.is_singular else -1.0)
    return bases, shifts, np.asarray(consts), np.asarray(signs)


def log_gaussian_kde_overlaps(gaussians: list[LowRankGaussian], points: np.ndarray, eps: float,
                              points_sq_norms: np.ndarray | None = None, max_columns: int = 1024,
                              block: int = 1 << 16, quadratic: bool | None = None) -> np.ndarray:
    """ln ∫ρ_G ρ_X for several Gaussians against one KDE: their columns share one matrix product.

    points @ [B'_1 .. B'_k, u_1 .. u_k] (see _overlap_columns) for chunks of up to max_columns columns, row
    block by row block (about ``block`` floats: cache-sized), then a row sum of squares per Gaussian.
    quadratic: the exponents from each point's quadratic features instead (``_log_overlaps_quadratic``); None
    takes them where they are cheaper (``QUADRATIC_MIN_D``).
    """
    iso = eps**2
    m, d = points.shape
    if quadratic is None:  # d(d + 3)/2 multiply-adds per point and Gaussian against d(r + 1), r squares (einsum's
        # about 4 a square) and the passes over the exponents
        quadratic = (QUADRATIC_MIN_D <= d <= QUADRATIC_MAX_D
                     and d * (d + 3) * len(gaussians) < 2 * sum(d + (d + 4) * g.rank for g in gaussians))
    if quadratic:
        return _log_overlaps_quadratic(gaussians, points, iso, block)
    if points_sq_norms is None:
        points_sq_norms = sq_norms(points)
    bases, shifts, consts, signs = _overlap_columns(gaussians, iso, d)
    scaled_norms = points_sq_norms / iso
    out = np.empty(len(gaussians))
    start = 0
    while start < len(gaussians):
        stop, width = start + 1, bases[start].shape[1] + 1
        while stop < len(gaussians) and width + bases[stop].shape[1] + 1 <= max_columns:
            width += bases[stop].shape[1] + 1
            stop += 1
        out[start:stop] = _log_overlap_chunk(points, scaled_norms, bases[start:stop], shifts[start:stop],
                                             signs[start:stop], block)
        start = stop
    return out - 0.5 * consts - np.log(m)


def _log_overlap_chunk(points: np.ndarray, scaled_norms: np.ndarray, bases: list, shifts: list, signs: np.ndarray,
                       block: int) -> np.ndarray:
    """ln Σ_x exp(±|x B|²/2 + x·u [- |x|²/(2 iso)]) for each Gaussian of a chunk (see _overlap_columns)."""
    m, k = points.shape[0], len(bases)
    ranks = [b.shape[1] for b in bases]
    total, bounds = sum(ranks), np.cumsum([0] + ranks)
    weights = np.hstack(bases + [np.column_stack(shifts)])
    rows = max(16, block // weights.shape[1])
    buf = np.empty(rows * weights.shape[1])
    half = np.empty((m, k))
    for r0 in range(0, m, rows):
        r1 = min(r0 + rows, m)
        product = buf[:(r1 - r0) * weights.shape[1]].reshape(r1 - r0, weights.shape[1])
        np.matmul(points[r0:r1], weights, out=product)
        if len(set(ranks)) == 1:  # one einsum squares and sums every Gaussian's span
            span = product[:, :total].reshape(r1 - r0, k, ranks[0])
            np.einsum("nkr,nkr->nk", span, span, out=half[r0:r1])
        else:
            for j in range(k):
                span = product[:, bounds[j]:bounds[j + 1]]
                np.einsum("ij,ij->i", span, span, out=half[r0:r1, j])
        half[r0:r1] *= signs
        half[r0:r1] += 2.0 * product[:, total:]
    half -= np.outer(scaled_norms, signs > 0)
    half *= 0.5
    return log_sum_exp_columns(half, axis=0)


def _quadratic_weights(gaussians: list[LowRankGaussian], iso: float, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Each Gaussian's exponent -½ xᵀAx + x·Am, A = (Σ + iso I)⁻¹, as weights (one column per Gaussian) on the
    features [x_i x_j (i <= j, row by row), x]; and its constant, as ``_overlap_columns`` gives it.

    A from the same scaled bases B as _overlap_columns: B Bᵀ at rank d, I/iso - B Bᵀ below it. Gaussians of
    one rank go as one stack; a list of mixed ranks one Gaussian at a time.
    """
    if len({g.rank for g in gaussians}) > 1:
        parts = [_quadratic_weights([g], iso, d) for g in gaussians]
        return np.hstack([w for w, _ in parts]), np.concatenate([c for _, c in parts])
    r = gaussians[0].rank
    basis, variances = np.stack([g.basis for g in gaussians]), np.stack([g.variances for g in gaussians])
    mean = np.stack([g.mean for g in gaussians])
    logdet = (d - r) * np.log(iso) + np.sum(np.log(variances + iso), axis=1)
    singular = r < d
    scaled = basis * (np.sqrt(variances / (iso * (variances + iso))) if singular
                      else 1.0 / np.sqrt(variances + iso))[:, None, :]
    c = np.matmul(mean[:, None, :], scaled)[:, 0]
    form = np.matmul(scaled, np.swapaxes(scaled, 1, 2))  # B Bᵀ, (k, d, d)
    linear = np.matmul(scaled, c[:, :, None])[:, :, 0]  # B c
    if singular:
        form *= -1.0
        form[:, np.arange(d), np.arange(d)] += 1.0 / iso
        linear = mean / iso - linear
        consts = d * LOG_2PI + logdet + np.sum(mean * mean, axis=1) / iso - np.sum(c * c, axis=1)
    else:
        consts = d * LOG_2PI + logdet + np.sum(c * c, axis=1)
    rows, cols = np.triu_indices(d)
    weights = np.empty((rows.size + d, len(gaussians)))
    weights[:rows.size] = (form[:, rows, cols] * np.where(rows == cols, -0.5, -1.0)).T
    weights[rows.size:] = linear.T
    return weights, consts


def _log_overlaps_quadratic(gaussians: list[LowRankGaussian], points: np.ndarray, iso: float,
                            block: int) -> np.ndarray:
    """log_gaussian_kde_overlaps through quadratic features: a block of points' [x_i x_j (i <= j), x], built
    transposed (every row of it one long product), times every Gaussian's weights (``_quadratic_weights``) is
    the block's exponents, so one product and the log-sum-exp are all the passes: at d = 16 and rank 16 half the
    columns' path's multiply-adds, all of them in the product. The rounding differs from the columns' path in
    the last bits (tests/test_batched_trials.py)."""
    m, d = points.shape
    weights, consts = _quadratic_weights(gaussians, iso, d)
    features = weights.shape[0]
    rows = max(16, 4 * block // features)
    buf = np.empty((features, min(rows, m)))
    half = np.empty((m, len(gaussians)))
    for r0 in range(0, m, rows):
        r1 = min(r0 + rows, m)
        phi = buf[:, :r1 - r0]
        x = phi[features - d:]
        np.copyto(x, points[r0:r1].T)
        start = 0
        for i in range(d):
            np.multiply(x[i], x[i:], out=phi[start:start + d - i])
            start += d - i
        np.matmul(phi.T, weights, out=half[r0:r1])
    return log_sum_exp_columns(half, axis=0) - 0.5 * consts - np.log(m)


def log_gaussian_kde_overlaps_each(gaussians: list[LowRankGaussian], point_sets: np.ndarray, eps: float
                                   ) -> np.ndarray:
    """ln ∫ρ_G ρ_X for Gaussian k against its own KDE point_sets[k] (shape (k, m, d), one width eps).

    The training sets of a batch of trials: when every Gaussian has the same rank, one stacked product.
    """
    k, m, d = point_sets.shape
    if len({g.rank for g in gaussians}) != 1:
        return np.array([log_gaussian_kde_overlaps([g], p, eps)[0] for g, p in zip(gaussians, point_sets)])
    iso = eps**2
    bases, shifts, consts, signs = _overlap_columns(gaussians, iso, d)
    r = gaussians[0].rank
    product = np.matmul(point_sets, np.concatenate([np.stack(bases), np.stack(shifts)[:, :, None]], axis=2))
    span = product[:, :, :r]
    half = np.einsum("kmr,kmr->km", span, span)
    half *= signs[0]
    half += 2.0 * product[:, :, r]
    if signs[0] > 0:
        half -= np.einsum("kmd,kmd->km", point_sets, point_sets) / iso
    half *= 0.5
    return log_sum_exp_columns(half, axis=1) - 0.5 * consts - np.log(m)
