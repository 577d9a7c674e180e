"""`memgen analyze`: find the memorization-to-generalization transition in a results folder.

Per group of cells (every swept parameter but n held fixed):

- ``n_star``: where P(Delta > 0) first crosses 0.5 going up, interpolated linearly in log n;
- ``n_onset``: where the generalization error y (mean H² for the linear model, Ê_OG for the U-Net)
  first leaves its plateau: the break of a continuous two-segment line through (log n, log y) fitted on
  the plateau and the first two cells off it (memgen_cli.statistics.onset);
- their ratio, and whether it lies within a factor F of 1 (``--align-factor``, default 2: the
  paper's claim that the two align).

Intervals are percentile bootstraps that resample trials within each cell (docs/analysis.md); each
group's generator is seeded from (seed, the group's parameters), so a group's interval does not
depend on which other groups the folder holds. This module reads the CSVs, forms the groups and
writes the rows; the math is in memgen_cli.statistics.estimators. Only the CSVs are read; no sweep is
recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Hashable, Sequence

import numpy as np
import pandas as pd

from memgen_cli.errors import MemgenError
from memgen_cli.report.analysis.bootstrap import ErrorMetric, error_metric, error_points, replicate_cells
from memgen_cli.report.analysis.calibrated import calibrated, cell_bounds, p_status, widened_ratio
from memgen_cli.statistics.estimators import (
    CROSSED,
    MIN_POINTS_FOR_ONSET,
    NO_FASTER_DECAY,
    NO_INTERVAL,
    ONSET_OK,
    CrossingEstimate,
    alignment_verdict,
    estimate_crossing,
    percentile_interval,
)
from memgen_cli.statistics.onset import estimate_onset
from memgen_cli.report.reader import (
    PRIMARY_P,
    PRIMARY_P_COLUMNS,
    SUMMARY_FILE,
    Results,
    format_value,
    group_label,
    numeric_column,
    read_results,
    require_columns,
    sort_key,
)
from memgen_cli.seeding import derived_seed

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


def canonical_value(value: Hashable) -> Hashable:
    """One spelling per value, whatever dtype pandas gave its column: 16 == 16.0, every NaN is None."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return int(value) if float(value).is_integer() else float(value)
    return value


def group_key(columns: Sequence[str], values: Sequence[Hashable]) -> tuple:
    """(column, value) pairs naming a group: equal for the same group in summary.csv, a figure or transitions.csv."""
    return tuple((column, canonical_value(value)) for column, value in zip(columns, values))


def cells_key(cells: pd.DataFrame, columns: Sequence[str]) -> tuple:
    """The group key of a group's cells (the columns hold one value across them)."""
    return group_key(columns, [cells[column].iloc[0] for column in columns])


def group_seed(seed: int, results: Results, x: str, cells: pd.DataFrame) -> int:
    """Seed of one group's bootstrap, from the root seed and every parameter of the group but x.

    Never from the group's position, nor from which columns happen to vary: adding or removing
    another group (or drawing the groups in another order) leaves this group's interval as it is.
    """
    key = cells_key(cells, [column for column in results.parameters if column != x])
    return derived_seed(seed, "transition", [list(pair) for pair in key])


def row_for_cells(table: pd.DataFrame, cells: pd.DataFrame) -> int:
    """Position in a transitions table of the row for these cells, matched by group key, not order."""
    columns = table.attrs["group_columns"]
    keys = [group_key(columns, values) for values in table[columns].itertuples(index=False, name=None)]
    return keys.index(cells_key(cells, columns))


STAR_COLUMNS = ("n_star", "n_star_lo", "n_star_hi", "n_star_status", "n_star_grid_limited", "n_star_crossing",
                "n_star_discriminates_at", "n_star_blind_at")


def located_columns(table: pd.DataFrame | None, cells: pd.DataFrame, name: str) -> dict:
    """These cells' ``name`` (point, interval, status, grid flag) as ``table`` (memorization.csv's groups) has it,
    where it crossed: one number, one interval in every file that shows it. {} otherwise (a criterion that did not
    cross is described by each table in its own words)."""
    columns = (name, f"{name}_lo", f"{name}_hi", f"{name}_status", f"{name}_grid_limited")
    if table is None or "group_columns" not in table.attrs or not all(c in table.columns for c in columns[:4]):
        return {}
    try:
        row = table.iloc[row_for_cells(table, cells)]
    except (KeyError, ValueError):
        return {}
    return {c: row[c] for c in columns if c in row.index} if row[f"{name}_status"] == CROSSED else {}


def transitions_star(transitions: pd.DataFrame | None, cells: pd.DataFrame) -> dict:
    """These cells' n*, as transitions.csv has it (point, interval, status, grid and calibration columns), for the
    tables that show n* beside their own criterion (memorization.csv, criteria.csv): one number, one interval
    (issue 37). {} without that table or the group's row."""
    if transitions is None or "group_columns" not in transitions.attrs or \
            not all(c in transitions.columns for c in STAR_COLUMNS[:4]):
        return {}
    try:
        row = transitions.iloc[row_for_cells(transitions, cells)]
    except (KeyError, ValueError):
        return {}
    return {c: row[c] for c in STAR_COLUMNS if c in row.index}


# ----------------------------------------------------------------------------------------------
# One group: each part of its row


def star_columns(log_x: np.ndarray, p: np.ndarray, p_boot: np.ndarray) -> tuple[dict, np.ndarray]:
    """n_star, its interval and status, and the censored replicates (for the paired ratio).

    A cell with no trial has no P; it is left out, not guessed.
    """
    has_p = np.isfinite(p)
    if has_p.sum() < 2:
        estimate = CrossingEstimate(
            np.nan,
            f"too few points ({int(has_p.sum())} with a finite P)",
            np.full(p_boot.shape[1], np.nan),
            np.nan,
        )
    else:
        estimate = estimate_crossing(log_x[has_p], p[has_p], p_boot[has_p])
    interval = percentile_interval(estimate.replicates).exp()
    columns = dict(
        n_star=float(np.exp(estimate.log_x)),
        n_star_lo=interval.lo,
        n_star_hi=interval.hi,
        n_star_status=estimate.status,
        boot_frac_crossed=estimate.frac_crossed,
    )
    return columns, estimate.replicates


def onset_columns(
    cells: pd.DataFrame, log_x: np.ndarray, metric: ErrorMetric | None, logy_boot: np.ndarray | None
) -> tuple[dict, np.ndarray | None]:
    """n_onset, its interval, the local two-segment fit (enough to draw it again) and the onset status.

    n_onset is where the error first leaves its plateau, fitted on the plateau and the first two cells off it
    (memgen_cli.statistics.onset). Also returns the replicates' onsets (for the paired ratio); None without
    a fit.
    """
    columns = dict(
        error_metric=metric.name if metric else "",
        n_onset=np.nan,
        n_onset_lo=np.nan,
        n_onset_hi=np.nan,
        n_onset_grid_limited=False,
        slope_before=np.nan,
        slope_after=np.nan,
        log_error_at_onset=np.nan,
        fit_n_min=np.nan,
        fit_n_max=np.nan,
    )
    if metric is None:
        status = "not estimable: no mean_H2, mean_E_OG or mean_log_E_OG in summary.csv"
        return {**columns, "onset_status": status}, None
    fit_rows, logy = error_points(cells, metric)
    if fit_rows.sum() < MIN_POINTS_FOR_ONSET:
        status = (
            f"not estimable: {int(fit_rows.sum())} points with a finite {metric.name}, "
            f"need {MIN_POINTS_FOR_ONSET}"
        )
        return {**columns, "onset_status": status}, None
    onset = estimate_onset(log_x[fit_rows], logy[fit_rows], logy_boot[fit_rows])
    if onset.fit is None:
        return {**columns, "onset_status": onset.status}, None
    fitted_x = cells["_x"].to_numpy(dtype=float)[fit_rows]
    interval, widened = onset.interval(fitted_x)
    columns.update(
        n_onset=float(np.exp(onset.fit.u_break)),
        n_onset_lo=interval.lo,
        n_onset_hi=interval.hi,
        n_onset_grid_limited=widened,
        slope_before=onset.fit.slope_before,
        slope_after=onset.fit.slope_after,
        log_error_at_onset=onset.fit.level,
        fit_n_min=float(fitted_x[onset.window[0]]),
        fit_n_max=float(fitted_x[onset.window[1]]),
    )
    status = ONSET_OK if onset.fit.decay_speeds_up else NO_FASTER_DECAY
    return {**columns, "onset_status": status}, onset.replicates


def ratio_columns(
    star: dict, onset: dict, star_boot: np.ndarray, onset_boot: np.ndarray | None, align_factor: float
) -> dict:
    """n_star / n_onset with a paired interval (both replicates come from the same resampled trials)."""
    aligned_inputs = star["n_star_status"] == CROSSED and onset["onset_status"] == ONSET_OK
    ratio = star["n_star"] / onset["n_onset"] if aligned_inputs else np.nan
    with np.errstate(invalid="ignore"):  # inf - inf: a replicate beyond the sweep on both sides, left out
        interval = (percentile_interval(star_boot - onset_boot) if aligned_inputs else NO_INTERVAL).exp()
    lo, hi = widened_ratio(interval.lo, interval.hi, star, "n_star", onset, "n_onset") if aligned_inputs \
        else (interval.lo, interval.hi)
    verdict = alignment_verdict(ratio, lo, hi, star["n_star_status"], onset["onset_status"], align_factor)
    return dict(
        ratio=ratio,
        ratio_lo=lo,
        ratio_hi=hi,
        verdict=verdict.label,
        verdict_reason=verdict.reason,
    )


def far_end_columns(cells: pd.DataFrame, log_x: np.ndarray, p: np.ndarray) -> dict:
    """The far end: the paper expects P to return towards 0.5 as n approaches N."""
    has_p = np.flatnonzero(np.isfinite(p))
    if not len(has_p):
        names = ("p_peak", "n_at_peak", "n_last_p", "p_at_n_max", "p_at_n_max_lo", "p_at_n_max_hi")
        return dict.fromkeys(names, np.nan)
    peak, last = has_p[int(np.argmax(p[has_p]))], has_p[-1]
    return dict(
        p_peak=float(p[peak]),
        n_at_peak=float(cells["_x"].iloc[peak]),  # the grid's own values, not exp(log n)'s 127.99999999999996
        n_last_p=float(cells["_x"].iloc[last]),
        p_at_n_max=float(p[last]),
        p_at_n_max_lo=float(numeric_column(cells, f"{PRIMARY_P}_lo", SUMMARY_FILE)[last]),
        p_at_n_max_hi=float(numeric_column(cells, f"{PRIMARY_P}_hi", SUMMARY_FILE)[last]),
    )


def _listed(values: np.ndarray, most: int = 6) -> str:
    shown = ", ".join(format_value(v) for v in values[:most])
    return shown + (f", … ({len(values)} in all)" if len(values) > most else "")


def skipped_cells_notes(group: Group, x: str, metric: ErrorMetric | None) -> list[str]:
    """What a group's row leaves out, said: a "P at max n" taken from a smaller n is never silent."""
    cells, notes = group.cells, []
    xs = cells["_x"].to_numpy(dtype=float)
    no_p = ~np.isfinite(numeric_column(cells, PRIMARY_P, SUMMARY_FILE))
    if no_p.any():
        note = (f"{group.label}: {int(no_p.sum())} cell(s) with a NaN or infinite {PRIMARY_P} left out "
                f"({x} = {_listed(xs[no_p])})")
        if no_p[-1] and not no_p.all():
            note += (f"; P at max {x} is the one at {x} = {format_value(xs[~no_p][-1])} (n_last_p), not at "
                     f"{x} = {format_value(xs[-1])}")
        notes.append(note + ".")
    if metric is not None:
        no_error = ~error_points(cells, metric)[0]
        if no_error.any():
            what = "NaN or infinite" if metric.summary_is_log else "NaN, infinite or <= 0"
            notes.append(f"{group.label}: {int(no_error.sum())} cell(s) with a {what} {metric.summary_column} "
                         f"left out of the n_onset fit ({x} = {_listed(xs[no_error])}).")
    return notes


def analyze_group(
    results: Results,
    group: Group,
    metric: ErrorMetric | None,
    align_factor: float,
    n_boot: int,
    rng: np.random.Generator,
) -> dict:
    """One row of transitions.csv: point estimates from summary.csv, intervals from the replicates."""
    cells = group.cells
    log_x = np.log(cells["_x"].to_numpy(dtype=float))
    p = numeric_column(cells, PRIMARY_P, SUMMARY_FILE)
    p_boot, logy_boot, method = replicate_cells(results, cells, metric, n_boot, rng)
    star, star_boot = star_columns(log_x, p, p_boot)
    # Honest on a grid, and only where the metric tells the references apart (report.analysis.calibrated).
    has_p = np.isfinite(p)
    lo, hi = (bound[has_p] for bound in cell_bounds(cells, "delta_positive"))
    status = p_status(cells, "delta_positive", results.analytic_memorizer)[has_p]
    star = calibrated("n_star", star, cells["_x"].to_numpy(dtype=float)[has_p], status, lo, hi)
    onset, onset_boot = onset_columns(cells, log_x, metric, logy_boot)
    return {
        "group": group.label,
        "cells": len(cells),
        "cells_with_p": int(np.isfinite(p).sum()),
        "n_min": float(cells["_x"].iloc[0]),
        "n_max": float(cells["_x"].iloc[-1]),
        **star,
        **onset,
        **ratio_columns(star, onset, star_boot, onset_boot, align_factor),
        **far_end_columns(cells, log_x, p),
        "bootstrap": method,
    }


# ----------------------------------------------------------------------------------------------
# The whole folder


def find_transitions(
    results_dir: Path | str, align_factor: float = 2.0, n_boot: int = 1000, seed: int = 0, x: str = "n"
) -> pd.DataFrame:
    """One row per group: n_star, n_onset, their intervals and ratio, and P at the largest n."""
    results = read_results(results_dir)
    return transitions_table(results, align_factor, n_boot, seed, x)


def transitions_table(
    results: Results, align_factor: float = 2.0, n_boot: int = 1000, seed: int = 0, x: str = "n"
) -> pd.DataFrame:
    """find_transitions on a Results already read (plot draws its transition figure from it)."""
    require_columns(results.summary, (x, *PRIMARY_P_COLUMNS), SUMMARY_FILE)
    columns = group_columns(results, x)
    metric = error_metric(results.summary)
    rows, notes = [], list(results.notes)
    for group in split_groups(results, x, columns):
        rng = np.random.default_rng(group_seed(seed, results, x, group.cells))
        rows.append(
            {
                **dict(zip(columns, group.key)),
                **analyze_group(results, group, metric, align_factor, n_boot, rng),
            }
        )
        notes += skipped_cells_notes(group, x, metric)
    table = pd.DataFrame(rows)
    table.attrs["group_columns"] = columns
    table.attrs["model"] = results.model
    table.attrs["notes"] = notes
    return table
