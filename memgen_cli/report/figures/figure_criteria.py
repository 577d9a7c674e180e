"""`memgen plot`'s three-criteria figure (folders with reproducibility pairs): on one shared n axis, per group,
P(Δ > 0), the memorized fraction (image models) and the reproduced fraction (or P(reproduced) in the linear model),
each with its 95% band, their crossings of 0.5 marked with their intervals, and the verdict in the panel title.

It draws `memgen analyze`'s criteria.csv and criteria_cells.csv (report.analysis.criteria); nothing is estimated here.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from memgen_cli.report.figures.canvas import Notes, new_figure, panel_grid, place_legend, spare_slots, wrap_title
from memgen_cli.report.analysis.criteria import CriteriaTable
from memgen_cli.report.figures.figure_memorization import estimate_text
from memgen_cli.report.figures.layout import x_label
from memgen_cli.report.analysis.outputs import Analysis
from memgen_cli.report.figures.panels import P_GID, PlotData, draw_interval_curve
from memgen_cli.report.reader import format_value
from memgen_cli.report.figures.style import (BAND_ALPHA, HALF_LINE, MEMORIZED_COLOUR, P_COLOUR, REPRODUCED_COLOUR,
                                             SPAN_ALPHA)

# criterion -> (what its curve is, colour, marker, line of its crossing)
STYLE = {
    "n_star": ("P(Δ > 0)", P_COLOUR, "o", "-"),
    "n_mem": ("memorized fraction", MEMORIZED_COLOUR, "D", (0, (1.0, 1.2))),
    "n_rep": ("reproduced", REPRODUCED_COLOUR, "s", (0, (4.0, 2.0))),
}
SHORT = {"n_star": "n*", "n_mem": "n_mem", "n_rep": "n_rep"}


def present(groups: pd.DataFrame) -> list[str]:
    return [name for name in STYLE if f"{name}_status" in groups.columns]


def short_estimate(row: dict, name: str) -> str:
    """'n_rep = 434 [323, 568]', or a bound from the sweep ('n_rep > 768', 'n_mem < 4') when not located."""
    status = str(row.get(f"{name}_status", ""))
    if status == "crossed" or status == "" or not status.startswith(("still", "already")):
        return estimate_text(row, name, SHORT[name])
    beyond = status.startswith("still")
    return f"{SHORT[name]} {'>' if beyond else '<'} {format_value(row['n_max' if beyond else 'n_min'])}"


def panel_title(row: dict, names: list[str]) -> list[str]:
    """The estimates (or their bounds) and the verdict; its reason is in criteria.csv and the report."""
    return [" · ".join(short_estimate(row, name) for name in names), str(row.get("verdict", ""))]


def draw_group(ax, row: dict, cells: pd.DataFrame, names: list[str], x: str) -> None:
    cells = cells.sort_values(x)
    n = cells[x].to_numpy(dtype=float)
    for name in names:
        label, colour, marker, line = STYLE[name]
        value = cells[f"{name}_value"].to_numpy(dtype=float)
        keep = np.isfinite(value)
        if not keep.any():
            continue
        lo, hi = cells[f"{name}_value_lo"].to_numpy(dtype=float), cells[f"{name}_value_hi"].to_numpy(dtype=float)
        draw_interval_curve(ax, n[keep], value[keep], lo[keep], hi[keep], colour, marker, label,
                            P_GID if name == "n_star" else None)
        if row.get(f"{name}_status") == "crossed":
            low, high = row.get(f"{name}_lo", np.nan), row.get(f"{name}_hi", np.nan)
            if np.isfinite(low) and np.isfinite(high) and low > 0:
                ax.axvspan(low, high, color=colour, alpha=SPAN_ALPHA, linewidth=0)
            ax.axvline(row[name], color=colour, linestyle=line, linewidth=1.1)
    ax.axhline(0.5, **HALF_LINE)
    ax.set_xscale("log")
    ax.set_ylim(-0.04, 1.04)
    ax.set_xlabel(x_label(x))
    ax.set_ylabel("fraction")


def figure_criteria(data: PlotData, table: CriteriaTable) -> tuple[Figure, list[str]]:
    notes = Notes()
    x = data.layout.x
    groups = table.groups.to_dict("records")
    names = present(table.groups)
    notes.add("Bands and shaded spans: 95% bootstrap intervals, every criterion from the same resampled trials "
              "(criteria.csv, criteria_cells.csv); an interval the grid alone sets is widened to its two cells.")
    if "n_mem" not in names:
        notes.add("No memorized fraction: the linear model generates a Gaussian, not copies of training points.")
    rows, cols = panel_grid(len(groups))
    titles = [wrap_title(([row["group"]] if len(groups) > 1 else []) + panel_title(row, names), cols) for row in groups]
    title_lines = max([1] + [t.count("\n") + 1 for t in titles])
    figure, axes = new_figure(rows, cols, data.captions(), sharey=True, title_lines=title_lines)
    for ax, row, title in zip(axes.flat, groups, titles):
        draw_group(ax, row, table.cells[table.cells["group"] == row["group"]], names, x)
        ax.set_title(title)
    handles, labels = [], []
    for name in names:
        label, colour, marker, line = STYLE[name]
        handles.append((Patch(color=colour, alpha=BAND_ALPHA * 1.5, linewidth=0),
                        Line2D([], [], color=colour, marker=marker, markersize=3.5)))
        labels.append(f"{label}, 95% interval; {SHORT[name]} where it crosses 0.5")
    place_legend(figure, handles, labels, spare_slots(axes, len(groups)))
    return figure, notes.lines


def criteria_builders(data: PlotData, analysis: Analysis
                      ) -> tuple[list[tuple[str, Callable[[PlotData], tuple]]], list[str]]:
    """The criteria figure when the analysis has criteria.csv; nothing (and no note) for folders without pairs."""
    if analysis.criteria is None or analysis.criteria.groups.empty:
        return [], []
    table = analysis.criteria
    return [("criteria", lambda d: figure_criteria(d, table))], []
