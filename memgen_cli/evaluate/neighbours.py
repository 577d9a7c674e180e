"""Exact k-nearest-neighbour search of one set of vectors in another, and the memorization tests built on it.

Pure numpy. The search is the peers' brute force (a GEMM of the distance's cross term), done in chunks whose size
follows a memory budget: float32 GEMM over centred vectors proposes ``k + MARGIN`` candidates per query, and the
candidates are re-ranked with float64 distances computed directly (no cancellation). A query whose float32 ranking
could have missed a true neighbour (its k-th exact distance within float32's error of the first excluded candidate)
is searched again in float64, so the result is exact, not approximate.

Distances: ``l2`` (Euclidean) or ``cosine`` (1 - cos of the angle; rows normalised to unit length first, where
1 - cos = |a - b|² / 2).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

DISTANCES = ("l2", "cosine")
MARGIN = 16  # extra float32 candidates per query, re-ranked in float64
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def prepared(x: np.ndarray, distance: str, copy: bool = True) -> np.ndarray:
    """(count, d) float64 rows as the distance sees them: cosine normalises each row to unit length (a new array);
    l2 takes the rows as they are (a copy of its own unless ``copy=False``)."""
    flat = (np.array if copy else np.asarray)(x, dtype=np.float64).reshape(len(x), -1)
    if distance == "cosine":
        norms = np.linalg.norm(flat, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("cosine distance: a vector of all zeros has no direction")
        flat = flat / norms
    elif distance != "l2":
        raise ValueError(f"unknown distance {distance!r}; choose from {DISTANCES}")
    return flat


def _to_distance(sq: np.ndarray, distance: str) -> np.ndarray:
    sq = np.maximum(sq, 0.0)
    return sq / 2.0 if distance == "cosine" else np.sqrt(sq)


def chunk_rows(columns: int, dims: int, budget_bytes: float) -> int:
    """Query rows per chunk so that a chunk's float32 block of distances (and the float64 re-ranking of its
    candidates) fit ``budget_bytes``."""
    per_row = 4.0 * columns + 8.0 * (MARGIN + 64) * dims
    return int(max(1, min(65536, budget_bytes // max(per_row, 1.0))))


def _exact_sq(queries: np.ndarray, base: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """|q_i - base[rows[i, j]]|² in float64, (q, c), from the differences themselves (no cancellation)."""
    out = np.empty(rows.shape)
    for start in range(0, len(queries), 64):  # bounded (64, c, d) differences, made in place
        stop = start + 64
        diff = base[rows[start:stop]]
        diff -= queries[start:stop, None, :]
        out[start:stop] = np.einsum("qcd,qcd->qc", diff, diff)
    return out


def _by_distance(cand: np.ndarray, exact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by distance, equal distances by index: one order whatever found the candidates."""
    order = np.lexsort((cand, exact), axis=1)
    return np.take_along_axis(cand, order, 1), np.take_along_axis(exact, order, 1)


class SearchBase:
    """A set prepared once for any number of searches in it: its float64 rows as the distance sees them (for the
    exact re-ranking), and its float32 rows shifted by ``centre`` with their squared norms (for the candidates).
    ``centre``: default the set's mean; a shard of a larger set takes the whole set's, so that its distances are
    the whole search's to the last bit."""

    def __init__(self, base: np.ndarray, distance: str = "l2", centre: np.ndarray | None = None, rows: int = 4096):
        self.distance = distance
        self.rows = prepared(base, distance, copy=False)
        self.centre = self.rows.mean(axis=0) if centre is None else centre
        n, d = self.rows.shape
        self.rows32, self.sq64 = np.empty((n, d), dtype=np.float32), np.empty(n)
        for a in range(0, n, rows):  # block by block: no float64 copy of the whole set
            block = self.rows[a:a + rows] - self.centre
            self.rows32[a:a + rows] = block
            self.sq64[a:a + rows] = np.einsum("ij,ij->i", block, block)
        self.sq32 = self.sq64.astype(np.float32)
        self.sq_max = float(self.sq64.max()) if n else 0.0
        # float32 GEMM's rounding: ~sqrt(d) ulps of the magnitudes summed (2|q||b| <= |q|² + |b|²), with room
        self.gamma = (8.0 + 2.0 * np.sqrt(d)) * FLOAT32_EPS

    def __len__(self) -> int:
        return len(self.rows)


def nearest(queries: np.ndarray, base: np.ndarray | SearchBase, k: int, distance: str = "l2", *,
            exclude_self: bool = False, budget_bytes: float = 256e6, progress: Callable[[int], None] | None = None,
            centre: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of ``base`` to each row of ``queries``: (indices (m, k), distances (m, k)), nearest first
    (equal distances by index), exact in float64. ``base``: an array, or a SearchBase prepared once for several
    searches. ``exclude_self``: queries are base itself and a row is not its own neighbour. progress(rows) is called
    after each chunk of queries. ``centre``: see SearchBase."""
    index = base if isinstance(base, SearchBase) else SearchBase(base, distance, centre)
    q = prepared(queries, index.distance, copy=False)
    usable = len(index) - (1 if exclude_self else 0)
    if not 1 <= k <= usable:
        raise ValueError(f"nearest: k = {k} neighbours asked of a set of {usable}")
    b, c = index.rows, min(usable, k + MARGIN)
    step = chunk_rows(len(b), b.shape[1], budget_bytes)
    indices, distances = np.empty((len(q), k), dtype=np.int64), np.empty((len(q), k))
    for start in range(0, len(q), step):
        chunk = q[start:start + step]
        shifted = chunk - index.centre
        approx = (-2.0 * shifted).astype(np.float32) @ index.rows32.T  # |q|² is added later: the same along a row
        approx += index.sq32
        if exclude_self:
            approx[np.arange(len(chunk)), np.arange(start, start + len(chunk))] = np.inf
        cand = np.argpartition(approx, c - 1, axis=1)[:, :c] if c < approx.shape[1] else \
            np.broadcast_to(np.arange(approx.shape[1]), approx.shape).copy()
        cand, exact = _by_distance(cand, _exact_sq(chunk, b, cand))
        q_sq = np.einsum("ij,ij->i", shifted, shifted)
        bound = index.gamma * (q_sq + index.sq_max) + 1e-300
        if c < approx.shape[1]:
            cut = np.take_along_axis(approx, cand, 1).max(axis=1).astype(np.float64) + q_sq  # worst proposed one
            for row in np.flatnonzero(exact[:, k - 1] + 2 * bound >= cut):  # rare: the whole row in float64
                full = np.einsum("ij,ij->i", b - chunk[row], b - chunk[row])
                if exclude_self:
                    full[start + row] = np.inf
                top = np.argpartition(full, c - 1)[:c]
                found, sq = _by_distance(top[None, :], _exact_sq(chunk[row:row + 1], b, top[None, :]))
                cand[row], exact[row] = found[0], sq[0]
        indices[start:start + len(chunk)] = cand[:, :k]
        distances[start:start + len(chunk)] = _to_distance(exact[:, :k], index.distance)
        if progress is not None:
            progress(len(chunk))
    return indices, distances


def _shard_nearest(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    queries, shard, first, k, distance, centre, budget = args
    idx, dist = nearest(queries, shard, min(k, len(shard)), distance, centre=centre, budget_bytes=budget)
    return idx + first, dist


def merge_nearest(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each shard's top k (global indices, distances) -> the top k of all: by distance, equal ones by index."""
    idx, dist = np.concatenate([p[0] for p in parts], axis=1), np.concatenate([p[1] for p in parts], axis=1)
    idx, dist = _by_distance(idx, dist)
    return idx[:, :k], dist[:, :k]


def sharded_nearest(queries: np.ndarray, base: np.ndarray, k: int, distance: str = "l2", *, shards: int = 2,
                    map_fn: Callable = map, budget_bytes: float = 256e6) -> tuple[np.ndarray, np.ndarray]:
    """``nearest`` with the base split into ``shards`` row blocks searched by ``map_fn`` (``map``, or a Dask
    client's map on workers), each returning its top k, merged here: the same result as one search."""
    if not 1 <= k <= len(base):
        raise ValueError(f"nearest: k = {k} neighbours asked of a set of {len(base)}")
    centre = prepared(base, distance, copy=False).mean(axis=0)
    bounds = np.linspace(0, len(base), min(shards, len(base)) + 1).astype(int)
    jobs = [(queries, base[a:b], a, k, distance, centre, budget_bytes) for a, b in zip(bounds[:-1], bounds[1:])]
    return merge_nearest(list(map_fn(_shard_nearest, jobs)), k)


def ratios(distances: np.ndarray) -> np.ndarray:
    """NN1/NN2 distance ratio of each query from its sorted neighbour distances (m, >= 2); a query equal to two
    identical neighbours (0 / 0) counts as a copy (0), as imaging.metrics does."""
    d1, d2 = distances[:, 0], distances[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = d1 / d2
    return np.where(d2 == 0, 0.0, r)


def calibrated_distances(distances: np.ndarray) -> np.ndarray:
    """Carlini et al.'s calibrated distance of each query: its nearest distance over the mean distance to its
    nearest neighbours (all columns of ``distances``, at most 50); small for a copy of an image that is not
    itself in a dense cluster."""
    mean = distances.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = distances[:, 0] / mean
    return np.where(mean == 0, 0.0, out)


def near_duplicate_pairs(indices: np.ndarray, distances: np.ndarray, threshold: float) -> np.ndarray:
    """(pairs, 2) index pairs (i < j) of a set searched against itself (``exclude_self``) where i's nearest
    other image j is nearer than ``threshold`` times its second nearest: the 1/3 rule applied inside the set."""
    close = np.flatnonzero(ratios(distances) < threshold)
    pairs = np.sort(np.stack([close, indices[close, 0]], axis=1), axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def duplicates_to_drop(pairs: np.ndarray) -> np.ndarray:
    """Rows to drop so that no listed pair keeps both of its images: the later index of each pair whose earlier
    one is kept, in index order (deterministic)."""
    dropped: set[int] = set()
    for i, j in sorted(map(tuple, pairs.tolist())):
        if i not in dropped and j not in dropped:
            dropped.add(j)
    return np.array(sorted(dropped), dtype=np.int64)
