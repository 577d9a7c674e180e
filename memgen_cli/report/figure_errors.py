"""The ``errors_vs_p`` figure: Ê_OG and Ê_TG against n beside P(Δ > 0), shared x axis (Fig. 4's layout)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memgen_cli.report.canvas import Notes, add_legend, new_figure, say_empty
from memgen_cli.report.layout import Series, facet_title, facet_values, in_facet, series_handles, x_label
from memgen_cli.report.panels import P_LABEL, PlotData, draw_p_curve, p_legend_extras, style_p_axes
from memgen_cli.report.reader import SUMMARY_FILE, format_value, numeric_column

SINGULAR_NOTE = "E_TG, E_OG infinite for n ≤ d (Σ_G singular): those n are not drawn"
ERROR_STYLES = {
    "E_OG": dict(linestyle="-", marker="o"),
    "E_TG": dict(linestyle="--", marker="s", markerfacecolor="white"),
}
ERROR_LEGEND = {
    "E_OG": r"$\hat{E}_{\mathrm{OG}}$ (original vs generated)",
    "E_TG": r"$\hat{E}_{\mathrm{TG}}$ (training vs generated)",
}


@dataclass(frozen=True)
class ErrorColumns:
    og: str | None
    tg: str | None
    is_log: bool  # mean_log_E_*: geometric means, normalised by differences of logs


def error_columns(summary: pd.DataFrame) -> ErrorColumns | None:
    """Plain means (U-Net) when present, else means of logs (linear)."""
    columns = set(summary.columns)
    if {"mean_E_OG", "mean_E_TG"} & columns:
        return ErrorColumns(*(c if c in columns else None for c in ("mean_E_OG", "mean_E_TG")), is_log=False)
    if {"mean_log_E_OG", "mean_log_E_TG"} & columns:
        return ErrorColumns(
            *(c if c in columns else None for c in ("mean_log_E_OG", "mean_log_E_TG")), is_log=True
        )
    return None


def normalised_error(
    series: Series, column: str, is_log: bool, notes: Notes, name: str, model: str
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Ê = E(n) / E(n_min), n_min the smallest n of the group where E is finite.

    Returns x, Ê and n_min when it is not the group's smallest n (for the linear model E is
    infinite while n <= d), else None.
    """
    cells = series.group.cells
    x = cells["_x"].to_numpy(dtype=float)
    values = numeric_column(cells, column, SUMMARY_FILE)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_e = values if is_log else np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)
    finite = np.isfinite(log_e)
    where = series.group.label
    # Linear model: E is infinite while n <= d (Sigma_G singular); the mean over finite trials is then
    # empty (NaN) or inf. Expected, so explained once rather than counted as missing data.
    singular = ~finite & (model == "linear") & singular_cells(cells, x)
    if singular.any():
        notes.add(SINGULAR_NOTE + ".")
    other = ~finite & ~singular
    if other.any():
        notes.add(f"{where}: {int(other.sum())} cell(s) with NaN, infinite or ≤ 0 {name} not drawn.")
    if not finite.any():
        return x[:0], x[:0], None
    first = int(np.flatnonzero(finite)[0])
    ratio_log = log_e[finite] - log_e[first]
    overflow = ratio_log > 700  # beyond float64; cannot be drawn on any axis
    if overflow.any():
        notes.add(f"{where}: {int(overflow.sum())} {name} ratio(s) above 1e304 not drawn.")
    return x[finite][~overflow], np.exp(ratio_log[~overflow]), (float(x[first]) if first > 0 else None)


def singular_cells(cells: pd.DataFrame, x: np.ndarray) -> np.ndarray:
    """n <= d, where the linear model's Sigma_G is singular (every cell when d is unknown)."""
    if "d" not in cells.columns:
        return np.ones(len(x), dtype=bool)
    d = pd.to_numeric(cells["d"], errors="coerce").to_numpy(dtype=float)
    return ~(x > d)  # NaN d counts as singular: nothing better is known


def normalisation_note(normalised_at: dict[str, float], x: str) -> str:
    """One line for every group whose Ê is normalised above its smallest n."""
    values = set(normalised_at.values())
    if len(values) == 1 and len(normalised_at) > 1:
        where = f"{x} = {format_value(values.pop())} in every group"
    else:
        where = "; ".join(f"{x} = {format_value(v)} ({label})" for label, v in normalised_at.items())
    return f"Ê normalised at the smallest {x} where E is finite: {where}."


ErrorCurves = dict[Series, dict[str, tuple[np.ndarray, np.ndarray]]]  # series -> E_OG/E_TG -> (x, Ê)


def error_curves(data: PlotData, notes: Notes) -> ErrorCurves:
    """Every series' Ê_OG and Ê_TG as drawn, with the notes on what was left out."""
    columns = error_columns(data.results.summary)
    if columns is None:
        notes.add("No E_OG/E_TG columns in summary.csv (mean_E_OG or mean_log_E_OG): left panels empty.")
        return {s: {} for s in data.series}
    curves: ErrorCurves = {}
    normalised_at: dict[str, float] = {}
    for s in data.series:
        curves[s] = {}
        for name, column in (("E_OG", columns.og), ("E_TG", columns.tg)):
            if column is not None:
                x, e, n_norm = normalised_error(s, column, columns.is_log, notes, name, data.results.model)
                curves[s][name] = (x, e)
                if n_norm is not None:
                    normalised_at.setdefault(s.group.label, n_norm)
    if normalised_at:
        notes.add(normalisation_note(normalised_at, data.layout.x))
    return curves


def draw_error_curves(ax: Axes, series: Series, curves: dict, colour) -> bool:
    """Ê_OG solid, Ê_TG dashed; True when anything was drawn."""
    drawn = False
    for name, (x, e) in curves.items():
        if len(x):
            style = {**ERROR_STYLES[name], **({} if len(x) > 1 else {"linestyle": "none"})}
            ax.plot(x, e, color=colour, label=series.group.label, **style)
            drawn = True
    return drawn


def figure_errors_vs_p(data: PlotData) -> tuple[Figure, list[str]]:
    notes = Notes()
    curves = error_curves(data, notes)
    notes.extend(data.p_notes())
    facets = facet_values(data.series)
    figure, axes = new_figure(len(facets), 2, notes.lines, data.caption, sharex=True)
    for (error_ax, p_ax), value in zip(axes, facets):
        drawn = False
        for s in in_facet(data.series, value):
            drawn |= draw_error_curves(error_ax, s, curves[s], data.colour(s))
            draw_p_curve(p_ax, s, data.p_points[s], data.colour(s))
        error_ax.set_xscale("log")
        if drawn:
            error_ax.set_yscale("log")
        else:
            say_empty(error_ax, "no finite E_OG or E_TG")
        style_p_axes(p_ax)
        suffix = f" ({facet_title(data.layout, value)})" if data.layout.facet else ""
        error_ax.set_title("Convergence" + suffix)
        p_ax.set_title("Memorization → generalization" + suffix)
        error_ax.set_ylabel(r"$\hat{E}_{\mathrm{OG}}$, $\hat{E}_{\mathrm{TG}}$  (÷ value at smallest n)")
        p_ax.set_ylabel(P_LABEL)
        for ax in (error_ax, p_ax):
            ax.set_xlabel(x_label(data.layout.x))
    handles, labels = series_handles(data.series, data.layout)
    handles += [Line2D([], [], color="0.3", **style) for style in ERROR_STYLES.values()]
    labels += list(ERROR_LEGEND.values())
    extra_handles, extra_labels = p_legend_extras()
    add_legend(figure, handles + extra_handles, labels + extra_labels)
    return figure, notes.lines
