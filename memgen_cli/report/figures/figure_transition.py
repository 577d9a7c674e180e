"""The ``transition`` figure: one panel per group, drawing that group's row of `memgen analyze`'s table.

A panel holds one group: P(Δ > 0) is drawn in P_COLOUR, the error (H², Ê_OG) in ERROR_COLOUR on a right-hand axis
that every panel shares (the same ticks; labelled at the figure's right edge). The two-segment fit is drawn only
over the window it was fitted in, and only where it follows the drawn points (``fit_problem``); where it does not,
the panel keeps its n_onset and the notes (in the sidecar) say why the fit is not drawn.

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

from memgen_cli.report.analysis.transitions import row_for_cells
from memgen_cli.report.analysis.bootstrap import ErrorMetric, error_metric, error_points
from memgen_cli.report.figures.canvas import (Notes, new_figure, only_drawn, panel_grid, place_legend, spare_slots,
                                              wrap_title)
from memgen_cli.statistics.estimators import CROSSED, ONSET_OK, BrokenLine
from memgen_cli.report.figures.layout import Series, x_label
from memgen_cli.report.figures.panels import P_LABEL, PlotData, band_handle, draw_p_curve, style_p_axes
from memgen_cli.report.reader import format_value
from memgen_cli.report.figures.style import ERROR_COLOUR, FIT_LINE, ONSET_LINE, P_COLOUR, SPAN, STAR_LINE

SPAN_MARGIN = 1.3  # the panel's x axis reaches this factor beyond the group's smallest and largest n
FIT_TOLERANCE = math.log(1.15)  # a drawn fit misses no point of its window by more than 15%


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
    ax.axvspan(lo, hi, gid=f"n_star_interval-{index}", **SPAN)
    ax.axvline(row["n_star"], gid=f"n_star-{index}", **STAR_LINE)


def fitted_line(row: pd.Series) -> BrokenLine:
    """The two-segment fit as the table records it (in log n, log y)."""
    return BrokenLine(
        math.log(row["n_onset"]), row["log_error_at_onset"], row["slope_before"], row["slope_after"]
    )


def fit_problem(row: pd.Series, x: np.ndarray, log_y: np.ndarray) -> str | None:
    """Why the table's two-segment fit should not be drawn over these points (log y as fitted), or None: it has
    no window, or it misses a point of its window by more than FIT_TOLERANCE."""
    if not (np.isfinite(row["fit_n_min"]) and np.isfinite(row["fit_n_max"]) and row["fit_n_max"] > row["fit_n_min"]):
        return "no fitted window"
    inside = (x >= row["fit_n_min"] * (1 - 1e-9)) & (x <= row["fit_n_max"] * (1 + 1e-9))
    if inside.sum() < 3:
        return f"{int(inside.sum())} drawn point(s) in its window"
    miss = np.abs(fitted_line(row)(np.log(x[inside])) - log_y[inside])
    if miss.max() > FIT_TOLERANCE:
        return (f"it misses the point at n = {format_value(x[inside][np.argmax(miss)])} by "
                f"{math.expm1(miss.max()):.0%} (more than {math.expm1(FIT_TOLERANCE):.0%})")
    return None


def draw_error(ax: Axes, series: Series, row: pd.Series, index: int, metric: ErrorMetric) -> tuple[Axes, str | None]:
    """The error on a right-hand axis (open squares), the table's two-segment fit through it where it follows the
    points, and n_onset; (the axis, why the fit is not drawn or None)."""
    twin = ax.twinx()
    twin.set_label(series.group.label)
    twin.spines["right"].set_visible(True)
    x, y, offset = metric_curve(series.group.cells, metric)
    if len(x):
        twin.plot(x, y, color=ERROR_COLOUR, marker="s", markerfacecolor="none", markersize=4, linestyle="none",
                  label=series.group.label)
        twin.set_yscale("log")
    problem = None
    if np.isfinite(row["n_onset"]):
        problem = fit_problem(row, x, np.log(y) + offset)
        if problem is None:
            grid = np.linspace(math.log(row["fit_n_min"]), math.log(row["fit_n_max"]), 200)
            twin.plot(np.exp(grid), np.exp(fitted_line(row)(grid) - offset), gid=f"onset_fit-{index}", **FIT_LINE)
        twin.axvline(row["n_onset"], gid=f"n_onset-{index}", **ONSET_LINE)
    return twin, problem


def share_twins(twins: list[Axes], cols: int, metric: ErrorMetric) -> None:
    """Every panel's right-hand axis on one scale, labelled at the figure's right edge only (like shared y axes)."""
    logs = [t for t in twins if t.get_yscale() == "log"]
    if logs:
        low = min(t.get_ylim()[0] for t in logs)
        high = max(t.get_ylim()[1] for t in logs)
        for twin in logs:
            twin.set_ylim(low, high)
    for k, twin in enumerate(twins):
        if k % cols == cols - 1 or k == len(twins) - 1:
            twin.set_ylabel(f"{math_name(metric)} (squares)")
        else:
            twin.tick_params(axis="y", which="both", labelright=False)


def panel_title(data: PlotData, series: Series) -> list[str]:
    row = data.transitions.iloc[row_for_cells(data.transitions, series.group.cells)]
    return ([series.group.label] if len(data.series) > 1 else []) + transition_caption(row)


def draw_panel(ax: Axes, data: PlotData, series: Series, metric: ErrorMetric | None, title: str,
               first_column: bool, notes: Notes) -> Axes | None:
    """One group's panel; its right-hand axis (None without an error metric)."""
    index = row_for_cells(data.transitions, series.group.cells)
    row = data.transitions.iloc[index]
    ax.set_label(series.group.label)
    draw_p_curve(ax, series, data.p_points[series], P_COLOUR)
    style_p_axes(ax)
    span = panel_span(series)
    draw_star(ax, row, index, span)
    twin = None
    if metric is not None:
        twin, problem = draw_error(ax, series, row, index, metric)
        if problem is not None:
            where = f"{series.group.label}: " if len(data.series) > 1 else ""
            notes.add(f"{where}the two-segment fit behind n_onset is not drawn: {problem}.")
    ax.set_xscale("log")
    ax.set_xlim(*span)
    ax.set_title(title)
    if first_column:  # the twin axes' labels stay at the figure's outer edges, not between panels
        ax.set_ylabel(P_LABEL + " (circles)")
    ax.set_xlabel(x_label(data.layout.x))
    return twin


def transition_legend(figure: Figure, metric: ErrorMetric | None) -> tuple[list, list[str]]:
    """One entry per kind of mark the figure draws; no entry per group: each panel's title names its group."""
    entries = [(None, band_handle(P_COLOUR), f"{P_LABEL}, 95% interval"),
               ("n_star", (Patch(**SPAN), Line2D([], [], **STAR_LINE)), "n* and its 95% interval")]
    if metric is not None:
        entries += [(None, Line2D([], [], color=ERROR_COLOUR, marker="s", markerfacecolor="none", markersize=4,
                                  linestyle="none"), math_name(metric, scaled=True)),
                    ("onset_fit", Line2D([], [], **FIT_LINE), "two-segment fit"),
                    ("n_onset", Line2D([], [], **ONSET_LINE), "n_onset (breakpoint)")]
    return only_drawn(figure, entries)


def figure_transition(data: PlotData) -> tuple[Figure, list[str]]:
    notes = Notes()
    metric = error_metric(data.results.summary)
    if metric is None:
        notes.add("No error column (mean_H2, mean_E_OG or mean_log_E_OG): n_onset not estimable.")
    notes.extend(data.p_notes())
    rows, cols = panel_grid(len(data.series))
    titles = [wrap_title(panel_title(data, s), cols) for s in data.series]
    title_lines = max(title.count("\n") + 1 for title in titles)
    figure, axes = new_figure(rows, cols, data.captions(), sharex=True, title_lines=title_lines)
    twins = [draw_panel(ax, data, s, metric, title, first_column=k % cols == 0, notes=notes)
             for k, (ax, s, title) in enumerate(zip(axes.flat, data.series, titles))]
    if metric is not None:
        share_twins([t for t in twins if t is not None], cols, metric)
    handles, labels = transition_legend(figure, metric)
    place_legend(figure, handles, labels, spare_slots(axes, len(data.series)))
    return figure, notes.lines
