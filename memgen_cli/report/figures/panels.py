"""What the figures of `memgen plot` draw from, collected once before any figure is drawn.

``PlotData`` holds the folder, the layout, each series' drawable P(Δ > 0) points with the notes on
what was left out, and the transitions table of `memgen analyze`. A figure reads its data and
notes from here (or collects its own once), sizes itself for the notes, then draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from memgen_cli.report.caption import RunDescription, describe
from memgen_cli.report.figures.layout import Layout, Series, series_handles
from memgen_cli.report.reader import PRIMARY_P_COLUMNS, SUMMARY_FILE, Results, numeric_column
from memgen_cli.report.figures.style import (BAND_ALPHA, GENERALIZER_LINE, HALF_LINE, HALO, MEMORIZER_LINE,
                                             MODEL_ZORDER, P_COLOUR, REFERENCE_ZORDER, reference_colour)

P_LABEL = "P(Δ > 0)"
INTERVAL_LABEL = "95% interval"
P_GID = "P(Δ > 0)"  # every P(Δ > 0) line carries it: its colour is checked across figures


@dataclass(frozen=True)
class Points:
    """The cells of one series a figure can draw, and notes on those it cannot."""

    x: np.ndarray
    values: list[np.ndarray]  # one array per requested column, aligned with x
    notes: tuple[str, ...]


def finite_points(series: Series, columns: Sequence[str], what: str, positive: bool = False) -> Points:
    """x and the given columns where all are finite (and > 0 for log axes); a note for what was dropped."""
    cells = series.group.cells
    x = cells["_x"].to_numpy(dtype=float)
    values = [numeric_column(cells, c, SUMMARY_FILE) for c in columns]
    keep = np.all([np.isfinite(v) for v in values], axis=0) if values else np.ones(len(x), bool)
    if positive:
        keep &= values[0] > 0
    notes = []
    dropped = int((~keep).sum())
    if dropped:
        reason = "non-finite or ≤ 0" if positive else "NaN or infinite"
        notes.append(f"{series.group.label}: {dropped} cell(s) with {reason} {what} not drawn.")
    if keep.sum() == 1:
        notes.append(f"{series.group.label}: a single point of {what}, no line.")
    return Points(x[keep], [v[keep] for v in values], tuple(notes))


@dataclass(frozen=True)
class References:
    """The ideal generalizer's and the ideal memorizer's value per cell of a series (NaN where not measured)."""

    x: np.ndarray
    generalizer: np.ndarray
    memorizer: np.ndarray
    analytic_memorizer: bool = False  # the memorizer's P = 0 in closed form (the linear model), not measured

    @property
    def drawable(self) -> bool:
        return bool(np.isfinite(self.generalizer).any() or np.isfinite(self.memorizer).any())


def p_references(results: Results, series: Series, metric: str = "delta_positive") -> References:
    """The references' P(Δ > 0) of a series from summary.csv; the linear model's memorizer at 0."""
    cells = series.group.cells
    x = cells["_x"].to_numpy(dtype=float)
    values = {}
    for name in ("generalizer", "memorizer"):
        column = f"p_{name}_{metric}"
        values[name] = numeric_column(cells, column, SUMMARY_FILE) if column in cells.columns else np.full(len(x),
                                                                                                            np.nan)
    analytic = results.analytic_memorizer is not None and f"p_memorizer_{metric}" not in cells.columns
    if analytic:
        values["memorizer"] = np.where(np.isfinite(values["generalizer"]), 0.0, np.nan)
    return References(x, values["generalizer"], values["memorizer"], analytic)


def draw_references(ax: Axes, references: References, colour) -> None:
    """The generalizer (dashed) and the memorizer (dotted) as thin lines in the group's colour (darker), over the
    model's line and without a fill between them: where the model's curve lies between them the metric scores it
    between a perfect model and a copier."""
    for values, style, gid in ((references.generalizer, GENERALIZER_LINE, "generalizer"),
                               (references.memorizer, MEMORIZER_LINE, "memorizer")):
        keep = np.isfinite(values)
        if keep.any():
            ax.plot(references.x[keep], values[keep], color=reference_colour(colour), gid=gid, path_effects=HALO,
                    **{**style, **({} if keep.sum() > 1 else {"marker": "_", "markersize": 6})})


def at_edge(references: Sequence[References], name: str) -> str:
    """' (at 0)' or ' (at 1)' when every finite value of this reference lies there (a line on the frame's edge
    that the legend had better say), else ''."""
    values = np.concatenate([getattr(r, name)[np.isfinite(getattr(r, name))] for r in references] or [[]])
    for edge in (0.0, 1.0):
        if len(values) and np.all(np.abs(values - edge) < 1e-9):
            return f" (at {edge:g})"
    return ""


def reference_legend(references: Sequence[References], colours: Sequence) -> tuple[list, list[str], dict]:
    """Legend entries for the references, each line drawn in every group's colour, as in the panels; (handles,
    labels, handler_map)."""
    analytic = any(r.analytic_memorizer for r in references)
    labels = ["ideal generalizer" + at_edge(references, "generalizer"),
              "ideal memorizer" + (" (P = 0, closed form)" if analytic else at_edge(references, "memorizer"))]
    handles = [tuple(Line2D([], [], color=reference_colour(c), **style) for c in colours)
               for style in (GENERALIZER_LINE, MEMORIZER_LINE)]
    return handles, labels, {handle: HandlerTuple(ndivide=None, pad=0) for handle in handles}


@dataclass(frozen=True)
class PlotData:
    results: Results
    layout: Layout
    series: list[Series]
    p_points: dict[Series, Points]  # P(Δ > 0) and its Wilson bounds: three figures draw them
    transitions: pd.DataFrame  # `memgen analyze`'s table, drawn by the transition figure
    description: RunDescription  # the run's parameters: the caption line and the sidecar's record

    @property
    def caption(self) -> str:
        return self.description.caption()

    def captions(self) -> list[str]:
        """The caption, then shorter ones, for a figure to draw the first that fits (canvas.new_figure)."""
        return self.description.captions()

    def colour(self, series: Series):
        return self.layout.colour(series.colour_key)

    def p_notes(self) -> list[str]:
        return [note for s in self.series for note in self.p_points[s].notes]


def collect(results: Results, layout: Layout, series: list[Series], transitions: pd.DataFrame,
            config: dict | None) -> PlotData:
    """What the figures draw; ``config``: the folder's config.yaml (``caption.read_config``), None without one."""
    p_points = {s: finite_points(s, PRIMARY_P_COLUMNS, P_LABEL) for s in series}
    description = describe(results.model, results.summary, results.parameters, results.trials, config)
    return PlotData(results, layout, series, p_points, transitions, description)


# ----------------------------------------------------------------------------------------------
# The P(Δ > 0) curve, drawn in three figures


def draw_p_curve(ax: Axes, series: Series, points: Points, colour) -> None:
    """Line and Wilson band; the line carries the group's label so that it can be found again."""
    draw_interval_curve(ax, points.x, *points.values, colour, "o", series.group.label, P_GID)


def draw_interval_curve(ax: Axes, x: np.ndarray, value: np.ndarray, lo: np.ndarray, hi: np.ndarray, colour,
                        marker: str, label: str, gid: str | None = None) -> None:
    """A model's curve with its interval: the band (the panel's only fill) under the line and its markers."""
    if len(x) == 0:
        return
    if len(x) > 1:
        ax.fill_between(x, lo, hi, color=colour, alpha=BAND_ALPHA, linewidth=0, zorder=MODEL_ZORDER - 0.5)
    else:  # one cell: its interval as an error bar
        ax.errorbar(x, value, yerr=[value - lo, hi - value], color=colour, linestyle="none", elinewidth=0.8)
    ax.plot(x, value, color=colour, marker=marker, linestyle="-" if len(x) > 1 else "none", label=label, gid=gid,
            zorder=MODEL_ZORDER)
    # The markers again over the references (which lie over the line): a reference crosses the line, not a point.
    ax.plot(x, value, color=colour, marker=marker, linestyle="none", zorder=REFERENCE_ZORDER + 0.1)


def style_p_axes(ax: Axes) -> None:
    ax.axhline(0.5, **HALF_LINE)
    ax.set_xscale("log")
    ax.set_ylim(-0.04, 1.04)


def band_handle(colour, marker: str = "o") -> tuple:
    """A legend handle: the line over its interval band, both in the line's colour."""
    return (Patch(color=colour, alpha=BAND_ALPHA * 1.5, linewidth=0),
            Line2D([], [], color=colour, marker=marker, linestyle="-"))


def interval_legend(data: PlotData, what: str = P_LABEL, marker: str = "o", label: str = INTERVAL_LABEL
                    ) -> tuple[list, list[str], dict]:
    """The lines and their bands for a legend, (handles, labels, handler_map).

    Several colours: one entry per colour key (its line over its band) and one naming the bands, a swatch in each
    line's colour. One colour: a single entry, ``what`` with its band, in P_COLOUR."""
    handles, labels = series_handles(data.series, data.layout, marker=marker)
    if not handles:
        colour = data.colour(data.series[0]) if data.series else P_COLOUR
        return [band_handle(colour, marker)], [f"{what}, {label}"], {}
    colours = [handle.get_color() for handle in handles]
    swatches = tuple(Patch(color=c, alpha=BAND_ALPHA * 1.5, linewidth=0) for c in colours)
    return ([band_handle(c, marker) for c in colours] + [swatches], labels + [label],
            {swatches: HandlerTuple(ndivide=None, pad=0)})


def group_colours(data: PlotData) -> list:
    """Every group's colour, in legend order (one colour for a single group)."""
    handles, _ = series_handles(data.series, data.layout)
    return [h.get_color() for h in handles] or [data.colour(data.series[0]) if data.series else P_COLOUR]
