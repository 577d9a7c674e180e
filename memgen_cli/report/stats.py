"""Summaries over trials: proportions with Wilson intervals (scipy), means with standard errors (pandas)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from memgen_cli.results_format import COUNT_COLUMN, mean_columns, proportion_columns


@lru_cache(maxsize=4096)  # binomtest also computes a p-value (0.7 ms); many cells share (k, n)
def wilson_interval(successes: int, total: int) -> tuple[float, float]:
    """Wilson 95% score interval for a binomial proportion (good at p near 0 or 1, unlike the Wald interval).

    NaN for no trials, where scipy's binomtest refuses.
    """
    if total == 0:
        return float("nan"), float("nan")
    ci = binomtest(int(successes), int(total)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def summarize_trials(trials: pd.DataFrame, id_columns: list[str], binary_metrics: tuple[str, ...],
                     mean_metrics: tuple[str, ...]) -> pd.DataFrame:
    """One row per cell: id columns, the trial count, ``p_<B>`` with Wilson bounds, ``mean/se/count_<M>``.

    Every statistic is over the trials where the metric is finite (an n <= d cell of the linear model has
    infinite log E; averaging them in would give inf), as docs/results-format.md says.
    """
    by_cell = trials.groupby("cell", sort=True)
    summary = by_cell[list(id_columns)].first().reset_index(drop=True)
    summary[COUNT_COLUMN] = by_cell.size().to_numpy()
    for metric in binary_metrics:
        p_col, lo_col, hi_col = proportion_columns(metric)
        outcome = finite_only(trials[metric]).groupby(trials["cell"], sort=True).agg(["sum", "count"])
        successes, counts = outcome["sum"].to_numpy(dtype=int), outcome["count"].to_numpy(dtype=int)
        summary[p_col] = np.where(counts > 0, successes / np.maximum(counts, 1), np.nan)
        bounds = [wilson_interval(k, m) for k, m in zip(successes, counts)]
        summary[lo_col], summary[hi_col] = [b[0] for b in bounds], [b[1] for b in bounds]
    if mean_metrics:
        stats = finite_only(trials[list(mean_metrics)]).groupby(trials["cell"], sort=True).agg(["mean", "std", "count"])
        for metric in mean_metrics:
            mean_col, se_col, count_col = mean_columns(metric)
            count = stats[(metric, "count")].to_numpy()
            summary[mean_col] = stats[(metric, "mean")].to_numpy()
            summary[se_col] = np.where(count > 1, stats[(metric, "std")].to_numpy() / np.sqrt(np.maximum(count, 1)),
                                       np.nan)
            summary[count_col] = count
    return summary


def finite_only(values: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """As float, with inf and NaN as NaN: pandas' aggregates skip them."""
    values = values.astype(float)
    return values.where(np.isfinite(values))
