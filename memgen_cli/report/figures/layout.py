"""Which column goes where in `memgen plot`: the x axis, the panel (facet) and the colour of a line.

Lines are grouped by the swept parameters other than x: ``facet`` picks the panel, the rest (``hue``
first) the colour, and a group keeps its colour in every figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Sequence

import matplotlib
from matplotlib.lines import Line2D

from memgen_cli.errors import MemgenError
from memgen_cli.report.analysis import transitions
from memgen_cli.report.reader import (
    Results,
    check_parameter_option,
    group_label,
    sort_key,
    symbol,
)
from memgen_cli.report.figures.style import P_COLOUR


@dataclass(frozen=True)
class Layout:
    """x axis, panel (facet) column and colour columns, and a colour for every colour key."""

    x: str
    facet: str | None
    colour_columns: tuple[str, ...]
    colours: dict[tuple, str]

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
    transitions.x_values(results, x)  # numeric and positive, or a one-line error
    others = [c for c in results.swept if c not in (x, hue, facet)]
    if facet is None and (len(others) >= 2 or (hue is not None and others)):
        facet = min(others, key=lambda c: results.summary[c].nunique(dropna=False))
        others.remove(facet)
    colour_columns = tuple(([hue] if hue else []) + others)
    rows = results.summary[list(colour_columns)].itertuples(index=False, name=None)
    keys = sorted({nan_safe(tuple(row)) for row in rows}, key=lambda key: tuple(sort_key(v) for v in key))
    return Layout(x, facet, colour_columns, dict(zip(keys, palette(len(keys)))))


def palette(count: int) -> list[str]:
    """Distinct colours: P_COLOUR for a single group, tab10 while it lasts (its first is P_COLOUR), then evenly
    spaced viridis."""
    if count == 1:
        return [P_COLOUR]
    if count <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(count)]
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(i / max(count - 1, 1)) for i in range(count)]


@dataclass(frozen=True, eq=False)  # hashed by identity: a figure keys its collected data by series
class Series:
    """The cells of one line: a facet value and a colour key."""

    facet_value: Hashable | None
    colour_key: tuple
    label: str  # legend label (the colour key)
    group: transitions.Group


def split_series(results: Results, layout: Layout) -> list[Series]:
    series = []
    for group in transitions.split_groups(results, layout.x, layout.group_columns):
        facet_value = group.key[0] if layout.facet else None
        colour_key = tuple(group.key[1:] if layout.facet else group.key)
        series.append(Series(facet_value, colour_key, group_label(layout.colour_columns, colour_key), group))
    return series


def facet_values(series: Sequence[Series]) -> list:
    values: list = []
    for s in series:
        if not any(same_value(s.facet_value, v) for v in values):
            values.append(s.facet_value)
    return values


def in_facet(series: Sequence[Series], value: object) -> list[Series]:
    return [s for s in series if same_value(s.facet_value, value)]


def same_value(a: object, b: object) -> bool:
    both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return both_nan or a == b


def x_label(x: str) -> str:
    return "training-set size n" if x == "n" else symbol(x)


def facet_title(layout: Layout, value: object) -> str:
    return group_label([layout.facet], [value]) if layout.facet else ""


def series_handles(
    series: Sequence[Series], layout: Layout, marker: str = "o", linestyle: str = "-"
) -> tuple[list, list]:
    """One legend entry per colour key, in colour order; none when nothing but x (and the facet) varies: a single
    colour needs no name."""
    if not layout.colour_columns:
        return [], []
    seen: dict[tuple, str] = {}
    for s in series:
        seen.setdefault(s.colour_key, s.label)
    handles, labels = [], []
    seen = {nan_safe(key): label for key, label in seen.items()}
    for key, colour in layout.colours.items():
        if key in seen:
            handles.append(Line2D([], [], color=colour, marker=marker, linestyle=linestyle))
            labels.append(seen[key])
    return handles, labels
