"""The scaffolding every figure of `memgen plot` shares: one style, set here once, for a paper's page.

A figure is one paper column wide (3.4 in) when it has one panel per row, the whole text width (7 in) otherwise,
with fonts that stay readable at that size (8 pt, ticks 7 pt). Under the panels: the legend (``place_legend``:
in an empty slot of the panel grid, else below the panels; never over the data) and a caption of at most two lines
(``new_figure``: what identifies the run, memgen_cli.report.caption). What else a figure has to say (what was left
out and why) goes to its sidecar .json (``save``), never into the image. Log axes get 1-2-5 ticks written plainly
(memgen_cli.report.figures.ticks) and labels that say "(log scale)" (``finish``). The marks' colours and lines:
memgen_cli.report.figures.style.
"""

from __future__ import annotations

import io
import json
import math
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.transforms import ScaledTranslation  # noqa: E402

from memgen_cli.report.figures.style import LOG_SCALE, wrap_title as wrap_title_chars  # noqa: E402
from memgen_cli.report.figures.ticks import plain_log_ticks  # noqa: E402
from memgen_cli.results_format import atomic_write, atomic_write_text, figure_file, figure_sidecar  # noqa: E402

DPI = 300  # PNG resolution: print quality at the widths below
ONE_COLUMN = 3.4  # inches: one column of a two-column paper
TWO_COLUMNS = 7.0  # inches: the full text width
PANEL_ASPECT = 0.72  # a panel's height over its width, within PANEL_HEIGHTS
PANEL_HEIGHTS = (1.9, 2.6)  # inches
TITLE_LINE = 0.15  # inches per line of a panel title
FONT_SIZE = 8
CAPTION_FONT_SIZE = 7
CAPTION_LINES = 2  # a caption never takes more; the rest is in the sidecar
CAPTION_LINE_HEIGHT = CAPTION_FONT_SIZE * 1.35 / 72  # inches per line of the caption
CHAR_WIDTH = 0.6  # an average character's width in DejaVu Sans, in ems, with a margin: lines wrapped by it fit
LEGEND_GAP = 0.04  # inches between the legend and the caption
CAPTION_GID = "caption"
BOTTOM_LABEL = "legend-and-caption"  # the row under the panels (its axes are off)
STYLE = {
    "font.size": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "legend.fontsize": 7,
    "legend.handlelength": 1.8,
    "legend.labelspacing": 0.3,
    "legend.columnspacing": 1.2,
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


@contextmanager
def styled() -> Iterator[None]:
    """The figures' style, for everything drawn and saved inside (matplotlib reads it at both)."""
    with matplotlib.rc_context(STYLE):
        yield


@dataclass
class Notes:
    """What a figure says beside its image (its sidecar, the console, the report page): what was left out and why."""

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


def caption_lines(captions: str | Sequence[str], width_in: float) -> list[str]:
    """The first of the candidate captions (longest first) that wraps into CAPTION_LINES at this width; the last,
    cut with "…", when none does."""
    chars = int(width_in * 72 / (CAPTION_FONT_SIZE * CHAR_WIDTH))
    candidates = [captions] if isinstance(captions, str) else list(captions)
    for caption in candidates:
        lines = textwrap.wrap(caption, chars)
        if len(lines) <= CAPTION_LINES:
            return lines
    lines = textwrap.wrap(candidates[-1], chars)
    return lines[:CAPTION_LINES - 1] + [textwrap.shorten(" ".join(lines[CAPTION_LINES - 1:]), chars,
                                                           placeholder=" …")]


def new_figure(rows: int, cols: int, caption: str | Sequence[str], sharex: bool = True,
               sharey: bool | str = False, title_lines: int = 1) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure of rows x cols panels, one or two paper columns wide, with a row under them for
    the legend (``place_legend``) and the caption (``caption``: one text, or candidates longest first, of which
    the first that fits CAPTION_LINES is drawn).

    Panels keep their height whatever the caption and the legend: those get a row of their own, sized for them.
    """
    width = figure_width(cols)
    panel_height = min(max(width / cols * PANEL_ASPECT, PANEL_HEIGHTS[0]), PANEL_HEIGHTS[1]) + title_lines * TITLE_LINE
    lines = caption_lines(caption, width) if caption else []
    bottom_height = CAPTION_LINE_HEIGHT * max(len(lines), 1) + 0.05
    figure = Figure(figsize=(width, rows * panel_height + bottom_height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # a renderer to measure text and legends with (place_legend)
    figure.get_layout_engine().set(h_pad=0.02, w_pad=0.02, hspace=0.04, wspace=0.04)
    grid = figure.add_gridspec(rows + 1, cols, height_ratios=[panel_height] * rows + [bottom_height])
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
    bottom = figure.add_subplot(grid[rows, :], label=BOTTOM_LABEL)
    bottom.axis("off")
    bottom.text(0.0, 1.0, "\n".join(lines), transform=bottom.transAxes, ha="left", va="top", gid=CAPTION_GID,
                fontsize=CAPTION_FONT_SIZE, color="0.25", linespacing=1.25)
    return figure, axes


def wrap_title(lines: Sequence[str], cols: int) -> str:
    """A panel title in lines that fit the panel's width, broken only between words outside brackets
    (memgen_cli.report.figures.style.wrap_title)."""
    return wrap_title_chars(lines, int(figure_width(cols) / cols * 72 / (FONT_SIZE * CHAR_WIDTH)))


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
# The legend: never over the data


def has_drawn(figure: Figure, gid: str) -> bool:
    """Whether some artist of the figure carries this gid (or one starting with '<gid>-'): a legend lists only
    marks that are drawn."""
    return bool(figure.findobj(lambda a: str(a.get_gid() or "") == gid or str(a.get_gid() or "").startswith(
        gid + "-")))


def only_drawn(figure: Figure, entries: Sequence[tuple]) -> tuple[list, list[str]]:
    """(handles, labels) of the entries (gid, handle, label) whose gid is None or drawn in the figure."""
    kept = [(handle, label) for gid, handle, label in entries if gid is None or has_drawn(figure, gid)]
    return [h for h, _ in kept], [label for _, label in kept]


def bottom_row(figure: Figure) -> Axes:
    return next(ax for ax in figure.axes if ax.get_label() == BOTTOM_LABEL)


def place_legend(figure: Figure, handles: list, labels: list[str], spare: Sequence[Axes] = (),
                 handler_map: dict | None = None) -> Legend | None:
    """In an empty slot of the grid, else below the panels, above the caption, in as many columns as fit the
    figure's width; the figure grows by the legend's height. Never inside a panel."""
    if not handles:
        return None
    if spare:
        return spare[0].legend(handles, labels, loc="center", frameon=False, handler_map=handler_map)
    bottom = bottom_row(figure)
    renderer = figure.canvas.get_renderer()
    room = figure.get_figwidth() * figure.dpi * 0.98
    for ncols in range(len(labels), 0, -1):
        legend = bottom.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncols=ncols,
                               frameon=False, handler_map=handler_map, borderaxespad=0, borderpad=0.2)
        extent = legend.get_window_extent(renderer)
        if extent.width <= room or ncols == 1:
            break
        legend.remove()
    height = extent.height / figure.dpi + LEGEND_GAP
    caption = next(t for t in bottom.texts if t.get_gid() == CAPTION_GID)
    caption.set_transform(bottom.transAxes + ScaledTranslation(0, -height, figure.dpi_scale_trans))
    grid = bottom.get_subplotspec().get_gridspec()
    ratios = list(grid.get_height_ratios())
    ratios[-1] += height
    grid.set_height_ratios(ratios)
    width, figure_height = figure.get_size_inches()
    figure.set_size_inches(width, figure_height + height)
    return legend


# ----------------------------------------------------------------------------------------------
# Saving


def finish(figure: Figure) -> Figure:
    """What every figure gets before it is saved or embedded: 1-2-5 log ticks written plainly, and log axes' labels
    that say so."""
    for ax in figure.axes:
        plain_log_ticks(ax)
        for axis in (ax.xaxis, ax.yaxis):
            label = axis.get_label_text()
            if axis.get_scale() == "log" and label and not label.endswith(LOG_SCALE):
                axis.set_label_text(label + LOG_SCALE)
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
