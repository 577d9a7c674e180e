"""What `memgen evaluate` computes for one set of samples once its neighbours are found: pure numpy on arrays.

- the memorized fraction (NN1/NN2 ratio < 1/3) with a percentile-bootstrap interval over samples, and its curve
  against the threshold;
- the paper's Δ = E_TG - E_OG between Gaussian KDEs of one common width (samples, training set, held-out set as
  the original set), in log space, and P(Δ > 0) over bootstrap resamples of the samples. Only the samples' cross
  terms depend on the resample (Δ = ∫ρ_T² - ∫ρ_O² - 2∫ρ_Gρ_T + 2∫ρ_Gρ_O: ∫ρ_G² cancels), so a resample reweights
  one precomputed term per sample.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from memgen_cli.imaging.metrics import MEMORIZATION_RATIO
from memgen_cli.kde import log_kde_self_overlap, log_l2_distance, signed_log_sum

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95, the threshold curve
LOG2 = float(np.log(2.0))


def bootstrap_rows(rng: np.random.Generator, count: int, resamples: int) -> np.ndarray:
    """(resamples, count) row indices drawn with replacement: one draw shared by every statistic of a set."""
    return rng.integers(0, count, size=(resamples, count))


def fraction_below(ratios: np.ndarray, threshold: float, rows: np.ndarray) -> tuple[float, float, float]:
    """(fraction of ratios < threshold, its 95% percentile interval over the resampled ``rows``)."""
    below = (ratios < threshold).astype(float)
    lo, hi = np.quantile(below[rows].mean(axis=1), [0.025, 0.975])
    return float(below.mean()), float(lo), float(hi)


def threshold_curve(ratios: np.ndarray, rows: np.ndarray, thresholds=THRESHOLDS) -> list[dict]:
    """The memorized fraction at each threshold, with its interval (one resample draw for all thresholds)."""
    return [dict(zip(("threshold", "fraction", "lo", "hi"), (t, *fraction_below(ratios, t, rows))))
            for t in thresholds]


def common_width(sigma: float, m: int, d: int) -> float:
    """One kernel width for the samples', training and held-out KDEs: the L²-optimal normal-reference rule at the
    sample count M in d dimensions (kde_bandwidth's "rosenblatt"), as the image models' ``bandwidth: common``."""
    return float((4.0 / (d + 2)) ** (1.0 / (d + 4)) * sigma * m ** (-1.0 / (d + 4)))


def log_cross_terms(points: np.ndarray, others: np.ndarray, eps: float, rows: int = 512) -> np.ndarray:
    """(m,): ln ∫ N(·|x_i, eps²) ρ_other = ln mean_j N(x_i | y_j, 2 eps² I), for each row x_i of ``points``."""
    d = points.shape[1]
    centre = others.mean(axis=0)
    x, y = points - centre, others - centre
    y_sq = np.einsum("ij,ij->i", y, y)
    out = np.empty(len(x))
    scale = 0.25 / eps**2
    for start in range(0, len(x), rows):
        chunk = x[start:start + rows]
        sq = np.einsum("ij,ij->i", chunk, chunk)[:, None] + y_sq[None, :] - 2.0 * chunk @ y.T
        out[start:start + rows] = logsumexp(-scale * np.maximum(sq, 0.0), axis=1)
    return out - np.log(len(y)) - 0.5 * d * np.log(4.0 * np.pi * eps**2)


def kde_delta(samples: np.ndarray, train: np.ndarray, original: np.ndarray, eps: float,
              rows: np.ndarray | None = None, self_terms: tuple[float, float] | None = None) -> dict:
    """E_TG, E_OG (natural logs), the sign of Δ and, over resampled ``rows``, the fraction of Δ > 0.
    ``self_terms``: ln ∫ρ_T² and ln ∫ρ_O² when already computed (the references share the samples')."""
    log_tt, log_oo = self_terms or (log_kde_self_overlap(train, eps), log_kde_self_overlap(original, eps))
    log_gg = log_kde_self_overlap(samples, eps)
    per_t, per_o = log_cross_terms(samples, train, eps), log_cross_terms(samples, original, eps)
    m = len(samples)
    log_gt, log_go = logsumexp(per_t) - np.log(m), logsumexp(per_o) - np.log(m)
    signs = [1, -1, -1, 1]
    log_abs, sign = signed_log_sum([log_tt, log_oo, LOG2 + log_gt, LOG2 + log_go], signs)
    out = {"log_E_TG": log_l2_distance(log_gg, log_gt, log_tt), "log_E_OG": log_l2_distance(log_gg, log_go, log_oo),
           "delta_sign": sign, "log_abs_delta": log_abs, "delta_positive": int(sign > 0),
           "self_terms": (log_tt, log_oo)}
    if rows is not None:
        positive = 0
        for draw in rows:  # a resample: each sample's cross terms weighted by how often it was drawn
            gt, go = logsumexp(per_t[draw]) - np.log(m), logsumexp(per_o[draw]) - np.log(m)
            positive += signed_log_sum([log_tt, log_oo, LOG2 + gt, LOG2 + go], signs)[1] > 0
        out["delta_positive_resampled"] = positive / len(rows)
    return out


def memorized(ratios: np.ndarray, rows: np.ndarray, threshold: float = MEMORIZATION_RATIO) -> dict:
    """The memorized fraction's columns, named as the image models name them."""
    fraction, lo, hi = fraction_below(ratios, threshold, rows)
    return {"memorized_fraction": fraction, "memorized_lo": lo, "memorized_hi": hi}
