"""Pair sums ln Σ exp(-scale |a_i - b_j|²) over two point sets, or over i < j of one: the KDE self terms.

At m = 10^4 points a pair sum has 10^8 terms, each an exponential of a squared distance. The tiled path
(tiled_log_pair_sum) bounds memory by one cache-sized tile; the earlier full-width strips
(log_pair_sum_strips) stay as its reference: same terms, summed in another order.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import logsumexp

BLOCK_ROWS = 1024  # rows of a strip in the earlier pair sums: memory BLOCK x m floats
TILE = 256  # side of a pair-sum tile: 512 KiB of float64 (cache-sized), reused for every tile


def sq_norms(points: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", points, points)


@lru_cache(maxsize=8)
def _on_or_below_diagonal(t: int) -> np.ndarray:
    """i >= j within a diagonal tile (built once: the small trials call the pair sum thousands of times)."""
    return ~np.triu(np.ones((t, t), dtype=bool), k=1)


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


def tiled_log_pair_sum(a: np.ndarray, sq_a: np.ndarray, b: np.ndarray, sq_b: np.ndarray, scale: float,
                       upper: bool) -> float:
    """ln Σ exp(-scale |a_i - b_j|²) over every (i, j), or over j > i only when upper (b is a).

    Cache-sized tiles (at most TILE × TILE, rows balanced across a's tiles) reuse one buffer: memory is
    bounded by the tile, whatever m. One product of augmented points gives a tile's exponents directly,
    [2s·a, -s|a|², 1] · [b, 1, -s|b|²] = -s (|a|² + |b|² - 2 a·b), so no pass over the tile adds norms or
    scales; then max, shift, exp and sum. The strips also clipped the distances at 0: a clip moves an
    exponent only by rounding (a distance of -1e-15 instead of 0), so the tiles skip that pass too. Each
    tile is shifted by its own max, and the tiles' (max, sum) pairs are combined at the end.
    """
    ma, mb = a.shape[0], b.shape[0]
    t = -(-ma // -(-ma // TILE))  # balanced: m = 300 makes 150-row tiles (3 of them), not 256 + 44 (3 of 256²)
    wide = t if upper else TILE
    left = np.column_stack([(2.0 * scale) * a, -scale * sq_a, np.ones(ma)])
    right = np.column_stack([b, np.ones(mb), -scale * sq_b]).T.copy()
    buf = np.empty(t * min(max(wide, t), max(mb, t)))
    lower = _on_or_below_diagonal(t) if upper else None
    tops, sums = [], []
    for i0 in range(0, ma, t):
        i1 = min(i0 + t, ma)
        for j0 in range(i0 if upper else 0, mb, wide):
            j1 = min(j0 + wide, mb)
            tile = buf[:(i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)
            np.matmul(left[i0:i1], right[:, j0:j1], out=tile)
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
    # the tiles' (max, sum) pairs: Σ sum_t exp(max_t - top), in plain floats (few tiles: numpy calls cost more)
    top = max(tops)
    return float(top + math.log(math.fsum(total * math.exp(t - top) for t, total in zip(tops, sums))))


def stacked_upper_log_pair_sums(points: np.ndarray, sq: np.ndarray, scale: float) -> np.ndarray:
    """``tiled_log_pair_sum(a, sq_a, a, sq_a, scale, upper=True)`` for every set a = points[k] of a stack (k, m, d),
    m <= TILE: each set is one tile there, so the same arithmetic on a stack gives the same values (the training
    sets of a task's trials: one call instead of one per trial)."""
    k, m, _ = points.shape
    if not 2 <= m <= TILE:
        raise ValueError(f"stacked pair sums take sets of 2 to {TILE} points, not {m}")
    left = np.concatenate([(2.0 * scale) * points, -scale * sq[:, :, None], np.ones((k, m, 1))], axis=2)
    right = np.swapaxes(np.concatenate([points, np.ones((k, m, 1)), -scale * sq[:, :, None]], axis=2), 1, 2).copy()
    tiles = np.matmul(left, right)
    tiles[:, _on_or_below_diagonal(m)] = -np.inf
    flat = tiles.reshape(k, m * m)
    top = flat.max(axis=1)
    flat -= top[:, None]
    np.exp(flat, out=flat)
    return np.array([t + math.log(total) for t, total in zip(top, flat.sum(axis=1))])  # math.log, as the tiles


def log_pair_sum_strips(a: np.ndarray, b: np.ndarray | None, scale: float) -> float:
    """The earlier path, the tiles' reference: 1024-row strips of full width. b = None sums j > i of a."""
    if b is None:
        sq = sq_norms(a)
        block_logs = []
        for start in range(0, a.shape[0] - 1, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, a.shape[0])
            expo = _scaled_sq_distances(a[start:stop], sq[start:stop], a[start:], sq[start:], scale)
            expo[np.tril_indices(stop - start)] = -np.inf  # keep j > i only (the square part holds i, j < stop)
            block_logs.append(_logsumexp_inplace(expo))
        return float(logsumexp(block_logs)) if block_logs else -np.inf
    sq_a, sq_b = sq_norms(a), sq_norms(b)
    return float(logsumexp([_logsumexp_inplace(_scaled_sq_distances(a[s:s + BLOCK_ROWS], sq_a[s:s + BLOCK_ROWS],
                                                                    b, sq_b, scale))
                            for s in range(0, a.shape[0], BLOCK_ROWS)]))
