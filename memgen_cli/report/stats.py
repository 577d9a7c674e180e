"""Summaries over trials: proportions with Wilson intervals, means with standard errors."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
    """One row per cell: id columns, ``trials``, ``p_<B>`` with Wilson bounds, ``mean/se/count_<M>``."""
    rows = []
    for _, group in trials.groupby("cell", sort=True):
        row = {col: group[col].iloc[0] for col in id_columns}
        row["trials"] = len(group)
        for metric in binary_metrics:
            values = group[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            k = int(values.sum())
            row[f"p_{metric}"] = k / len(values) if len(values) else float("nan")
            row[f"p_{metric}_lo"], row[f"p_{metric}_hi"] = wilson_interval(k, len(values))
        for metric in mean_metrics:
            values = group[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            row[f"mean_{metric}"] = float(values.mean()) if len(values) else float("nan")
            row[f"se_{metric}"] = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
            row[f"count_{metric}"] = len(values)
        rows.append(row)
    return pd.DataFrame(rows)
