"""The U-Net's memorization figures of `memgen plot` (folders whose trials hold a memorized fraction):

- ``memorized_fraction``: the memorized fraction against n with its two-stage bootstrap 95% band, n_mem marked;
- ``memorization_vs_p``: the memorized fraction beside P(Δ > 0), shared n axis (Fig. 4's layout), n_mem and n*
  marked on both;
- ``training_curves`` (with curves.csv): memorized fraction, Ê_OG, Ê_TG and P(Δ > 0) against optimizer steps,
  one line per n (means over a cell's simulations at each checkpoint).

The estimates are `memgen analyze`'s memorization tables (``report.outputs.Analysis``); nothing is estimated here.
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

from memgen_cli.report.canvas import REFERENCE_GID, Notes, new_figure, panel_grid, place_legend, say_empty, wrap_title
from memgen_cli.report.layout import Series, facet_title, facet_values, in_facet, x_label
from memgen_cli.report.memorization import MEMORIZED, MemorizationTable, has_memorization
from memgen_cli.report.outputs import Analysis
from memgen_cli.report.panels import (BAND_ALPHA, HALF_LINE, P_LABEL, PlotData, References, draw_p_curve,
                                      draw_references, interval_legend, p_references, reference_legend, style_p_axes)
from memgen_cli.report.figure_transition import interval_text
from memgen_cli.report.reader import format_value, read_csv
from memgen_cli.results_format import CURVES_FILE

MEM_LABEL = "memorized fraction (NN1/NN2 < 1/3)"
N_MEM_LINE = dict(color="0.2", linestyle=":", linewidth=1.3)
N_STAR_LINE = dict(color="black", linewidth=1.1)


def _group_row(table: MemorizationTable, series: Series) -> dict | None:
    rows = table.groups[table.groups["group"] == series.group.label]
    return rows.iloc[0].to_dict() if len(rows) else None


def draw_memorized(ax: Axes, series: Series, table: MemorizationTable, colour) -> None:
    cells = table.cells[table.cells["cell"].isin(series.group.cells["cell"])].sort_values("n")
    cells = cells[np.isfinite(cells[MEMORIZED].to_numpy(dtype=float))]
    if cells.empty:
        return
    x = cells["n"].to_numpy(dtype=float)
    if len(x) > 1:
        ax.fill_between(x, cells[f"{MEMORIZED}_lo"], cells[f"{MEMORIZED}_hi"], color=colour, alpha=BAND_ALPHA,
                        linewidth=0)
    ax.plot(x, cells[MEMORIZED], color=colour, marker="D", linestyle="-" if len(x) > 1 else "none",
            label=series.group.label)


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
            ax.axvspan(lo, hi, color="0.5", alpha=0.15, linewidth=0)
        ax.axvline(row[name], **style)


def estimate_text(row: dict | None, name: str, label: str) -> str:
    """'n_mem = 27 [22, 33]', or the estimate's status."""
    if row is None:
        return ""
    if row.get(f"{name}_status") != "crossed":
        return f"{label}: {row.get(f'{name}_status', 'not estimated')}"
    limited = " (grid-limited)" if row.get(f"{name}_grid_limited") in (True,) else ""
    return f"{label} = {format_value(row[name])}{interval_text(row[f'{name}_lo'], row[f'{name}_hi'])}{limited}"


def estimates_lines(row: dict | None) -> list[str]:
    """The group's n_mem and n* with their intervals, and the verdict."""
    if row is None:
        return []
    reason = str(row.get("verdict_reason", ""))
    repeated = reason.startswith(("n_star undetermined", "n_mem undetermined"))  # said on the line above
    verdict = f"{row['verdict']}" + (f" ({reason})" if row["verdict"] == "undetermined" and not repeated else "")
    return [estimate_text(row, "n_mem", "n_mem"), estimate_text(row, "n_star", "n*"), verdict]


def style_memorized_axes(ax: Axes, x: str) -> None:
    ax.axhline(0.5, gid=REFERENCE_GID, **HALF_LINE)
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel(MEM_LABEL)
    ax.set_xlabel(x_label(x))


def legend_extras(with_star: bool) -> tuple[list, list[str]]:
    shade = Patch(color="0.5", alpha=0.3, linewidth=0)
    handles = [(shade, Line2D([], [], **N_MEM_LINE))]
    labels = ["n_mem (fraction falls to 0.5), 95% int."]
    if with_star:
        handles.append((shade, Line2D([], [], **N_STAR_LINE)))
        labels.append("n* (P(Δ > 0) rises to 0.5), 95% int.")
    return handles, labels


def figure_memorized(data: PlotData, table: MemorizationTable, pair_with_p: bool) -> tuple[Figure, list[str]]:
    notes = Notes()
    if pair_with_p:
        notes.extend(data.p_notes())
    notes.add("Intervals: 95% bootstrap over simulations, then the samples within them (memorization.csv).")
    facets = facet_values(data.series)
    titles = []
    for value in facets:
        members = in_facet(data.series, value)
        heading = [f"{facet_title(data.layout, value)}"] if data.layout.facet else []
        if len(members) == 1:  # the panel's estimates in its title
            titles.append(heading + estimates_lines(_group_row(table, members[0])))
        else:  # several lines in a panel: their estimates in the notes
            titles.append(heading)
            for s in members:
                notes.add(f"{s.group.label}: " + "; ".join(estimates_lines(_group_row(table, s))))
    cols = 2 if pair_with_p else 1
    wrapped = [wrap_title(lines, cols) for lines in titles]
    title_lines = max([1] + [t.count("\n") + 1 for t in wrapped if t])
    references = {s: fraction_references(s, table) for s in data.series}
    p_refs = {s: p_references(data.results, s) for s in data.series} if pair_with_p else {}
    with_references = any(r.drawable for r in (*references.values(), *p_refs.values()))
    if with_references:
        notes.add("References in every cell: an ideal generalizer (dash-dotted) and an ideal memorizer (dotted), "
                  "measured like the model; a metric tells the model's state only where they lie on opposite sides "
                  "of 0.5.")
    figure, axes = new_figure(len(facets), cols, data.caption, notes.lines, sharey=False, title_lines=title_lines)
    for row_axes, value, title in zip(axes, facets, wrapped):
        mem_ax = row_axes[0]
        for s in in_facet(data.series, value):
            row = _group_row(table, s)
            draw_references(mem_ax, references[s], data.colour(s))
            draw_memorized(mem_ax, s, table, data.colour(s))
            mark(mem_ax, row, "n_mem", N_MEM_LINE)
            if pair_with_p:
                draw_references(row_axes[1], p_refs[s], data.colour(s))
                draw_p_curve(row_axes[1], s, data.p_points[s], data.colour(s))
                mark(row_axes[1], row, "n_star", N_STAR_LINE)
        style_memorized_axes(mem_ax, data.layout.x)
        mem_ax.set_title(title)
        if pair_with_p:
            style_p_axes(row_axes[1])
            row_axes[1].set_ylabel(P_LABEL)
            row_axes[1].set_xlabel(x_label(data.layout.x))
            row_axes[1].set_title("Paper's metric: P(Δ > 0)")
    handles, labels, handler_map = interval_legend(data, "memorized fraction", marker="D")
    if pair_with_p:
        p_handles, p_labels, _ = interval_legend(data)
        if len(p_handles) == 1:  # one group: the P line has an entry of its own
            handles, labels = handles + p_handles, labels + p_labels
    extra_handles, extra_labels = legend_extras(pair_with_p)
    if with_references:
        ref_handles, ref_labels = reference_legend(False)
        extra_handles, extra_labels = extra_handles + ref_handles, extra_labels + ref_labels
    place_legend(figure, handles + extra_handles, labels + extra_labels, [ax for row in axes for ax in row],
                 handler_map=handler_map)
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
    figure, axes = new_figure(*grid, data.caption, notes.lines, sharex=True)
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
                ax.axhline(0.5, gid=REFERENCE_GID, **HALF_LINE)
                ax.set_ylim(-0.03, 1.03)
            ax.set_ylabel(label)
            ax.set_xlabel("optimizer step")
            ax.set_title(s.group.label if len(rows) > 1 else "")
    if not rows:
        say_empty(axes.flat[0], "curves.csv holds no cell of summary.csv")
    handles = [Line2D([], [], color=colour_of[n], marker="o", markersize=3) for n in all_n]
    place_legend(figure, handles, [f"n = {format_value(n)}" for n in all_n], list(axes.flat))
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
