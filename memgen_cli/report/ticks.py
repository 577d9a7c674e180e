"""Log-axis ticks that read as plain numbers: 20, 30, 50 on a short range and 0.9 near 1, never "2×10¹ 3×10¹" or
"9×10⁻¹"; powers of ten only beyond what plain digits say briefly.

matplotlib's own log ticks label decades and, on ranges shorter than a decade, every sub-decade tick in
scientific notation, which overprints at a paper's column width. ``PlainLogLocator`` picks the densest of
1-2-3-5, 1-2-5, 1-3 and decades that puts at most MAX_TICKS ticks in view (evenly spaced steps when even 1-2-3-5
puts fewer than MIN_TICKS there: a range under a factor of about 3), and ``PlainLogFormatter`` prints them, with
digits when every tick in view reads briefly so and as powers of ten otherwise. ``plain_log_ticks`` puts both on
every log axis of a figure.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import Formatter, Locator, LogLocator, MaxNLocator, NullFormatter

PLAIN_RANGE = (1e-3, 1e5)  # tick values written with digits; outside, as powers of ten
SUBS = ((1.0, 2.0, 3.0, 5.0), (1.0, 2.0, 5.0), (1.0, 3.0), (1.0,))  # mantissas of the major ticks, densest first
MAX_TICKS = 6  # labelled ticks in view at most (a panel of a paper's column holds six short labels)
MIN_TICKS = 3  # fewer log ticks than this in view: evenly spaced ones instead


def reads_plainly(value: float) -> bool:
    return value == 0 or PLAIN_RANGE[0] <= abs(value) < PLAIN_RANGE[1]


def plain_number(value: float, powers: bool = False) -> str:
    """A tick value as a reader writes it: 0.002, 0.9, 20, 1000; 10⁶ and 2×10⁻⁵ beyond PLAIN_RANGE (or always,
    with ``powers``: so that one axis does not mix 10000 and 10⁵)."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    if reads_plainly(value) and not powers:
        text = f"{value:.4g}"
        return f"{value:.0f}" if "e" in text else text
    exponent = math.floor(math.log10(abs(value)) + 1e-9)
    mantissa = value / 10.0 ** exponent
    if abs(mantissa - 1) < 1e-6:
        return f"$10^{{{exponent}}}$"
    return f"${mantissa:.2g}\\times10^{{{exponent}}}$"


class PlainLogLocator(Locator):
    """Major ticks of a log axis, chosen by how many decades the view spans (SPANS)."""

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        vmin, vmax = sorted((float(vmin), float(vmax)))
        if not (vmin > 0 and math.isfinite(vmax)):
            return LogLocator().tick_values(max(vmin, 1e-300), vmax)
        for k, subs in enumerate(SUBS):
            ticks = sub_decade_ticks(vmin, vmax, subs)
            count = in_view(ticks, vmin, vmax)
            if k == 0 and count < MIN_TICKS:  # less than about a factor 3: evenly spaced steps read best
                steps = MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(vmin, vmax)
                return steps[steps > 0]
            shown = ticks[(ticks >= vmin * (1 - 1e-9)) & (ticks <= vmax * (1 + 1e-9))]
            powers = not all(reads_plainly(v) for v in shown)
            if count <= MAX_TICKS and not (powers and subs != (1.0,) and in_view(sub_decade_ticks(
                    vmin, vmax, (1.0,)), vmin, vmax) >= 2):  # powers of ten: at decades only (no 3×10⁴)
                return ticks
        return LogLocator(numticks=MAX_TICKS + 1).tick_values(vmin, vmax)  # many decades: every k-th one


def sub_decade_ticks(vmin: float, vmax: float, subs: tuple[float, ...]) -> np.ndarray:
    """m × 10^k for every mantissa m and every decade k the view touches (one beyond each end)."""
    decades = np.arange(math.floor(math.log10(vmin)) - 1, math.ceil(math.log10(vmax)) + 1)
    return np.array([m * 10.0 ** int(k) for k in decades for m in subs])


def in_view(ticks: np.ndarray, vmin: float, vmax: float) -> int:
    return int(((ticks >= vmin * (1 - 1e-9)) & (ticks <= vmax * (1 + 1e-9))).sum())


class PlainLogFormatter(Formatter):
    """Digits when every tick in view reads plainly, else powers of ten for all of them."""

    powers = False

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        vmin, vmax = sorted(self.axis.get_view_interval()) if self.axis is not None else (-np.inf, np.inf)
        shown = [v for v in locs if vmin * (1 - 1e-9) <= v <= vmax * (1 + 1e-9)]
        self.powers = not all(reads_plainly(v) for v in shown)

    def __call__(self, value: float, pos: int | None = None) -> str:
        return plain_number(value, self.powers)


def plain_log_ticks(axes: Axes) -> None:
    """Plain-number ticks on each log axis of ``axes`` (after its scale is set: setting a scale resets them)."""
    for axis in (axes.xaxis, axes.yaxis):
        if axis.get_scale() == "log":
            axis.set_major_locator(PlainLogLocator())
            axis.set_major_formatter(PlainLogFormatter())
            axis.set_minor_locator(LogLocator(subs="auto", numticks=99))
            axis.set_minor_formatter(NullFormatter())
