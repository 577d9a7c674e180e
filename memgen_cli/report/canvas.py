"""The scaffolding every figure of `memgen plot` shares: style, panels, notes, legend and saving.

A figure is a whole number of panels, a legend column at the right and its caption and notes
below, so its pixel size is predictable. The style is applied once, around drawing and saving
(``styled``), rather than by each step.
"""

from __future__ import annotations

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
from matplotlib.figure import Figure  # noqa: E402

from memgen_cli.results_format import atomic_write  # noqa: E402

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


@contextmanager
def styled() -> Iterator[None]:
    """The figures' style, for everything drawn and saved inside (matplotlib reads it at both)."""
    with matplotlib.rc_context(STYLE):
        yield


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


def new_figure(
    rows: int, cols: int, notes: Sequence[str], caption: str, sharex: bool = True, sharey: bool | str = False
) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure of whole panels, the legend column at the right, caption and notes below.

    The pixel size depends only on the panel grid and the number of caption/note lines, so it is
    predictable; constrained layout keeps labels, legend and notes from overlapping. The caption
    (model and fixed parameters) sits under the panels: a title above would collide with the legend.
    """
    note_lines = wrap_notes(([caption] if caption else []) + list(notes), cols)
    width_in = cols * PANEL_SIZE[0] + LEGEND_WIDTH
    height_in = rows * PANEL_SIZE[1] + NOTE_LINE_HEIGHT * len(note_lines)
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    heights = [PANEL_SIZE[1]] * rows + ([NOTE_LINE_HEIGHT * len(note_lines)] if note_lines else [])
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


def wrap_notes(lines: Sequence[str], cols: int) -> list[str]:
    """Lines wrapped to the panels' width (the notes span the panels, not the legend)."""
    chars = int(cols * PANEL_SIZE[0] * 72 / (NOTE_FONT_SIZE * 0.56))
    return [wrapped for line in lines for wrapped in textwrap.wrap(line, chars)]


def add_notes(axes: Axes, note_lines: Sequence[str]) -> None:
    axes.axis("off")
    text = axes.text(
        0.0,
        1.0,
        "\n".join(note_lines),
        transform=axes.transAxes,
        ha="left",
        va="top",
        fontsize=NOTE_FONT_SIZE,
        color="0.25",
        linespacing=1.3,
    )
    text.set_in_layout(False)  # its row is sized for it; it must not squeeze the panels


def panel_grid(count: int) -> tuple[int, int]:
    cols = min(count, FACET_COLUMNS)
    return math.ceil(count / cols), cols


def add_legend(figure: Figure, handles: list, labels: list[str]) -> None:
    """Outside the panels, at the right: it never covers data. Labels name the parameter values."""
    figure.legend(handles, labels, loc="outside right upper", frameon=False)


def save(figure: Figure, out_dir: Path, name: str, formats: Sequence[str]) -> list[Path]:
    paths = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        # Written whole or not at all (a full disk leaves the old figure, not half of a new one).
        atomic_write(path, lambda tmp, fmt=fmt: figure.savefig(tmp, format=fmt, dpi=DPI,
                                                               metadata=SAVE_METADATA[fmt]))
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
