"""Summaries over trials: proportions with Wilson intervals, means with standard errors."""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen_cli.results_format import COUNT_COLUMN, mean_columns, proportion_columns

Z95 = 1.959963984540054


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good at p near 0 or 1, unlike the Wald interval)."""
    if total == 0:
        return float("nan"), float("nan")
    p = successes / total
    denom = 1 + z**2 / total
    centre = (p + z**2 / (2 * total)) / denom
    half = z * np.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denom
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends: no 1e-18 rounding residue
    hi = 1.0 if successes == total else min(1.0, centre + half)
    return float(lo), float(hi)


def summarize_trials(trials: pd.DataFrame, id_columns: list[str], binary_metrics: tuple[str, ...],
                     mean_metrics: tuple[str, ...]) -> pd.DataFrame:
    """One row per cell: id columns, the trial count, ``p_<B>`` with Wilson bounds, ``mean/se/count_<M>``."""
    rows = []
    for _, group in trials.groupby("cell", sort=True):
        row = {col: group[col].iloc[0] for col in id_columns}
        row[COUNT_COLUMN] = len(group)
        for metric in binary_metrics:
            values = group[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            k = int(values.sum())
            p_col, lo_col, hi_col = proportion_columns(metric)
            row[p_col] = k / len(values) if len(values) else float("nan")
            row[lo_col], row[hi_col] = wilson_interval(k, len(values))
        for metric in mean_metrics:
            values = group[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            mean_col, se_col, count_col = mean_columns(metric)
            row[mean_col] = float(values.mean()) if len(values) else float("nan")
            row[se_col] = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
            row[count_col] = len(values)
        rows.append(row)
    return pd.DataFrame(rows)
