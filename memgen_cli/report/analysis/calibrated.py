"""The calibration columns of `memgen analyze`: for each crossing it reports (n*, n_mem, ...), the n where the metric
tells the two reference models apart, and the crossing itself only where it lies there; its interval widened to
the whole gap where the grid cannot place it (the math: memgen_cli.statistics.calibration; docs/analysis.md,
"Calibrated verdicts").

The references' intervals come from summary.csv (P(Δ > 0): Wilson, widened over original sets like the model's),
or from the memorization table's two-stage bootstrap (the memorized fraction). A folder from before the references
has none: its crossings stand as before and its columns say "no references".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen_cli.report.reader import SUMMARY_FILE, numeric_column
from memgen_cli.statistics.calibration import (MISSING, NO, YES, check_claim, discrimination, grid_limited_interval,
                                               ranges_text)
from memgen_cli.statistics.estimators import ABOVE_AT_START, CROSSED

GENERALIZER, MEMORIZER = "generalizer", "memorizer"
LOCATE_HINT = "`memgen locate` can place it within the gap"


def reference_bounds(cells: pd.DataFrame, reference: str, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(lo, hi) of a reference's P for ``metric`` per cell (summary.csv's p_<reference>_<metric>_lo/_hi)."""
    columns = [f"p_{reference}_{metric}_lo", f"p_{reference}_{metric}_hi"]
    if not all(c in cells.columns for c in columns):
        return None
    return numeric_column(cells, columns[0], SUMMARY_FILE), numeric_column(cells, columns[1], SUMMARY_FILE)


def p_status(cells: pd.DataFrame, metric: str, analytic_memorizer: str | None) -> np.ndarray:
    """Per cell, whether P(Δ > 0) of ``metric`` discriminates (statistics.calibration's YES, NO, ...).

    analytic_memorizer: the reason a model's memorizer needs no column (the linear model: every memorizer that puts
    its mass on the training points gets P = 0, docs/linear-model.md); then it enters as P = 0 exactly."""
    gen = reference_bounds(cells, GENERALIZER, metric)
    mem = reference_bounds(cells, MEMORIZER, metric)
    if mem is None and analytic_memorizer:
        mem = (np.zeros(len(cells)), np.zeros(len(cells)))
    if gen is None or mem is None:
        return np.full(len(cells), MISSING, dtype=object)
    return discrimination(gen[0], gen[1], mem[0], mem[1], generalizer_above=True)


def calibrated(name: str, columns: dict, x: np.ndarray, status: np.ndarray, lo: np.ndarray, hi: np.ndarray,
               rising: bool = True, at_start: str = ABOVE_AT_START) -> dict:
    """A crossing's columns (``name``, its _lo, _hi and _status) made honest, and what they rest on:

    - ``<name>_grid_limited``: its interval covers the whole gap between the two grid points around it, whose own
      intervals (``lo``, ``hi`` per cell) both exclude 0.5 (the interpolation's interval alone was narrower);
    - ``<name>_discriminates_at`` / ``<name>_blind_at``: the n where the metric tells the references apart / mis-scores
      one of them (``status``); ``<name>_crossing``: where the curve crossed 0.5, whatever the references say;
    - ``<name>`` and its interval only where both grid points around the crossing discriminate; elsewhere NaN and
      the status says why ("undetermined: this metric cannot tell a generalizer from a memorizer at n = ...");
    - whatever the curve did (crossed, not reached, ``at_start``: the status of a curve already past 0.5 at the
      smallest n), where the metric discriminates at no n the status says that first (calibration.check_claim), and
      an 'above 0.5 at smallest n' stands only where the smallest n discriminates.
    """
    out = dict(columns)
    crossed = out[f"{name}_status"] == CROSSED
    crossing = out[name] if crossed else np.nan
    gap = grid_limited_interval(x, lo, hi, crossing, rising) if crossed else None
    if gap is not None:
        out[f"{name}_lo"] = min(out[f"{name}_lo"], gap[0])
        out[f"{name}_hi"] = max(out[f"{name}_hi"], gap[1])
    out[f"{name}_grid_limited"] = gap is not None
    out[f"{name}_crossing"] = crossing
    has_references = not all(s == MISSING for s in status)
    out[f"{name}_discriminates_at"] = ranges_text(x, status, YES) if has_references else MISSING
    out[f"{name}_blind_at"] = ranges_text(x, status, NO) if has_references else MISSING
    check = check_claim(x, status, crossing, at_start=out[f"{name}_status"] == at_start)
    if not check.reported:
        out.update({name: np.nan, f"{name}_lo": np.nan, f"{name}_hi": np.nan, f"{name}_status": check.reason,
                    f"{name}_grid_limited": False})
    return out


def cell_bounds(cells: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The model's own Wilson bounds of P for ``metric`` per cell (NaN where summary.csv has none)."""
    lo, hi = f"p_{metric}_lo", f"p_{metric}_hi"
    if lo not in cells.columns or hi not in cells.columns:
        return np.full(len(cells), np.nan), np.full(len(cells), np.nan)
    return numeric_column(cells, lo, SUMMARY_FILE), numeric_column(cells, hi, SUMMARY_FILE)


def widened_ratio(lo: float, hi: float, top: dict, top_name: str, bottom: dict, bottom_name: str
                  ) -> tuple[float, float]:
    """The interval of a ratio top / bottom of two crossings, widened where either crossing is grid-limited: the
    replicates' ratios then inherit the interpolation's false precision, so the interval also covers
    [top_lo / bottom_hi, top_hi / bottom_lo] (from the crossings' own, gap-wide intervals)."""
    if not any(d.get(f"{name}_grid_limited") in (True,) for d, name in ((top, top_name), (bottom, bottom_name))):
        return lo, hi
    with np.errstate(divide="ignore", invalid="ignore"):
        return (float(np.fmin(lo, np.divide(top[f"{top_name}_lo"], bottom[f"{bottom_name}_hi"], dtype=float))),
                float(np.fmax(hi, np.divide(top[f"{top_name}_hi"], bottom[f"{bottom_name}_lo"], dtype=float))))
