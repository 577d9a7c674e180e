"""The scaffolding every figure of `memgen plot` shares: one style, set here once, for a paper's page.

A figure is one paper column wide (3.4 in) when it has one panel per row, the whole text width (7 in) otherwise,
with fonts that stay readable at that size (8 pt, ticks 7 pt). Log axes get plain-number ticks
(memgen_cli.report.ticks). The legend goes where it covers no data: an empty slot of the panel grid, else inside a
panel at the first free corner or side, else above the panels (``place_legend``). A short caption line (what
identifies the run, memgen_cli.report.caption) and the notes (what was left out) sit under the panels; every
parameter goes into the figure's sidecar .json (``save``).
"""

from __future__ import annotations

import io
import json
import math
import textwrap
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402

from memgen_cli.report.ticks import plain_log_ticks  # noqa: E402
from memgen_cli.results_format import atomic_write, atomic_write_text, figure_file, figure_sidecar  # noqa: E402

DPI = 300  # PNG resolution: print quality at the widths below
ONE_COLUMN = 3.4  # inches: one column of a two-column paper
TWO_COLUMNS = 7.0  # inches: the full text width
PANEL_ASPECT = 0.72  # a panel's height over its width, within PANEL_HEIGHTS
PANEL_HEIGHTS = (1.9, 2.6)  # inches
TITLE_LINE = 0.15  # inches per line of a panel title
FONT_SIZE = 8
NOTE_FONT_SIZE = 7
NOTE_LINE_HEIGHT = NOTE_FONT_SIZE * 1.35 / 72  # inches per line of caption and notes
CHAR_WIDTH = 0.6  # an average character's width in DejaVu Sans, in ems, with a margin: lines wrapped by it fit
REFERENCE_GID = "reference"  # lines a legend may cover (a horizontal guide such as P = 0.5)
STYLE = {
    "font.size": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "legend.fontsize": 7,
    "legend.framealpha": 0.9,
    "legend.edgecolor": "0.85",
    "legend.borderaxespad": 0.4,
    "legend.handlelength": 1.8,
    "legend.labelspacing": 0.3,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "errorbar.capsize": 1.5,
    "pdf.fonttype": 42,  # TrueType in PDFs: editable text, accepted by journals
    "svg.hashsalt": "memgen",  # stable ids: the same data gives the same SVG
}
SAVE_METADATA = {
    "png": {"Software": None},
    "pdf": {"CreationDate": None, "Producer": None},
    "svg": {"Date": None, "Creator": None},
}
LEGEND_LOCATIONS = ("upper left", "upper right", "lower right", "lower left", "center right", "center left",
                    "upper center", "lower center")


@contextmanager
def styled() -> Iterator[None]:
    """The figures' style, for everything drawn and saved inside (matplotlib reads it at both)."""
    with matplotlib.rc_context(STYLE):
        yield


NOTES_IN_FIGURE: ContextVar[bool] = ContextVar("notes_in_figure", default=True)


@contextmanager
def notes_outside() -> Iterator[None]:
    """Figures drawn inside leave their notes out of the image (the caption stays): `memgen report` writes them once,
    as text under the figure, where a narrow window wraps them."""
    token = NOTES_IN_FIGURE.set(False)
    try:
        yield
    finally:
        NOTES_IN_FIGURE.reset(token)


@dataclass
class Notes:
    """Lines said under the panels: what was left out and why."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)

    def extend(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.add(line)


def panel_grid(count: int) -> tuple[int, int]:
    """Rows and columns for ``count`` panels with few empty slots: 1-3 in a row, 4 as 2 x 2, more in rows of 3."""
    cols = count if count <= 3 else 2 if count == 4 else 3
    return math.ceil(count / cols), max(cols, 1)


def figure_width(cols: int) -> float:
    return ONE_COLUMN if cols == 1 else TWO_COLUMNS


def new_figure(rows: int, cols: int, caption: str, notes: Sequence[str] = (), sharex: bool = True,
               sharey: bool | str = False, title_lines: int = 1) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure of rows x cols panels, one or two paper columns wide, caption and notes below
    (the notes not inside ``notes_outside``).

    Panels keep their height whatever the caption and notes: those get a row of their own, sized for their lines.
    """
    width = figure_width(cols)
    panel_height = min(max(width / cols * PANEL_ASPECT, PANEL_HEIGHTS[0]), PANEL_HEIGHTS[1]) + title_lines * TITLE_LINE
    shown = list(notes) if NOTES_IN_FIGURE.get() else []
    note_lines = wrap_notes(([caption] if caption else []) + shown, width)
    notes_height = NOTE_LINE_HEIGHT * len(note_lines) + (0.05 if note_lines else 0)
    figure = Figure(figsize=(width, rows * panel_height + notes_height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # a renderer to measure text and legends with (place_legend)
    figure.get_layout_engine().set(h_pad=0.02, w_pad=0.02, hspace=0.04, wspace=0.04)
    heights = [panel_height] * rows + ([notes_height] if note_lines else [])
    grid = figure.add_gridspec(len(heights), cols, height_ratios=heights)
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
        add_notes(figure.add_subplot(grid[rows, :]), note_lines)
    return figure, axes


def wrap_notes(lines: Sequence[str], width_in: float) -> list[str]:
    """Lines wrapped to the figure's width."""
    chars = int(width_in * 72 / (NOTE_FONT_SIZE * CHAR_WIDTH))
    return [wrapped for line in lines for wrapped in textwrap.wrap(line, chars)]


def wrap_title(lines: Sequence[str], cols: int) -> str:
    """A panel title in lines that fit the panel's width (a title wider than its panel is cut at the edges)."""
    chars = int(figure_width(cols) / cols * 72 / (FONT_SIZE * CHAR_WIDTH))
    return "\n".join(wrapped for line in lines if line for wrapped in textwrap.wrap(line, chars))


def add_notes(axes: Axes, note_lines: Sequence[str]) -> None:
    axes.axis("off")
    axes.text(0.0, 1.0, "\n".join(note_lines), transform=axes.transAxes, ha="left", va="top",
              fontsize=NOTE_FONT_SIZE, color="0.25", linespacing=1.25)
    # Its row is sized for it; should the text still reach further, the layout makes room rather than cut it.


def say_empty(axes: Axes, text: str) -> None:
    """A panel that has nothing to draw says why, in its middle."""
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", fontsize=7, color="0.3",
              wrap=True)


def spare_slots(axes: np.ndarray, used: int) -> list[Axes]:
    """The grid's slots beyond the first ``used`` panels, emptied (a legend may take the first)."""
    spare = list(axes.flat)[used:]
    for ax in spare:
        ax.axis("off")
    return spare


# ----------------------------------------------------------------------------------------------
# The legend: where it covers no data


def place_legend(figure: Figure, handles: list, labels: list[str], candidates: Sequence[Axes],
                 spare: Sequence[Axes] = (), handler_map: dict | None = None) -> Legend | None:
    """In an empty slot of the grid, else inside the first candidate panel with a corner or side free of data
    (lines, markers, error bars, vertical marks, interval bands and spans; only REFERENCE_GID guides may be
    covered), else above the panels."""
    if not handles:
        return None
    for ax in figure.axes:
        plain_log_ticks(ax)  # ticks first: they move the panels
    if spare:
        return spare[0].legend(handles, labels, loc="center", frameon=False, handler_map=handler_map)
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()
    probe = candidates[0].legend(handles, labels, loc="upper right", handler_map=handler_map)
    size = probe.get_window_extent(renderer)
    pad = matplotlib.rcParams["legend.borderaxespad"] * probe.prop.get_size_in_points() * figure.dpi / 72
    probe.remove()
    for ax in candidates:
        points, areas = data_points(figure, ax), data_areas(figure, ax)
        frame = ax.get_window_extent(renderer)
        for loc in LEGEND_LOCATIONS:
            box = anchored(loc, size.width, size.height, frame, pad)
            if box is not None and not covers(box, points) and not covers_area(box, areas):
                return ax.legend(handles, labels, loc=loc, handler_map=handler_map)
    return legend_above(figure, handles, labels, handler_map)


def legend_above(figure: Figure, handles: list, labels: list[str], handler_map: dict | None) -> Legend:
    """A legend above the panels, in as many columns as fit; the figure grows by its measured height."""
    longest = max(len(label) for label in labels) + 4
    ncols = max(1, min(len(labels), int(figure.get_figwidth() * 72 / (7 * CHAR_WIDTH) / longest)))
    legend = figure.legend(handles, labels, loc="outside upper center", ncols=ncols, frameon=False,
                           handler_map=handler_map)
    height = legend.get_window_extent(figure.canvas.get_renderer()).height / figure.dpi
    width, figure_height = figure.get_size_inches()
    figure.set_size_inches(width, figure_height + height + 0.04)
    return legend


def anchored(loc: str, width: float, height: float, frame, pad: float) -> tuple | None:
    """The display box (x0, y0, x1, y1) a legend of this size takes at ``loc`` inside ``frame``; None if too big."""
    if width > frame.width - 2 * pad or height > frame.height - 2 * pad:
        return None
    vertical, _, horizontal = loc.partition(" ") if " " in loc else ("center", "", loc)
    x0 = {"left": frame.x0 + pad, "right": frame.x1 - pad - width}.get(horizontal, frame.x0 + (frame.width - width) / 2)
    y0 = {"lower": frame.y0 + pad, "upper": frame.y1 - pad - height}.get(vertical,
                                                                         frame.y0 + (frame.height - height) / 2)
    return x0, y0, x0 + width, y0 + height


def covers(box: tuple, points: np.ndarray, margin: float = 2.0) -> bool:
    if not len(points):
        return False
    x0, y0, x1, y1 = box
    inside = ((points[:, 0] >= x0 - margin) & (points[:, 0] <= x1 + margin)
              & (points[:, 1] >= y0 - margin) & (points[:, 1] <= y1 + margin))
    return bool(inside.any())


def same_panel(figure: Figure, ax: Axes) -> list[Axes]:
    """The panel and its twin axes (they share its place)."""
    here = ax.get_position().bounds
    return [other for other in figure.axes if other.get_visible() and np.allclose(other.get_position().bounds, here)]


def data_areas(figure: Figure, ax: Axes) -> list:
    """The filled areas of a panel in display coordinates: interval bands (fill_between) and spans (axvspan)."""
    areas = []
    for other in same_panel(figure, ax):
        for collection in other.collections:
            if not isinstance(collection, LineCollection):
                transform = collection.get_transform()
                areas += [transform.transform_path(path) for path in collection.get_paths()]
        for patch in other.patches:
            areas.append(patch.get_transform().transform_path(patch.get_path()))
    return areas


def covers_area(box: tuple, areas: list) -> bool:
    """Some filled area reaches into the box: a corner or the middle of the box inside it, or its edge inside the
    box."""
    x0, y0, x1, y1 = box
    probes = np.array([[x0, y0], [x0, y1], [x1, y0], [x1, y1], [(x0 + x1) / 2, (y0 + y1) / 2]])
    for path in areas:
        if path.contains_points(probes).any() or covers(box, densify(np.asarray(path.vertices, dtype=float)), 0):
            return True
    return False


def data_points(figure: Figure, ax: Axes) -> np.ndarray:
    """Display coordinates along every data line, marker and error bar of a panel (and of its twin axes)."""
    found = [np.empty((0, 2))]
    for other in same_panel(figure, ax):
        for line in other.get_lines():
            if not line.get_visible() or line.get_gid() == REFERENCE_GID:
                continue
            xy = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
            joined = str(line.get_linestyle()).lower() not in ("none", "", " ")
            found.append(densify(xy) if joined else xy)
        for collection in other.collections:
            if isinstance(collection, LineCollection):  # error bars
                transform = collection.get_transform()
                found += [densify(transform.transform(np.asarray(s, dtype=float))) for s in collection.get_segments()]
    points = np.vstack(found)
    return points[np.isfinite(points).all(axis=1)]


def densify(xy: np.ndarray, pieces: int = 24) -> np.ndarray:
    """Points along each segment of a polyline, so that a legend cannot sit on a line between its markers."""
    if len(xy) < 2:
        return xy
    t = np.linspace(0, 1, pieces, endpoint=False)[None, :, None]
    inner = xy[:-1, None, :] + t * (xy[1:, None, :] - xy[:-1, None, :])
    return np.vstack([inner.reshape(-1, 2), xy[-1:]])


# ----------------------------------------------------------------------------------------------
# Saving


def finish(figure: Figure) -> Figure:
    """What every figure gets before it is saved or embedded: plain-number log ticks."""
    for ax in figure.axes:
        plain_log_ticks(ax)
    return figure


def save(figure: Figure, out_dir: Path, name: str, formats: Sequence[str], record: dict | None = None) -> list[Path]:
    """The figure in every format, and its sidecar <name>.json (``record``: every parameter of the run)."""
    finish(figure)
    paths = []
    for fmt in formats:
        path = out_dir / figure_file(name, fmt)
        # Written whole or not at all (a full disk leaves the old figure, not half of a new one).
        atomic_write(path, lambda tmp, fmt=fmt: figure.savefig(tmp, format=fmt, dpi=DPI,
                                                               metadata=SAVE_METADATA[fmt]))
        paths.append(path)
    if record is not None:
        atomic_write_text(out_dir / figure_sidecar(name), json.dumps(record, indent=2, default=str) + "\n")
    return paths


def figure_bytes(figure: Figure, fmt: str = "png", dpi: int = DPI) -> bytes:
    """The figure as it would be saved, in memory (for a page that embeds it)."""
    finish(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=dpi, metadata=SAVE_METADATA[fmt])
    return buffer.getvalue()
