"""`memgen plot`: the paper's figures from a results folder (summary.csv; never recomputes a sweep).

Figures, each written once per requested format:

- ``p_delta_positive``: P(Delta > 0) against n with Wilson 95% bands and a dashed line at 0.5 (Fig. 3);
- ``hellinger``: mean H² against n, log-log, ± 1 standard error (Fig. 2; linear model only);
- ``errors_vs_p``: Ê_OG and Ê_TG against n beside P(Delta > 0), shared x axis (Fig. 4's layout);
- ``transition``: one panel per group with the rows of `memgen analyze`'s table drawn on it.

Lines are grouped by the swept parameters other than x: ``facet`` picks the panel, the rest (``hue``
first) the colour, and a group keeps its colour in every figure (memgen_cli.report.layout). Anything
that cannot be drawn (too few points, NaN or infinite values) is left out and said in a note under
the panels. The data and notes are collected once (memgen_cli.report.panels), then each figure is
drawn on the shared scaffolding (memgen_cli.report.canvas).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memgen_cli.errors import MemgenError
from memgen_cli.report.outputs import analysis_for
from memgen_cli.report.settings import AnalysisSettings
from memgen_cli.report.canvas import Notes, add_legend, hide_unused, new_figure, panel_grid, save, styled
from memgen_cli.report.figure_errors import figure_errors_vs_p
from memgen_cli.report.figure_memorization import memorization_builders
from memgen_cli.report.figure_transition import figure_transition
from memgen_cli.report.layout import (
    choose_layout,
    facet_title,
    facet_values,
    in_facet,
    series_handles,
    split_series,
    x_label,
)
from memgen_cli.report.panels import (
    P_LABEL,
    PlotData,
    collect,
    draw_p_curve,
    finite_points,
    p_legend_extras,
    style_p_axes,
)
from memgen_cli.report.reader import PRIMARY_P_COLUMNS, SUMMARY_FILE, read_results, require_columns
from memgen_cli.results_format import FIGURES_DIR, make_folder

FORMATS = ("png", "pdf", "svg")
H2_LABEL = "mean H² (squared Hellinger)"


# ----------------------------------------------------------------------------------------------
# Figure 1: P(Delta > 0)


def figure_p(data: PlotData) -> tuple[Figure, list[str]]:
    notes = Notes()
    notes.extend(data.p_notes())
    facets = facet_values(data.series)
    figure, axes = new_figure(*panel_grid(len(facets)), notes.lines, data.caption, sharey=True)
    for ax, value in zip(axes.flat, facets):
        for s in in_facet(data.series, value):
            draw_p_curve(ax, s, data.p_points[s], data.colour(s))
        style_p_axes(ax)
        ax.set_title(facet_title(data.layout, value))
        ax.set_ylabel(P_LABEL)
        ax.set_xlabel(x_label(data.layout.x))
    hide_unused(axes, len(facets))
    handles, labels = series_handles(data.series, data.layout)
    extra_handles, extra_labels = p_legend_extras()
    add_legend(figure, handles + extra_handles, labels + extra_labels)
    return figure, notes.lines


# ----------------------------------------------------------------------------------------------
# Figure 2: mean H²


def figure_hellinger(data: PlotData) -> tuple[Figure, list[str]]:
    notes = Notes()
    has_se = "se_H2" in data.results.summary.columns
    if not has_se:
        notes.add("No se_H2 column: drawn without error bars.")
    columns = ["mean_H2"] + (["se_H2"] if has_se else [])
    points = {s: finite_points(s, columns, "mean H²", positive=True) for s in data.series}
    for s in data.series:
        notes.extend(points[s].notes)
    facets = facet_values(data.series)
    figure, axes = new_figure(*panel_grid(len(facets)), notes.lines, data.caption, sharey=True)
    for ax, value in zip(axes.flat, facets):
        for s in in_facet(data.series, value):
            draw_h2_curve(ax, s, points[s], data.colour(s))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(facet_title(data.layout, value))
        ax.set_ylabel(H2_LABEL)
        ax.set_xlabel(x_label(data.layout.x))
    hide_unused(axes, len(facets))
    handles, labels = series_handles(data.series, data.layout)
    handles.append(Line2D([], [], color="0.3", marker="|", linestyle="none", markersize=9))
    labels.append("± 1 standard error")
    add_legend(figure, handles, labels)
    return figure, notes.lines


def draw_h2_curve(ax, series, points, colour) -> None:
    if len(points.x) == 0:
        return
    mean = points.values[0]
    se = points.values[1] if len(points.values) > 1 else np.zeros_like(mean)
    lower = np.minimum(se, mean * 0.999)  # an error bar may not reach 0 on a log axis
    bars = ax.errorbar(
        points.x,
        mean,
        yerr=[lower, se],
        color=colour,
        marker="o",
        linestyle="-" if len(points.x) > 1 else "none",
        capsize=2,
        elinewidth=1,
    )
    bars.lines[0].set_label(series.group.label)


# ----------------------------------------------------------------------------------------------
# Entry point


@dataclass(frozen=True)
class PlotReport:
    paths: list[Path]
    skipped: list[str]  # figures not drawn and why
    notes: list[str]  # folder-level notes (e.g. a sweep is still writing)
    figure_notes: dict[str, list[str]]  # figure name -> the notes drawn under its panels
    figures: dict[str, Figure]  # figure name -> the figure as saved (to inspect or restyle)


def parse_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    """'png,pdf' or ['png', 'pdf'] -> ('png', 'pdf'), each one of FORMATS."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    parsed = tuple(dict.fromkeys(item.strip().lower().lstrip(".") for item in items if item.strip()))
    if not parsed:
        raise MemgenError(f"--format: give at least one of {', '.join(FORMATS)}")
    for fmt in parsed:
        if fmt not in FORMATS:
            raise MemgenError(f"--format: '{fmt}' is not one of {', '.join(FORMATS)}")
    return parsed


def figure_builders(data: PlotData) -> tuple[list[tuple[str, Callable[[PlotData], tuple]]], list[str]]:
    """The figures this folder's columns allow, in order, and those skipped with the reason."""
    builders: list[tuple[str, Callable[[PlotData], tuple]]] = [("p_delta_positive", figure_p)]
    skipped = []
    if "mean_H2" in data.results.summary.columns:
        builders.append(("hellinger", figure_hellinger))
    else:
        skipped.append("hellinger: no mean_H2 in summary.csv (H² is a linear-model metric)")
    builders += [("errors_vs_p", figure_errors_vs_p), ("transition", figure_transition)]
    return builders, skipped


def draw_figures(
    results_dir: Path | str,
    out_dir: Path | str | None = None,
    formats: str | Sequence[str] = ("png",),
    x: str = "n",
    hue: str | None = None,
    facet: str | None = None,
    align_factor: float = 2.0,
    n_boot: int = 1000,
    seed: int = 0,
) -> PlotReport:
    """Every figure the folder's columns allow, in every format; what could not be drawn is reported.

    The estimates drawn are `memgen analyze`'s tables: read back when the folder's analysis is current for these
    settings, else computed once and written into the folder first (report.outputs.analysis_for).
    """
    formats = parse_formats(formats)
    settings = AnalysisSettings(align_factor=align_factor, bootstrap=n_boot, seed=seed, x=x)
    results = read_results(results_dir, want_trials=True)
    require_columns(results.summary, (*PRIMARY_P_COLUMNS, *(["n"] if x == "n" else [])), SUMMARY_FILE)
    layout = choose_layout(results, x, hue, facet)
    series = split_series(results, layout)
    analysis = analysis_for(results, settings)
    data = collect(results, layout, series, analysis.transitions)
    out = Path(out_dir) if out_dir is not None else results.folder / FIGURES_DIR
    make_folder(out)
    builders, skipped = figure_builders(data)
    memorization, not_drawn = memorization_builders(data, analysis)  # U-Net folders
    builders, skipped = builders + memorization, skipped + not_drawn
    paths: list[Path] = []
    figures: dict[str, Figure] = {}
    figure_notes: dict[str, list[str]] = {}
    with styled():
        for name, build in builders:
            figures[name], figure_notes[name] = build(data)
            paths += save(figures[name], out, name, formats)
    return PlotReport(paths, skipped, list(results.notes), figure_notes, figures)
