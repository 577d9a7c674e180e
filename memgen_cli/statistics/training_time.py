"""Training times from curves along training: τ_mem (memorization sets in), τ_gen (generation stops
improving), per cell with bootstrap intervals, and the fit τ_mem ∝ n^β (pure math, numpy/scipy).

Bonnaire, Urfin, Biroli & Mézard (NeurIPS 2025, "Why diffusion models don't memorize: the role of implicit
dynamical regularization in training"; code github.com/tbonnair/Why-Diffusion-Models-Don-t-Memorize) identify
an early τ_gen "at which models begin to generate high-quality samples" (they read it from the FID along
training) and a later τ_mem "beyond which memorization emerges", found to grow linearly with n. Their code
(Experiments/src/Evaluation/compute_fmem.py) computes, at each saved training time, the fraction f_mem of
generated samples whose nearest-to-second-nearest training distance ratio is below 1/3, with a percentile
bootstrap over the samples; the step from that curve to a single τ_mem is not in the code, and its exact
threshold could not be confirmed here. The operational definitions below are therefore our own, documented:

- τ_mem: the first checkpoint step at which the memorized fraction exceeds ONSET_LEVEL = 0.05, a small
  level rather than 0 because "the first copy" depends on how many samples M are drawn (more samples see a
  rare first copy sooner), while the step where the expected fraction passes 0.05 does not. For one
  simulation of M = 10 samples it is the first copy; a cell's mean over S such simulations needs more
  than S/2 copies in all. τ_half: the step at which the fraction exceeds 0.5 (where the n-sweep's n_mem
  is located). Both interpolated linearly in log step between the two checkpoints around the
  crossing, with statistics.estimators.first_upward_crossings (the function that locates n*), so the
  estimate is not pinned to the checkpoint grid and the log-log fit sees one scale.
- τ_gen: the first checkpoint after which no later value of Ê_OG (or a held-out loss; lower is better)
  falls below (1 − PLATEAU_TOL) × its value, PLATEAU_TOL = 0.05: from there on training improves it by less
  than 5%. A checkpoint, not interpolated: the criterion compares a checkpoint with all later ones and has
  no value between checkpoints.

Statuses: "reached"; "at the first checkpoint" (already memorizing, or already flat, at s_1: censored at
-inf in log step, i.e. τ <= s_1); "not reached within the budget" for τ_mem and "still improving at the
last checkpoint" for τ_gen (censored at +inf). Censored replicates stay in the percentile intervals as ±inf,
as statistics.estimators does for n*: a cell whose replicates partly never memorize gets an interval
reaching +inf rather than a falsely narrow one.

Per cell: the estimate is the time of the mean curve over the cell's simulations; replicates resample the
simulations (and, given the sample count M, the samples within each chosen simulation: Binomial(M, f) at
each checkpoint, whose samples are fresh draws), as report.analysis.memorization does for n_mem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memgen_cli.statistics.estimators import ABOVE_AT_START, CROSSED, NOT_REACHED, Crossings, \
    first_upward_crossings, percentile_interval
from memgen_cli.statistics.power_law import fit_power_law

ONSET_LEVEL = 0.05
HALF_LEVEL = 0.5
PLATEAU_TOL = 0.05
MIN_CELLS_FOR_FIT = 4  # a two-parameter fit with an interval needs residual degrees of freedom to spare

REACHED = "reached"
AT_FIRST = "at the first checkpoint"
MEM_WORDS = {CROSSED: REACHED, NOT_REACHED: "not reached within the budget", ABOVE_AT_START: AT_FIRST}
GEN_WORDS = {CROSSED: REACHED, NOT_REACHED: "still improving at the last checkpoint", ABOVE_AT_START: AT_FIRST}


def _log_steps(steps) -> np.ndarray:
    steps = np.asarray(steps, dtype=float)
    if steps.ndim != 1 or len(steps) == 0 or not np.all(steps > 0) or not np.all(np.diff(steps) > 0):
        raise ValueError("checkpoint steps must be positive and strictly increasing")
    return np.log(steps)


def _rows(values, width: int) -> np.ndarray:
    values = np.atleast_2d(np.asarray(values, dtype=float))
    if values.shape[1] != width:
        raise ValueError(f"curves have {values.shape[1]} checkpoints, steps {width}")
    if not np.all(np.isfinite(values)):
        raise ValueError("curves must be finite (leave out simulations with missing checkpoints)")
    return values


def memorization_crossings(steps, fractions, level: float = ONSET_LEVEL) -> Crossings:
    """Per curve (row of fractions): log step where the fraction first exceeds level, interpolated in log step."""
    log_steps = _log_steps(steps)
    return first_upward_crossings(log_steps, _rows(fractions, len(log_steps)), level)


def plateau_crossings(steps, values, tol: float = PLATEAU_TOL, log_values: bool = False) -> Crossings:
    """Per curve: log step of the first checkpoint k with min_{j>k} v_j >= (1 − tol) v_k (lower is better).

    log_values: the rows are natural logs of the values (the KDE distances, which leave float range); the
    test is then min_{j>k} ln v_j >= ln(1 − tol) + ln v_k. k = 0 is AT_FIRST; a k that is the last
    checkpoint (every earlier one is still beaten by more than tol) is NOT_REACHED.
    """
    log_steps = _log_steps(steps)
    if len(log_steps) < 2:
        raise ValueError("a plateau needs at least two checkpoints")
    v = _rows(values, len(log_steps))
    if not log_values:
        if np.any(v <= 0):
            raise ValueError("plateau values must be positive (pass log_values=True for logs)")
        v = np.log(v)
    later_min = np.full_like(v, np.inf)  # min over j > k, +inf for the last checkpoint
    later_min[:, :-1] = np.minimum.accumulate(v[:, ::-1], axis=1)[:, ::-1][:, 1:]
    flat = later_min >= v + np.log1p(-tol)
    k = flat.argmax(axis=1)  # the last column is always True
    status = np.where(k == 0, ABOVE_AT_START, np.where(k == v.shape[1] - 1, NOT_REACHED, CROSSED)).astype(object)
    log_x = np.where(status == CROSSED, log_steps[k], np.nan)
    return Crossings(log_x, status)


def mean_curve_replicates(curves, n_boot: int, rng: np.random.Generator, samples=None) -> np.ndarray:
    """(n_boot, K) mean curves of resampled simulations (rows of curves, drawn with replacement).

    samples: M per simulation (int or array); when given, each chosen simulation's fraction f at each
    checkpoint is redrawn as Binomial(M, f) / M and the replicate is copies / samples pooled over the chosen
    simulations (the second stage of report.analysis.memorization's two-stage bootstrap).
    """
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    sims = len(curves)
    draws = rng.integers(0, sims, size=(n_boot, sims))
    if samples is None:
        return curves[draws].mean(axis=1)
    m = np.broadcast_to(np.asarray(samples, dtype=int), (sims,))
    chosen = curves[draws]  # (n_boot, sims, K)
    weights = m[draws][:, :, None]
    copies = rng.binomial(np.broadcast_to(weights, chosen.shape), np.clip(chosen, 0.0, 1.0))
    return copies.sum(axis=1) / weights.sum(axis=1)


@dataclass(frozen=True)
class TimeEstimate:
    """A cell's training time: the mean curve's, and the censored replicates' interval, in steps."""

    step: float  # NaN unless status is REACHED
    status: str
    lo: float  # 0 when replicates reach the first checkpoint
    hi: float  # inf when replicates never get there within the budget
    replicates: np.ndarray  # censored log step per replicate
    frac_reached: float


def _estimate(point: Crossings, boot: Crossings, words: dict) -> TimeEstimate:
    interval = percentile_interval(boot.censored()).exp()
    return TimeEstimate(float(np.exp(point.log_x[0])), words[point.status[0]], interval.lo, interval.hi,
                        boot.censored(), float(np.mean(boot.status == CROSSED)))


def memorization_times(steps, fractions, rng: np.random.Generator, n_boot: int = 1000, samples=None,
                       onset: float = ONSET_LEVEL, half: float = HALF_LEVEL) -> dict[str, TimeEstimate]:
    """{"tau_mem": onset, "tau_half": the fraction's passage through one half} of one cell.

    fractions: (simulations, checkpoints) memorized fractions; both times come from the same replicates.
    """
    curves = _rows(fractions, len(_log_steps(steps)))
    mean = curves.mean(axis=0)[None, :]
    boot = mean_curve_replicates(curves, n_boot, rng, samples)
    return {name: _estimate(memorization_crossings(steps, mean, level), memorization_crossings(steps, boot, level),
                            MEM_WORDS)
            for name, level in (("tau_mem", onset), ("tau_half", half))}


def generalization_time(steps, values, rng: np.random.Generator, n_boot: int = 1000, tol: float = PLATEAU_TOL,
                        log_values: bool = False) -> TimeEstimate:
    """τ_gen of one cell: the plateau of the mean curve of Ê_OG (or a held-out loss) over its simulations.

    With log_values the cell curve is the mean log (a geometric mean), the natural average of distances
    spanning orders of magnitude.
    """
    curves = _rows(values, len(_log_steps(steps)))
    boot = mean_curve_replicates(curves, n_boot, rng)
    return _estimate(plateau_crossings(steps, curves.mean(axis=0), tol, log_values),
                     plateau_crossings(steps, boot, tol, log_values), GEN_WORDS)


@dataclass(frozen=True)
class ExponentFit:
    """τ = a n^β over cells, with a 95% interval on β; NaN and a status when no fit is made."""

    a: float
    beta: float
    beta_lo: float
    beta_hi: float
    points: int
    status: str  # "ok" or why not


def fit_time_exponent(n, estimates: list[TimeEstimate], min_cells: int = MIN_CELLS_FOR_FIT) -> ExponentFit:
    """β from the cells whose time is reached with a finite interval (statistics.power_law's weighted
    log-log least squares, weights from each interval, and its t interval on β).

    A cell that never memorizes within the budget, memorizes at the first checkpoint, or has replicates
    that do (interval reaching 0 or +inf) has no finite weight and is left out; with fewer than min_cells
    distinct n left the fit is refused, never made from fewer points than it needs.
    """
    n = np.asarray(n, dtype=float)
    if len(n) != len(estimates):
        raise ValueError(f"{len(n)} sizes but {len(estimates)} estimates")
    usable, left_out = [], []
    for size, est in zip(n, estimates):
        if est.status != REACHED:
            left_out.append(f"n={size:g} ({est.status})")
        elif not (0 < est.lo < est.hi < np.inf):
            left_out.append(f"n={size:g} (interval [{est.lo:g}, {est.hi:g}] not finite and positive)")
        else:
            usable.append((size, est))
    distinct = len({size for size, _ in usable})
    if distinct < min_cells:
        why = f"{distinct} sizes with a reached time and a finite interval; the fit needs {min_cells}"
        return ExponentFit(np.nan, np.nan, np.nan, np.nan, distinct, why + (": left out " + ", ".join(left_out)
                                                                         if left_out else ""))
    sizes = np.array([size for size, _ in usable])
    law = fit_power_law(sizes, np.array([e.step for _, e in usable]), np.array([e.lo for _, e in usable]),
                        np.array([e.hi for _, e in usable]))
    return ExponentFit(law.a, law.b, law.b_lo, law.b_hi, law.points, "ok")
