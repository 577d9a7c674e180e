"""`memgen plot`: the paper's figures from a results folder (summary.csv; never recomputes a sweep).

Figures, each written once per requested format:

- ``p_delta_positive``: P(Delta > 0) against n with Wilson 95% bands and a dashed line at 0.5 (Fig. 3);
- ``hellinger``: mean H² against n, log-log, ± 1 standard error (Fig. 2; linear model only);
- ``errors_vs_p``: Ê_OG and Ê_TG against n beside P(Delta > 0), shared x axis (Fig. 4's layout);
- ``transition``: one panel per group with n_star and n_onset marked (see memgen_cli.analysis).

Lines are grouped by the swept parameters other than x: ``facet`` picks the panel, the rest (``hue``
first) the colour, and a group keeps its colour in every figure. Anything that cannot be drawn
(too few points, NaN or infinite values) is left out and said in a note under the panels.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Hashable, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from memgen_cli.report import analysis  # noqa: E402
from memgen_cli.errors import MemgenError  # noqa: E402
from memgen_cli.results_format import FIGURES_DIR  # noqa: E402
from memgen_cli.report.reader import (  # noqa: E402
    PRIMARY_P_COLUMNS,
    SUMMARY_FILE,
    Results,
    check_parameter_option,
    format_value,
    group_label,
    numeric_column,
    read_results,
    require_columns,
    sort_key,
    symbol,
)

FORMATS = ("png", "pdf", "svg")
DPI = 150
PANEL_SIZE = (4.4, 3.3)  # inches per panel; a figure is a whole number of panels plus legend and notes
LEGEND_WIDTH = 2.3  # inches kept at the right for the figure legend
NOTE_LINE_HEIGHT = 0.2  # inches per line of notes under the panels
NOTE_FONT_SIZE = 8
FACET_COLUMNS = 3  # panels per row when one panel per group
STYLE = {
    "font.size": 10,
    "axes.labelsize": 11,
    "axes.titlesize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 4.5,
    "pdf.fonttype": 42,  # TrueType in PDFs: editable text, accepted by journals
    "svg.hashsalt": "memgen",  # stable ids: the same data gives the same SVG
}
SAVE_METADATA = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "Producer": None},
    "svg": {"Date": None, "Creator": None},
}
P_LABEL = "P(Δ > 0)"
BAND_ALPHA = 0.18
HALF_LINE = dict(color="0.35", linestyle="--", linewidth=1.0)
FIT_LINE = dict(color="0.45", linestyle="-", linewidth=1.0)
SINGULAR_NOTE = "E_TG, E_OG infinite for n ≤ d (Σ_G singular): those n are not drawn"


# ----------------------------------------------------------------------------------------------
# Which column goes where


@dataclass(frozen=True)
class Layout:
    """x axis, panel (facet) column and colour columns, and a colour for every colour key."""

    x: str
    facet: str | None
    colour_columns: tuple[str, ...]
    colours: dict[tuple, str]
    fixed: dict[str, object]  # parameters that do not vary (the figure's title)

    @property
    def group_columns(self) -> list[str]:
        return ([self.facet] if self.facet else []) + list(self.colour_columns)

    def colour(self, key: tuple):
        return self.colours[nan_safe(key)]


def nan_safe(key: tuple) -> tuple:
    """NaN != NaN, so a key holding NaN would never find its colour; give NaN one stand-in."""
    return tuple("<nan>" if isinstance(v, float) and math.isnan(v) else v for v in key)


def choose_layout(results: Results, x: str = "n", hue: str | None = None, facet: str | None = None) -> Layout:
    """Defaults: facet on the swept parameter with the fewest values when two or more vary besides x."""
    check_parameter_option(results, "--x", x)
    check_parameter_option(results, "--hue", hue)
    check_parameter_option(results, "--facet", facet)
    for option, column in (("--hue", hue), ("--facet", facet)):
        if column == x:
            raise MemgenError(f"{option}: '{column}' is already the x axis")
    if hue is not None and hue == facet:
        raise MemgenError(f"--facet: '{facet}' is already the hue; pick another column")
    analysis.x_values(results, x)  # numeric and positive, or a one-line error
    others = [c for c in results.swept if c not in (x, hue, facet)]
    if facet is None and (len(others) >= 2 or (hue is not None and others)):
        facet = min(others, key=lambda c: results.summary[c].nunique(dropna=False))
        others.remove(facet)
    colour_columns = tuple(([hue] if hue else []) + others)
    rows = results.summary[list(colour_columns)].itertuples(index=False, name=None)
    keys = sorted({nan_safe(tuple(row)) for row in rows}, key=lambda key: tuple(sort_key(v) for v in key))
    fixed = {c: results.summary[c].iloc[0] for c in results.parameters if c not in results.swept and c != x}
    return Layout(x, facet, colour_columns, dict(zip(keys, palette(len(keys)))), fixed)


def palette(count: int) -> list[str]:
    """Distinct colours: tab10 while it lasts, then evenly spaced viridis."""
    if count <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(count)]
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(i / max(count - 1, 1)) for i in range(count)]


@dataclass(frozen=True)
class Series:
    """The cells of one line: a facet value and a colour key."""

    facet_value: Hashable | None
    colour_key: tuple
    label: str  # legend label (the colour key)
    group: analysis.Group


def split_series(results: Results, layout: Layout) -> list[Series]:
    series = []
    for group in analysis.split_groups(results, layout.x, layout.group_columns):
        facet_value = group.key[0] if layout.facet else None
        colour_key = tuple(group.key[1:] if layout.facet else group.key)
        series.append(Series(facet_value, colour_key, group_label(layout.colour_columns, colour_key), group))
    return series


def facet_values(series: Sequence[Series]) -> list:
    values: list = []
    for s in series:
        if not any(_same(s.facet_value, v) for v in values):
            values.append(s.facet_value)
    return values


def _same(a: object, b: object) -> bool:
    both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return both_nan or a == b


# ----------------------------------------------------------------------------------------------
# Figure scaffolding


@dataclass
class Notes:
    """Lines said under the panels: what was left out and why."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)


def new_figure(
    rows: int, cols: int, notes: Sequence[str], caption: str, sharex: bool = True, sharey: bool | str = False
) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure of whole panels, the legend column at the right, caption and notes below.

    The pixel size depends only on the panel grid and the number of caption/note lines, so it is
    predictable; constrained layout keeps labels, legend and notes from overlapping. The caption
    (model and fixed parameters) sits under the panels: a title above would collide with the legend.
    """
    width_in = cols * PANEL_SIZE[0] + LEGEND_WIDTH
    chars = int(
        cols * PANEL_SIZE[0] * 72 / (NOTE_FONT_SIZE * 0.56)
    )  # the notes span the panels, not the legend
    note_lines = [
        wrapped
        for line in ([caption] if caption else []) + list(notes)
        for wrapped in textwrap.wrap(line, chars)
    ]
    height_in = rows * PANEL_SIZE[1] + NOTE_LINE_HEIGHT * len(note_lines)
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
        grid = figure.add_gridspec(
            rows + (1 if note_lines else 0),
            cols,
            height_ratios=[PANEL_SIZE[1]] * rows
            + ([NOTE_LINE_HEIGHT * len(note_lines)] if note_lines else []),
        )
        axes = np.empty((rows, cols), dtype=object)
        for r in range(rows):
            for c in range(cols):
                share_x = axes[0, 0] if sharex and (r or c) else None
                share_y = None
                if sharey == "row" and c:
                    share_y = axes[r, 0]
                elif sharey is True and (r or c):
                    share_y = axes[0, 0]
                axes[r, c] = figure.add_subplot(grid[r, c], sharex=share_x, sharey=share_y)
        if note_lines:
            note_axes = figure.add_subplot(grid[rows, :])
            note_axes.axis("off")
            text = note_axes.text(
                0.0,
                1.0,
                "\n".join(note_lines),
                transform=note_axes.transAxes,
                ha="left",
                va="top",
                fontsize=NOTE_FONT_SIZE,
                color="0.25",
                linespacing=1.3,
            )
            text.set_in_layout(False)  # its row is sized for it; it must not squeeze the panels
    return figure, axes


def figure_title(results: Results, layout: Layout) -> str:
    """Model and the parameters held fixed, so a figure stands on its own."""
    model = {"linear": "Linear diffusion model", "unet": "U-Net diffusion model"}.get(
        results.model, "memgen sweep"
    )
    fixed = ", ".join(f"{symbol(k)} = {format_value(v)}" for k, v in layout.fixed.items())
    return f"{model}: {fixed}" if fixed else model


def x_label(x: str) -> str:
    return "training-set size n" if x == "n" else symbol(x)


def facet_title(layout: Layout, value: object) -> str:
    return group_label([layout.facet], [value]) if layout.facet else ""


def panel_grid(count: int) -> tuple[int, int]:
    cols = min(count, FACET_COLUMNS)
    return math.ceil(count / cols), cols


def add_legend(figure: Figure, handles: list, labels: list[str]) -> None:
    """Outside the panels, at the right: it never covers data. Labels name the parameter values."""
    with matplotlib.rc_context(STYLE):
        figure.legend(handles, labels, loc="outside right upper", frameon=False)


def series_handles(
    series: Sequence[Series], layout: Layout, marker: str = "o", linestyle: str = "-"
) -> tuple[list, list]:
    """One legend entry per colour key, in colour order."""
    seen: dict[tuple, str] = {}
    for s in series:
        seen.setdefault(s.colour_key, s.label)
    handles, labels = [], []
    seen = {nan_safe(key): label for key, label in seen.items()}
    for key, colour in layout.colours.items():
        if key in seen:
            handles.append(Line2D([], [], color=colour, marker=marker, linestyle=linestyle))
            labels.append(seen[key] if layout.colour_columns else "all cells")
    return handles, labels


def save(figure: Figure, out_dir: Path, name: str, formats: Sequence[str]) -> list[Path]:
    paths = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        try:
            with matplotlib.rc_context(STYLE):
                figure.savefig(path, format=fmt, dpi=DPI, metadata=SAVE_METADATA[fmt])
        except OSError as error:
            raise MemgenError(f"{path}: cannot write ({error.strerror or error})") from None
        paths.append(path)
    return paths


def say_empty(axes: Axes, text: str) -> None:
    """A panel that has nothing to draw says why, in its middle."""
    axes.text(
        0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", fontsize=9, color="0.3", wrap=True
    )


def hide_unused(axes: np.ndarray, used: int) -> None:
    for k, ax in enumerate(axes.flat):
        if k >= used:
            ax.set_visible(False)


# ----------------------------------------------------------------------------------------------
# Data of one line


def finite_points(
    series: Series, columns: Sequence[str], notes: Notes, what: str, positive: bool = False
) -> tuple[np.ndarray, list[np.ndarray]]:
    """x and the given columns where all are finite (and > 0 for log axes); a note for what was dropped."""
    cells = series.group.cells
    x = cells["_x"].to_numpy(dtype=float)
    values = [numeric_column(cells, c, SUMMARY_FILE) for c in columns]
    keep = np.all([np.isfinite(v) for v in values], axis=0) if values else np.ones(len(x), bool)
    if positive:
        keep &= values[0] > 0
    dropped = int((~keep).sum())
    where = series_name(series)
    if dropped:
        reason = "non-finite or ≤ 0" if positive else "NaN or infinite"
        notes.add(f"{where}: {dropped} cell(s) with {reason} {what} not drawn.")
    if keep.sum() == 1:
        notes.add(f"{where}: a single point of {what}, no line.")
    return x[keep], [v[keep] for v in values]


def series_name(series: Series) -> str:
    return series.group.label


# ----------------------------------------------------------------------------------------------
# Figure 1: P(Delta > 0)


def draw_p_curve(ax: Axes, series: Series, colour, notes: Notes) -> None:
    x, (p, lo, hi) = finite_points(series, PRIMARY_P_COLUMNS, notes, P_LABEL)
    if len(x) == 0:
        notes.add(f"{series_name(series)}: no finite {P_LABEL}.")
        return
    if len(x) > 1:
        ax.fill_between(x, lo, hi, color=colour, alpha=BAND_ALPHA, linewidth=0)
    ax.plot(x, p, color=colour, marker="o", linestyle="-" if len(x) > 1 else "none")


def style_p_axes(ax: Axes) -> None:
    ax.axhline(0.5, **HALF_LINE)
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)


def p_legend_extras() -> tuple[list, list[str]]:
    return (
        [Patch(color="0.5", alpha=0.35, linewidth=0), Line2D([], [], **HALF_LINE)],
        ["Wilson 95% interval", "P = 0.5"],
    )


def figure_p(results: Results, layout: Layout, series: list[Series]) -> tuple[Figure, list[str]]:
    notes = Notes()
    facets = facet_values(series)
    rows, cols = panel_grid(len(facets))
    panels: list[tuple[object, list[Series]]] = [
        (v, [s for s in series if _same(s.facet_value, v)]) for v in facets
    ]
    for _, members in panels:  # notes first: they decide the figure's height
        for s in members:
            finite_points(s, PRIMARY_P_COLUMNS, notes, P_LABEL)
    figure, axes = new_figure(rows, cols, notes.lines, figure_title(results, layout), sharey=True)
    for ax, (value, members) in zip(axes.flat, panels):
        for s in members:
            draw_p_curve(ax, s, layout.colour(s.colour_key), Notes())
        style_p_axes(ax)
        ax.set_title(facet_title(layout, value))
        ax.set_ylabel(P_LABEL)
        ax.set_xlabel(x_label(layout.x))
    hide_unused(axes, len(panels))
    handles, labels = series_handles(series, layout)
    extra_h, extra_l = p_legend_extras()
    add_legend(figure, handles + extra_h, labels + extra_l)
    return figure, notes.lines


# ----------------------------------------------------------------------------------------------
# Figure 2: mean H²


def figure_hellinger(results: Results, layout: Layout, series: list[Series]) -> tuple[Figure, list[str]]:
    notes = Notes()
    has_se = "se_H2" in results.summary.columns
    if not has_se:
        notes.add("No se_H2 column: drawn without error bars.")
    facets = facet_values(series)
    rows, cols = panel_grid(len(facets))
    points = {
        id(s): finite_points(s, ["mean_H2"] + (["se_H2"] if has_se else []), notes, "mean H²", positive=True)
        for s in series
    }
    figure, axes = new_figure(rows, cols, notes.lines, figure_title(results, layout), sharey=True)
    for ax, value in zip(axes.flat, facets):
        for s in (s for s in series if _same(s.facet_value, value)):
            x, values = points[id(s)]
            if len(x) == 0:
                continue
            mean = values[0]
            se = values[1] if has_se else np.zeros_like(mean)
            lower = np.minimum(se, mean * 0.999)  # an error bar may not reach 0 on a log axis
            ax.errorbar(
                x,
                mean,
                yerr=[lower, se],
                color=layout.colour(s.colour_key),
                marker="o",
                linestyle="-" if len(x) > 1 else "none",
                capsize=2,
                elinewidth=1,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(facet_title(layout, value))
        ax.set_ylabel("mean H² (squared Hellinger)")
        ax.set_xlabel(x_label(layout.x))
    hide_unused(axes, len(facets))
    handles, labels = series_handles(series, layout)
    handles.append(Line2D([], [], color="0.3", marker="|", linestyle="none", markersize=9))
    labels.append("± 1 standard error")
    add_legend(figure, handles, labels)
    return figure, notes.lines


# ----------------------------------------------------------------------------------------------
# Figure 3: Ê_OG, Ê_TG beside P(Delta > 0)


@dataclass(frozen=True)
class ErrorColumns:
    og: str | None
    tg: str | None
    is_log: bool  # mean_log_E_*: geometric means, normalised by differences of logs


def error_columns(summary) -> ErrorColumns | None:
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
    where = series_name(series)
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


def singular_cells(cells, x: np.ndarray) -> np.ndarray:
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


def figure_errors_vs_p(results: Results, layout: Layout, series: list[Series]) -> tuple[Figure, list[str]]:
    notes = Notes()
    columns = error_columns(results.summary)
    facets = facet_values(series)
    curves: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
    normalised_at: dict[str, float] = {}
    if columns is None:
        notes.add("No E_OG/E_TG columns in summary.csv (mean_E_OG or mean_log_E_OG): left panels empty.")
    else:
        for s in series:
            for name, column in (("E_OG", columns.og), ("E_TG", columns.tg)):
                if column is not None:
                    x, e, n_norm = normalised_error(s, column, columns.is_log, notes, name, results.model)
                    curves[(id(s), name)] = (x, e)
                    if n_norm is not None:
                        normalised_at.setdefault(series_name(s), n_norm)
    if normalised_at:
        notes.add(normalisation_note(normalised_at, layout.x))
    for s in series:
        finite_points(s, PRIMARY_P_COLUMNS, notes, P_LABEL)
    figure, axes = new_figure(len(facets), 2, notes.lines, figure_title(results, layout), sharex=True)
    for row, value in enumerate(facets):
        error_ax, p_ax = axes[row, 0], axes[row, 1]
        members = [s for s in series if _same(s.facet_value, value)]
        drawn = False
        for s in members:
            colour = layout.colour(s.colour_key)
            for name, style in (
                ("E_OG", dict(linestyle="-", marker="o")),
                ("E_TG", dict(linestyle="--", marker="s", markerfacecolor="white")),
            ):
                x, e = curves.get((id(s), name), (np.array([]), np.array([])))
                if len(x):
                    error_ax.plot(
                        x,
                        e,
                        color=colour,
                        **{**style, "linestyle": style["linestyle"] if len(x) > 1 else "none"},
                    )
                    drawn = True
            draw_p_curve(p_ax, s, colour, Notes())
        error_ax.set_xscale("log")
        if drawn:
            error_ax.set_yscale("log")
        else:
            say_empty(error_ax, "no finite E_OG or E_TG")
        style_p_axes(p_ax)
        suffix = f" ({facet_title(layout, value)})" if layout.facet else ""
        error_ax.set_title("Convergence" + suffix)
        p_ax.set_title("Memorization → generalization" + suffix)
        error_ax.set_ylabel(r"$\hat{E}_{\mathrm{OG}}$, $\hat{E}_{\mathrm{TG}}$  (÷ value at smallest n)")
        p_ax.set_ylabel(P_LABEL)
        for ax in (error_ax, p_ax):
            ax.set_xlabel(x_label(layout.x))
    handles, labels = series_handles(series, layout)
    handles += [
        Line2D([], [], color="0.3", linestyle="-", marker="o"),
        Line2D([], [], color="0.3", linestyle="--", marker="s", markerfacecolor="white"),
    ]
    labels += [
        r"$\hat{E}_{\mathrm{OG}}$ (original vs generated)",
        r"$\hat{E}_{\mathrm{TG}}$ (training vs generated)",
    ]
    extra_h, extra_l = p_legend_extras()
    add_legend(figure, handles + extra_h, labels + extra_l)
    return figure, notes.lines


# ----------------------------------------------------------------------------------------------
# Figure 4: the transition, one panel per group


def metric_curve(cells, metric: analysis.ErrorMetric) -> tuple[np.ndarray, np.ndarray, float]:
    """Finite (x, y) of the error as plotted, and the log offset that normalises it (Ê_OG at n_min)."""
    mask, logy = analysis.error_points(cells, metric)
    x = cells["_x"].to_numpy(dtype=float)[mask]
    offset = float(logy[mask][0]) if metric.summary_column != "mean_H2" and mask.any() else 0.0
    return x, np.exp(logy[mask] - offset), offset


def math_name(metric: analysis.ErrorMetric) -> str:
    return "mean H²" if metric.name == "H²" else r"$\hat{E}_{\mathrm{OG}}$"


def transition_caption(row: dict) -> str:
    def interval(lo: float, hi: float) -> str:
        fmt = lambda v: "<n_min" if v == 0 else ("∞" if math.isinf(v) else format_value(v))  # noqa: E731
        return f"[{fmt(lo)}, {fmt(hi)}]" if np.isfinite(lo) or np.isinf(lo) else ""

    star = (
        f"n* = {format_value(row['n_star'])} {interval(row['n_star_lo'], row['n_star_hi'])}"
        if row["n_star_status"] == analysis.CROSSED
        else f"n*: {row['n_star_status']}"
    )
    if row["onset_status"] == "ok":
        onset = f"n_onset = {format_value(row['n_onset'])}"
    elif np.isfinite(row["n_onset"]):
        onset = f"break at {format_value(row['n_onset'])}, no faster decay after it"
    else:
        onset = f"n_onset: {row['onset_status']}"
    return f"{star}; {onset}; {row['verdict']}"


def figure_transition(
    results: Results, layout: Layout, series: list[Series], align_factor: float, n_boot: int, seed: int
) -> tuple[Figure, list[str]]:
    notes = Notes()
    metric = analysis.error_metric(results.summary)
    if metric is None:
        notes.add("No error column (mean_H2, mean_E_OG or mean_log_E_OG): n_onset not estimable.")
    rng = np.random.default_rng(seed)
    rows = [analysis.analyze_group(results, s.group, metric, align_factor, n_boot, rng) for s in series]
    for s in series:
        finite_points(s, PRIMARY_P_COLUMNS, notes, P_LABEL)
    grid_rows, grid_cols = panel_grid(len(series))
    figure, axes = new_figure(grid_rows, grid_cols, notes.lines, figure_title(results, layout), sharex=True)
    metric_axes = []
    for ax, s, row in zip(axes.flat, series, rows):
        colour = layout.colour(s.colour_key)
        draw_p_curve(ax, s, colour, Notes())
        style_p_axes(ax)
        x_all = s.group.cells["_x"].to_numpy(dtype=float)
        span = (x_all.min() / 1.3, x_all.max() * 1.3)
        if row["n_star_status"] == analysis.CROSSED:
            lo = max(row["n_star_lo"], span[0]) if np.isfinite(row["n_star_lo"]) else span[0]
            hi = min(row["n_star_hi"], span[1]) if np.isfinite(row["n_star_hi"]) else span[1]
            ax.axvspan(lo, hi, color="0.5", alpha=0.15, linewidth=0)
            ax.axvline(row["n_star"], color="black", linewidth=1.2)
        if metric is not None:
            twin = ax.twinx()
            twin.spines["right"].set_visible(True)
            x, y, offset = metric_curve(s.group.cells, metric)
            if len(x):
                twin.plot(
                    x, y, color=colour, marker="s", markerfacecolor="white", linestyle="none", alpha=0.9
                )
                twin.set_yscale("log")
            if np.isfinite(row["n_onset"]):
                fit = analysis.fit_broken_line(np.log(x), np.log(y) + offset)
                grid = np.linspace(np.log(x).min(), np.log(x).max(), 200)
                twin.plot(np.exp(grid), np.exp(fit(grid) - offset), **FIT_LINE)
                twin.axvline(row["n_onset"], color="0.2", linestyle=":", linewidth=1.4)
            twin.set_ylabel(f"{math_name(metric)} (squares)")
            metric_axes.append(twin)
        ax.set_xscale("log")
        ax.set_xlim(*span)
        ax.set_title(f"{s.group.label}\n{transition_caption(row)}", fontsize=8.5)
        ax.set_ylabel(P_LABEL + " (circles)")
        ax.set_xlabel(x_label(layout.x))
    hide_unused(axes, len(series))
    handles, labels = series_handles(series, layout)
    handles += [
        Line2D([], [], color="black", linewidth=1.2),
        Patch(color="0.5", alpha=0.3, linewidth=0),
        Line2D([], [], **HALF_LINE),
    ]
    labels += ["n*: P crosses 0.5", "n* bootstrap 95% interval", "P = 0.5"]
    if metric is not None:
        handles += [
            Line2D([], [], color="0.3", marker="s", markerfacecolor="white", linestyle="none"),
            Line2D([], [], **FIT_LINE),
            Line2D([], [], color="0.2", linestyle=":", linewidth=1.4),
        ]
        labels += [
            math_name(metric) + (" (÷ value at smallest n)" if metric.name != "H²" else ""),
            "two-segment fit (log-log)",
            "n_onset: breakpoint",
        ]
    add_legend(figure, handles, labels)
    return figure, notes.lines


# ----------------------------------------------------------------------------------------------
# Entry point


@dataclass(frozen=True)
class PlotReport:
    paths: list[Path]
    skipped: list[str]  # figures not drawn and why
    notes: list[str]  # folder-level notes (e.g. a sweep is still writing)
    figure_notes: dict[str, list[str]]  # figure name -> the notes drawn under its panels


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
    """Every figure the folder's columns allow, in every format; what could not be drawn is reported."""
    formats = parse_formats(formats)
    results = read_results(results_dir, want_trials=True)
    require_columns(results.summary, (*PRIMARY_P_COLUMNS, *(["n"] if x == "n" else [])), SUMMARY_FILE)
    layout = choose_layout(results, x, hue, facet)
    series = split_series(results, layout)
    out = Path(out_dir) if out_dir is not None else results.folder / FIGURES_DIR
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MemgenError(f"{out}: cannot create the figures folder ({error.strerror or error})") from None
    paths: list[Path] = []
    skipped: list[str] = []
    builders = [("p_delta_positive", lambda: figure_p(results, layout, series))]
    if "mean_H2" in results.summary.columns:
        builders.append(("hellinger", lambda: figure_hellinger(results, layout, series)))
    else:
        skipped.append("hellinger: no mean_H2 in summary.csv (H² is a linear-model metric)")
    builders += [
        ("errors_vs_p", lambda: figure_errors_vs_p(results, layout, series)),
        ("transition", lambda: figure_transition(results, layout, series, align_factor, n_boot, seed)),
    ]
    figure_notes: dict[str, list[str]] = {}
    for name, build in builders:
        figure, figure_notes[name] = build()
        paths += save(figure, out, name, formats)
    return PlotReport(paths, skipped, list(results.notes), figure_notes)


def plot_results(
    results_dir: Path | str,
    out_dir: Path | str | None = None,
    formats: str | Sequence[str] = ("png",),
    x: str = "n",
    hue: str | None = None,
    facet: str | None = None,
) -> list[Path]:
    """Write the figures of a results folder (default RESULTS_DIR/figures/); returns the files written."""
    return draw_figures(results_dir, out_dir, formats, x, hue, facet).paths
