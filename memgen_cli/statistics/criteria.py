"""Three transition criteria side by side: do they place the memorization-to-generalization transition at the
same n? (pure math: arrays in, one table row out)

The criteria, each a curve over the cells (n) of one group with bootstrap replicates of the curve:

- n_star: where P(Δ > 0) rises through 0.5 (the paper's metric; statistics.estimators);
- n_mem: where the memorized fraction falls through 0.5 (the field's nearest-neighbour test;
  report.memorization);
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

The verdict follows report.memorization's and estimators.alignment_verdict's "within a factor F" (default 2):
"same n" when every located n lies within a factor F of every other; "different n" as soon as two criteria
certainly differ by more than F, which a criterion outside the sweep can already show (never crossing by
n_max means n > n_max; already past at n_min means n < n_min); "undetermined" otherwise, naming which
criteria are missing and why.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from memgen_cli.statistics.estimators import ABOVE_AT_START, CROSSED, NOT_REACHED, CrossingEstimate, \
    estimate_crossing, percentile_interval

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
    L − v + 0.5 rising through 0.5, as report.memorization.falling_crossing does.
    """
    if not np.all(np.isfinite(curve.values)):
        nan = np.full(curve.replicates.shape[1], np.nan)
        return CrossingEstimate(float("nan"), MISSING, nan, float("nan"))
    sign = 1.0 if curve.rising else -1.0
    return estimate_crossing(log_n, sign * (curve.values - curve.level) + 0.5,
                             sign * (curve.replicates - curve.level) + 0.5)


def bounds(estimate: CrossingEstimate, log_n: np.ndarray) -> tuple[float, float]:
    """What the estimate says about n: [n, n] when located, (n_max, inf) when not reached within the sweep,
    (0, n_min) when already past at its start, NaNs when nothing is known."""
    if estimate.status == CROSSED:
        n = float(np.exp(estimate.log_x))
        return n, n
    if estimate.status == NOT_REACHED:
        return float(np.exp(np.max(log_n))), np.inf
    if estimate.status == ABOVE_AT_START:
        return 0.0, float(np.exp(np.min(log_n)))
    return np.nan, np.nan


def _describe(lo: float, hi: float) -> str:
    """A range as the reason shows it: a located n, or a bound from outside the sweep."""
    if lo == hi:
        return f"{lo:.4g}"
    return f"> {lo:.4g}" if hi == np.inf else f"< {hi:.4g}"


def verdict(names: list[str], ranges: list[tuple[float, float]], words: list[str], factor: float
            ) -> tuple[str, str]:
    """(label, reason): same n, different n or undetermined (module docstring), from each criterion's range
    (lo, hi) of possible n (see bounds)."""
    for (a, (lo_a, hi_a)), (b, (lo_b, hi_b)) in itertools.permutations(zip(names, ranges), 2):
        if lo_a > factor * hi_b:  # NaN compares False: an unknown range proves nothing
            return DIFFERENT, (f"{a} ({_describe(lo_a, hi_a)}) is more than {factor:g} times "
                               f"{b} ({_describe(lo_b, hi_b)})")
    undetermined = [f"{name}: {word}" for name, (lo, hi), word in zip(names, ranges, words) if not lo == hi]
    if undetermined:
        return UNDETERMINED, "; ".join(undetermined)
    points = np.array([lo for lo, _ in ranges])
    return SAME, f"max/min = {points.max() / points.min():.3g} over {', '.join(names)}, within a factor {factor:g}"


def _short(name: str) -> str:
    return name[2:] if name.startswith("n_") else name


def criteria_row(log_n, curves: list[CriterionCurve], factor: float = DEFAULT_FACTOR) -> dict:
    """One group's row: per criterion its n, 95% interval and status; per pair the ratio and its interval;
    the spread max/min over all criteria with its interval; the verdict and its reason."""
    log_n = np.asarray(log_n, dtype=float)
    if len({c.name for c in curves}) != len(curves) or len(curves) < 2:
        raise ValueError("need at least two criteria with distinct names")
    row, estimates = {}, []
    for curve in curves:
        est = locate(log_n, curve)
        estimates.append(est)
        interval = percentile_interval(est.replicates).exp()
        row.update({curve.name: float(np.exp(est.log_x)), f"{curve.name}_lo": interval.lo,
                    f"{curve.name}_hi": interval.hi, f"{curve.name}_status": curve.words(est.status)})
    located = [est.status == CROSSED for est in estimates]
    for (i, a), (j, b) in itertools.combinations(enumerate(curves), 2):
        key = f"ratio_{_short(a.name)}_{_short(b.name)}"
        both = located[i] and located[j]
        with np.errstate(invalid="ignore"):  # inf - inf: a replicate censored on the same side, left out
            interval = percentile_interval(estimates[i].replicates - estimates[j].replicates).exp() if both else None
        row.update({key: float(np.exp(estimates[i].log_x - estimates[j].log_x)) if both else np.nan,
                    f"{key}_lo": interval.lo if both else np.nan, f"{key}_hi": interval.hi if both else np.nan})
    if all(located):
        reps = np.vstack([est.replicates for est in estimates])
        with np.errstate(invalid="ignore"):
            interval = percentile_interval(reps.max(axis=0) - reps.min(axis=0)).exp()
        points = np.array([est.log_x for est in estimates])
        row.update(spread=float(np.exp(points.max() - points.min())), spread_lo=interval.lo, spread_hi=interval.hi)
    else:
        row.update(spread=np.nan, spread_lo=np.nan, spread_hi=np.nan)
    names = [c.name for c in curves]
    label, reason = verdict(names, [bounds(est, log_n) for est in estimates],
                            [c.words(est.status) for c, est in zip(curves, estimates)], factor)
    return {**row, "verdict": label, "verdict_reason": reason}
