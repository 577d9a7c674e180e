"""The evaluation's heavy metrics in torch, on the simulation's device (a GPU when there is one).

The same definitions and the same exact strategies as ``metrics.py`` (numpy), in float64 throughout: the
per-pixel KDE distances against N = 10^5 originals (pair sums over sorted pixel values, windowed to the
kernel's reach) and the nearest-neighbour ratios. ``simulation.evaluate`` takes these when the device is CUDA;
on CPU it keeps the numpy path. tests/test_unet_device_metrics.py checks both agree (to rounding) on CPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from memgen_cli.imaging.metrics import _CUTOFF_SIGMAS, pixel_bandwidth

_CHUNK_ELEMENTS = 1 << 24  # elements per temporary (128 MB of float64)


def _as_tensor(x, device) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64, device=device)
    return x.reshape(x.shape[0], -1)


def _normal_density_at_zero(var: float) -> float:
    return 1.0 / math.sqrt(2.0 * math.pi * var)


def _pair_sums(values: torch.Tensor, s: float) -> torch.Tensor:
    """(d,): Σ_{k≠l} exp(-(v_k,i - v_l,i)² / 2s²) per pixel i, over pairs within the cutoff (metrics.py's rule).

    Each pixel's values sorted; shift j adds the pairs (k, k + j); once no pair of any pixel is within the
    cutoff at shift j, none is at larger shifts.
    """
    m, d = values.shape
    total = torch.zeros(d, dtype=torch.float64, device=values.device)
    rows = torch.sort(values.T.contiguous(), dim=1).values
    cutoff, scale = _CUTOFF_SIGMAS * s, -0.5 / (s * s)
    for shift in range(1, m):
        gaps = rows[:, shift:] - rows[:, :-shift]
        inside = gaps <= cutoff
        if not bool(inside.any()):
            break
        total += torch.where(inside, torch.exp(scale * gaps * gaps), 0.0).sum(dim=1)
    return 2.0 * total


def _cross_sums(queries: torch.Tensor, values: torch.Tensor, s: float) -> torch.Tensor:
    """(d,): Σ_q Σ_l exp(-(q_q,i - v_l,i)² / 2s²) per pixel, over the values within the cutoff of each query.

    Per pixel: the values sorted, each query's window found by searchsorted, then the windows walked in step
    (offset j of every window at once), so the work is the pairs inside the cutoff.
    """
    q_count, d = queries.shape
    rows = torch.sort(values.T.contiguous(), dim=1).values  # (d, m)
    cutoff, scale = _CUTOFF_SIGMAS * s, -0.5 / (s * s)
    total = torch.zeros(d, dtype=torch.float64, device=values.device)
    per_chunk = max(1, _CHUNK_ELEMENTS // max(1, d * 64))
    for q0 in range(0, q_count, per_chunk):
        q = queries[q0:q0 + per_chunk].T.contiguous()  # (d, Q)
        lo = torch.searchsorted(rows, q - cutoff, side="left")
        hi = torch.searchsorted(rows, q + cutoff, side="right")
        width = int((hi - lo).max()) if q.numel() else 0
        for j in range(width):
            idx = lo + j
            valid = idx < hi
            v = torch.gather(rows, 1, idx.clamp(max=rows.shape[1] - 1))
            diff = v - q
            total += torch.where(valid, torch.exp(scale * diff * diff), 0.0).sum(dim=1)
    return total


class TorchPixelSums:
    """``metrics.PixelSums`` in float64 torch on ``device``: the exact per-pixel metric's two Gaussian sums, scaled
    and summed over pixels (``metrics.pixel_kde`` and ``metrics.pixel_kde_distances`` take it as ``sums``)."""

    def __init__(self, device: str):
        self.device = device

    def self_pairs(self, x, eps: float) -> float:
        var = 2 * eps * eps
        values = _as_tensor(x, self.device)
        return float(_pair_sums(values, math.sqrt(var)).sum()) * _normal_density_at_zero(var) / values.shape[0] ** 2

    def cross(self, x, eps_x: float, y, eps_y: float) -> float:
        var = eps_x * eps_x + eps_y * eps_y
        a, b = _as_tensor(x, self.device), _as_tensor(y, self.device)
        return (float(_cross_sums(a, b, math.sqrt(var)).sum()) * _normal_density_at_zero(var)
                / (a.shape[0] * b.shape[0]))


def pixel_kde_distances_exact(generated, train, original, sigma: float, device: str) -> dict:
    """``metrics.pixel_kde_distances_exact`` (eps = sigma / m per set) in float64 torch on ``device``."""
    from memgen_cli.imaging.metrics import pixel_kde, pixel_kde_distances

    sums = TorchPixelSums(device)
    sets = [pixel_kde(x, pixel_bandwidth(sigma, len(x)), sums) for x in (generated, train, original)]
    return pixel_kde_distances(*sets, sums)


def nearest_neighbour_ratios(generated, train, device: str) -> np.ndarray:
    """``metrics.nearest_neighbour_ratios`` on ``device``: candidates from a Gram product, exact distances for
    the two chosen, in float64."""
    g, t = _as_tensor(generated, device), _as_tensor(train, device)
    if t.shape[0] < 2:
        raise ValueError("the nearest-neighbour ratio needs at least 2 training images")
    t_sq = (t * t).sum(1)
    out = []
    rows = max(1, _CHUNK_ELEMENTS // max(1, t.shape[0]))
    for r0 in range(0, g.shape[0], rows):
        block = g[r0:r0 + rows]
        sq = (block * block).sum(1)[:, None] + t_sq[None, :] - 2.0 * block @ t.T
        two = torch.topk(sq, 2, dim=1, largest=False).indices
        exact = torch.sqrt(((block[:, None, :] - t[two]) ** 2).sum(-1))
        exact = torch.sort(exact, dim=1).values
        ratio = torch.where(exact[:, 1] == 0, torch.zeros_like(exact[:, 0]), exact[:, 0] / exact[:, 1])
        out.append(ratio)
    return torch.cat(out).cpu().numpy()
