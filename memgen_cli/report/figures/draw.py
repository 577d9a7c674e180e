"""`memgen plot`: the paper's figures from a results folder (summary.csv; never recomputes a sweep).

Figures, each written once per requested format, with a sidecar <figure>.json holding every parameter of the run
(memgen_cli.report.caption; the figure's own caption line names only what varies or differs from the defaults):

- ``p_delta_positive``: P(Delta > 0) against n with Wilson 95% bands and a dashed line at 0.5 (Fig. 3);
- ``hellinger``: mean H² against n, log-log, ± 1 standard error (Fig. 2; linear model only);
- ``errors_vs_p``: Ê_OG and Ê_TG against n beside P(Delta > 0), shared x axis (Fig. 4's layout);
- ``transition``: one panel per group with the rows of `memgen analyze`'s table drawn on it.

Lines are grouped by the swept parameters other than x: ``facet`` picks the panel, the rest (``hue``
first) the colour, and a group keeps its colour in every figure (memgen_cli.report.figures.layout). Anything
that cannot be drawn (too few points, NaN or infinite values) is left out and said in a note under
the panels. The data and notes are collected once (memgen_cli.report.figures.panels), then each figure is
drawn on the shared scaffolding and style (memgen_cli.report.figures.canvas). ``build_figures`` draws without saving
(`memgen report` embeds them); ``draw_figures`` saves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memgen_cli.errors import MemgenError
from memgen_cli.report.analysis.outputs import Analysis, analysis_for
from memgen_cli.report.analysis.settings import AnalysisSettings
from memgen_cli.report.figures.canvas import (Notes, finish, new_figure, panel_grid, place_legend, save, spare_slots,
                                              styled)
from memgen_cli.report.caption import read_config
from memgen_cli.report.figures.figure_criteria import criteria_builders
from memgen_cli.report.figures.figure_errors import figure_errors_vs_p
from memgen_cli.report.figures.figure_memorization import memorization_builders
from memgen_cli.report.figures.figure_training import training_builders
from memgen_cli.report.figures.figure_transition import figure_transition
from memgen_cli.report.figures.layout import (choose_layout, facet_title, facet_values, in_facet, series_handles,
                                              split_series, x_label)
from memgen_cli.report.figures.panels import (
    P_LABEL,
    PlotData,
    collect,
    draw_p_curve,
    draw_references,
    finite_points,
    group_colours,
    interval_legend,
    p_references,
    reference_legend,
    style_p_axes,
)
from memgen_cli.report.reader import PRIMARY_P_COLUMNS, SUMMARY_FILE, read_results, require_columns
from memgen_cli import ledger
from memgen_cli.results_format import FIGURES_DIR, figure_file, figure_sidecar, make_folder
from memgen_cli.version import __version__

FORMATS = ("png", "pdf", "svg")
H2_LABEL = "mean H² (squared Hellinger)"
H2_MARKER = 3.0  # points: the markers' size; an error bar shorter than it is drawn over the marker


# ----------------------------------------------------------------------------------------------
# Figure 1: P(Delta > 0)


def figure_p(data: PlotData) -> tuple[Figure, list[str]]:
    notes = Notes()
    notes.extend(data.p_notes())
    facets = facet_values(data.series)
    rows, cols = panel_grid(len(facets))
    references = {s: p_references(data.results, s) for s in data.series}
    drawn = [r for r in references.values() if r.drawable]
    if drawn:
        notes.add("References measured by the same metric in every cell: an ideal generalizer (dashed) and an "
                  "ideal memorizer (dotted); P(Δ > 0) tells the model's state only where they lie on opposite sides "
                  "of 0.5.")
    figure, axes = new_figure(rows, cols, data.captions(), sharey=True)
    for ax, value in zip(axes.flat, facets):
        for s in in_facet(data.series, value):
            draw_references(ax, references[s], data.colour(s))
            draw_p_curve(ax, s, data.p_points[s], data.colour(s))
        style_p_axes(ax)
        ax.set_title(facet_title(data.layout, value))
        ax.set_ylabel(P_LABEL)
        ax.set_xlabel(x_label(data.layout.x))
    handles, labels, handler_map = interval_legend(data)
    if drawn:
        extra_handles, extra_labels, extra_map = reference_legend(drawn, group_colours(data))
        handles, labels, handler_map = handles + extra_handles, labels + extra_labels, {**handler_map, **extra_map}
    place_legend(figure, handles, labels, spare_slots(axes, len(facets)), handler_map)
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
    rows, cols = panel_grid(len(facets))
    figure, axes = new_figure(rows, cols, data.captions(), sharey=True)
    for ax, value in zip(axes.flat, facets):
        for s in in_facet(data.series, value):
            draw_h2_curve(ax, s, points[s], data.colour(s))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(facet_title(data.layout, value))
        ax.set_ylabel(H2_LABEL)
        ax.set_xlabel(x_label(data.layout.x))
    handles, labels = series_handles(data.series, data.layout)
    if has_se:
        seen = visible_error_bars(figure)
        handles.append(Line2D([], [], color="0.3", marker="|", linestyle="none", markersize=7))
        labels.append("± 1 standard error" + ("" if seen else ": every bar within its marker"))
        if not seen:
            notes.add("± 1 standard error: every bar is shorter than its marker's radius, so none shows.")
    place_legend(figure, handles, labels, spare_slots(axes, len(facets)))
    return figure, notes.lines


def draw_h2_curve(ax, series, points, colour) -> None:
    if len(points.x) == 0:
        return
    mean = points.values[0]
    se = points.values[1] if len(points.values) > 1 else np.zeros_like(mean)
    lower = np.minimum(se, mean * 0.999)  # an error bar may not reach 0 on a log axis
    ax.plot(points.x, mean, color=colour, marker="o", markersize=H2_MARKER,
            linestyle="-" if len(points.x) > 1 else "none", label=series.group.label)
    if len(points.values) > 1:  # over the markers: a bar shorter than a marker would hide behind it
        ax.errorbar(points.x, mean, yerr=[lower, se], color="0.15", linestyle="none", elinewidth=0.7, capsize=1.5,
                    zorder=3, gid="standard-error")


def visible_error_bars(figure: Figure) -> bool:
    """Whether some error bar reaches beyond its marker (in points, after layout)."""
    figure.draw_without_rendering()
    for ax in figure.axes:
        for container in ax.containers:
            for collection in container.lines[2]:
                for segment in collection.get_segments():
                    ends = ax.transData.transform(np.asarray(segment, dtype=float))
                    if np.abs(np.diff(ends[:, 1]))[0] * 72 / figure.dpi > H2_MARKER:
                        return True
    return False


# ----------------------------------------------------------------------------------------------
# Entry point


@dataclass(frozen=True)
class PlotReport:
    paths: list[Path]  # the figures' files
    skipped: list[str]  # figures not drawn and why
    notes: list[str]  # folder-level notes (e.g. a sweep is still writing)
    figure_notes: dict[str, list[str]]  # figure name -> the notes drawn under its panels
    figures: dict[str, Figure]  # figure name -> the figure as saved (to inspect or restyle)
    sidecars: list[Path] = field(default_factory=list)  # <figure>.json beside them: every parameter of the run


@dataclass(frozen=True)
class FigureSet:
    """Every figure a folder's columns allow, drawn but not saved, with what goes with them."""

    data: PlotData
    analysis: Analysis
    settings: AnalysisSettings
    figures: dict[str, Figure]
    notes: dict[str, list[str]]  # figure name -> the notes under its panels
    skipped: list[str]  # figures not drawn and why

    def record(self, name: str) -> dict:
        """The sidecar of one figure: the run's every parameter, the layout, the analysis settings, the notes."""
        layout = self.data.layout
        return {"figure": name, "results_folder": str(self.data.results.folder), "memgen_version": __version__,
                **self.data.description.record(),
                "layout": {"x": layout.x, "facet": layout.facet, "colour": list(layout.colour_columns)},
                "analysis": self.settings.model_dump(), "notes": self.notes[name],
                "folder_notes": list(self.data.results.notes)}  # e.g. a last run that did not finish


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


def build_figures(results_dir: Path | str, settings: AnalysisSettings = AnalysisSettings(), hue: str | None = None,
                  facet: str | None = None, store_analysis: bool = True) -> FigureSet:
    """Draw every figure the folder's columns allow (inside ``styled()``, where they must also be saved).

    The estimates drawn are `memgen analyze`'s tables: read back when the folder's analysis is current for these
    settings, else computed once and written into the folder first (report.analysis.outputs.analysis_for; with
    ``store_analysis`` False, only computed).
    """
    x = settings.x
    results = read_results(results_dir, want_trials=True)
    require_columns(results.summary, (*PRIMARY_P_COLUMNS, *(["n"] if x == "n" else [])), SUMMARY_FILE)
    layout = choose_layout(results, x, hue, facet)
    series = split_series(results, layout)
    config = read_config(results.folder)  # a damaged config.yaml is refused before the analysis writes anything
    analysis = analysis_for(results, settings, store=store_analysis)
    data = collect(results, layout, series, analysis.transitions, config)
    builders, skipped = figure_builders(data)
    memorization, not_drawn = memorization_builders(data, analysis)  # U-Net folders
    criteria, _ = criteria_builders(data, analysis)  # folders with reproducibility pairs
    training, _ = training_builders(data, analysis)  # folders with curves.csv
    figures: dict[str, Figure] = {}
    notes: dict[str, list[str]] = {}
    for name, build in builders + memorization + criteria + training:
        figure, notes[name] = build(data)
        figures[name] = finish(figure)
    return FigureSet(data, analysis, settings, figures, notes, skipped + not_drawn)


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
    """Every figure the folder's columns allow, in every format, each with its sidecar <figure>.json; what could
    not be drawn is reported. With ``out_dir`` elsewhere nothing is written into the results folder (its analysis,
    when not current, is computed and not stored)."""
    formats = parse_formats(formats)
    settings = AnalysisSettings(align_factor=align_factor, bootstrap=n_boot, seed=seed, x=x)
    paths: list[Path] = []
    with styled():
        drawn = build_figures(results_dir, settings, hue, facet, store_analysis=out_dir is None)
        out = Path(out_dir) if out_dir is not None else drawn.data.results.folder / FIGURES_DIR
        ledger.claim(out, [file for name in drawn.figures for file in
                           (*(figure_file(name, fmt) for fmt in formats), figure_sidecar(name))],
                     legacy_ok=ledger.legacy_subfolder(drawn.data.results.folder, out))
        make_folder(out)
        for name, figure in drawn.figures.items():
            paths += save(figure, out, name, formats, drawn.record(name))
    sidecars = [out / figure_sidecar(name) for name in drawn.figures]
    return PlotReport(paths, drawn.skipped, list(drawn.data.results.notes), drawn.notes, drawn.figures, sidecars)
