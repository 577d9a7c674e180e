"""The sequential search for n* as pure math: counts in, decisions out (no pandas, files or configs).

n* is where P (the probability of a trial's 0/1 outcome, e.g. Δ > 0) first crosses 0.5 upwards, in log n.
The search (docs/analysis.md, "Locating n* directly"):

1. scan: a few sizes, geometric between n_min and n_max; the first upward crossing of their pooled P (the
   rule `memgen analyze` uses, ``statistics.estimators.first_upward_crossings``) brackets n* between two of them;
   the bracket's two ends get a second batch (they were chosen by their own noise) and it is read again;
2. in the window of the bracket and one scan size on either side, while a logistic fit of P against log n
   is not possible (too few points, separated data, or a fit that says less than the window): bisection
   in log n between the sampled sizes around the window's first upward crossing;
3. then a logistic fit by maximum likelihood, P = 1 / (1 + exp(-(log n - mu) / s)); log n* = mu with a
   95% Wald interval (delta method). Its half-width is the larger of the model's (normal quantile) and a
   cluster-robust one (sandwich over original sets, or over trials without sets; Student t with
   clusters - 1 degrees of freedom), so the interval covers the draw of the original sets as well;
   the next batches go to mu + c s (c cycling through 0, -1/2, 0, +1/2), where they narrow it most;
4. stop once exp(half-width) - 1 <= the requested relative width (after MIN_FIT_BATCHES fitted batches),
   or at the trial budget.

Every decision depends only on the counts given, so rerunning it on stored trials repeats it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from memgen_cli.statistics.estimators import ABOVE_AT_START, CROSSED, LEVEL, NOT_REACHED, first_upward_crossings

Z95 = float(norm.ppf(0.975))
OFFSETS = (0.0, -0.5, 0.0, 0.5)  # where refinement batches go, in units of the fitted scale s around mu
MIN_FIT_BATCHES = 4  # batches placed by the fit before the interval may stop the search (see docs/analysis.md)
MAX_ITER = 60
SEPARATED = 500.0  # |slope| x (window's log-n span) beyond this: separated data (no finite fit)

# status of a combination (nstar.csv's status column)
CONVERGED = "converged"
BUDGET = "budget exhausted"
SEARCHING = "searching"
NO_CROSSING = "no crossing below n_max"
ABOVE_AT_MIN = "above 0.5 at n_min"


@dataclass(frozen=True)
class Counts:
    """Outcomes of one combination: per (n, cluster) cell, successes k out of m (k may be fractional)."""

    n: np.ndarray  # int sizes
    cluster: np.ndarray  # original set (or trial) of each cell; -1 when unknown
    k: np.ndarray
    m: np.ndarray

    def pooled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(distinct n ascending, successes, trials) summed over clusters."""
        sizes, inverse = np.unique(self.n, return_inverse=True)
        return sizes, np.bincount(inverse, self.k, len(sizes)), np.bincount(inverse, self.m, len(sizes))

    def within(self, lo: float, hi: float) -> Counts:
        keep = (self.n >= lo) & (self.n <= hi)
        return Counts(self.n[keep], self.cluster[keep], self.k[keep], self.m[keep])

    @property
    def trials(self) -> int:
        return int(round(float(self.m.sum())))


@dataclass(frozen=True)
class LogisticFit:
    mu: float  # log n where P = 0.5
    scale: float  # s: log n from P = 0.5 to P = 0.73
    half_width: float  # 95% half-width of mu (the larger of the model's and the cluster-robust one)
    se_model: float
    se_cluster: float  # NaN with fewer than two clusters


def scan_sizes(n_min: int, n_max: int, count: int) -> list[int]:
    """count sizes geometric from n_min to n_max, rounded, each once."""
    values = np.geomspace(n_min, n_max, count) if count > 1 else np.array([n_min])
    return list(dict.fromkeys(int(round(v)) for v in values))


def first_bracket(sizes: np.ndarray, p: np.ndarray) -> tuple[str, int]:
    """(status, i): the first upward crossing of 0.5 lies between sizes[i] and sizes[i + 1]."""
    crossing = first_upward_crossings(np.log(sizes.astype(float)), p[None, :], LEVEL)
    status = str(crossing.status[0])
    if status != CROSSED:
        return status, -1
    above = (p[:-1] <= LEVEL) & (p[1:] > LEVEL)
    return status, int(np.argmax(above))


def fit_logistic(counts: Counts) -> LogisticFit | None:
    """Maximum-likelihood logistic fit of P against log n (Newton steps); None when it has no rising,
    finite answer: fewer than two sizes, separated data, a slope <= 0, or no convergence."""
    x = np.log(counts.n.astype(float))
    k, m = counts.k.astype(float), counts.m.astype(float)
    if len(np.unique(x)) < 2 or m.sum() <= 0:
        return None
    span = float(x.max() - x.min())
    design = np.column_stack([np.ones_like(x), x - x.mean()])
    beta = np.zeros(2)
    for _ in range(MAX_ITER):
        p = 1.0 / (1.0 + np.exp(-(design @ beta)))
        w = m * p * (1 - p)
        info = design.T @ (design * w[:, None])
        score = design.T @ (k - m * p)
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if abs(beta[1]) * span > SEPARATED or not np.all(np.isfinite(beta)):
            return None
        if np.max(np.abs(step)) < 1e-10:
            break
    else:
        return None
    if beta[1] <= 0:
        return None
    p = 1.0 / (1.0 + np.exp(-(design @ beta)))
    info = design.T @ (design * (m * p * (1 - p))[:, None])
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return None
    mu_c = -beta[0] / beta[1]  # mu relative to the mean of x
    grad = -np.array([1.0, mu_c]) / beta[1]  # d mu / d beta
    se_model = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    se_cluster, quantile = _cluster_se(design, k - m * p, counts.cluster, cov, grad)
    half = max(Z95 * se_model, quantile * se_cluster) if np.isfinite(se_cluster) else Z95 * se_model
    return LogisticFit(float(mu_c + x.mean()), float(1 / beta[1]), float(half), se_model, se_cluster)


def _cluster_se(design, residual, cluster, cov, grad) -> tuple[float, float]:
    """Sandwich standard error of mu with scores summed per cluster, and its t quantile (G - 1 df)."""
    ids, inverse = np.unique(cluster, return_inverse=True)
    groups = len(ids)
    if groups < 2:
        return float("nan"), float("nan")
    scores = np.zeros((groups, 2))
    np.add.at(scores, inverse, design * residual[:, None])
    meat = scores.T @ scores * groups / (groups - 1)
    var = float(grad @ cov @ meat @ cov @ grad)
    return math.sqrt(max(var, 0.0)), float(student_t.ppf(0.975, groups - 1))


@dataclass(frozen=True)
class Decision:
    """Where one combination's search stands after the trials so far, and what it samples next."""

    status: str
    n_star: float = float("nan")
    lo: float = float("nan")
    hi: float = float("nan")
    bracket: tuple[int, int] = (0, 0)  # the scan sizes around the first upward crossing
    next_sizes: tuple[int, ...] = ()  # one batch each; empty when finished
    method: str = ""  # "logistic" or "bisection" (or "" before a bracket)
    falls_back_at: float = float("nan")  # smallest sampled n above the bracket with P <= 0.5: a later dip
    scale: float = float("nan")


def decide(counts: Counts, scan: list[int], rel_width: float, max_trials: int, per_round: int = 1,
           refinements: int = 0) -> Decision:
    """The state of a search given its counts; ``refinements``: batches placed by the fit so far (cycles the
    offsets). Every scan size must have been sampled before this is called."""
    sizes, k, m = counts.pooled()
    on_scan = np.isin(sizes, scan)
    p_scan = k[on_scan] / m[on_scan]
    status, i = first_bracket(sizes[on_scan], p_scan)
    if status == NOT_REACHED:
        return Decision(NO_CROSSING)
    if status == ABOVE_AT_START:
        return Decision(ABOVE_AT_MIN)
    scanned = sizes[on_scan]
    lo_n, hi_n = int(scanned[i]), int(scanned[i + 1])
    later = scanned[i + 1:][p_scan[i + 1:] <= LEVEL]
    falls = float(later[0]) if len(later) else float("nan")
    # The fit's window: the bracket and one scan step on either side (where P stays above 0.5 on the upper
    # side), so that a crossing near an end of the bracket is fitted from both sides.
    bottom = int(scanned[i - 1]) if i >= 1 else lo_n
    top = int(scanned[i + 2]) if i + 2 < len(scanned) and p_scan[i + 2] > LEVEL else hi_n
    window = counts.within(bottom, top)
    fit = fit_logistic(window)
    exhausted = counts.trials >= max_trials
    common = {"bracket": (lo_n, hi_n), "falls_back_at": falls}
    # The bracket's ends were chosen by their own noise: each gets a second batch (fresh trials, which the
    # choice did not see) before anything is concluded from them.
    first = float(m[on_scan].min())
    unconfirmed = [int(n) for n in (lo_n, hi_n) if m[sizes == n][0] < 2 * first]
    if unconfirmed and not exhausted:
        return Decision(SEARCHING, next_sizes=tuple(unconfirmed), method="bracket", **common)
    if fit is None or not (math.log(bottom) <= fit.mu <= math.log(top)) or \
            not fit.half_width <= math.log(top / bottom):
        # No fit, one outside its window or one that says less than the window: the first upward crossing
        # of the sampled sizes, bisected.
        w_sizes, w_k, w_m = window.pooled()
        _, j = first_bracket(w_sizes, w_k / w_m)
        a, b = int(w_sizes[j]), int(w_sizes[j + 1])
        if exhausted:
            est = _interpolated(a, b, w_k[j] / w_m[j], w_k[j + 1] / w_m[j + 1])
            return Decision(BUDGET, est, float(a), float(b), method="bisection", **common)
        mid = int(round(math.sqrt(a * b)))
        if mid in (a, b):  # neighbours: more trials where fewer are
            mid = a if w_m[j] <= w_m[j + 1] else b
        return Decision(SEARCHING, next_sizes=(mid,) * per_round, method="bisection", **common)
    n_star = math.exp(fit.mu)
    lo, hi = math.exp(fit.mu - fit.half_width), math.exp(fit.mu + fit.half_width)
    done = math.expm1(fit.half_width) <= rel_width and refinements >= MIN_FIT_BATCHES
    result = {"n_star": n_star, "lo": lo, "hi": hi, "method": "logistic", "scale": fit.scale, **common}
    if done:
        return Decision(CONVERGED, **result)
    if exhausted:
        return Decision(BUDGET, **result)
    nxt = []
    for r in range(refinements, refinements + per_round):
        x = fit.mu + OFFSETS[r % len(OFFSETS)] * fit.scale
        nxt.append(int(min(max(round(math.exp(x)), bottom), top)))
    return Decision(SEARCHING, next_sizes=tuple(nxt), **result)


def _interpolated(a: int, b: int, pa: float, pb: float) -> float:
    """The crossing of 0.5 between two sizes, linear in log n (as `memgen analyze` interpolates)."""
    t = (LEVEL - pa) / (pb - pa) if pb != pa else 0.5
    return math.exp(math.log(a) + t * (math.log(b) - math.log(a)))
