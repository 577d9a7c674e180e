"""n_onset: where the error first leaves its plateau, estimated from the cells around that point only.

A two-segment fit over the whole sweep put the break wherever one straight line best summarised every
point after it, so extending the grid past the transition moved it (issue 35: at d = 16, 24 with n up to
128 and 15 with n up to 1024, disjoint intervals from the same model). Here the fit window is chosen from
the data and ends just past the onset:

1. The plateau is the longest initial run of cells whose log error is not significantly below the mean
   of the cells before it: cell i leaves the plateau when v_i − mean(v_0..v_{i−1}) < −z·sd_i, sd_i the
   bootstrap standard deviation of that difference (it covers trials and original sets), z one-sided at
   a family-wise 5% over the cells tested (Bonferroni), and the fall must also exceed MIN_DROP: it leaves
   when v_i − mean(v_0..v_{i−1}) < −max(z·sd_i, MIN_DROP). An exactly flat plateau (H² = 1 while n ≤ d)
   has sd = 0, so there MIN_DROP alone decides (at d = 100 H² falls by 10⁻¹¹ right after n = d, a
   significant but invisible fall that is not the onset).
2. The window is the plateau plus the first two cells off it; the continuous two-segment line is fitted
   there, with its break searched only in the gap between the last plateau cell and the first cell off it,
   where the data place the departure.
3. The interval is the percentile bootstrap of the whole procedure (each replicate finds its own
   departure and window) joined with that gap: no narrower than the grid resolves.

Cells past the window never enter, so extending n upwards leaves n_onset and its interval as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from memgen_cli.statistics.estimators import (
    BrokenLine,
    Interval,
    broken_line_rss,
    fit_broken_line,
    percentile_interval,
)

FAMILY_LEVEL = 0.05  # chance that a true plateau is left somewhere by noise alone, over all cells tested
MIN_DROP = 0.01
"""The smallest fall of the log error (ln y) below the plateau mean that counts as leaving it, a 1% fall of the
error: smaller falls are invisible on the paper's log axes and are rounding-scale relative to the error's
spread, so however significant they are not where the error visibly starts to fall."""
BREAK_GRID = 200  # breakpoints tried inside the gap (a replicate is resolved to 1/200 of it)

NO_DEPARTURE = "no departure from the plateau inside the sweep (extend n upwards)"
NO_PLATEAU = "falls from the smallest n: no plateau inside the sweep (extend n downwards)"
DEPARTS_AT_END = "leaves the plateau only at the largest n (extend n upwards)"


def departure_thresholds(v: np.ndarray, v_replicates: np.ndarray) -> np.ndarray:
    """Per cell i >= 1: how far below the mean of the cells before it its log error must fall to leave the plateau:
    max(z·sd_i, MIN_DROP)."""
    m = len(v)
    z = norm.ppf(1 - FAMILY_LEVEL / max(m - 1, 1))
    previous = np.cumsum(v_replicates, axis=0)[:-1] / np.arange(1, m)[:, None]
    with np.errstate(invalid="ignore"):
        sd = np.nanstd(v_replicates[1:] - previous, axis=1) if v_replicates.shape[1] > 1 else np.zeros(m - 1)
    return np.concatenate([[np.nan], np.maximum(z * np.nan_to_num(sd), MIN_DROP)])


def first_departures(v: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Index of the first cell off the plateau per column of v (cells x columns); -1 where none leaves it."""
    m = v.shape[0]
    previous = np.cumsum(v, axis=0)[:-1] / np.arange(1, m)[:, None]
    departed = (v[1:] - previous) < -thresholds[1:, None]
    return np.where(departed.any(axis=0), departed.argmax(axis=0) + 1, -1)


def gap_grid(u: np.ndarray, j: int) -> np.ndarray:
    return np.linspace(u[j - 1], u[j], BREAK_GRID)


@dataclass(frozen=True)
class Onset:
    status: str  # "" when a break was fitted (the caller judges whether the decay speeds up)
    fit: BrokenLine | None
    window: tuple[int, int]  # first and last cell of the fit (indices into u)
    departure: int  # index of the first cell off the plateau; -1 where none leaves it
    gap: Interval  # in log n: last plateau cell, first cell off it
    replicates: np.ndarray  # censored log n_onset per replicate (NaN: a replicate with a non-finite value)

    def interval(self, x: np.ndarray) -> tuple[Interval, bool]:
        """The bootstrap interval joined with the gap, in n (x: the cells' n, for the gap's exact ends), and
        whether the gap widened it."""
        boot = percentile_interval(self.replicates)
        if not np.isfinite(self.gap.lo):
            return boot.exp(), False
        lo, hi = np.fmin(boot.lo, self.gap.lo), np.fmax(boot.hi, self.gap.hi)
        widened = not (boot.lo <= self.gap.lo and boot.hi >= self.gap.hi)
        j = self.departure
        return Interval(float(x[j - 1] if lo == self.gap.lo else np.exp(lo)),
                        float(x[j] if hi == self.gap.hi else np.exp(hi))), widened


def replicate_onsets(u: np.ndarray, v_replicates: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Each replicate's own departure, window and break (grid only); censored -inf / +inf beyond the sweep."""
    m = len(u)
    result = np.full(v_replicates.shape[1], np.nan)
    finite = np.all(np.isfinite(v_replicates), axis=0)
    departures = np.full(v_replicates.shape[1], -2)
    departures[finite] = first_departures(v_replicates[:, finite], thresholds)
    result[departures == -1] = np.inf  # never leaves the plateau inside the sweep
    result[departures == 1] = -np.inf  # no plateau: the onset may lie below the smallest n
    result[departures == m - 1] = u[m - 1]  # off the plateau only at the last cell: at most there
    for j in np.unique(departures[(departures >= 2) & (departures < m - 1)]):
        columns = departures == j
        grid = gap_grid(u, j)
        rss = broken_line_rss(u[: j + 2], v_replicates[: j + 2, columns], grid)
        result[columns] = grid[np.argmin(rss, axis=0)]
    return result


def estimate_onset(u: np.ndarray, v: np.ndarray, v_replicates: np.ndarray) -> Onset:
    """n_onset from the cells' log errors v (cells,) at log n u (increasing) and their replicates (cells x B)."""
    m = len(u)
    thresholds = departure_thresholds(v, v_replicates)
    j = int(first_departures(v[:, None], thresholds)[0])
    replicates = replicate_onsets(u, v_replicates, thresholds)
    none = Interval(np.nan, np.nan)
    if j == -1:
        return Onset(NO_DEPARTURE, None, (0, m - 1), j, none, replicates)
    gap = Interval(float(u[j - 1]), float(u[j]))
    if j == 1:
        return Onset(NO_PLATEAU, None, (0, 1), j, gap, replicates)
    if j == m - 1:
        return Onset(DEPARTS_AT_END, None, (0, m - 1), j, gap, replicates)
    fit = fit_broken_line(u[: j + 2], v[: j + 2], gap_grid(u, j))
    return Onset("", fit, (0, j + 1), j, gap, replicates)
