"""Summaries over trials: proportions with Wilson intervals (scipy), means with standard errors (pandas)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from memgen_cli.results_format import (COUNT_COLUMN, SET_COUNT_COLUMN, between_set_column, count_column,
                                       mean_columns,
                                       proportion_columns)


@lru_cache(maxsize=4096)  # binomtest also computes a p-value (0.7 ms); many cells share (k, n)
def wilson_interval(successes: int, total: int) -> tuple[float, float]:
    """Wilson 95% score interval for a binomial proportion (good at p near 0 or 1, unlike the Wald interval).

    NaN for no trials, where scipy's binomtest refuses.
    """
    if total == 0:
        return float("nan"), float("nan")
    from scipy.stats import binomtest  # here: scipy.stats takes a second to import, and a dry run needs none of it

    ci = binomtest(int(successes), int(total)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def summarize_trials(trials: pd.DataFrame, id_columns: list[str], binary_metrics: tuple[str, ...],
                     mean_metrics: tuple[str, ...], cluster: str | None = None) -> pd.DataFrame:
    """One row per cell: id columns, the trial count, ``p_<B>`` with its interval, ``mean/se/count_<M>``.

    Every statistic is over the trials where the metric is finite (an n <= d cell of the linear model has
    infinite log E; averaging them in would give inf), as docs/results-format.md says.

    ``cluster`` names a column that groups trials sharing a random input (the linear model's original set).
    With two or more such groups in a cell, intervals and standard errors also cover the spread between
    groups (docs/analysis.md, "Several original sets"); with one, they are conditional on it.
    """
    # A metric added after some parts were stored (Experiment.added_columns) may be absent from every row: its
    # summary reads as missing (NaN, count 0), never as 0.
    absent = [m for m in (*binary_metrics, *mean_metrics) if m not in trials.columns]
    if absent:
        trials = trials.assign(**dict.fromkeys(absent, np.nan))
    by_cell = trials.groupby("cell", sort=True)
    summary = by_cell[list(id_columns)].first().reset_index(drop=True)
    summary[COUNT_COLUMN] = by_cell.size().to_numpy()
    clustered = cluster is not None and cluster in trials.columns
    if clustered:
        summary[SET_COUNT_COLUMN] = by_cell[cluster].nunique().to_numpy()
    columns: dict[str, np.ndarray] = {}  # added at once below (one column at a time fragments the frame)
    for metric in binary_metrics:
        p_col, lo_col, hi_col = proportion_columns(metric)
        outcome = finite_only(trials[metric]).groupby(trials["cell"], sort=True).agg(["sum", "count"])
        successes, counts = outcome["sum"].to_numpy(dtype=int), outcome["count"].to_numpy(dtype=int)
        columns[p_col] = p = np.where(counts > 0, successes / np.maximum(counts, 1), np.nan)
        bounds = np.array([wilson_interval(k, m) for k, m in zip(successes, counts)]).reshape(-1, 2)
        if clustered:
            means = group_means(trials, metric, cluster)
            spread, half = means.std(axis=1, ddof=1).to_numpy(), t_half_width(means)
            columns[between_set_column(metric)] = spread
            bounds[:, 0] = np.fmin(bounds[:, 0], np.clip(p - half, 0.0, 1.0))  # fmin: NaN half keeps Wilson
            bounds[:, 1] = np.fmax(bounds[:, 1], np.clip(p + half, 0.0, 1.0))
        columns[lo_col], columns[hi_col] = bounds[:, 0], bounds[:, 1]
        columns[count_column(metric)] = counts  # trials with a finite outcome: a NaN is left out, never a 0
    if mean_metrics:
        stats = finite_only(trials[list(mean_metrics)]).groupby(trials["cell"], sort=True).agg(["mean", "std", "count"])
        for metric in mean_metrics:
            mean_col, se_col, count_col = mean_columns(metric)
            count = stats[(metric, "count")].to_numpy()
            columns[mean_col] = stats[(metric, "mean")].to_numpy()
            se = np.where(count > 1, stats[(metric, "std")].to_numpy() / np.sqrt(np.maximum(count, 1)), np.nan)
            if clustered:
                means = group_means(trials, metric, cluster)
                groups = means.count(axis=1).to_numpy()
                cluster_se = means.std(axis=1, ddof=1).to_numpy() / np.sqrt(np.maximum(groups, 1))
                se = np.where(groups > 1, cluster_se, se)
            columns[se_col] = se
            columns[count_col] = count
    return pd.concat([summary, pd.DataFrame(columns, index=summary.index)], axis=1)


def group_means(trials: pd.DataFrame, metric: str, cluster: str) -> pd.DataFrame:
    """Per cell (rows) and group (columns): the mean of the finite values; NaN where a group has none."""
    means = finite_only(trials[metric]).groupby([trials["cell"], trials[cluster]], sort=True).mean()
    return means.unstack(cluster)


def t_half_width(means: pd.DataFrame) -> np.ndarray:
    """95% half-width of the mean of the group means (Student t with groups - 1 degrees of freedom)."""
    from scipy.stats import t as student_t

    groups = means.count(axis=1).to_numpy()
    sd = means.std(axis=1, ddof=1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = student_t.ppf(0.975, np.where(groups > 1, groups - 1, np.nan))
        return quantile * sd / np.sqrt(groups)


def finite_only(values: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """As float, with inf and NaN as NaN: pandas' aggregates skip them."""
    values = values.astype(float)
    return values.where(np.isfinite(values))
