"""The ``transition`` figure: one panel per group, drawing that group's row of `memgen analyze`'s table.

Nothing is estimated here: n_star, its interval, n_onset and the two-segment fit are read from the
transitions table (the same rows transitions.csv holds for the same --seed and --bootstrap), matched
to each panel by the group's parameter values, not by position. The drawn artists carry gids
(``n_star-<row>``, ``n_star_interval-<row>``, ``n_onset-<row>``, ``onset_fit-<row>``, row: the
table's row) so that what a figure shows can be checked against the table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from memgen_cli.report.analysis import row_for_cells
from memgen_cli.report.bootstrap import ErrorMetric, error_metric, error_points
from memgen_cli.report.canvas import Notes, add_legend, hide_unused, new_figure, panel_grid
from memgen_cli.statistics.estimators import CROSSED, ONSET_OK, BrokenLine
from memgen_cli.report.layout import Series, series_handles, x_label
from memgen_cli.report.panels import HALF_LINE, P_LABEL, PlotData, draw_p_curve, style_p_axes
from memgen_cli.report.reader import format_value

FIT_LINE = dict(color="0.45", linestyle="-", linewidth=1.0)
STAR_LINE = dict(color="black", linewidth=1.2)
ONSET_LINE = dict(color="0.2", linestyle=":", linewidth=1.4)
SPAN_MARGIN = 1.3  # the panel's x axis reaches this factor beyond the group's smallest and largest n


def metric_curve(cells: pd.DataFrame, metric: ErrorMetric) -> tuple[np.ndarray, np.ndarray, float]:
    """Finite (x, y) of the error as plotted, and the log offset that normalises it (Ê_OG at n_min)."""
    mask, logy = error_points(cells, metric)
    x = cells["_x"].to_numpy(dtype=float)[mask]
    offset = float(logy[mask][0]) if metric.summary_column != "mean_H2" and mask.any() else 0.0
    return x, np.exp(logy[mask] - offset), offset


def math_name(metric: ErrorMetric) -> str:
    return "mean H²" if metric.name == "H²" else r"$\hat{E}_{\mathrm{OG}}$"


def transition_caption(row: pd.Series) -> str:
    def interval(lo: float, hi: float) -> str:
        fmt = lambda v: "<n_min" if v == 0 else ("∞" if math.isinf(v) else format_value(v))  # noqa: E731
        return f"[{fmt(lo)}, {fmt(hi)}]" if np.isfinite(lo) or np.isinf(lo) else ""

    star = (
        f"n* = {format_value(row['n_star'])} {interval(row['n_star_lo'], row['n_star_hi'])}"
        if row["n_star_status"] == CROSSED
        else f"n*: {row['n_star_status']}"
    )
    if row["onset_status"] == ONSET_OK:
        onset = f"n_onset = {format_value(row['n_onset'])}"
    elif np.isfinite(row["n_onset"]):
        onset = f"break at {format_value(row['n_onset'])}, no faster decay after it"
    else:
        onset = f"n_onset: {row['onset_status']}"
    return f"{star}; {onset}; {row['verdict']}"


def panel_span(series: Series) -> tuple[float, float]:
    x = series.group.cells["_x"].to_numpy(dtype=float)
    return x.min() / SPAN_MARGIN, x.max() * SPAN_MARGIN


def draw_star(ax: Axes, row: pd.Series, index: int, span: tuple[float, float]) -> None:
    """n_star and its interval, clipped to the panel where it reaches beyond the sweep (0 or inf)."""
    if row["n_star_status"] != CROSSED:
        return
    lo = max(row["n_star_lo"], span[0]) if np.isfinite(row["n_star_lo"]) else span[0]
    hi = min(row["n_star_hi"], span[1]) if np.isfinite(row["n_star_hi"]) else span[1]
    ax.axvspan(lo, hi, color="0.5", alpha=0.15, linewidth=0, gid=f"n_star_interval-{index}")
    ax.axvline(row["n_star"], gid=f"n_star-{index}", **STAR_LINE)


def fitted_line(row: pd.Series) -> BrokenLine:
    """The two-segment fit as the table records it (in log n, log y)."""
    return BrokenLine(
        math.log(row["n_onset"]), row["log_error_at_onset"], row["slope_before"], row["slope_after"]
    )


def draw_error(ax: Axes, series: Series, row: pd.Series, index: int, metric: ErrorMetric, colour) -> Axes:
    """The error on a right-hand axis (squares), the table's two-segment fit through it and n_onset."""
    twin = ax.twinx()
    twin.set_label(series.group.label)
    twin.spines["right"].set_visible(True)
    x, y, offset = metric_curve(series.group.cells, metric)
    if len(x):
        twin.plot(
            x,
            y,
            color=colour,
            marker="s",
            markerfacecolor="white",
            linestyle="none",
            alpha=0.9,
            label=series.group.label,
        )
        twin.set_yscale("log")
    if np.isfinite(row["n_onset"]):
        grid = np.linspace(math.log(row["fit_n_min"]), math.log(row["fit_n_max"]), 200)
        twin.plot(np.exp(grid), np.exp(fitted_line(row)(grid) - offset), gid=f"onset_fit-{index}", **FIT_LINE)
        twin.axvline(row["n_onset"], gid=f"n_onset-{index}", **ONSET_LINE)
    twin.set_ylabel(f"{math_name(metric)} (squares)")
    return twin


def draw_panel(ax: Axes, data: PlotData, series: Series, metric: ErrorMetric | None) -> None:
    index = row_for_cells(data.transitions, series.group.cells)
    row = data.transitions.iloc[index]
    ax.set_label(series.group.label)
    draw_p_curve(ax, series, data.p_points[series], data.colour(series))
    style_p_axes(ax)
    span = panel_span(series)
    draw_star(ax, row, index, span)
    if metric is not None:
        draw_error(ax, series, row, index, metric, data.colour(series))
    ax.set_xscale("log")
    ax.set_xlim(*span)
    ax.set_title(f"{series.group.label}\n{transition_caption(row)}", fontsize=8.5)
    ax.set_ylabel(P_LABEL + " (circles)")
    ax.set_xlabel(x_label(data.layout.x))


def transition_legend(data: PlotData, metric: ErrorMetric | None) -> tuple[list, list[str]]:
    handles, labels = series_handles(data.series, data.layout)
    handles += [
        Line2D([], [], **STAR_LINE),
        Patch(color="0.5", alpha=0.3, linewidth=0),
        Line2D([], [], **HALF_LINE),
    ]
    labels += ["n*: P crosses 0.5", "n* bootstrap 95% interval", "P = 0.5"]
    if metric is not None:
        handles += [
            Line2D([], [], color="0.3", marker="s", markerfacecolor="white", linestyle="none"),
            Line2D([], [], **FIT_LINE),
            Line2D([], [], **ONSET_LINE),
        ]
        labels += [
            math_name(metric) + (" (÷ value at smallest n)" if metric.name != "H²" else ""),
            "two-segment fit (log-log)",
            "n_onset: breakpoint",
        ]
    return handles, labels


def figure_transition(data: PlotData) -> tuple[Figure, list[str]]:
    notes = Notes()
    metric = error_metric(data.results.summary)
    if metric is None:
        notes.add("No error column (mean_H2, mean_E_OG or mean_log_E_OG): n_onset not estimable.")
    notes.extend(data.p_notes())
    figure, axes = new_figure(*panel_grid(len(data.series)), notes.lines, data.caption, sharex=True)
    for ax, s in zip(axes.flat, data.series):
        draw_panel(ax, data, s, metric)
    hide_unused(axes, len(data.series))
    add_legend(figure, *transition_legend(data, metric))
    return figure, notes.lines
