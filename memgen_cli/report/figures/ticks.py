"""Log-axis ticks that read as plain numbers: 1, 2, 5, 10, 20, 50 …, never "9×10⁻¹", "3×10¹" or an axis that
mixes 1 with 0.8; powers of ten only beyond what plain digits say briefly.

matplotlib's own log ticks label decades and, on ranges shorter than a decade, every sub-decade tick in
scientific notation, which overprints at a paper's column width. ``PlainLogLocator`` puts its major ticks at
1-2-5 × 10^k only, as many as fit MAX_TICKS (else decades, else every k-th decade), and ``PlainLogFormatter``
prints them, with digits when every tick in view reads briefly so and as powers of ten otherwise.
``plain_log_ticks`` puts both on every log axis of a figure, and widens a view too short to hold two such ticks to
the nearest ones outside it (a range of 0.85 to 1 is shown from 0.5 to 1: two labels a reader can interpolate on,
not one).
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import Formatter, Locator, LogLocator, NullFormatter

PLAIN_RANGE = (1e-3, 1e5)  # tick values written with digits; outside, as powers of ten
SUBS = ((1.0, 2.0, 5.0), (1.0,))  # mantissas of the major ticks, densest first
MAX_TICKS = 6  # labelled ticks in view at most (a panel of a paper's column holds six short labels)
MIN_TICKS = 2  # a view holding fewer 1-2-5 ticks is widened to hold two


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
    """Major ticks of a log axis at 1-2-5 × 10^k while at most MAX_TICKS of them are in view, else at decades (so
    also wherever the ticks are written as powers of ten: no 2×10⁶), else at every k-th decade."""

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        vmin, vmax = sorted((float(vmin), float(vmax)))
        if not (vmin > 0 and math.isfinite(vmax)):
            return LogLocator().tick_values(max(vmin, 1e-300), vmax)
        for subs in SUBS:
            ticks = sub_decade_ticks(vmin, vmax, subs)
            shown = ticks[(ticks >= vmin * (1 - 1e-9)) & (ticks <= vmax * (1 + 1e-9))]
            powers = not all(reads_plainly(v) for v in shown)
            decades = in_view(sub_decade_ticks(vmin, vmax, (1.0,)), vmin, vmax)
            if len(shown) <= MAX_TICKS and not (powers and subs != (1.0,) and decades >= MIN_TICKS):
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


def widened(vmin: float, vmax: float) -> tuple[float, float]:
    """The view widened, one end at a time (the one that moves least in log), to the nearest 1-2-5 tick outside
    it until it holds MIN_TICKS of them."""
    while in_view(ticks := sub_decade_ticks(vmin, vmax, SUBS[0]), vmin, vmax) < MIN_TICKS:
        below, above = ticks[ticks < vmin * (1 - 1e-9)][-1], ticks[ticks > vmax * (1 + 1e-9)][0]
        if vmin / below <= above / vmax:
            vmin = below
        else:
            vmax = above
    return vmin, vmax


def plain_log_ticks(axes: Axes) -> None:
    """1-2-5 ticks written plainly on each log axis of ``axes`` (after its scale is set: setting a scale resets
    them), its view widened to hold two of them."""
    for axis, limits in ((axes.xaxis, axes.set_xlim), (axes.yaxis, axes.set_ylim)):
        if axis.get_scale() != "log":
            continue
        axis.set_major_locator(PlainLogLocator())
        axis.set_major_formatter(PlainLogFormatter())
        axis.set_minor_locator(LogLocator(subs="auto", numticks=99))
        axis.set_minor_formatter(NullFormatter())
        low, high = axis.get_view_interval()
        inverted = low > high
        low, high = sorted((float(low), float(high)))
        if low > 0 and math.isfinite(high):
            wide = widened(low, high)
            if wide != (low, high):
                limits(*(wide[::-1] if inverted else wide))
