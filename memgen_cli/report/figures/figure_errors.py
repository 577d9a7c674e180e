"""The ``errors_vs_p`` figure: Ê_OG and Ê_TG against n beside P(Δ > 0), shared x axis (Fig. 4's layout)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memgen_cli.report.figures.canvas import Notes, new_figure, place_legend, say_empty
from memgen_cli.report.figures.layout import Series, facet_title, facet_values, in_facet, x_label
from memgen_cli.report.figures.panels import (P_LABEL, PlotData, draw_p_curve, draw_references, group_colours,
                                              interval_legend, p_references, reference_legend, style_p_axes)
from memgen_cli.report.reader import SUMMARY_FILE, format_value, numeric_column

SINGULAR_NOTE = "E_TG, E_OG infinite for n ≤ d (Σ_G singular): those n are not drawn"
# Ê_TG over Ê_OG, dashed with hollow markers, so that where the two coincide both show: the solid line through the
# dashes' gaps, the filled circle inside the open square.
ERROR_STYLES = {
    "E_OG": dict(linestyle="-", marker="o", markersize=3.0, zorder=2.0),
    "E_TG": dict(linestyle=(0, (3.5, 2.0)), marker="s", markersize=5.0, markerfacecolor="none", zorder=2.2),
}
# Both curves are divided by E_OG at the group's largest n (error_curves says why), and the label says so.
ERROR_AXIS_LABEL = r"$\hat{{E}}$ = $E$ ÷ $E_{{\mathrm{{OG}}}}$ at largest {x}"
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


def log_errors(series: Series, column: str, is_log: bool, notes: Notes, name: str, model: str) -> np.ndarray:
    """ln E of each cell of the series (NaN where E is not finite or ≤ 0), with notes on what is missing.

    Linear model: E is infinite while n <= d (Sigma_G singular); the mean over finite trials is then empty (NaN)
    or inf. Expected, so explained once rather than counted as missing data."""
    cells = series.group.cells
    x = cells["_x"].to_numpy(dtype=float)
    values = numeric_column(cells, column, SUMMARY_FILE)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_e = values if is_log else np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)
    finite = np.isfinite(log_e)
    singular = ~finite & infinite_while_n_le_d(model) & singular_cells(cells, x)
    if singular.any():
        notes.add(SINGULAR_NOTE + ".")
    other = ~finite & ~singular
    if other.any():
        notes.add(f"{series.group.label}: {int(other.sum())} cell(s) with NaN, infinite or ≤ 0 {name} not drawn.")
    return np.where(finite, log_e, np.nan)


def infinite_while_n_le_d(model: str) -> bool:
    """Whether the model's errors are infinite by construction while n <= d (its experiment says)."""
    from memgen_cli.runner.registry import EXPERIMENTS, experiment_class

    return model in EXPERIMENTS and experiment_class(model).errors_infinite_while_n_le_d


def singular_cells(cells: pd.DataFrame, x: np.ndarray) -> np.ndarray:
    """n <= d, where the linear model's Sigma_G is singular (every cell when d is unknown)."""
    if "d" not in cells.columns:
        return np.ones(len(x), dtype=bool)
    d = pd.to_numeric(cells["d"], errors="coerce").to_numpy(dtype=float)
    return ~(x > d)  # NaN d counts as singular: nothing better is known


ErrorCurves = dict[Series, dict[str, tuple[np.ndarray, np.ndarray]]]  # series -> E_OG/E_TG -> (x, Ê)


def error_curves(data: PlotData, notes: Notes) -> ErrorCurves:
    """Every series' E_OG and E_TG as drawn: both divided by one reference, E_OG at the group's largest n where it
    is finite (E_TG's where there is no E_OG), with the notes on what was left out.

    One reference for both keeps their order (Δ = E_TG − E_OG > 0 where E_TG's curve lies above E_OG's). The
    largest n is where E is estimated best and the model is furthest from the interpolation peak just above
    n = d, where E varies fastest; the paper's Fig. 4 divides by the value at its smallest n (a constant factor
    on a log axis: the curves' shapes are the same)."""
    columns = error_columns(data.results.summary)
    if columns is None:
        notes.add("No E_OG/E_TG columns in summary.csv (mean_E_OG or mean_log_E_OG): left panels empty.")
        return {s: {} for s in data.series}
    curves: ErrorCurves = {}
    not_largest = {}
    for s in data.series:
        x = s.group.cells["_x"].to_numpy(dtype=float)
        logs = {name: log_errors(s, column, columns.is_log, notes, name, data.results.model)
                for name, column in (("E_OG", columns.og), ("E_TG", columns.tg)) if column is not None}
        reference = logs.get("E_OG", logs.get("E_TG"))
        has_reference = np.flatnonzero(np.isfinite(reference))
        curves[s] = {}
        if not len(has_reference):
            continue
        k = int(has_reference[-1])
        if k != len(x) - 1:
            not_largest[s.group.label] = x[k]
        for name, log_e in logs.items():
            ratio = log_e - reference[k]
            keep = np.isfinite(ratio) & (np.abs(ratio) < 700)  # beyond, float64 cannot hold the ratio
            if (np.isfinite(ratio) & ~keep).any():
                notes.add(f"{s.group.label}: {int((np.isfinite(ratio) & ~keep).sum())} {name} ratio(s) beyond "
                          "1e±304 not drawn.")
            curves[s][name] = (x[keep], np.exp(ratio[keep]))
    if not_largest:
        where = "; ".join(f"{data.layout.x} = {format_value(v)} ({label})" for label, v in not_largest.items())
        notes.add(f"Reference of Ê below the largest {data.layout.x} (no finite E there): {where}.")
    if columns.is_log:
        notes.add("E_OG, E_TG: geometric means over each cell's trials (summary.csv's mean_log_E_*).")
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
    references = {s: p_references(data.results, s) for s in data.series}
    drawn_references = [r for r in references.values() if r.drawable]
    facets = facet_values(data.series)
    figure, axes = new_figure(len(facets), 2, data.captions(), sharex=True)
    for (error_ax, p_ax), value in zip(axes, facets):
        drawn = False
        for s in in_facet(data.series, value):
            drawn |= draw_error_curves(error_ax, s, curves[s], data.colour(s))
            draw_references(p_ax, references[s], data.colour(s))
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
        error_ax.set_ylabel(ERROR_AXIS_LABEL.format(x=data.layout.x))
        p_ax.set_ylabel(P_LABEL)
        for ax in (error_ax, p_ax):
            ax.set_xlabel(x_label(data.layout.x))
    handles, labels, handler_map = interval_legend(data)
    handles += [Line2D([], [], color="0.3", **style) for style in ERROR_STYLES.values()]
    labels += list(ERROR_LEGEND.values())
    if drawn_references:
        extra_handles, extra_labels, extra_map = reference_legend(drawn_references, group_colours(data))
        handles, labels, handler_map = handles + extra_handles, labels + extra_labels, {**handler_map, **extra_map}
    place_legend(figure, handles, labels, handler_map=handler_map)
    return figure, notes.lines
