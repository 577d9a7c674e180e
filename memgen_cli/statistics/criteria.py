"""Three transition criteria side by side: do they place the memorization-to-generalization transition at the
same n? (pure math: arrays in, one table row out)

The criteria, each a curve over the cells (n) of one group with bootstrap replicates of the curve:

- n_star: where P(Δ > 0) rises through 0.5 (the paper's metric; statistics.estimators);
- n_mem: where the memorized fraction falls through 0.5 (the field's nearest-neighbour test;
  report.analysis.memorization);
- n_rep: where reproducibility sets in (Kadkhodaie et al. 2024): for images, the fraction of paired images of
  two models on disjoint training sets that are the same image rises through 0.5
  (imaging.reproducibility); in the linear model, P(reproduced) over pair trials rises through 0.5, i.e. the
  median paired distance falls through 1/9 (linear.reproducibility).

Each crossing is located by statistics.estimators.estimate_crossing, interpolated linearly in log n, with the
replicates' crossings censored at ±inf when they fall outside the sweep. Ratios between criteria get
percentile intervals of the replicates' log differences: paired when the replicates of both curves come from
the same resampled simulations (the U-Net: P(Δ>0) and the memorized fraction), and still valid when they are
independent (separate pair trials), since row-by-row differences of independent replicates are replicates of
the difference.

The verdict asks whether the criteria can be told apart within a factor F (default 2; report.analysis.memorization's and
estimators.alignment_verdict's "within a factor F"), with their intervals, not their points: "different n" as
soon as two criteria certainly differ by more than F, either a paired ratio's whole 95% interval outside
[1/F, F] or two ranges of possible n separated by more than F, which a criterion outside the sweep can already
show (never crossing by n_max means n > n_max; already past at n_min means n < n_min); "same n" when every
criterion is located and every ratio's 95% interval lies within [1/F, F]; "undetermined" otherwise, naming which
criteria are missing and why, or which ratio's interval reaches beyond F.

Grid limits. A curve whose two cells around the crossing both have intervals clear of the level (``grid_bracket``)
is located only by the grid: interpolation puts every replicate's crossing at the same place between them, and the
bootstrap interval would be far narrower than the grid resolves. Its interval is widened to the two cells
(``<name>_grid_limited``), and the ratios involving it to the extremes those intervals allow.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from memgen_cli.statistics.calibration import check_claim, grid_limited_interval
from memgen_cli.statistics.estimators import ABOVE_AT_START, CROSSED, NOT_REACHED, RATIO_ROUNDING, \
    CrossingEstimate, estimate_crossing, percentile_interval

DEFAULT_FACTOR = 2.0
MISSING = "missing values"  # a status when a curve has NaN points: nothing is located

SAME, DIFFERENT, UNDETERMINED = "same n", "different n", "undetermined"


@dataclass(frozen=True)
class CriterionCurve:
    """One criterion's curve over a group's cells and where it is read."""

    name: str  # column prefix, e.g. "n_star"
    values: np.ndarray  # (cells,)
    replicates: np.ndarray  # (cells, replicates)
    level: float
    rising: bool  # True: the crossing is upward through level; False: downward

    def words(self, status: str) -> str:
        """The status as a sentence about this curve (transitions.csv / memorization.csv style)."""
        if self.rising:
            words = {NOT_REACHED: f"still <= {self.level:g} at the largest n",
                     ABOVE_AT_START: f"already > {self.level:g} at the smallest n"}
        else:
            words = {NOT_REACHED: f"still >= {self.level:g} at the largest n",
                     ABOVE_AT_START: f"already < {self.level:g} at the smallest n"}
        return words.get(status, status)


def star_curve(p, replicates) -> CriterionCurve:
    return CriterionCurve("n_star", np.asarray(p, float), np.asarray(replicates, float), 0.5, True)


def mem_curve(fraction, replicates) -> CriterionCurve:
    return CriterionCurve("n_mem", np.asarray(fraction, float), np.asarray(replicates, float), 0.5, False)


def rep_curve(values, replicates, level: float = 0.5, rising: bool = True) -> CriterionCurve:
    """Reproducibility: by default a fraction (same images, or reproduced pair trials) rising through 0.5.

    For a distance pass rising=False and its level (e.g. the linear paired distance's 1/9; a log distance
    with ln(1/9) interpolates in log distance, usually the better scale for a quantity spanning decades).
    """
    return CriterionCurve("n_rep", np.asarray(values, float), np.asarray(replicates, float), level, rising)


def locate(log_n: np.ndarray, curve: CriterionCurve) -> CrossingEstimate:
    """The curve's crossing through its level, as estimate_crossing's upward crossing of 0.5.

    Rising through L is v − L + 0.5 rising through 0.5; falling through L (from >= L to < L) is
    L − v + 0.5 rising through 0.5, as report.analysis.memorization.falling_crossing does.
    """
    if not np.all(np.isfinite(curve.values)):
        nan = np.full(curve.replicates.shape[1], np.nan)
        return CrossingEstimate(float("nan"), MISSING, nan, float("nan"))
    sign = 1.0 if curve.rising else -1.0
    return estimate_crossing(log_n, sign * (curve.values - curve.level) + 0.5,
                             sign * (curve.replicates - curve.level) + 0.5)


ROUNDING = RATIO_ROUNDING  # grid values come back through exp(log n); a ratio of exactly F is within F


def grid_bracket(log_n: np.ndarray, curve: CriterionCurve, estimate: CrossingEstimate) -> tuple[float, float] | None:
    """(n_k, n_k+1) when the crossing is located only by the grid: the two cells around it both have 95% intervals
    (percentiles of their replicates) that exclude the level, on their own sides. Interpolation then puts every
    replicate's crossing in the same place between them, whatever the truth, so the bootstrap interval would be
    narrower than the grid can resolve. The rule of ``calibration.grid_limited_interval``, which transitions.csv
    and memorization.csv apply to the same cells. None when located otherwise."""
    if estimate.status != CROSSED:
        return None
    with np.errstate(all="ignore"):  # a cell without finite replicates has no interval: NaN, never limited
        lo, hi = np.nanpercentile(curve.replicates, [2.5, 97.5], axis=1)
    n = np.exp(log_n)
    return grid_limited_interval(n, lo, hi, float(np.exp(estimate.log_x)), curve.rising, curve.level)


def bounds(estimate: CrossingEstimate, log_n: np.ndarray, interval: tuple[float, float] | None = None
           ) -> tuple[float, float]:
    """What the estimate says about n: its interval (lo, hi) when located ([n, n] without one), (n_max, inf) when
    not reached within the sweep, (0, n_min) when already past at its start, NaNs when nothing is known."""
    if estimate.status == CROSSED:
        n = float(np.exp(estimate.log_x))
        return interval if interval is not None else (n, n)
    if estimate.status == NOT_REACHED:
        return float(np.exp(np.max(log_n))), np.inf
    if estimate.status == ABOVE_AT_START:
        return 0.0, float(np.exp(np.min(log_n)))
    return np.nan, np.nan


def _describe(lo: float, hi: float) -> str:
    """A range as the reason shows it: an interval, or a bound from outside the sweep."""
    if lo == hi:
        return f"{lo:.4g}"
    if hi == np.inf:
        return f"> {lo:.4g}"
    return f"< {hi:.4g}" if lo == 0 else f"{lo:.4g} to {hi:.4g}"


def verdict(names: list[str], ranges: list[tuple[float, float]], words: list[str], factor: float,
            ratios: dict[tuple[str, str], tuple[float, float, float]] | None = None) -> tuple[str, str]:
    """(label, reason): same n, different n or undetermined (module docstring), from each criterion's range
    (lo, hi) of possible n (see bounds) and the paired ratios' intervals {(a, b): (ratio, lo, hi)}."""
    ratios = ratios or {}
    for (a, b), (ratio, lo, hi) in ratios.items():
        if lo > factor * (1 + ROUNDING) or hi < (1 - ROUNDING) / factor:
            return DIFFERENT, (f"{a}/{b} = {ratio:.3g} [{lo:.3g}, {hi:.3g}], outside a factor {factor:g} with its "
                               "whole interval")
    for (a, (lo_a, hi_a)), (b, (lo_b, hi_b)) in itertools.permutations(zip(names, ranges), 2):
        if lo_a > factor * hi_b * (1 + ROUNDING):  # NaN compares False: an unknown range proves nothing
            return DIFFERENT, (f"{a} ({_describe(lo_a, hi_a)}) is more than {factor:g} times "
                               f"{b} ({_describe(lo_b, hi_b)})")
    unlocated = [f"{name}: {word}" for name, word, (lo, hi) in zip(names, words, ranges)
                 if word not in (CROSSED,) and not (np.isfinite(lo) and np.isfinite(hi) and lo > 0)]
    if unlocated:
        return UNDETERMINED, "; ".join(unlocated)
    straddling = [f"{a}/{b} = {ratio:.3g} [{lo:.3g}, {hi:.3g}]" for (a, b), (ratio, lo, hi) in ratios.items()
                  if not ((1 - ROUNDING) / factor <= lo and hi <= factor * (1 + ROUNDING))]
    if straddling:
        return UNDETERMINED, f"{'; '.join(straddling)}: the interval reaches beyond a factor {factor:g}"
    points = [ratio for ratio, _, _ in ratios.values()]
    spread = max([1.0] + [max(r, 1 / r) for r in points])
    return SAME, (f"every ratio's 95% interval within a factor {factor:g} (largest ratio {spread:.3g}) over "
                  f"{', '.join(names)}")


def _short(name: str) -> str:
    return name[2:] if name.startswith("n_") else name


def calibrated_estimate(log_n: np.ndarray, estimate: CrossingEstimate, status: np.ndarray | None
                        ) -> CrossingEstimate:
    """The estimate, or none with the reason where the metric does not discriminate (statistics.calibration's
    check_claim on ``status``, per cell: YES, NO, ...): nowhere at all, at a grid point around the crossing, or at the
    smallest n for a curve already past its level there. None (no references): as found."""
    if status is None:
        return estimate
    crossing = float(np.exp(estimate.log_x)) if estimate.status == CROSSED else np.nan
    n = np.exp(log_n)
    n = np.where(np.isclose(n, np.round(n), rtol=1e-12, atol=0), np.round(n), n)  # 1600, not 1599.9999999999998
    check = check_claim(n, status, crossing, at_start=estimate.status == ABOVE_AT_START)
    if check.reported:
        return estimate
    return CrossingEstimate(np.nan, check.reason, np.full_like(estimate.replicates, np.nan), estimate.frac_crossed)


def adopted(log_n: np.ndarray, curve: CriterionCurve, given: dict) -> tuple[CrossingEstimate, tuple, bool]:
    """A criterion located elsewhere (transitions.csv's n*, from the same cells): its n, interval, status and grid
    flag as given, so that one number has one interval in every file; this curve's own replicates, uncalibrated,
    only for the paired ratios, and only where the given crossing is located."""
    name = curve.name
    value, status = float(given[name]), str(given[f"{name}_status"])
    crossed = status == CROSSED and np.isfinite(value)
    own = locate(log_n, curve).replicates
    replicates = own if crossed else np.full_like(own, np.nan)
    estimate = CrossingEstimate(float(np.log(value)) if crossed else np.nan, status, replicates, np.nan)
    interval = (float(given[f"{name}_lo"]), float(given[f"{name}_hi"]))
    return estimate, interval, given.get(f"{name}_grid_limited") in (True,)


def criteria_row(log_n, curves: list[CriterionCurve], factor: float = DEFAULT_FACTOR,
                 discriminates: dict[str, np.ndarray] | None = None, given: dict[str, dict] | None = None) -> dict:
    """One group's row: per criterion its n, 95% interval (widened to the grid where only the grid places it:
    ``<name>_grid_limited``) and status; per pair the ratio and its interval; the spread max/min over all
    criteria with its interval; the verdict and its reason. ``discriminates``: per criterion with references, whether
    its metric tells them apart at each cell; a criterion whose metric does not where its claim rests is not located,
    its status says why, and it proves nothing in the verdict. ``given``: per criterion located elsewhere, its
    columns (``name``, _lo, _hi, _status, _grid_limited) as they stand there (see ``adopted``)."""
    log_n = np.asarray(log_n, dtype=float)
    if len({c.name for c in curves}) != len(curves) or len(curves) < 2:
        raise ValueError("need at least two criteria with distinct names")
    row, estimates, intervals, limited = {}, [], [], []
    for curve in curves:
        if curve.name in (given or {}):
            est, (lo, hi), is_limited = adopted(log_n, curve, given[curve.name])
        else:
            est = calibrated_estimate(log_n, locate(log_n, curve), (discriminates or {}).get(curve.name))
            interval = percentile_interval(est.replicates).exp()
            lo, hi = interval.lo, interval.hi
            bracket = grid_bracket(log_n, curve, est)
            if bracket is not None:
                lo, hi = min(lo, bracket[0]), max(hi, bracket[1])
            is_limited = bracket is not None
        estimates.append(est)
        intervals.append((lo, hi))
        limited.append(is_limited)
        row.update({curve.name: float(np.exp(est.log_x)), f"{curve.name}_lo": lo, f"{curve.name}_hi": hi,
                    f"{curve.name}_status": curve.words(est.status), f"{curve.name}_grid_limited": is_limited})
    located = [est.status == CROSSED for est in estimates]
    ratios = {}
    for (i, a), (j, b) in itertools.combinations(enumerate(curves), 2):
        key = f"ratio_{_short(a.name)}_{_short(b.name)}"
        both = located[i] and located[j]
        ratio, lo, hi = np.nan, np.nan, np.nan
        if both:
            with np.errstate(invalid="ignore"):  # inf - inf: a replicate censored on the same side, left out
                interval = percentile_interval(estimates[i].replicates - estimates[j].replicates).exp()
            ratio, lo, hi = float(np.exp(estimates[i].log_x - estimates[j].log_x)), interval.lo, interval.hi
            if limited[i] or limited[j]:  # what the grid allows: the extremes of the two intervals
                lo = min(lo, intervals[i][0] / intervals[j][1])
                hi = max(hi, intervals[i][1] / intervals[j][0])
            ratios[(a.name, b.name)] = (ratio, lo, hi)
        row.update({key: ratio, f"{key}_lo": lo, f"{key}_hi": hi})
    if all(located):
        reps = np.vstack([est.replicates for est in estimates])
        with np.errstate(invalid="ignore"):
            interval = percentile_interval(reps.max(axis=0) - reps.min(axis=0)).exp()
        points = np.array([est.log_x for est in estimates])
        row.update(spread=float(np.exp(points.max() - points.min())), spread_lo=interval.lo, spread_hi=interval.hi)
    else:
        row.update(spread=np.nan, spread_lo=np.nan, spread_hi=np.nan)
    names = [c.name for c in curves]
    ranges = [bounds(est, log_n, interval) for est, interval in zip(estimates, intervals)]
    label, reason = verdict(names, ranges, [c.words(est.status) for c, est in zip(curves, estimates)], factor,
                            ratios)
    return {**row, "verdict": label, "verdict_reason": reason}
