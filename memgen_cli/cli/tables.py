"""The tables `memgen analyze` prints (the CSVs it writes hold every column): the CLI reads and prints. Each is a
cli.console_tables.ConsoleTable, which fits the terminal: long statuses and reasons become numbered notes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from rich.markup import escape

from memgen_cli.cli.console_tables import Cell, ConsoleTable, status_cell

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


def fmt_verdict(row: dict) -> Cell:
    """The verdict, coloured; an undetermined one's reason as its note."""
    verdict = f"[{VERDICT_COLOURS.get(row['verdict'], 'yellow')}]{escape(str(row['verdict']))}[/]"
    reason = row.get("verdict_reason")
    return Cell(verdict, str(reason)) if row["verdict"] == "undetermined" and isinstance(reason, str) else Cell(verdict)


GRID_NOTE = ("grid-limited: the crossing lies between two grid points whose intervals both exclude 0.5, so its "
             "interval is the whole gap; `memgen locate` can place it within the gap.")
CALIBRATION_NOTE = ("discriminates at: the n where the ideal generalizer scores above 0.5 and the ideal memorizer "
                    "below, each beyond its 95% interval; a crossing elsewhere is not reported.")


def fmt_estimate(row: dict, name: str, n_min: float = 0.0) -> Cell:
    """'26.1 [25.8, 26.5]' for a crossed estimate (grid-limited, with GRID_NOTE, when its interval is the grid's
    gap), else its status."""
    status = row.get(f"{name}_status", "")
    if status != "crossed":
        return status_cell(status if isinstance(status, str) else "")
    value = f"{fmt_n(row[name])} {fmt_interval(row[name + '_lo'], row[name + '_hi'], n_min)}"
    if row.get(f"{name}_grid_limited") in (True,):  # numpy bool when read back
        return Cell(value, GRID_NOTE, "grid-limited")
    return Cell(value)


def fmt_discriminates(row: dict, name: str) -> str:
    """Where the metric tells the ideal generalizer from the ideal memorizer ('2–2000'), 'nowhere', or why unknown."""
    found = row.get(f"{name}_discriminates_at")
    if not isinstance(found, str):
        return "nowhere" if f"{name}_discriminates_at" in row else "–"
    return "nowhere" if found in ("", "none") else escape(found)


def fmt_ratio(row: dict, name: str) -> str:
    value = row.get(name, np.nan)
    return escape(f"{value:.3g} {fmt_interval(row[name + '_lo'], row[name + '_hi'], 0)}") if np.isfinite(value) \
        else "–"


def transitions_console_table(table: pd.DataFrame, align_factor: float) -> ConsoleTable:
    """n*, n_onset, slopes, ratio and verdict per group."""
    out = ConsoleTable(
        f"Memorization → generalization transition (aligned: n*/n_onset's 95% CI within ×{align_factor:g})",
        [(column, "left" if column in ("group", "verdict") else "right")
         for column in ("group", "n* [95% CI]", "P(Δ>0) discriminates at n", "n_onset [95% CI]", "slopes",
                        "n*/n_onset", "verdict", "P(Δ>0) at max n")],
        caption=" ".join(["slopes: d log y / d log n before → after n_onset. transitions.csv holds every column.",
                          CALIBRATION_NOTE]))
    for row in table.to_dict("records"):
        if np.isfinite(row["n_onset"]):
            onset = Cell(f"{fmt_n(row['n_onset'])} {fmt_interval(row['n_onset_lo'], row['n_onset_hi'], row['n_min'])}")
            if row["onset_status"] != "ok":
                onset = Cell(onset.value, "no faster decay after n_onset")
        else:
            onset = status_cell(str(row["onset_status"]))
        slopes = (f"{fmt_slope(row['slope_before'])} → {fmt_slope(row['slope_after'])}"
                  if np.isfinite(row["slope_before"]) else "–")
        far = (f"{row['p_at_n_max']:.2f} [{row['p_at_n_max_lo']:.2f}, {row['p_at_n_max_hi']:.2f}]"
               if np.isfinite(row["p_at_n_max"]) else "–")
        if np.isfinite(row["p_at_n_max"]) and row["n_last_p"] != row["n_max"]:
            far += f" at n={fmt_n(row['n_last_p'])}"  # the largest n had no finite P (a note says so)
        out.add_row(escape(str(row["group"])), fmt_estimate(row, "n_star", row["n_min"]),
                    fmt_discriminates(row, "n_star"), onset, escape(slopes), fmt_ratio(row, "ratio"), fmt_verdict(row),
                    escape(far))
    return out


def memorization_console_table(groups: pd.DataFrame, align_factor: float) -> ConsoleTable:
    """n_mem, its window, n* and their ratio per group (memorization.csv)."""
    out = ConsoleTable(
        f"Memorized fraction (NN1/NN2 < 1/3) against P(Δ>0) (same n: n*/n_mem's 95% CI within ×{align_factor:g})",
        [(column, "left" if column in ("group", "verdict") else "right")
         for column in ("group", "n_mem [95% CI]", "window 0.9 → 0.1", "n* [95% CI]", "n*/n_mem", "verdict",
                        "n* exact", "n* KDE", "discriminates at n: fraction; P grid, exact, KDE")],
        caption=" ".join(["intervals: 95% bootstrap over simulations, then samples within them. memorization.csv "
                          "holds every column.", CALIBRATION_NOTE]))
    for row in groups.to_dict("records"):
        n_min = row.get("n_min", float("nan"))
        start, end = fmt_estimate(row, "window_start", n_min), fmt_estimate(row, "window_end", n_min)
        notes = "; ".join(f"{level}: {cell.note}" for level, cell in (("0.9", start), ("0.1", end)) if cell.note)
        window = Cell(f"{start.value or '–'} → {end.value or '–'}", notes)
        others = [fmt_estimate(row, f"n_star{suffix}", n_min) if f"n_star{suffix}_status" in row else Cell("–")
                  for suffix in ("_exact", "_kde")]
        where = "; ".join(fmt_discriminates(row, name) for name in ("n_mem", "n_star", "n_star_exact", "n_star_kde")
                          if f"{name}_discriminates_at" in row)
        out.add_row(escape(str(row["group"])), fmt_estimate(row, "n_mem", n_min), window,
                    fmt_estimate(row, "n_star", n_min), fmt_ratio(row, "ratio"), fmt_verdict(row), *others,
                    where or "–")
    return out


def criteria_console_table(groups: pd.DataFrame, align_factor: float) -> ConsoleTable:
    """n*, n_mem and n_rep per group, their ratios and the verdict (criteria.csv)."""
    names = [(name, label) for name, label in (("n_star", "n* (P(Δ>0))"), ("n_mem", "n_mem (copies)"),
                                               ("n_rep", "n_rep (reproduced)")) if f"{name}_status" in groups.columns]
    ratios = [c for c in ("ratio_star_mem", "ratio_star_rep", "ratio_mem_rep") if c in groups.columns]
    out = ConsoleTable(f"Three criteria of the transition (same n: every ratio's 95% CI within ×{align_factor:g})",
                       [(column, "left" if column in ("group", "verdict") else "right")
                        for column in ["group", *(f"{label} [95% CI]" for _, label in names), *ratios, "verdict"]],
                       caption="intervals: 95% bootstrap, every criterion from the same resampled trials; "
                               "criteria.csv holds every column.")
    for row in groups.to_dict("records"):
        n_min = row.get("n_min", float("nan"))
        out.add_row(escape(str(row["group"])), *(fmt_estimate(row, name, n_min) for name, _ in names),
                    *(fmt_ratio(row, r) for r in ratios), fmt_verdict(row))
    return out


def fmt_time(row: dict, name: str) -> Cell:
    """'412 [350, 480]' optimizer steps, or the status (not reached within the budget ...)."""
    status = str(row.get(f"{name}_status", ""))
    if status != "reached":
        return status_cell(status)
    high = row[f"{name}_hi"]
    return Cell(f"{row[name]:.0f} [{row[f'{name}_lo']:.0f}, {'∞' if math.isinf(high) else f'{high:.0f}'}]")


def training_console_table(cells: pd.DataFrame, fits: pd.DataFrame) -> ConsoleTable:
    """τ_mem, τ_half and τ_gen per cell (training_times.csv) and the fits τ ∝ n^β (training_fit.csv)."""
    out = ConsoleTable("Training times (optimizer steps)",
                       [(column, "left" if column == "group" else "right")
                        for column in ("group", "n", "τ_mem [95% CI]", "τ_half [95% CI]", "τ_gen [95% CI]", "budget")],
                       caption=" · ".join(f"{row['group']}: {row['time']} ∝ n^β, "
                                          + (f"β = {row['beta']:.2f} [{row['beta_lo']:.2f}, {row['beta_hi']:.2f}]"
                                             if row["status"] == "ok" else str(row["status"]))
                                          for row in fits.to_dict("records")))
    for row in cells.to_dict("records"):
        out.add_row(escape(str(row["group"])), fmt_n(row["n"]), fmt_time(row, "tau_mem"), fmt_time(row, "tau_half"),
                    fmt_time(row, "tau_gen"), f"{row['budget']:.0f}")
    return out
