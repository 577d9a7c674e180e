"""The transition's estimators as pure math: arrays in, small frozen dataclasses out.

No pandas and no files here (memgen_cli.report.analysis.transitions reads the CSVs and builds the replicates):

- the first upward crossing of a level, interpolated in log x, for a curve and for its replicates;
- the continuous two-segment (broken-line) least-squares fit (memgen_cli.statistics.onset chooses its window);
- percentile intervals of replicates that may be censored at ±inf;
- the verdict on whether two sizes lie within a factor of each other.

docs/analysis.md gives the formulas and why they were chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

LEVEL = 0.5  # P(Delta > 0) above this: the model generalizes (paper, section 3)
BREAK_GRID = 1000  # breakpoints tried per fit; bootstrap replicates use the grid alone
MIN_POINTS_FOR_ONSET = 4  # two free segments need at least two points each

# Crossing status words (also written to transitions.csv).
CROSSED = "crossed"
NOT_REACHED = "not reached"
ABOVE_AT_START = "above 0.5 at smallest n"

ONSET_OK = "ok"  # onset status when the decay speeds up after the breakpoint
NO_FASTER_DECAY = "no faster decay after the breakpoint (slope_after >= slope_before)"


# ----------------------------------------------------------------------------------------------
# The crossing of 0.5


@dataclass(frozen=True)
class Crossings:
    """First upward crossing of each row of a (replicates x points) array."""

    log_x: np.ndarray  # NaN unless status is CROSSED
    status: np.ndarray  # CROSSED, NOT_REACHED or ABOVE_AT_START per row

    def censored(self) -> np.ndarray:
        """log x with the misses kept as -inf (above at the start) and +inf (never reached).

        Replicates with no crossing inside the sweep widen an interval rather than vanish from it.
        """
        values = self.log_x.copy()
        values[self.status == ABOVE_AT_START] = -np.inf
        values[self.status == NOT_REACHED] = np.inf
        return values


def first_upward_crossings(log_x: np.ndarray, p: np.ndarray, level: float = LEVEL) -> Crossings:
    """Per row of p: log x where p first goes from <= level to > level, interpolated linearly in log x.

    A row already above the level at its smallest x has no upward crossing inside the sweep.
    """
    replicates = p.shape[0]
    result = np.full(replicates, np.nan)
    statuses = np.full(replicates, NOT_REACHED, dtype=object)
    if p.shape[1] == 0:
        return Crossings(result, statuses)
    starts_above = p[:, 0] > level
    crosses = (p[:, :-1] <= level) & (p[:, 1:] > level)
    rows = np.flatnonzero(crosses.any(axis=1) & ~starts_above)
    i = crosses[rows].argmax(axis=1)
    p0, p1 = p[rows, i], p[rows, i + 1]
    t = (level - p0) / (p1 - p0)  # p1 > level >= p0, so 0 <= t < 1
    result[rows] = log_x[i] + t * (log_x[i + 1] - log_x[i])
    statuses[starts_above] = ABOVE_AT_START
    statuses[rows] = CROSSED
    return Crossings(result, statuses)


@dataclass(frozen=True)
class CrossingEstimate:
    """The crossing of a curve and the censored crossings of its replicates."""

    log_x: float  # NaN unless status is CROSSED
    status: str
    replicates: np.ndarray  # censored log x per replicate; NaN where a replicate has a NaN point
    frac_crossed: float  # of the replicates without NaN, those that cross inside the sweep


def estimate_crossing(log_x: np.ndarray, p: np.ndarray, p_replicates: np.ndarray) -> CrossingEstimate:
    """Point estimate from p (points,), interval material from p_replicates (points x replicates)."""
    point = first_upward_crossings(log_x, p[None, :])
    boot = first_upward_crossings(log_x, p_replicates.T)
    valid = ~np.isnan(p_replicates).any(axis=0)
    replicates = np.where(valid, boot.censored(), np.nan)
    frac_crossed = float(np.mean(boot.status[valid] == CROSSED)) if valid.any() else np.nan
    return CrossingEstimate(float(point.log_x[0]), str(point.status[0]), replicates, frac_crossed)


# ----------------------------------------------------------------------------------------------
# The two-segment (broken-line) fit


@dataclass(frozen=True)
class BrokenLine:
    """v = level + slope_before * min(u - u_break, 0) + slope_after * max(u - u_break, 0)."""

    u_break: float
    level: float  # v at the breakpoint
    slope_before: float
    slope_after: float

    def __call__(self, u: np.ndarray) -> np.ndarray:
        du = np.asarray(u, dtype=float) - self.u_break
        return self.level + self.slope_before * np.minimum(du, 0) + self.slope_after * np.maximum(du, 0)

    @property
    def decay_speeds_up(self) -> bool:
        """The paper's onset: the error falls faster after the breakpoint than before it."""
        return self.slope_after < self.slope_before


def broken_line_design(u: np.ndarray, u_break: float) -> np.ndarray:
    du = u - u_break
    return np.column_stack([np.ones_like(u), np.minimum(du, 0), np.maximum(du, 0)])


def breakpoint_grid(u: np.ndarray, size: int = BREAK_GRID) -> np.ndarray:
    """Breakpoints from the second to the second-last point, so each segment spans >= 2 points."""
    u = np.sort(u)
    return np.linspace(u[1], u[-2], size)


def broken_line_rss(u: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Residual sum of squares at each breakpoint of grid; v may hold several columns (replicates)."""
    v2 = v if v.ndim == 2 else v[:, None]
    total = np.sum(v2 * v2, axis=0)
    rss = np.empty((len(grid), v2.shape[1]))
    for k, u_break in enumerate(grid):
        q, _ = np.linalg.qr(broken_line_design(u, u_break))  # orthonormal basis of the fit's span
        projected = q.T @ v2
        rss[k] = total - np.sum(projected * projected, axis=0)
    return rss if v.ndim == 2 else rss[:, 0]


def fit_broken_line(u: np.ndarray, v: np.ndarray, grid: np.ndarray | None = None) -> BrokenLine:
    """Least-squares continuous two-segment line: grid search over the breakpoint, then refined.

    grid: the breakpoints to search (increasing); by default from the second to the second-last point.
    """
    if len(u) < MIN_POINTS_FOR_ONSET:
        raise ValueError(f"need at least {MIN_POINTS_FOR_ONSET} points, got {len(u)}")
    grid = breakpoint_grid(u) if grid is None else grid

    def rss_at(u_break: float) -> float:
        design = broken_line_design(u, u_break)
        coef, *_ = np.linalg.lstsq(design, v, rcond=None)
        return float(np.sum((design @ coef - v) ** 2))

    best = int(np.argmin(broken_line_rss(u, v, grid)))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    u_break = grid[best]
    if hi > lo:  # the rss is piecewise smooth in the breakpoint; refine inside the best grid cell
        refined = minimize_scalar(rss_at, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
        if refined.fun <= rss_at(u_break):
            u_break = float(refined.x)
    design = broken_line_design(u, u_break)
    coef, *_ = np.linalg.lstsq(design, v, rcond=None)
    return BrokenLine(u_break, float(coef[0]), float(coef[1]), float(coef[2]))


# ----------------------------------------------------------------------------------------------
# Intervals and the verdict


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float

    def exp(self) -> Interval:
        """From log n back to n (-inf -> 0, +inf -> inf, NaN stays NaN)."""
        return Interval(float(np.exp(self.lo)), float(np.exp(self.hi)))


NO_INTERVAL = Interval(float("nan"), float("nan"))


def percentile_interval(values: np.ndarray) -> Interval:
    """2.5 and 97.5 percentiles of replicates that may hold -inf/+inf (censored beyond the sweep).

    Uses the inverted-CDF rule, which returns actual replicate values, so infinities stay infinite
    rather than poisoning an interpolation. NaN replicates (failed fits) are left out.
    """
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return NO_INTERVAL
    lo, hi = np.quantile(values, [0.025, 0.975], method="inverted_cdf")
    return Interval(float(lo), float(hi))


@dataclass(frozen=True)
class Verdict:
    label: str  # "aligned", "not aligned" or "undetermined"
    reason: str


RATIO_ROUNDING = 1e-9  # relative: grid values come back through exp(log n); a ratio of exactly F is within F
WITHIN, OUTSIDE, STRADDLES = "within", "outside", "straddles"


def ratio_within_factor(lo: float, hi: float, factor: float) -> str:
    """Where a ratio's 95% interval [lo, hi] lies against [1/F, F]: WITHIN it whole, OUTSIDE it whole, or STRADDLES
    (reaches past F, or is unknown). A verdict read from the point alone would say "within" for 1.2 [0.8, 2.2]."""
    if lo > factor * (1 + RATIO_ROUNDING) or hi < (1 - RATIO_ROUNDING) / factor:
        return OUTSIDE
    if (1 - RATIO_ROUNDING) / factor <= lo and hi <= factor * (1 + RATIO_ROUNDING):
        return WITHIN
    return STRADDLES


def ratio_verdict(name: str, ratio: float, lo: float, hi: float, factor: float, labels: tuple[str, str]
                  ) -> Verdict:
    """labels[0] when the ratio's whole interval lies within a factor F, labels[1] when it lies whole outside,
    "undetermined" (saying so) when it reaches across F: the same rule as criteria.verdict's."""
    where = ratio_within_factor(lo, hi, factor)
    shown = f"{name} = {ratio:.3g} [{lo:.3g}, {hi:.3g}]"
    if where == WITHIN:
        return Verdict(labels[0], f"{shown}, within a factor {factor:g} with its whole interval")
    if where == OUTSIDE:
        return Verdict(labels[1], f"{shown}, outside a factor {factor:g} with its whole interval")
    return Verdict("undetermined", f"{shown}: the interval reaches across a factor {factor:g}")


def alignment_verdict(ratio: float, lo: float, hi: float, star_status: str, onset_status: str, factor: float
                      ) -> Verdict:
    """'aligned' when n_star / n_onset's 95% interval lies within [1/factor, factor], 'not aligned' when it lies
    outside, undetermined when it reaches across, or without both."""
    if star_status != CROSSED:
        return Verdict("undetermined", f"n_star {star_status}")
    if onset_status != ONSET_OK:
        return Verdict("undetermined", f"n_onset {onset_status}")
    return ratio_verdict("n_star/n_onset", ratio, lo, hi, factor, ("aligned", "not aligned"))
