"""`memgen plot`'s training-time figure (folders with curves.csv): per group, against n on log-log axes, τ_mem (the
onset of memorization), τ_half (the memorized fraction passing 0.5) and τ_gen (the held-out loss' plateau), in
optimizer steps with their 95% intervals; a time not reached within the budget is an open marker at the budget
with an arrow up, one already there at the first checkpoint an open marker there with an arrow down; the fit
τ_mem = a n^β where training_fit.csv has one.

It draws `memgen analyze`'s training_times.csv and training_fit.csv (analysis.training); nothing is estimated here.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memgen_cli.report.figures.canvas import (Notes, new_figure, only_drawn, panel_grid, place_legend, spare_slots,
                                              wrap_title)
from memgen_cli.report.figures.layout import x_label
from memgen_cli.report.analysis.outputs import Analysis
from memgen_cli.report.figures.panels import PlotData
from memgen_cli.report.reader import format_value
from memgen_cli.report.figures.style import MEMORIZED_COLOUR, WORDS
from memgen_cli.report.analysis.training import TrainingTable, definitions
from memgen_cli.statistics.training_time import AT_FIRST, REACHED

# time -> (label, colour, marker)
STYLE = {
    "tau_mem": ("τ_mem (memorization sets in)", MEMORIZED_COLOUR, "o"),
    "tau_half": ("τ_half (half the samples copies)", "tab:purple", "s"),
    "tau_gen": ("τ_gen (held-out loss levels off)", "tab:green", "^"),
}
BUDGET_LINE = dict(color="0.45", linestyle="--", linewidth=0.8)


def fit_text(fits: pd.DataFrame, group: str, name: str) -> str:
    rows = fits[(fits["group"] == group) & (fits["time"] == name)]
    if rows.empty:
        return ""
    row = rows.iloc[0]
    if row["status"] != "ok":  # why: in the notes (a title holds short lines)
        return f"{WORDS[name]}: no fit"
    return f"{WORDS[name]} ∝ n^β, β = {row['beta']:.2f} [{row['beta_lo']:.2f}, {row['beta_hi']:.2f}]"


def draw_group(ax, cells: pd.DataFrame, fits: pd.DataFrame, group: str, x: str) -> None:
    cells = cells.sort_values(x)
    n = cells[x].to_numpy(dtype=float)
    budget = cells["budget"].to_numpy(dtype=float)
    first = cells["first_step"].to_numpy(dtype=float)
    shift = {"tau_mem": 1.0, "tau_half": 1.04, "tau_gen": 0.96}  # side by side where they coincide
    for name, (_, colour, marker) in STYLE.items():
        if name not in cells.columns:
            continue
        status = cells[f"{name}_status"].astype(str).to_numpy()
        value = cells[name].to_numpy(dtype=float)
        lo, hi = cells[f"{name}_lo"].to_numpy(dtype=float), cells[f"{name}_hi"].to_numpy(dtype=float)
        reached = status == REACHED
        xs = n * shift[name]
        if reached.any():
            low = np.where(np.isfinite(lo) & (lo > 0), lo, value)
            high = np.where(np.isfinite(hi), hi, budget)  # an interval reaching past the budget stops at it
            ax.errorbar(xs[reached], value[reached], yerr=[value[reached] - low[reached], high[reached] -
                                                           value[reached]],
                        color=colour, marker=marker, linestyle="-" if reached.sum() > 1 else "none", elinewidth=0.8)
        for censored, where, arrow in ((~reached & (status != AT_FIRST) & (status != "not estimable"), budget, "^"),
                                       (status == AT_FIRST, first, "v")):
            if censored.any():
                ax.plot(xs[censored], where[censored], color=colour, marker=marker, markerfacecolor="white",
                        linestyle="none", gid="censored")
                ax.plot(xs[censored], where[censored] * (1.25 if arrow == "^" else 0.8), color=colour, marker=arrow,
                        linestyle="none", markersize=3)
        row = fits[(fits["group"] == group) & (fits["time"] == name)]
        if name == "tau_mem" and not row.empty and row.iloc[0]["status"] == "ok" and reached.sum() >= 2:
            span = np.geomspace(n[reached].min(), n[reached].max(), 50)
            ax.plot(span, row.iloc[0]["a"] * span ** row.iloc[0]["beta"], color=colour, linewidth=0.8,
                    linestyle=":", gid="tau_mem-fit")
    for value in np.unique(budget[np.isfinite(budget)]):
        ax.axhline(value, gid="budget", **BUDGET_LINE)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x_label(x))
    ax.set_ylabel("optimizer steps")


def figure_training_times(data: PlotData, table: TrainingTable) -> tuple[Figure, list[str]]:
    notes = Notes()
    notes.add(definitions() + ". Error bars: 95% bootstrap over simulations, then samples (training_times.csv); "
              "dashed: the budget; open markers: not reached by the budget (up) or already at the first checkpoint "
              "(down); dotted: the τ_mem fit (training_fit.csv).")
    groups = list(dict.fromkeys(table.cells["group"]))
    for group in groups:
        simulations = table.cells.loc[table.cells["group"] == group, "simulations"]
        notes.add(f"{group}: {format_value(simulations.min())}"
                  + (f"–{format_value(simulations.max())}" if simulations.max() != simulations.min() else "")
                  + " simulations per cell.")
    for row in table.fits[table.fits["status"] != "ok"].to_dict("records"):
        where = f"{row['group']}: " if len(groups) > 1 else ""
        notes.add(f"{where}{WORDS.get(row['time'], row['time'])}: no fit ({row['status']}).")
    rows, cols = panel_grid(len(groups))
    titles = []
    for group in groups:
        lines = ([group] if len(groups) > 1 else []) + [fit_text(table.fits, group, "tau_mem"),
                                                        fit_text(table.fits, group, "tau_gen")]
        titles.append(wrap_title(lines, cols))
    title_lines = max([1] + [t.count("\n") + 1 for t in titles])
    figure, axes = new_figure(rows, cols, data.captions(), sharey=True, title_lines=title_lines)
    for ax, group, title in zip(axes.flat, groups, titles):
        draw_group(ax, table.cells[table.cells["group"] == group], table.fits, group, data.layout.x)
        ax.set_title(title)
    handles = [Line2D([], [], color=colour, marker=marker, linestyle="none") for _, colour, marker in STYLE.values()]
    labels = [label for label, _, _ in STYLE.values()]
    more_handles, more_labels = only_drawn(figure, [
        ("censored", Line2D([], [], color="0.3", marker="o", markerfacecolor="white", linestyle="none"),
         "open: not reached (▲), at first checkpoint (▼)"),
        ("budget", Line2D([], [], **BUDGET_LINE), "the budget"),
        ("tau_mem-fit", Line2D([], [], color=MEMORIZED_COLOUR, linewidth=0.8, linestyle=":"), "τ_mem ∝ n^β (fit)")])
    handles, labels = handles + more_handles, labels + more_labels
    place_legend(figure, handles, labels, spare_slots(axes, len(groups)))
    return figure, notes.lines


def training_builders(data: PlotData, analysis: Analysis
                      ) -> tuple[list[tuple[str, Callable[[PlotData], tuple]]], list[str]]:
    """The training-time figure when the analysis has training_times.csv (a sweep with curves.csv)."""
    if analysis.training is None or analysis.training.cells.empty:
        return [], []
    table = analysis.training
    return [("training_times", lambda d: figure_training_times(d, table))], []
