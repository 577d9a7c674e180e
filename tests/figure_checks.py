"""Checks of what a figure shows that need no pixels: tick labels, legend entries, texts inside the figure, legends
clear of the data. The figure tests share them (test_plotting, test_unet_memorization, test_locate)."""

from __future__ import annotations

import re

import numpy as np
from matplotlib.colors import to_rgba

from memgen_cli.report.canvas import covers, covers_area, data_areas, data_points
from memgen_cli.report.ticks import PLAIN_RANGE

PLAIN = re.compile(r"^−?-?\d+(\.\d+)?$")  # 20, 0.9, 1000: no exponent, no ×, no mathtext


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
    """Every log axis: 2 to 6 labels; plain numbers whenever every tick in view lies in the plain range."""
    figure.draw_without_rendering()
    for axis in log_axes(figure):
        labels, locs = tick_labels(axis), in_view(axis)
        assert 2 <= len(labels) <= 6, (name, axis.axis_name, labels)
        if all(PLAIN_RANGE[0] <= abs(v) < PLAIN_RANGE[1] for v in locs):
            assert all(PLAIN.match(label) for label in labels), (name, labels)


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
    """A legend inside a panel covers none of its lines, markers, bands or spans."""
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is None or not ax.axison:
            continue
        box = legend.get_window_extent(renderer)
        box = (box.x0, box.y0, box.x1, box.y1)
        assert not covers(box, data_points(figure, ax)), (name, "legend covers data points")
        assert not covers_area(box, data_areas(figure, ax)), (name, "legend covers a band or span")


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
