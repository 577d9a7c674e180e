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
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from matplotlib.legend_handler import HandlerTuple

from memgen_cli.report.canvas import REFERENCE_GID
from memgen_cli.report.caption import RunDescription, describe
from memgen_cli.report.layout import Layout, Series, series_handles
from memgen_cli.report.reader import PRIMARY_P_COLUMNS, SUMMARY_FILE, Results, numeric_column

P_LABEL = "P(Δ > 0)"
BAND_ALPHA = 0.2
REFERENCE_ALPHA = 0.1  # the band between the two references: lighter than a model's interval band
GENERALIZER_LINE = dict(linestyle="-.", linewidth=0.9, marker="none")  # not dashed: the 0.5 guide is
MEMORIZER_LINE = dict(linestyle=":", linewidth=1.1, marker="none")
HALF_LINE = dict(color="0.45", linestyle="--", linewidth=0.8)
INTERVAL_LABEL = "95% interval"


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
    """The generalizer (dashed) and the memorizer (dotted) with a light band between them: where a model's curve
    lies inside the band the metric scores it between a perfect model and a copier."""
    x, gen, mem = references.x, references.generalizer, references.memorizer
    both = np.isfinite(gen) & np.isfinite(mem)
    if both.sum() > 1:
        ax.fill_between(x[both], mem[both], gen[both], color=colour, alpha=REFERENCE_ALPHA, linewidth=0,
                        gid="references-band")
    for values, style, gid in ((gen, GENERALIZER_LINE, "generalizer"), (mem, MEMORIZER_LINE, "memorizer")):
        keep = np.isfinite(values)
        if keep.any():
            ax.plot(x[keep], values[keep], color=colour, gid=gid, **style)


def reference_legend(analytic_memorizer: bool) -> tuple[list, list[str]]:
    """Legend entries for the references (in grey: each line takes its series' colour)."""
    mem_label = "ideal memorizer" + (" (P = 0, closed form)" if analytic_memorizer else "")
    return ([Line2D([], [], color="0.3", **GENERALIZER_LINE), Line2D([], [], color="0.3", **MEMORIZER_LINE),
             Patch(color="0.3", alpha=REFERENCE_ALPHA * 2, linewidth=0)],
            ["ideal generalizer", mem_label, "between the references"])


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
    x, (p, lo, hi) = points.x, points.values
    if len(x) == 0:
        return
    if len(x) > 1:
        ax.fill_between(x, lo, hi, color=colour, alpha=BAND_ALPHA, linewidth=0)
    ax.plot(x, p, color=colour, marker="o", linestyle="-" if len(x) > 1 else "none", label=series.group.label)


def style_p_axes(ax: Axes) -> None:
    ax.axhline(0.5, gid=REFERENCE_GID, **HALF_LINE)
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)


def band_handle(colour, marker: str = "o") -> tuple:
    """A legend handle: the line over its interval band, both in the line's colour."""
    return (Patch(color=colour, alpha=BAND_ALPHA * 1.5, linewidth=0),
            Line2D([], [], color=colour, marker=marker, linestyle="-"))


def interval_legend(data: PlotData, what: str = P_LABEL, marker: str = "o", label: str = INTERVAL_LABEL
                    ) -> tuple[list, list[str], dict]:
    """The lines and their bands for a legend, (handles, labels, handler_map).

    Several colours: one entry per colour key (its line over its band) and one naming the bands, a swatch in each
    line's colour. One colour: a single entry, ``what`` with its band."""
    handles, labels = series_handles(data.series, data.layout, marker=marker)
    if not handles:
        colour = data.colour(data.series[0]) if data.series else "C0"
        return [band_handle(colour, marker)], [f"{what}, {label}"], {}
    colours = [handle.get_color() for handle in handles]
    swatches = tuple(Patch(color=c, alpha=BAND_ALPHA * 1.5, linewidth=0) for c in colours)
    return ([band_handle(c, marker) for c in colours] + [swatches], labels + [label],
            {swatches: HandlerTuple(ndivide=None, pad=0)})
