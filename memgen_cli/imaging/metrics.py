"""Distances between generated, training and original image sets (numpy only, vectorised).

All inputs are 2-D arrays (count, d) on one pixel scale ([0, 1] pixel units).

The paper's per-pixel metric (eqs. 23-24): for a set X of m images and pixel i,
``rho_X,i(x) = (1/m) sum_k N(x | X[k, i], eps_X^2)`` with ``eps_X = sigma / m``, and
``E_XG = sum_i integral (rho_X,i - rho_G,i)^2 dx``; ``Delta = E_TG - E_OG``.

* ``pixel_kde_distances_exact``: the integral in closed form, using
  ``integral N(x|a, A) N(x|b, B) dx = N(a | b, A + B)`` (one dimension).
* ``pixel_kde_distances_grid``: the published evaluation, a sum over 16 equidistant points in (0, 1) per pixel
  (here the midpoints (k + 1/2)/16, times the spacing 1/16: a midpoint Riemann sum of the integral).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

# Gaussian terms beyond this many kernel std devs are below exp(-24.5) ~ 2e-11 of the peak: dropped. Relative
# to the whole per-pixel sum that is far below any Delta worth a sign; it keeps the large-set work linear.
_CUTOFF_SIGMAS = 7.0
# Elements per temporary array in chunked computations (~32 MB of float64).
_CHUNK_ELEMENTS = 1 << 22


def pixel_bandwidth(sigma: float, m: int) -> float:
    """The paper's per-pixel KDE bandwidth for a set of m samples: eps = sigma / m (eq. 24)."""
    return sigma / m


# --------------------------------------------------------------------------------------------------------------
# Gaussian sums per pixel


def _gauss_sums_dense(queries: np.ndarray, values: np.ndarray, s: float) -> np.ndarray:
    """(Q, d): sum over rows l of exp(-(queries[q, i] - values[l, i])^2 / (2 s^2)); chunked over rows of values."""
    q_count, d = queries.shape
    out = np.zeros((q_count, d))
    rows = max(1, _CHUNK_ELEMENTS // max(1, q_count * d))
    scale = -0.5 / (s * s)
    for start in range(0, values.shape[0], rows):  # loop over chunks, vectorised within
        diff = queries[:, None, :] - values[None, start:start + rows, :]
        np.square(diff, out=diff)
        diff *= scale
        np.exp(diff, out=diff)
        out += diff.sum(axis=1)
    return out


def _gauss_sums_windowed(queries: np.ndarray, sorted_rows: np.ndarray, s: float) -> np.ndarray:
    """As ``_gauss_sums_dense`` but only over values within the cutoff of each query; ``sorted_rows`` is
    (d, m), each pixel's values sorted (``_sorted_pixel_rows``).

    Pays off when the kernel is narrow next to the spread of the values (large sets, eps = sigma / m).
    """
    q_count, d = queries.shape
    cutoff = _CUTOFF_SIGMAS * s
    lo_all = min(queries.min(), sorted_rows.min())
    span = max(queries.max(), sorted_rows.max()) - lo_all + 4 * cutoff + 1.0
    # Shift pixel i by i * span so one global searchsorted finds every per-pixel window.
    offsets = np.arange(d) * span - lo_all
    keys = (sorted_rows + offsets[:, None]).ravel()  # pixel i occupies [i m, (i + 1) m)
    flat_values = sorted_rows.ravel()
    q_keys = (queries + offsets).ravel()
    q_flat = queries.ravel()
    lo = np.searchsorted(keys, q_keys - cutoff, side="left")
    hi = np.searchsorted(keys, q_keys + cutoff, side="right")
    counts = hi - lo
    sums = np.zeros(q_flat.size)
    # Chunk the ragged (query, value) pairs so no temporary exceeds ~_CHUNK_ELEMENTS.
    ends = np.cumsum(counts)
    bounds = np.unique(np.concatenate([[0], np.searchsorted(ends, np.arange(1, ends[-1] // _CHUNK_ELEMENTS + 1)
                                                            * _CHUNK_ELEMENTS, side="right"), [q_flat.size]]))
    scale = -0.5 / (s * s)
    for a, b in itertools.pairwise(bounds):
        c = counts[a:b]
        total = int(c.sum())
        if total == 0:
            continue
        owner = np.repeat(np.arange(b - a), c)
        pos = np.arange(total) - np.repeat(np.cumsum(c) - c, c) + np.repeat(lo[a:b], c)
        diff = flat_values[pos] - q_flat[a:b][owner]
        sums[a:b] = np.bincount(owner, weights=np.exp(scale * diff * diff), minlength=b - a)
    return sums.reshape(q_count, d)


def _gauss_sums(queries: np.ndarray, values: np.ndarray, s: float) -> np.ndarray:
    """Per-pixel Gaussian sums of ``values`` at ``queries``; picks the cheaper exact strategy."""
    dense_pairs = queries.shape[0] * values.shape[0]
    if dense_pairs <= 4096:
        return _gauss_sums_dense(queries, values, s)
    # A window of +-cutoff holds a good share of the values when it is wide next to their spread: then the
    # dense loop is cheaper than gathering ragged windows (and needs no sort).
    if 2 * _CUTOFF_SIGMAS * s > 0.5 * float(np.mean(values.std(axis=0))):
        return _gauss_sums_dense(queries, values, s)
    return _gauss_sums_windowed(queries, _sorted_pixel_rows(values), s)


def _sorted_pixel_rows(values: np.ndarray) -> np.ndarray:
    """(d, m): each pixel's values, sorted. Sorting contiguous rows in place is several times faster than
    sorting the columns of the (m, d) array."""
    rows = np.ascontiguousarray(values.T)
    rows.sort(axis=1)
    return rows


# Values per block of pixels in the pair-sum loop: bounds the temporaries (16 MB each).
_BLOCK_VALUES = 1 << 21


def _off_diagonal_pair_sums(values: np.ndarray, s: float) -> np.ndarray:
    """(d,): sum over pairs k != l of exp(-(values[k, i] - values[l, i])^2 / (2 s^2)), per pixel i.

    Sort each pixel's values; a pair (k, k + j) of sorted values whose gap exceeds the cutoff has all its
    successors (k, k + j + 1) beyond it too, so shift j only revisits the pairs still inside: the work is the
    number of pairs inside the cutoff, not m^2.
    """
    m, d = values.shape
    total = np.zeros(d)
    if m < 2:
        return total
    rows = _sorted_pixel_rows(values)
    cutoff = _CUTOFF_SIGMAS * s
    scale = -0.5 / (s * s)
    per_block = max(1, _BLOCK_VALUES // m)
    for b0 in range(0, d, per_block):  # blocks of pixels, vectorised within
        block = rows[b0:b0 + per_block]
        b = block.shape[0]
        shift = 1
        # While most shifted pairs are still inside, whole-array slices beat index arrays.
        while shift < m:
            gaps = block[:, shift:] - block[:, :-shift]
            inside = gaps <= cutoff
            total[b0:b0 + b] += np.where(inside, np.exp(scale * gaps * gaps), 0.0).sum(axis=1)
            shift += 1
            if inside.mean() < 0.5:
                break
        # Then follow only the pairs still inside: flat index k of (b, m - shift + 1) gaps -> row k // width.
        width = m - (shift - 1)
        active = np.flatnonzero(inside)
        row, col = active // width, active % width  # pair (col, col + shift - 1) of pixel row
        flat = block.ravel()
        while active.size and shift < m:
            keep = col + shift < m
            row, col = row[keep], col[keep]
            base = row * m + col
            gaps = flat[base + shift] - flat[base]
            inside = gaps <= cutoff
            row, col, gaps = row[inside], col[inside], gaps[inside]
            total[b0:b0 + b] += np.bincount(row, weights=np.exp(scale * gaps * gaps), minlength=b)
            active = row
            shift += 1
    return 2.0 * total  # each unordered pair counted for (k, l) and (l, k)


def _normal_density_at_zero(var: float) -> float:
    return 1.0 / np.sqrt(2.0 * np.pi * var)


# --------------------------------------------------------------------------------------------------------------
# The paper's per-pixel metric


@dataclass(frozen=True)
class PixelKDE:
    """One set's per-pixel KDEs (width eps in every pixel) with the parts of its self-overlap, computed once and
    used against every generated set measured against it (the model's and the references')."""

    points: np.ndarray  # (m, d)
    eps: float
    diagonal: float  # (1/m²) m N(0 | 0, 2 eps²): the same in every pixel
    pairs: float  # Σ_i (1/m²) Σ_{k≠l} N(x_ki | x_li, 2 eps²), summed over pixels


class PixelSums:
    """The two Gaussian sums of the exact per-pixel metric, already scaled and summed over pixels (numpy here;
    unet.device_metrics has the same on a torch device)."""

    @staticmethod
    def self_pairs(x: np.ndarray, eps: float) -> float:
        var = 2 * eps * eps
        return float((_off_diagonal_pair_sums(x, np.sqrt(var)) * _normal_density_at_zero(var) / len(x) ** 2).sum())

    @staticmethod
    def cross(x: np.ndarray, eps_x: float, y: np.ndarray, eps_y: float) -> float:
        """Σ_i ∫ρ_X,i ρ_Y,i."""
        var = eps_x * eps_x + eps_y * eps_y
        sums = _gauss_sums(x, y, np.sqrt(var))  # (m_x, d)
        return float((sums.sum(axis=0) * _normal_density_at_zero(var) / (len(x) * len(y))).sum())


def pixel_kde(points: np.ndarray, eps: float, sums=PixelSums) -> PixelKDE:
    """A set's per-pixel KDE and its self-overlap parts (``sums``: PixelSums, or a device's)."""
    x = _as_2d(points)
    return PixelKDE(x, eps, _normal_density_at_zero(2 * eps * eps) / len(x), sums.self_pairs(x, eps))


def pixel_kde_distances(g: PixelKDE, t: PixelKDE, o: PixelKDE, sums=PixelSums) -> dict:
    """E_TG, E_OG and Delta from three prepared sets. ``Delta`` is assembled from its parts so the large diagonal
    terms (equal for T and O when eps = sigma / m) cancel exactly, not after rounding."""
    d = g.points.shape[1]
    tg, og = sums.cross(g.points, g.eps, t.points, t.eps), sums.cross(g.points, g.eps, o.points, o.eps)
    self_g = d * g.diagonal + g.pairs
    e_tg = self_g + d * t.diagonal + t.pairs - 2 * tg
    e_og = self_g + d * o.diagonal + o.pairs - 2 * og
    delta = d * (t.diagonal - o.diagonal) + (t.pairs - o.pairs) - 2 * (tg - og)
    return {"E_TG": float(e_tg), "E_OG": float(e_og), "Delta": float(delta)}


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[0], -1)


def pixel_kde_distances_exact(generated, train, original, sigma: float, eps_generated: float | None = None,
                              eps_train: float | None = None, eps_original: float | None = None) -> dict:
    """The paper's per-pixel E_TG, E_OG and Delta (eqs. 23-24), integrals in closed form.

    Bandwidths default to eps = sigma / m for each set of m images (``pixel_kde_distances`` for the parts).
    """
    g, t, o = _as_2d(generated), _as_2d(train), _as_2d(original)
    return pixel_kde_distances(pixel_kde(g, eps_generated or pixel_bandwidth(sigma, len(g))),
                               pixel_kde(t, eps_train or pixel_bandwidth(sigma, len(t))),
                               pixel_kde(o, eps_original or pixel_bandwidth(sigma, len(o))))


def grid_points(points: int = 16) -> np.ndarray:
    """``points`` equidistant points in (0, 1): the cell midpoints (k + 1/2) / points."""
    return (np.arange(points) + 0.5) / points


def pixel_kde_densities_on_grid(x: np.ndarray, eps: float, grid: np.ndarray) -> np.ndarray:
    """(len(grid), d): rho_X,i evaluated at every grid point for every pixel i."""
    x = _as_2d(x)
    queries = np.broadcast_to(grid[:, None], (grid.size, x.shape[1]))
    return _gauss_sums(np.ascontiguousarray(queries), x, eps) * _normal_density_at_zero(eps * eps) / len(x)


def pixel_kde_distances_grid(generated, train, original, sigma: float, points: int = 16,
                             eps_generated: float | None = None, eps_train: float | None = None,
                             eps_original: float | None = None) -> dict:
    """The paper's per-pixel metric as published: the integral as a sum over ``points`` equidistant points in
    (0, 1) per pixel (midpoint rule, weight 1/points). Coarse when eps is far below 1/points: kept for fidelity."""
    g, t, o = _as_2d(generated), _as_2d(train), _as_2d(original)
    grid = grid_points(points)
    rho_g = pixel_kde_densities_on_grid(g, eps_generated or pixel_bandwidth(sigma, len(g)), grid)
    rho_t = pixel_kde_densities_on_grid(t, eps_train or pixel_bandwidth(sigma, len(t)), grid)
    rho_o = pixel_kde_densities_on_grid(o, eps_original or pixel_bandwidth(sigma, len(o)), grid)
    e_tg = float(np.sum((rho_t - rho_g) ** 2) / points)
    e_og = float(np.sum((rho_o - rho_g) ** 2) / points)
    return {"E_TG": e_tg, "E_OG": e_og, "Delta": e_tg - e_og}


# --------------------------------------------------------------------------------------------------------------
# Nearest-neighbour memorization test


MEMORIZATION_RATIO = 1.0 / 3.0


def nearest_neighbour_ratios(generated, train) -> np.ndarray:
    """(m,): |x - NN1(x)| / |x - NN2(x)| for each generated x, NN1 and NN2 its two nearest training images."""
    g, t = _as_2d(generated), _as_2d(train)
    if len(t) < 2:
        raise ValueError("the nearest-neighbour ratio needs at least 2 training images")
    # Candidates via the Gram expansion, then exact distances for the two chosen (no cancellation error there).
    sq = (g * g).sum(1)[:, None] + (t * t).sum(1)[None, :] - 2.0 * g @ t.T
    two = np.argpartition(sq, 1, axis=1)[:, :2]
    exact = np.sqrt(((g[:, None, :] - t[two]) ** 2).sum(-1))
    exact.sort(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = exact[:, 0] / exact[:, 1]
    return np.where(exact[:, 1] == 0, 0.0, ratio)  # x equal to two identical training images: a copy


def memorized_fraction(generated, train, rng: np.random.Generator, resamples: int = 1000,
                       threshold: float = MEMORIZATION_RATIO, ratios: np.ndarray | None = None) -> dict:
    """Fraction of generated images with NN ratio < threshold, and a percentile-bootstrap 95% interval.

    ratios: the nearest-neighbour ratios when already computed (on a GPU: device_metrics)."""
    if ratios is None:
        ratios = nearest_neighbour_ratios(generated, train)
    memorized = (ratios < threshold).astype(float)
    boot = memorized[rng.integers(0, memorized.size, size=(resamples, memorized.size))].mean(axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return {"memorized_fraction": float(memorized.mean()), "memorized_lo": float(lo), "memorized_hi": float(hi)}
