"""The U-Net's memorization figures of `memgen plot` (folders whose trials hold a memorized fraction):

- ``memorized_fraction``: the memorized fraction against n with its two-stage bootstrap 95% band, n_mem marked;
- ``memorization_vs_p``: the memorized fraction beside P(Δ > 0), shared n axis (Fig. 4's layout), n_mem and n*
  marked on both;
- ``training_curves`` (with curves.csv): memorized fraction, Ê_OG, Ê_TG and P(Δ > 0) against optimizer steps,
  one line per n (means over a cell's simulations at each checkpoint).

One row of panels per group (its estimates in the row's title), each metric in its own colour (the memorized
fraction MEMORIZED_COLOUR, P(Δ > 0) P_COLOUR) with that group's references as thin lines: a panel never holds more
than one group's curve and references.

The estimates are `memgen analyze`'s memorization tables (``analysis.outputs.Analysis``); nothing is estimated here.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from memgen_cli.report.figures.canvas import (Notes, new_figure, only_drawn, panel_grid, place_legend, say_empty,
                                              wrap_title)
from memgen_cli.report.figures.layout import Series, x_label
from memgen_cli.report.analysis.memorization import MEMORIZED, MemorizationTable, has_memorization
from memgen_cli.report.analysis.outputs import Analysis
from memgen_cli.report.figures.panels import (P_LABEL, PlotData, References, band_handle, draw_interval_curve,
                                              draw_p_curve, draw_references, p_references, reference_legend,
                                              style_p_axes)
from memgen_cli.report.figures.figure_transition import interval_text
from memgen_cli.report.reader import format_value, read_csv
from memgen_cli.report.figures.style import HALF_LINE, MEMORIZED_COLOUR, N_MEM_LINE, P_COLOUR, SPAN, STAR_LINE, readable
from memgen_cli.results_format import CURVES_FILE

MEM_LABEL = "memorized fraction (NN1/NN2 < 1/3)"


def _group_row(table: MemorizationTable, series: Series) -> dict | None:
    rows = table.groups[table.groups["group"] == series.group.label]
    return rows.iloc[0].to_dict() if len(rows) else None


def draw_memorized(ax: Axes, series: Series, table: MemorizationTable, colour) -> None:
    cells = table.cells[table.cells["cell"].isin(series.group.cells["cell"])].sort_values("n")
    cells = cells[np.isfinite(cells[MEMORIZED].to_numpy(dtype=float))]
    value, lo, hi = (cells[c].to_numpy(dtype=float) for c in (MEMORIZED, f"{MEMORIZED}_lo", f"{MEMORIZED}_hi"))
    draw_interval_curve(ax, cells["n"].to_numpy(dtype=float), value, lo, hi, colour, "D", series.group.label)


def fraction_references(series: Series, table: MemorizationTable) -> References:
    """The references' memorized fractions of a series' cells (memorization_cells.csv; NaN where absent)."""
    cells = table.cells[table.cells["cell"].isin(series.group.cells["cell"])].sort_values("n")
    values = [cells[f"{name}_{MEMORIZED}"].to_numpy(dtype=float) if f"{name}_{MEMORIZED}" in cells.columns
              else np.full(len(cells), np.nan) for name in ("generalizer", "memorizer")]
    return References(cells["n"].to_numpy(dtype=float), *values)


def mark(ax: Axes, row: dict | None, name: str, style: dict) -> None:
    """An estimate's line and its 95% interval (shaded where finite)."""
    if row is not None and row.get(f"{name}_status") == "crossed":
        lo, hi = row.get(f"{name}_lo", np.nan), row.get(f"{name}_hi", np.nan)
        if np.isfinite(lo) and np.isfinite(hi) and lo > 0:
            ax.axvspan(lo, hi, **SPAN)
        ax.axvline(row[name], gid=name, **style)


def estimate_text(row: dict | None, name: str, label: str) -> str:
    """'n_mem = 27 [22, 33]', or the estimate's status up to its first colon (the rest: ``status_notes``)."""
    if row is None:
        return ""
    if row.get(f"{name}_status") != "crossed":
        return f"{label}: {str(row.get(f'{name}_status', 'not estimated')).split(':')[0]}"
    limited = " (grid-limited)" if row.get(f"{name}_grid_limited") in (True,) else ""
    return f"{label} = {format_value(row[name])}{interval_text(row[f'{name}_lo'], row[f'{name}_hi'])}{limited}"


def estimates_lines(row: dict | None) -> list[str]:
    """The group's n_mem and n* with their intervals, and the verdict: short lines for a title."""
    if row is None:
        return []
    return [estimate_text(row, "n_mem", "n_mem"), estimate_text(row, "n_star", "n*"), str(row["verdict"])]


def status_notes(row: dict | None, where: str) -> list[str]:
    """What a title cut short: an estimate's whole status, and why a verdict is undetermined."""
    if row is None:
        return []
    found = [f"{where}{label}: {readable(row[f'{name}_status'])}" for name, label in (("n_mem", "n_mem"),
                                                                                     ("n_star", "n*"))
             if ":" in str(row.get(f"{name}_status", ""))]
    if row.get("verdict") == "undetermined" and not found:
        found.append(f"{where}undetermined: {readable(row.get('verdict_reason', ''))}")
    return found


def style_memorized_axes(ax: Axes, x: str) -> None:
    ax.axhline(0.5, **HALF_LINE)
    ax.set_xscale("log")
    ax.set_ylim(-0.04, 1.04)
    ax.set_ylabel(MEM_LABEL)
    ax.set_xlabel(x_label(x))


def legend_extras(figure: Figure) -> tuple[list, list[str]]:
    """n_mem's and n*'s entries, where the figure draws them."""
    return only_drawn(figure, [
        ("n_mem", (Patch(**SPAN), Line2D([], [], **N_MEM_LINE)), "n_mem (fraction falls to 0.5), 95% interval"),
        ("n_star", (Patch(**SPAN), Line2D([], [], **STAR_LINE)), "n* (P(Δ > 0) rises to 0.5), 95% interval")])


def figure_memorized(data: PlotData, table: MemorizationTable, pair_with_p: bool) -> tuple[Figure, list[str]]:
    """One row per group: the memorized fraction (and P(Δ > 0) beside it), each with the group's references."""
    notes = Notes()
    if pair_with_p:
        notes.extend(data.p_notes())
    notes.add("Intervals: 95% bootstrap over simulations, then the samples within them (memorization.csv).")
    cols = 2 if pair_with_p else 1
    for s in data.series:
        notes.extend(status_notes(_group_row(table, s), f"{s.group.label}: " if len(data.series) > 1 else ""))
    titles = [wrap_title(([s.group.label] if len(data.series) > 1 else [])
                         + estimates_lines(_group_row(table, s)), cols) for s in data.series]
    title_lines = max([1] + [t.count("\n") + 1 for t in titles if t])
    references = {s: fraction_references(s, table) for s in data.series}
    p_refs = {s: p_references(data.results, s) for s in data.series} if pair_with_p else {}
    drawn = [r for r in (*references.values(), *p_refs.values()) if r.drawable]
    if drawn:
        notes.add("References in every cell: an ideal generalizer (dashed) and an ideal memorizer (dotted), "
                  "measured like the model; a metric tells the model's state only where they lie on opposite sides "
                  "of 0.5.")
    figure, axes = new_figure(max(len(data.series), 1), cols, data.captions(), sharey=False, title_lines=title_lines)
    for row_axes, s, title in zip(axes, data.series, titles):
        row = _group_row(table, s)
        mem_ax = row_axes[0]
        draw_references(mem_ax, references[s], MEMORIZED_COLOUR)
        draw_memorized(mem_ax, s, table, MEMORIZED_COLOUR)
        mark(mem_ax, row, "n_mem", N_MEM_LINE)
        style_memorized_axes(mem_ax, data.layout.x)
        mem_ax.set_title(title)
        if pair_with_p:
            draw_references(row_axes[1], p_refs[s], P_COLOUR)
            draw_p_curve(row_axes[1], s, data.p_points[s], P_COLOUR)
            mark(row_axes[1], row, "n_star", STAR_LINE)
            style_p_axes(row_axes[1])
            row_axes[1].set_ylabel(P_LABEL)
            row_axes[1].set_xlabel(x_label(data.layout.x))
    handles = [band_handle(MEMORIZED_COLOUR, "D")] + ([band_handle(P_COLOUR)] if pair_with_p else [])
    labels = ["memorized fraction, 95% interval"] + ([f"{P_LABEL}, 95% interval"] if pair_with_p else [])
    extra_handles, extra_labels = legend_extras(figure)
    handler_map = {}
    if drawn:
        colours = [MEMORIZED_COLOUR] + ([P_COLOUR] if pair_with_p else [])
        ref_handles, ref_labels, handler_map = reference_legend(drawn, colours)
        extra_handles, extra_labels = extra_handles + ref_handles, extra_labels + ref_labels
    place_legend(figure, handles + extra_handles, labels + extra_labels, handler_map=handler_map)
    return figure, notes.lines


# ----------------------------------------------------------------------------------------------
# Along training (curves.csv)

CURVE_PANELS = (  # (column, y label, log y): each the mean over a cell's simulations at a checkpoint
    (MEMORIZED, "memorized fraction", False),
    ("E_OG", r"mean $E_{\mathrm{OG}}$", True),
    ("E_TG", r"mean $E_{\mathrm{TG}}$", True),
    ("delta_positive", P_LABEL, False),
)


def curve_means(curves: pd.DataFrame) -> pd.DataFrame:
    """What the training-curve figure draws (and the report's table shows): per cell and checkpoint, n, the
    number of simulations and the mean of each curve column over them."""
    columns = [c for c, _, _ in CURVE_PANELS if c in curves.columns]
    grouped = curves.groupby(["cell", "step"], sort=True)
    means = grouped[columns].mean()
    means.insert(0, "simulations", grouped["trial"].nunique())
    means.insert(0, "n", grouped["n"].first())
    return means.reset_index()


def figure_training_curves(data: PlotData, curves: pd.DataFrame) -> tuple[Figure, list[str]]:
    """Four panels per group of cells (every swept parameter but n), one line per n in each; a single group's four
    panels in 2 x 2."""
    notes = Notes()
    simulations = curves.groupby("cell")["trial"].nunique()
    notes.add(f"Means over the simulations of each cell at each checkpoint ({format_value(simulations.min())}"
              + (f" to {format_value(simulations.max())}" if simulations.max() != simulations.min() else "")
              + " per cell); the last checkpoint is the end of training (trials.csv).")
    rows = [s for s in data.series if curves["cell"].isin(s.group.cells["cell"]).any()]
    grid = panel_grid(len(CURVE_PANELS)) if len(rows) <= 1 else (len(rows), len(CURVE_PANELS))
    figure, axes = new_figure(*grid, data.captions(), sharex=True)
    panel_rows = axes.reshape(max(1, len(rows)), len(CURVE_PANELS))
    all_n = sorted(set(curves["n"].astype(float)))
    cmap = colormaps["viridis"]
    colour_of = {n: cmap(k / max(1, len(all_n) - 1) * 0.9) for k, n in enumerate(all_n)}
    means = curve_means(curves)
    n_of = curves.groupby("cell")["n"].first()
    for row_axes, s in zip(panel_rows, rows):
        for (column, label, log_y), ax in zip(CURVE_PANELS, row_axes):
            for cell in s.group.cells["cell"]:
                points = means[means["cell"] == cell]
                if points.empty:
                    continue
                n = float(n_of[cell])
                ax.plot(points["step"], points[column], color=colour_of[n], marker="o", markersize=3)
            if log_y and (means[column] > 0).any():
                ax.set_yscale("log")
            if column in (MEMORIZED, "delta_positive"):
                ax.axhline(0.5, **HALF_LINE)
                ax.set_ylim(-0.04, 1.04)
            ax.set_ylabel(label)
            ax.set_xlabel("optimizer step")
            ax.set_title(s.group.label if len(rows) > 1 else "")
    if not rows:
        say_empty(axes.flat[0], "curves.csv holds no cell of summary.csv")
    handles = [Line2D([], [], color=colour_of[n], marker="o", markersize=3) for n in all_n]
    place_legend(figure, handles, [f"n = {format_value(n)}" for n in all_n])
    return figure, notes.lines


def memorization_builders(data: PlotData, analysis: Analysis
                          ) -> tuple[list[tuple[str, Callable[[PlotData], tuple]]], list[str]]:
    """The memorization figures this folder allows (from the analysis' memorization tables), and those skipped
    with the reason."""
    if not has_memorization(data.results):
        return [], []
    table = analysis.memorization
    if table is None:
        return [], ["memorized_fraction, memorization_vs_p: no trials.csv with a memorized_fraction column"]
    builders: list[tuple[str, Callable[[PlotData], tuple]]] = [
        ("memorized_fraction", lambda d: figure_memorized(d, table, pair_with_p=False)),
        ("memorization_vs_p", lambda d: figure_memorized(d, table, pair_with_p=True)),
    ]
    path = data.results.folder / CURVES_FILE
    if not path.is_file():
        return builders, [f"training_curves: no {CURVES_FILE} (set evaluation.every to follow training)"]
    curves = read_csv(path)
    builders.append(("training_curves", lambda d: figure_training_curves(d, curves)))
    return builders, []
