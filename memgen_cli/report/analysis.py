"""`memgen analyze`: find the memorization-to-generalization transition in a results folder.

Per group of cells (every swept parameter but n held fixed):

- ``n_star``: where P(Delta > 0) first crosses 0.5 going up, interpolated linearly in log n;
- ``n_onset``: the breakpoint of a continuous two-segment least-squares line through
  (log n, log y), y the generalization error (mean H² for the linear model, Ê_OG for the U-Net);
- their ratio, and whether it lies within a factor of 1 (the paper's claim that the two align).

Intervals are percentile bootstraps that resample trials within each cell (docs/analysis.md).
Only the CSVs are read; no sweep is recomputed.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from memgen_cli.errors import MemgenError
from memgen_cli.results_format import TRANSITIONS_FILE, atomic_write_csv
from memgen_cli.report.reader import (
    PRIMARY_P,
    PRIMARY_P_COLUMNS,
    SUMMARY_FILE,
    TRIALS_FILE,
    Results,
    format_value,
    group_label,
    numeric_column,
    read_results,
    require_columns,
    sort_key,
)

LEVEL = 0.5  # P(Delta > 0) above this: the model generalizes (paper, section 3)
BREAK_GRID = 1000  # breakpoints tried per fit; bootstrap replicates use the grid alone
MIN_POINTS_FOR_ONSET = 4  # two free segments need at least two points each
MAX_DRAWS = 2_000_000  # resampled trial indices held at once per cell

# Crossing status words (also written to transitions.csv).
CROSSED = "crossed"
NOT_REACHED = "not reached"
ABOVE_AT_START = "above 0.5 at smallest n"


# ----------------------------------------------------------------------------------------------
# The crossing of 0.5


def first_upward_crossing(log_x: np.ndarray, p: np.ndarray, level: float = LEVEL) -> tuple[float, str]:
    """log x where p first goes from <= level to > level, interpolated linearly in log x.

    Returns (log_x_star, status); log_x_star is NaN unless status is ``crossed``. A curve that is
    already above the level at its smallest x has no upward crossing inside the sweep.
    """
    values, statuses = first_upward_crossings(log_x, p[None, :], level)
    return float(values[0]), statuses[0]


def first_upward_crossings(
    log_x: np.ndarray, p: np.ndarray, level: float = LEVEL
) -> tuple[np.ndarray, list[str]]:
    """Vectorised over rows of p (replicates x points); see first_upward_crossing."""
    replicates = p.shape[0]
    result = np.full(replicates, np.nan)
    statuses = [NOT_REACHED] * replicates
    if p.shape[1] == 0:
        return result, statuses
    starts_above = p[:, 0] > level
    crosses = (p[:, :-1] <= level) & (p[:, 1:] > level)
    has_crossing = crosses.any(axis=1) & ~starts_above
    rows = np.flatnonzero(has_crossing)
    i = crosses[rows].argmax(axis=1)
    p0, p1 = p[rows, i], p[rows, i + 1]
    t = (level - p0) / (p1 - p0)  # p1 > level >= p0, so 0 <= t < 1
    result[rows] = log_x[i] + t * (log_x[i + 1] - log_x[i])
    for row in np.flatnonzero(starts_above):
        statuses[row] = ABOVE_AT_START
    for row in rows:
        statuses[row] = CROSSED
    return result, statuses


# ----------------------------------------------------------------------------------------------
# The two-segment (broken-line) fit


@dataclass(frozen=True)
class BrokenLine:
    """v = level + slope_before * min(u - u_break, 0) + slope_after * max(u - u_break, 0)."""

    u_break: float
    level: float
    slope_before: float
    slope_after: float
    rss: float

    def __call__(self, u: np.ndarray) -> np.ndarray:
        du = np.asarray(u, dtype=float) - self.u_break
        return self.level + self.slope_before * np.minimum(du, 0) + self.slope_after * np.maximum(du, 0)


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


def fit_broken_line(u: np.ndarray, v: np.ndarray) -> BrokenLine:
    """Least-squares continuous two-segment line: grid search over the breakpoint, then refined."""
    if len(u) < MIN_POINTS_FOR_ONSET:
        raise ValueError(f"need at least {MIN_POINTS_FOR_ONSET} points, got {len(u)}")
    grid = breakpoint_grid(u)

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
    return BrokenLine(u_break, float(coef[0]), float(coef[1]), float(coef[2]), rss_at(u_break))


def bootstrap_breakpoints(u: np.ndarray, v_replicates: np.ndarray) -> np.ndarray:
    """Grid breakpoint of each replicate column (NaN where a replicate has a non-finite value)."""
    result = np.full(v_replicates.shape[1], np.nan)
    finite = np.all(np.isfinite(v_replicates), axis=0)
    if finite.any():
        grid = breakpoint_grid(u)
        rss = broken_line_rss(u, v_replicates[:, finite], grid)
        result[finite] = grid[np.argmin(rss, axis=0)]
    return result


# ----------------------------------------------------------------------------------------------
# Which columns hold the generalization error


@dataclass(frozen=True)
class ErrorMetric:
    """The generalization error used for n_onset, and how to rebuild it from trials."""

    name: str  # as printed: "H²", "Ê_OG"
    summary_column: str  # mean_<M> in summary.csv
    trial_column: str  # <M> in trials.csv
    summary_is_log: bool  # mean_log_E_OG: log y is the mean itself (a log geometric mean)


def error_metric(summary: pd.DataFrame) -> ErrorMetric | None:
    """mean H² for the linear model; else Ê_OG from plain means (U-Net) or from log means."""
    if "mean_H2" in summary.columns:
        return ErrorMetric("H²", "mean_H2", "H2", False)
    if "mean_E_OG" in summary.columns:
        return ErrorMetric("Ê_OG", "mean_E_OG", "E_OG", False)
    if "mean_log_E_OG" in summary.columns:
        return ErrorMetric("Ê_OG", "mean_log_E_OG", "log_E_OG", True)
    return None


def log_error(values: np.ndarray, metric: ErrorMetric) -> np.ndarray:
    """log y for the fit: the log of a mean, or a mean of logs as it stands."""
    values = np.asarray(values, dtype=float)
    if metric.summary_is_log:
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(values)


def error_points(cells: pd.DataFrame, metric: ErrorMetric) -> tuple[np.ndarray, np.ndarray]:
    """(mask of cells with a finite log error, log error of every cell) for the onset fit."""
    logy = log_error(numeric_column(cells, metric.summary_column, SUMMARY_FILE), metric)
    return np.isfinite(logy), logy


# ----------------------------------------------------------------------------------------------
# Groups of cells


@dataclass(frozen=True)
class Group:
    key: tuple  # values of the group columns
    label: str
    cells: pd.DataFrame  # summary rows, sorted by x, x > 0 and finite


def group_columns(results: Results, x: str) -> list[str]:
    return [column for column in results.swept if column != x]


def x_values(results: Results, x: str) -> np.ndarray:
    """The x column as floats; a log axis needs every value positive."""
    if x not in results.parameters:
        listed = ", ".join(results.parameters) or "none"
        raise MemgenError(f"--x: '{x}' is not a parameter column of {SUMMARY_FILE} (parameters: {listed})")
    values = numeric_column(results.summary, x, SUMMARY_FILE)
    finite = values[np.isfinite(values)]
    if len(finite) and np.any(finite <= 0):
        raise MemgenError(f"{SUMMARY_FILE}: column '{x}' has values <= 0; a log axis needs {x} > 0")
    return values


def split_groups(results: Results, x: str, columns: Sequence[str]) -> list[Group]:
    """Cells grouped by the given columns, each group sorted by x; rows with no usable x dropped."""
    summary = results.summary.copy()
    summary["_x"] = x_values(results, x)
    summary = summary[np.isfinite(summary["_x"])]
    if summary.empty:
        raise MemgenError(f"{SUMMARY_FILE}: column '{x}' has no finite values")
    if columns:
        pieces = [
            (key if isinstance(key, tuple) else (key,), frame)
            for key, frame in summary.groupby(list(columns), dropna=False, sort=False)
        ]
    else:
        pieces = [((), summary)]
    pieces.sort(key=lambda item: tuple(sort_key(v) for v in item[0]))
    groups = []
    for key, frame in pieces:
        frame = frame.sort_values("_x", kind="stable")
        label = group_label(columns, key)
        duplicated = frame["_x"].duplicated()
        if duplicated.any():
            value = format_value(frame["_x"][duplicated].iloc[0])
            raise MemgenError(
                f"{SUMMARY_FILE}: two cells of group '{label}' share {x} = {value}; "
                "a swept parameter is missing from the file"
            )
        groups.append(Group(key, label, frame.reset_index(drop=True)))
    return groups


# ----------------------------------------------------------------------------------------------
# Bootstrap replicates of P(Delta > 0) and of the error, per cell


def replicate_cells(
    results: Results, cells: pd.DataFrame, metric: ErrorMetric | None, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(p, log y) for each bootstrap replicate: arrays of shape (cells, n_boot), NaN where a cell has none.

    Resamples the trials of each cell with replacement (jointly for P and the error, so that the
    ratio n_star / n_onset gets a paired interval). Without trials.csv, or without a per-trial
    column, the summary's counts stand in: a binomial draw for P (the same distribution as
    resampling 0/1 trials) and a normal draw around the mean with its standard error for the error.
    """
    trials = results.trials
    by_cell: dict | None = None
    if trials is not None and "cell" in trials.columns and "delta_positive" in trials.columns:
        by_cell = {cell: frame for cell, frame in trials.groupby("cell", sort=False)}
    p = np.full((len(cells), n_boot), np.nan)
    logy = np.full((len(cells), n_boot), np.nan) if metric is not None else None
    used_trials = by_cell is not None
    for row in range(len(cells)):
        cell = cells.iloc[row]
        cell_trials = by_cell.get(cell["cell"]) if by_cell is not None and "cell" in cell.index else None
        if cell_trials is None or len(cell_trials) == 0:
            used_trials = False
            p[row] = summary_p_replicates(cell, n_boot, rng)
            if metric is not None:
                logy[row] = summary_metric_replicates(cell, metric, n_boot, rng)
            continue
        outcome = numeric_column(cell_trials, "delta_positive", TRIALS_FILE)
        outcome = np.where(np.isfinite(outcome), outcome, np.nan)
        value = None
        if metric is not None and metric.trial_column in cell_trials.columns:
            value = numeric_column(cell_trials, metric.trial_column, TRIALS_FILE)
            value = np.where(np.isfinite(value), value, np.nan)
        elif metric is not None:
            used_trials = False
            logy[row] = summary_metric_replicates(cell, metric, n_boot, rng)
        m = len(cell_trials)
        chunk = max(1, MAX_DRAWS // m)  # bounds memory for cells with many trials
        for start in range(0, n_boot, chunk):
            stop = min(start + chunk, n_boot)
            draws = rng.integers(0, m, size=(stop - start, m))
            with _quiet_nanmean():
                p[row, start:stop] = np.nanmean(outcome[draws], axis=1)
                if value is not None:
                    logy[row, start:stop] = log_error(np.nanmean(value[draws], axis=1), metric)
    method = "trials" if used_trials else "summary (binomial/normal approximation)"
    return p, logy, method


def summary_p_replicates(cell: pd.Series, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Binomial(trials, p) / trials: resampling 0/1 trials when only their count and mean are known."""
    p_hat = float(cell[PRIMARY_P])
    count = int(cell["trials"]) if "trials" in cell.index and np.isfinite(cell["trials"]) else 0
    if not np.isfinite(p_hat) or count < 1:
        return np.full(n_boot, np.nan)
    return rng.binomial(count, min(max(p_hat, 0.0), 1.0), size=n_boot) / count


def summary_metric_replicates(
    cell: pd.Series, metric: ErrorMetric, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """Normal draws around the cell's mean with its standard error (no per-trial values at hand)."""
    mean = float(cell[metric.summary_column])
    se_column = "se_" + metric.summary_column[len("mean_") :]
    se = float(cell[se_column]) if se_column in cell.index else 0.0
    se = se if np.isfinite(se) else 0.0
    draws = mean + se * rng.standard_normal(n_boot)
    if not metric.summary_is_log:
        draws = np.where(draws > 0, draws, np.nan)  # a mean error <= 0 has no log; that replicate fails
    return log_error(draws, metric)


@contextmanager
def _quiet_nanmean():
    """nanmean of an all-NaN row warns; here an all-NaN replicate is simply NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(divide="ignore", invalid="ignore"):
            yield


# ----------------------------------------------------------------------------------------------
# Intervals


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """2.5 and 97.5 percentiles of replicates that may hold -inf/+inf (censored beyond the sweep).

    Uses the inverted-CDF rule, which returns actual replicate values, so infinities stay infinite
    rather than poisoning an interpolation. NaN replicates (failed fits) are left out.
    """
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [0.025, 0.975], method="inverted_cdf")
    return float(lo), float(hi)


# ----------------------------------------------------------------------------------------------
# One group


def analyze_group(
    results: Results,
    group: Group,
    metric: ErrorMetric | None,
    align_factor: float,
    n_boot: int,
    rng: np.random.Generator,
) -> dict:
    """One row of transitions.csv."""
    cells = group.cells
    log_x_all = np.log(cells["_x"].to_numpy(dtype=float))
    p_all = numeric_column(cells, PRIMARY_P, SUMMARY_FILE)
    has_p = np.isfinite(p_all)  # a cell with no trial has no P; it is left out, not guessed
    log_x, p = log_x_all[has_p], p_all[has_p]
    row: dict = {
        "group": group.label,
        "cells": len(cells),
        "cells_with_p": int(has_p.sum()),
        "n_min": float(np.exp(log_x_all[0])),
        "n_max": float(np.exp(log_x_all[-1])),
    }
    p_boot, logy_boot, method = replicate_cells(results, cells, metric, n_boot, rng)

    # n_star: the point estimate from summary.csv, the interval from the replicates.
    u_boot = np.full(n_boot, np.nan)
    frac_crossed = np.nan
    if len(p) < 2:
        u_star, star_status = np.nan, f"too few points ({len(p)} with a finite P)"
    else:
        u_star, star_status = first_upward_crossing(log_x, p)
        u_boot, boot_status = first_upward_crossings(log_x, p_boot[has_p].T)
        status = np.array(boot_status)
        # Replicates with no crossing inside the sweep are censored, not dropped: they widen the interval.
        u_boot[status == ABOVE_AT_START] = -np.inf
        u_boot[status == NOT_REACHED] = np.inf
        u_boot[np.isnan(p_boot[has_p]).any(axis=0)] = np.nan
        valid = ~np.isnan(p_boot[has_p]).any(axis=0)
        frac_crossed = float(np.mean(status[valid] == CROSSED)) if valid.any() else np.nan
    lo, hi = percentile_interval(u_boot)
    row.update(
        n_star=float(np.exp(u_star)),
        n_star_lo=float(np.exp(lo)),
        n_star_hi=float(np.exp(hi)),
        n_star_status=star_status,
        boot_frac_crossed=frac_crossed,
    )

    # n_onset: breakpoint of the two-segment fit of log y against log n.
    row.update(
        error_metric=metric.name if metric else "",
        n_onset=np.nan,
        n_onset_lo=np.nan,
        n_onset_hi=np.nan,
        slope_before=np.nan,
        slope_after=np.nan,
    )
    onset_boot = np.full(n_boot, np.nan)
    if metric is None:
        onset_status = "not estimable: no mean_H2, mean_E_OG or mean_log_E_OG in summary.csv"
    else:
        fit_rows, logy = error_points(cells, metric)
        if fit_rows.sum() < MIN_POINTS_FOR_ONSET:
            onset_status = (
                f"not estimable: {int(fit_rows.sum())} points with a finite {metric.name}, "
                f"need {MIN_POINTS_FOR_ONSET}"
            )
        else:
            fit = fit_broken_line(log_x_all[fit_rows], logy[fit_rows])
            row.update(
                n_onset=float(np.exp(fit.u_break)), slope_before=fit.slope_before, slope_after=fit.slope_after
            )
            onset_status = (
                "ok"
                if fit.slope_after < fit.slope_before
                else ("no faster decay after the breakpoint (slope_after >= slope_before)")
            )
            onset_boot = bootstrap_breakpoints(log_x_all[fit_rows], logy_boot[fit_rows])
            lo, hi = percentile_interval(onset_boot)
            row.update(n_onset_lo=float(np.exp(lo)), n_onset_hi=float(np.exp(hi)))
    row["onset_status"] = onset_status

    # Ratio (paired replicates: both come from the same resampled trials) and verdict.
    aligned_inputs = star_status == CROSSED and onset_status == "ok"
    row["ratio"] = row["n_star"] / row["n_onset"] if aligned_inputs else np.nan
    lo, hi = percentile_interval(u_boot - onset_boot) if aligned_inputs else (np.nan, np.nan)
    row.update(ratio_lo=float(np.exp(lo)), ratio_hi=float(np.exp(hi)))
    row["verdict"], row["verdict_reason"] = alignment_verdict(
        row["ratio"], star_status, onset_status, align_factor
    )

    # The far end: the paper expects P to return towards 0.5 as n approaches N.
    if len(p):
        peak = int(np.argmax(p))
        last = np.flatnonzero(has_p)[-1]
        row.update(
            p_peak=float(p[peak]),
            n_at_peak=float(np.exp(log_x[peak])),
            n_last_p=float(np.exp(log_x[-1])),
            p_at_n_max=float(p[-1]),
            p_at_n_max_lo=float(numeric_column(cells, f"{PRIMARY_P}_lo", SUMMARY_FILE)[last]),
            p_at_n_max_hi=float(numeric_column(cells, f"{PRIMARY_P}_hi", SUMMARY_FILE)[last]),
        )
    else:
        row.update(
            p_peak=np.nan,
            n_at_peak=np.nan,
            n_last_p=np.nan,
            p_at_n_max=np.nan,
            p_at_n_max_lo=np.nan,
            p_at_n_max_hi=np.nan,
        )
    row["bootstrap"] = method
    return row


def alignment_verdict(ratio: float, star_status: str, onset_status: str, factor: float) -> tuple[str, str]:
    """'aligned' when n_star / n_onset lies in [1/factor, factor]."""
    if star_status != CROSSED:
        return "undetermined", f"n_star {star_status}"
    if onset_status != "ok":
        return "undetermined", f"n_onset {onset_status}"
    within = 1 / factor <= ratio <= factor
    relation = "within" if within else "outside"
    return (
        "aligned" if within else "not aligned"
    ), f"n_star/n_onset = {ratio:.3g}, {relation} a factor {factor:g}"


# ----------------------------------------------------------------------------------------------
# The whole folder


def find_transitions(
    results_dir: Path | str, align_factor: float = 2.0, n_boot: int = 1000, seed: int = 0, x: str = "n"
) -> pd.DataFrame:
    """One row per group: n_star, n_onset, their intervals and ratio, and P at the largest n."""
    if not align_factor > 1:
        raise MemgenError(f"--align-factor: must be > 1 (got {align_factor:g})")
    if n_boot < 1:
        raise MemgenError(f"--bootstrap: must be >= 1 (got {n_boot})")
    results = read_results(results_dir)
    return transitions_table(results, align_factor, n_boot, seed, x)


def transitions_table(
    results: Results, align_factor: float = 2.0, n_boot: int = 1000, seed: int = 0, x: str = "n"
) -> pd.DataFrame:
    """find_transitions on a Results already read (plot uses it for the transition figure)."""
    require_columns(results.summary, (x, *PRIMARY_P_COLUMNS), SUMMARY_FILE)
    columns = group_columns(results, x)
    groups = split_groups(results, x, columns)
    metric = error_metric(results.summary)
    rng = np.random.default_rng(seed)
    rows = []
    for group in groups:
        row = dict(zip(columns, group.key))
        row.update(analyze_group(results, group, metric, align_factor, n_boot, rng))
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["group_columns"] = columns
    table.attrs["model"] = results.model
    table.attrs["notes"] = list(results.notes)
    return table


def write_transitions(table: pd.DataFrame, out_dir: Path | str) -> Path:
    """Write transitions.csv atomically (a reader never sees half a file)."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / TRANSITIONS_FILE
        atomic_write_csv(path, table)
    except OSError as error:
        raise MemgenError(f"{out_dir}: cannot write {TRANSITIONS_FILE} ({error.strerror or error})") from None
    return path
