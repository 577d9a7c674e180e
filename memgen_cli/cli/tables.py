"""The tables `memgen analyze` prints (the CSVs it writes hold every column): the CLI reads and prints."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table

VERDICT_COLOURS = {"aligned": "green", "same n": "green", "not aligned": "red", "different n": "red"}


def fmt_n(value: float) -> str:
    """A size as printed: 26.1, 381, 1.2e+04; ∞ beyond the sweep, – when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞"
    if value == 0:
        return "0"
    return f"{value:.0f}" if 100 <= abs(value) < 1e6 else f"{value:.3g}"


def fmt_interval(lo: float, hi: float, n_min: float) -> str:
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return ""
    low = f"<{fmt_n(n_min)}" if lo == 0 else fmt_n(lo)
    return f"[{low}, {fmt_n(hi)}]"


def fmt_slope(value: float) -> str:
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def fmt_verdict(row: dict) -> str:
    verdict = f"[{VERDICT_COLOURS.get(row['verdict'], 'yellow')}]{escape(str(row['verdict']))}[/]"
    return verdict + (f" ({escape(str(row['verdict_reason']))})" if row["verdict"] == "undetermined" else "")


def fmt_estimate(row: dict, name: str, n_min: float = 0.0) -> str:
    """'26.1 [25.8, 26.5]' for a crossed estimate (' grid-limited' when its interval is the grid's gap), else its
    status."""
    status = row.get(f"{name}_status", "")
    if status != "crossed":
        return escape(str(status)) if isinstance(status, str) and status else "–"
    limited = " grid-limited" if row.get(f"{name}_grid_limited") in (True,) else ""  # numpy bool when read back
    return f"{fmt_n(row[name])} {fmt_interval(row[name + '_lo'], row[name + '_hi'], n_min)}{limited}"


def fmt_discriminates(row: dict, name: str) -> str:
    """Where the metric tells the ideal generalizer from the ideal memorizer ('2–2000'), 'nowhere', or why unknown."""
    found = row.get(f"{name}_discriminates_at")
    if not isinstance(found, str):
        return "nowhere" if f"{name}_discriminates_at" in row else "–"
    return "nowhere" if found in ("", "none") else escape(found)


GRID_NOTE = ("grid-limited: the crossing lies between two grid points whose intervals both exclude 0.5, so its "
             "interval is the whole gap; `memgen locate` can place it within the gap.")
CALIBRATION_NOTE = ("discriminates at: the n where the ideal generalizer scores above 0.5 and the ideal memorizer "
                    "below, each beyond its 95% interval; a crossing elsewhere is not reported.")


def table_caption(table: pd.DataFrame, names: tuple[str, ...], first: str) -> str:
    """The caption, with the grid note when some estimate is grid-limited."""
    limited = any(table.get(f"{name}_grid_limited", pd.Series(dtype=bool)).eq(True).any() for name in names)
    return " ".join([first, CALIBRATION_NOTE] + ([GRID_NOTE] if limited else []))


def transitions_rich_table(table: pd.DataFrame, align_factor: float) -> Table:
    """n*, n_onset, slopes, ratio and verdict per group."""
    rich_table = Table(
        title=f"Memorization → generalization transition (aligned: n*/n_onset within ×{align_factor:g})",
        caption=table_caption(table, ("n_star",), "slopes: d log y / d log n before → after n_onset. "
                                                  "transitions.csv holds every column."),
    )
    for column in ("group", "n* [95% CI]", "P(Δ>0) discriminates at n", "n_onset [95% CI]", "slopes", "n*/n_onset",
                   "verdict", "P(Δ>0) at max n"):
        rich_table.add_column(column, justify="left" if column in ("group", "verdict") else "right")
    for row in table.to_dict("records"):
        star = fmt_estimate(row, "n_star", row["n_min"])
        onset = (f"{fmt_n(row['n_onset'])} {fmt_interval(row['n_onset_lo'], row['n_onset_hi'], row['n_min'])}"
                 if np.isfinite(row["n_onset"]) else escape(str(row["onset_status"])))
        if np.isfinite(row["n_onset"]) and row["onset_status"] != "ok":
            onset += " (no faster decay after it)"
        slopes = (f"{fmt_slope(row['slope_before'])} → {fmt_slope(row['slope_after'])}"
                  if np.isfinite(row["slope_before"]) else "–")
        ratio = (f"{row['ratio']:.3g} {fmt_interval(row['ratio_lo'], row['ratio_hi'], 0)}"
                 if np.isfinite(row["ratio"]) else "–")
        far = (f"{row['p_at_n_max']:.2f} [{row['p_at_n_max_lo']:.2f}, {row['p_at_n_max_hi']:.2f}]"
               if np.isfinite(row["p_at_n_max"]) else "–")
        if np.isfinite(row["p_at_n_max"]) and row["n_last_p"] != row["n_max"]:
            far += f" at n={fmt_n(row['n_last_p'])}"  # the largest n had no finite P (a note says so)
        rich_table.add_row(escape(str(row["group"])), star, fmt_discriminates(row, "n_star"), onset, escape(slopes),
                           escape(ratio), fmt_verdict(row), escape(far))
    return rich_table


def memorization_rich_table(groups: pd.DataFrame, align_factor: float) -> Table:
    """n_mem, its window, n* and their ratio per group (memorization.csv)."""
    rich_table = Table(
        title=f"Memorized fraction (NN1/NN2 < 1/3) against P(Δ>0) (same n: n*/n_mem within ×{align_factor:g})",
        caption=table_caption(groups, ("n_mem", "n_star", "n_star_exact", "n_star_kde"),
                              "intervals: 95% bootstrap over simulations, then samples within them. memorization.csv "
                              "holds every column."),
    )
    for column in ("group", "n_mem [95% CI]", "window 0.9 → 0.1", "n* [95% CI]", "n*/n_mem", "verdict",
                   "n* exact, KDE", "discriminates at n: fraction; P grid, exact, KDE"):
        rich_table.add_column(column, justify="left" if column in ("group", "verdict") else "right")
    for row in groups.to_dict("records"):
        n_min = row.get("n_min", float("nan"))
        window = f"{fmt_estimate(row, 'window_start', n_min)} → {fmt_estimate(row, 'window_end', n_min)}"
        ratio = (f"{row['ratio']:.3g} {fmt_interval(row['ratio_lo'], row['ratio_hi'], 0)}"
                 if np.isfinite(row.get("ratio", np.nan)) else "–")
        others = ", ".join(fmt_estimate(row, f"n_star{suffix}", n_min) for suffix in ("_exact", "_kde")
                           if f"n_star{suffix}_status" in row)
        where = "; ".join(fmt_discriminates(row, name) for name in ("n_mem", "n_star", "n_star_exact", "n_star_kde")
                          if f"{name}_discriminates_at" in row)
        rich_table.add_row(escape(str(row["group"])), fmt_estimate(row, "n_mem", n_min), window,
                           fmt_estimate(row, "n_star", n_min),
                           escape(ratio), fmt_verdict(row), others or "–", where or "–")
    return rich_table


def criteria_rich_table(groups: pd.DataFrame, align_factor: float) -> Table:
    """n*, n_mem and n_rep per group, their ratios and the verdict (criteria.csv)."""
    names = [(name, label) for name, label in (("n_star", "n* (P(Δ>0))"), ("n_mem", "n_mem (copies)"),
                                               ("n_rep", "n_rep (reproduced)")) if f"{name}_status" in groups.columns]
    ratios = [c for c in ("ratio_star_mem", "ratio_star_rep", "ratio_mem_rep") if c in groups.columns]
    rich_table = Table(title=f"Three criteria of the transition (same n: every ratio within ×{align_factor:g})",
                       caption="intervals: 95% bootstrap, every criterion from the same resampled trials; "
                               "criteria.csv holds every column.")
    for column in ["group", *(f"{label} [95% CI]" for _, label in names), *ratios, "verdict"]:
        rich_table.add_column(column, justify="left" if column in ("group", "verdict") else "right")
    for row in groups.to_dict("records"):
        n_min = row.get("n_min", float("nan"))
        cells = [fmt_estimate(row, name, n_min) for name, _ in names]
        cells += [f"{row[r]:.3g} {fmt_interval(row[r + '_lo'], row[r + '_hi'], 0)}" if np.isfinite(row[r]) else "–"
                  for r in ratios]
        rich_table.add_row(escape(str(row["group"])), *(escape(c) for c in cells), fmt_verdict(row))
    return rich_table


def fmt_time(row: dict, name: str) -> str:
    """'412 [350, 480]' optimizer steps, or the status (not reached within the budget ...)."""
    status = str(row.get(f"{name}_status", ""))
    if status != "reached":
        return escape(status) or "–"
    high = row[f"{name}_hi"]
    return f"{row[name]:.0f} [{row[f'{name}_lo']:.0f}, {'∞' if math.isinf(high) else f'{high:.0f}'}]"


def training_rich_table(cells: pd.DataFrame, fits: pd.DataFrame) -> Table:
    """τ_mem, τ_half and τ_gen per cell (training_times.csv) and the fits τ ∝ n^β (training_fit.csv)."""
    rich_table = Table(title="Training times (optimizer steps)",
                       caption=" · ".join(f"{row['group']}: {row['time']} ∝ n^β, "
                                          + (f"β = {row['beta']:.2f} [{row['beta_lo']:.2f}, {row['beta_hi']:.2f}]"
                                             if row["status"] == "ok" else str(row["status"]))
                                          for row in fits.to_dict("records")))
    for column in ("group", "n", "τ_mem [95% CI]", "τ_half [95% CI]", "τ_gen [95% CI]", "budget"):
        rich_table.add_column(column, justify="left" if column == "group" else "right")
    for row in cells.to_dict("records"):
        rich_table.add_row(escape(str(row["group"])), fmt_n(row["n"]), fmt_time(row, "tau_mem"),
                           fmt_time(row, "tau_half"), fmt_time(row, "tau_gen"), f"{row['budget']:.0f}")
    return rich_table
