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
from matplotlib.legend_handler import HandlerTuple
from matplotlib.patches import Patch

from memgen_cli.report.analysis import row_for_cells
from memgen_cli.report.bootstrap import ErrorMetric, error_metric, error_points
from memgen_cli.report.canvas import Notes, new_figure, panel_grid, place_legend, spare_slots, wrap_title
from memgen_cli.statistics.estimators import CROSSED, ONSET_OK, BrokenLine
from memgen_cli.report.layout import Series, series_handles, x_label
from memgen_cli.report.panels import BAND_ALPHA, P_LABEL, PlotData, draw_p_curve, style_p_axes
from memgen_cli.report.reader import format_value

FIT_LINE = dict(color="0.45", linestyle="-", linewidth=1.0)
STAR_LINE = dict(color="black", linewidth=1.2)
ONSET_LINE = dict(color="0.2", linestyle=":", linewidth=1.4)
SPAN_MARGIN = 1.3  # the panel's x axis reaches this factor beyond the group's smallest and largest n


def metric_curve(cells: pd.DataFrame, metric: ErrorMetric) -> tuple[np.ndarray, np.ndarray, float]:
    """Finite (x, y) of the error as plotted, and the log offset that scales it: Ê_OG is E_OG divided by its
    value at the largest n, as in errors_vs_p (H² is drawn as it is)."""
    mask, logy = error_points(cells, metric)
    x = cells["_x"].to_numpy(dtype=float)[mask]
    offset = float(logy[mask][-1]) if metric.summary_column != "mean_H2" and mask.any() else 0.0
    return x, np.exp(logy[mask] - offset), offset


def math_name(metric: ErrorMetric, scaled: bool = False) -> str:
    if metric.name == "H²":
        return "mean H²"
    return r"$\hat{E}_{\mathrm{OG}}$" + (r" = $E_{\mathrm{OG}}$ ÷ its value at largest n" if scaled else "")


def interval_text(lo: float, hi: float) -> str:
    """'[21.1, 26]'; a bound beyond the sweep reads '<n_min' or '∞'; '' without an interval."""
    fmt = lambda v: "<n_min" if v == 0 else ("∞" if math.isinf(v) else format_value(v))  # noqa: E731
    return f" [{fmt(lo)}, {fmt(hi)}]" if np.isfinite(lo) or np.isinf(lo) else " (no interval)"


def transition_caption(row: pd.Series) -> list[str]:
    """The panel's estimates, each with its 95% interval, and the verdict: one short line each."""
    limited = " (grid-limited)" if row.get("n_star_grid_limited") in (True,) else ""
    star = (f"n* = {format_value(row['n_star'])}{interval_text(row['n_star_lo'], row['n_star_hi'])}{limited}"
            if row["n_star_status"] == CROSSED else f"n*: {row['n_star_status']}")
    onset_interval = interval_text(row["n_onset_lo"], row["n_onset_hi"])
    if row["onset_status"] == ONSET_OK:
        onset = f"n_onset = {format_value(row['n_onset'])}{onset_interval}"
    elif np.isfinite(row["n_onset"]):
        onset = f"break at {format_value(row['n_onset'])}{onset_interval}, no faster decay after it"
    else:
        onset = f"n_onset: {row['onset_status']}"
    verdict = str(row["verdict"])
    if np.isfinite(row.get("ratio", np.nan)):
        verdict += f": n*/n_onset = {row['ratio']:.3g}{interval_text(row['ratio_lo'], row['ratio_hi'])}"
    return [star, onset, verdict]


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


def draw_error(ax: Axes, series: Series, row: pd.Series, index: int, metric: ErrorMetric, colour,
               label: bool) -> Axes:
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
    if label:
        twin.set_ylabel(f"{math_name(metric)} (squares)")
    return twin


def panel_title(data: PlotData, series: Series) -> list[str]:
    row = data.transitions.iloc[row_for_cells(data.transitions, series.group.cells)]
    return ([series.group.label] if len(data.series) > 1 else []) + transition_caption(row)


def draw_panel(ax: Axes, data: PlotData, series: Series, metric: ErrorMetric | None, title: str,
               first_column: bool, last_column: bool) -> None:
    index = row_for_cells(data.transitions, series.group.cells)
    row = data.transitions.iloc[index]
    ax.set_label(series.group.label)
    draw_p_curve(ax, series, data.p_points[series], data.colour(series))
    style_p_axes(ax)
    span = panel_span(series)
    draw_star(ax, row, index, span)
    if metric is not None:
        draw_error(ax, series, row, index, metric, data.colour(series), label=last_column)
    ax.set_xscale("log")
    ax.set_xlim(*span)
    ax.set_title(title)
    if first_column:  # the twin axes' labels stay at the figure's outer edges, not between panels
        ax.set_ylabel(P_LABEL + " (circles)")
    ax.set_xlabel(x_label(data.layout.x))


def transition_legend(data: PlotData, metric: ErrorMetric | None) -> tuple[list, list[str], dict]:
    """One entry per kind of mark; no entry per group: each panel's title names its group."""
    group_handles, _ = series_handles(data.series, data.layout)
    colours = [h.get_color() for h in group_handles] or [data.colour(data.series[0])]
    bands = tuple(Patch(color=c, alpha=BAND_ALPHA * 1.5, linewidth=0) for c in colours)
    p_handle = (*bands, Line2D([], [], color=colours[0], marker="o")) if len(colours) == 1 else bands
    handles = [p_handle, (Patch(color="0.5", alpha=0.3, linewidth=0), Line2D([], [], **STAR_LINE))]
    labels = [f"{P_LABEL}, 95% interval", "n*, 95% interval"]
    handler_map = {} if len(colours) == 1 else {bands: HandlerTuple(ndivide=None, pad=0)}
    if metric is not None:
        handles += [
            Line2D([], [], color=colours[0] if len(colours) == 1 else "0.3", marker="s", markerfacecolor="white",
                   linestyle="none"),
            Line2D([], [], **FIT_LINE),
            Line2D([], [], **ONSET_LINE),
        ]
        labels += [math_name(metric, scaled=True), "two-segment fit", "n_onset (breakpoint)"]
    return handles, labels, handler_map


def figure_transition(data: PlotData) -> tuple[Figure, list[str]]:
    notes = Notes()
    metric = error_metric(data.results.summary)
    if metric is None:
        notes.add("No error column (mean_H2, mean_E_OG or mean_log_E_OG): n_onset not estimable.")
    notes.extend(data.p_notes())
    rows, cols = panel_grid(len(data.series))
    titles = [wrap_title(panel_title(data, s), cols) for s in data.series]
    title_lines = max(title.count("\n") + 1 for title in titles)
    figure, axes = new_figure(rows, cols, data.caption, notes.lines, sharex=True, title_lines=title_lines)
    for k, (ax, s, title) in enumerate(zip(axes.flat, data.series, titles)):
        last = k % cols == cols - 1 or k == len(data.series) - 1
        draw_panel(ax, data, s, metric, title, first_column=k % cols == 0, last_column=last)
    handles, labels, handler_map = transition_legend(data, metric)
    place_legend(figure, handles, labels, list(axes.flat[: len(data.series)]), spare_slots(axes, len(data.series)),
                 handler_map)
    return figure, notes.lines
