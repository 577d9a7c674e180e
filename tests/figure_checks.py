"""Checks of what a figure shows that need no pixels: tick labels, legend entries, texts inside the figure, legends
clear of the data, the one figure style (issue 37). The figure tests share them (test_plotting,
test_figure_style, test_unet_memorization, test_locate)."""

from __future__ import annotations

import math
import re

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.text import Text

from memgen_cli.report.figures.canvas import CAPTION_GID, CAPTION_LINES
from memgen_cli.report.figures.panels import P_GID
from memgen_cli.report.figures.style import LOG_SCALE, P_COLOUR
from memgen_cli.report.figures.ticks import PLAIN_RANGE

PLAIN = re.compile(r"^−?-?\d+(\.\d+)?$")  # 20, 0.9, 1000: no exponent, no ×, no mathtext
DECADE = re.compile(r"^\$10\^\{(−?-?\d+)\}\$$")  # 10⁶ beyond the plain range: a power of ten, never 2×10⁶
CODE_NAMES = ("n_star", "tau_mem", "tau_half", "tau_gen", "p_delta", "delta_positive")


def in_view(axis) -> np.ndarray:
    lo, hi = sorted(axis.get_view_interval())
    locs = np.asarray(axis.get_majorticklocs(), dtype=float)
    return locs[(locs >= lo * (1 - 1e-9)) & (locs <= hi * (1 + 1e-9))]


def tick_labels(axis) -> list[str]:
    """The labels of the major ticks in view, as the formatter writes them."""
    locs = in_view(axis)
    return [label for label in axis.get_major_formatter().format_ticks(list(locs)) if label]


def log_axes(figure) -> list:
    return [axis for ax in figure.axes if ax.get_visible() for axis in (ax.xaxis, ax.yaxis)
            if axis.get_scale() == "log"]


def assert_plain_log_ticks(figure, name: str = "") -> None:
    """Every log axis: 2 to 6 labels, each 1, 2 or 5 × 10^k, written with digits in the plain range (a power of ten
    beyond it); and its label says "(log scale)"."""
    figure.draw_without_rendering()
    for axis in log_axes(figure):
        labels, locs = tick_labels(axis), in_view(axis)
        assert 2 <= len(labels) <= 6, (name, axis.axis_name, labels)
        for value, label in zip(locs, labels):
            mantissa = value / 10.0 ** math.floor(math.log10(value) + 1e-9)
            assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-6, (name, labels)
            assert PLAIN.match(label) if PLAIN_RANGE[0] <= value < PLAIN_RANGE[1] else DECADE.match(label), \
                (name, labels)
        if axis.get_label_text():
            assert axis.get_label_text().endswith(LOG_SCALE), (name, axis.get_label_text())


def legends(figure) -> list:
    return [ax.get_legend() for ax in figure.axes if ax.get_legend() is not None] + list(figure.legends)


def legend_labels(figure) -> list[str]:
    return [text.get_text() for legend in legends(figure) for text in legend.get_texts()]


def rgb(colour) -> tuple:
    return tuple(np.round(to_rgba(colour)[:3], 6))


def legend_colours(figure) -> dict[str, tuple]:
    """label -> the RGB of its legend handle (of a tuple handle, its first part: the band behind the line)."""
    found = {}
    for legend in legends(figure):
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            colour = handle.get_color() if hasattr(handle, "get_xdata") else handle.get_facecolor()
            found[text.get_text()] = rgb(colour)
    return found


def texts_outside(figure) -> list[str]:
    """What reaches beyond the figure's edges: a panel's drawn extent (ticks in view, labels, title, legend), and
    every other text (caption, notes, a legend above the panels). Tick labels of ticks out of view are not drawn
    and are left out."""
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()
    box = figure.bbox

    def beyond(extent) -> bool:
        return extent.x0 < box.x0 - 1 or extent.x1 > box.x1 + 1 or extent.y0 < box.y0 - 1 or extent.y1 > box.y1 + 1

    outside = [f"panel {ax.get_title()!r}" for ax in figure.axes
               if ax.get_visible() and beyond(ax.get_tightbbox(renderer))]
    ticks = {id(t) for ax in figure.axes for axis in (ax.xaxis, ax.yaxis)
             for minor in (False, True) for t in axis.get_ticklabels(minor=minor)}
    for text in figure.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent")):
        if id(text) in ticks or not text.get_visible() or not str(text.get_text()).strip():
            continue
        if beyond(text.get_window_extent(renderer)):
            outside.append(text.get_text())
    return outside


def assert_legends_clear_of_data(figure, name: str = "") -> None:
    """No legend's drawn box meets a data panel's box (legends sit beside or below the panels, or in an empty slot of
    the grid)."""
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()
    for legend in legends(figure):
        box = legend.get_window_extent(renderer)
        for ax in panels(figure):
            assert not box.overlaps(ax.get_window_extent(renderer)), (name, "legend over a panel", ax.get_title())


def caption_text(figure) -> str:
    (caption,) = figure.findobj(lambda artist: isinstance(artist, Text) and artist.get_gid() == CAPTION_GID)
    return caption.get_text()


def assert_one_style(figure, name: str = "") -> None:
    """What issue 37 asked of every figure: a caption of at most two lines; legends off the panels; plain 1-2-5 log
    ticks on axes that say "(log scale)"; no more fills in a panel than model curves (each its own interval:
    references are lines); no title broken inside [...]; no column names in any text (the P(Δ > 0) colour:
    ``assert_p_colour``)."""
    assert caption_text(figure).count("\n") < CAPTION_LINES, (name, caption_text(figure))
    assert_legends_clear_of_data(figure, name)
    assert_plain_log_ticks(figure, name)
    for ax in panels(figure):
        here = same_place(figure, ax)
        fills = [c for twin in here for c in twin.collections if isinstance(c, PolyCollection)]
        curves = [line for twin in here for line in twin.get_lines() if not line.get_label().startswith("_")]
        assert len(fills) <= max(1, len(curves)), (name, "more fills than the model's own intervals", ax.get_title())
        for line in ax.get_title().split("\n"):
            assert line.count("[") == line.count("]"), (name, "title broken inside brackets", ax.get_title())
    for text in all_texts(figure):
        assert not any(code in text for code in CODE_NAMES), (name, text)


def same_place(figure, ax) -> list:
    here = ax.get_position().bounds
    return [other for other in figure.axes if np.allclose(other.get_position().bounds, here)]


def p_lines(ax) -> list:
    return [line for line in ax.get_lines() if line.get_gid() == P_GID]


def all_texts(figure) -> list[str]:
    """Every text a reader sees: titles, axis labels, legend entries, the caption, texts in panels."""
    return [str(t.get_text()) for t in figure.findobj(Text) if t.get_visible() and str(t.get_text()).strip()]


def assert_p_colour(figure, name: str = "") -> None:
    """Every P(Δ > 0) line of the figure drawn in P_COLOUR."""
    lines = [line for ax in figure.axes for line in p_lines(ax)]
    assert lines, (name, "no P(Δ > 0) line")
    assert {rgb(line.get_color()) for line in lines} == {rgb(P_COLOUR)}, name


def panels(figure) -> list:
    """The data panels: visible axes with their frame on, twins left out (one per place)."""
    seen, found = set(), []
    for ax in figure.axes:
        place = tuple(np.round(ax.get_position().bounds, 6))
        if ax.get_visible() and ax.axison and place not in seen and (ax.get_lines() or ax.collections):
            seen.add(place)
            found.append(ax)
    return found


def grid_shape(figure) -> tuple[int, int]:
    """(rows, columns) of the data panels, from their positions."""
    boxes = [ax.get_position() for ax in panels(figure)]
    return len({round(b.y0, 3) for b in boxes}), len({round(b.x0, 3) for b in boxes})
