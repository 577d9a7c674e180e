"""Bootstrap replicates of each cell's P(Delta > 0) and generalization error, from the CSVs.

Which column holds the error (mean H² for the linear model, Ê_OG for the U-Net) lives here too:
the replicates rebuild it from trials.csv, the onset fit and the transition figure read it from
summary.csv. The estimators that consume the replicates are in memgen_cli.statistics.estimators.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from memgen_cli.report.reader import PRIMARY_P, SUMMARY_FILE, TRIALS_FILE, Results, numeric_column

MAX_DRAWS = 2_000_000  # resampled trial indices held at once per cell
TRIALS_METHOD = "trials"
SUMMARY_METHOD = "summary (binomial/normal approximation)"


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
# Bootstrap replicates of P(Delta > 0) and of the error, per cell


def replicate_cells(
    results: Results, cells: pd.DataFrame, metric: ErrorMetric | None, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(p, log y) for each bootstrap replicate: arrays of shape (cells, n_boot), NaN where a cell has none.

    Resamples the trials of each cell with replacement (jointly for P and the error, so that the
    ratio n_star / n_onset gets a paired interval). Where trials used several original sets, resamples
    the sets first (shared by the group's cells), then trials within them: the interval then covers the
    original set's draw too. Without trials.csv, or without a per-trial
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
    cluster = results.cluster_column
    set_ids, chosen_sets = group_set_draws(trials, cells, n_boot, rng, cluster)
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
        if chosen_sets is not None:
            sets = cell_trials[cluster].to_numpy()
            members = [np.flatnonzero(sets == s) for s in set_ids]
            p[row], mean_value = two_stage_means(outcome, value, members, chosen_sets, rng)
            if value is not None:
                logy[row] = log_error(mean_value, metric)
            continue
        m = len(cell_trials)
        chunk = max(1, MAX_DRAWS // m)  # bounds memory for cells with many trials
        for start in range(0, n_boot, chunk):
            stop = min(start + chunk, n_boot)
            draws = rng.integers(0, m, size=(stop - start, m))
            with _quiet_nanmean():
                p[row, start:stop] = np.nanmean(outcome[draws], axis=1)
                if value is not None:
                    logy[row, start:stop] = log_error(np.nanmean(value[draws], axis=1), metric)
    return p, logy, TRIALS_METHOD if used_trials else SUMMARY_METHOD


def group_set_draws(trials: pd.DataFrame | None, cells: pd.DataFrame, n_boot: int, rng: np.random.Generator,
                    cluster: str | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The original sets of a group's cells and, with two or more, which sets each replicate takes.

    Set k is one and the same original set for every n of a group (it is drawn from d, N, μ, σ and k), so
    the sets are resampled once per replicate for the whole group, then trials within each set and cell.
    """
    if trials is None or cluster is None or cluster not in trials.columns or "cell" not in cells.columns:
        return None, None
    in_group = trials[trials["cell"].isin(cells["cell"])]
    set_ids = np.unique(in_group[cluster].dropna().to_numpy())
    if len(set_ids) < 2:
        return None, None  # one set: trials are all there is to resample (conditional on that set)
    return set_ids, rng.integers(0, len(set_ids), size=(n_boot, len(set_ids)))


def two_stage_means(outcome: np.ndarray, value: np.ndarray | None, members: list[np.ndarray],
                    chosen_sets: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Per replicate, the means over the resampled sets' resampled trials (finite values only)."""
    n_boot = chosen_sets.shape[0]
    sums = np.zeros((2, n_boot))
    counts = np.zeros((2, n_boot))
    for position in range(chosen_sets.shape[1]):
        for which, idx in enumerate(members):
            rows = np.flatnonzero(chosen_sets[:, position] == which)
            if len(rows) == 0 or len(idx) == 0:
                continue
            draws = idx[rng.integers(0, len(idx), size=(len(rows), len(idx)))]
            for k, column in enumerate((outcome, value)):
                if column is not None:
                    picked = column[draws]
                    sums[k, rows] += np.nansum(picked, axis=1)
                    counts[k, rows] += np.sum(~np.isnan(picked), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)
    return means[0], (means[1] if value is not None else None)


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
