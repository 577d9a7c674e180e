"""The one figure style of `memgen plot`: the colours and lines every figure draws its marks with, and the words
its texts use. Set here once; no figure sets its own.

- Colours. A figure that overlays several groups gives each its own colour (memgen_cli.report.figures.layout). Where a
  panel holds one group, each metric has its own colour, the same in every figure: P(Δ > 0) is always
  ``P_COLOUR`` (a single group's colour is P_COLOUR too), the memorized fraction ``MEMORIZED_COLOUR``.
- A model's own interval is the only fill of a panel (``BAND_ALPHA``); the estimates' intervals are spans.
- References (an ideal generalizer, an ideal memorizer) are thin lines drawn once per group in its colour, dashed
  and dotted, over the model's line: no fill between them, so the model's interval stays visible.
- Texts say n*, τ_mem, P(Δ > 0), never the columns' names (``readable``); a title breaks only between words
  outside brackets and never inside "n_rep > 768" (``wrap_title``).
"""

from __future__ import annotations

import re
import textwrap
from typing import Sequence

from matplotlib import patheffects
from matplotlib.colors import to_rgba

P_COLOUR = "tab:blue"  # P(Δ > 0): the paper's metric, the same colour in every figure
MEMORIZED_COLOUR = "tab:red"
REPRODUCED_COLOUR = "tab:green"
ERROR_COLOUR = "0.25"  # an error (H², Ê_OG) drawn beside P(Δ > 0) in one panel
BAND_ALPHA = 0.2  # a model's own interval
SPAN_ALPHA = 0.13  # an estimate's interval (a vertical span)
MODEL_ZORDER = 2.0
REFERENCE_ZORDER = 2.6  # over the model's line: a reference at 0 or 1 stays visible where the model lies on it

REFERENCE_SHADE = 0.55  # a reference's colour: its group's, darkened by this factor
# A white edge around each dash: a reference lying on the model's line of the same colour still shows.
HALO = [patheffects.withStroke(linewidth=2.6, foreground="white")]
GENERALIZER_LINE = dict(linestyle=(0, (4.0, 2.0)), linewidth=0.9, marker="none", zorder=REFERENCE_ZORDER)
MEMORIZER_LINE = dict(linestyle=(0, (1.0, 1.5)), linewidth=1.1, marker="none", zorder=REFERENCE_ZORDER)
HALF_LINE = dict(color="0.6", linestyle="-", linewidth=0.6, zorder=1.5)  # P = 0.5: thin and solid, not a reference
STAR_LINE = dict(color="black", linestyle="-", linewidth=1.1)  # n*
N_MEM_LINE = dict(color="0.2", linestyle=(0, (1.0, 1.2)), linewidth=1.3)  # n_mem
ONSET_LINE = dict(color="0.2", linestyle=(0, (1.0, 1.2)), linewidth=1.3)  # n_onset
FIT_LINE = dict(color="0.45", linestyle="-", linewidth=1.0)
SPAN = dict(color="0.5", alpha=SPAN_ALPHA, linewidth=0)
LOG_SCALE = " (log scale)"  # what every log axis' label ends with

# Column and estimate names -> what a reader is shown.
WORDS = {
    "n_star": "n*",
    "tau_mem": "τ_mem",
    "tau_half": "τ_half",
    "tau_gen": "τ_gen",
    "p_delta_positive": "P(Δ > 0)",
    "delta_positive": "P(Δ > 0)",
}
CODE_NAME = re.compile(r"\b(" + "|".join(sorted(WORDS, key=len, reverse=True)) + r")\b")


def reference_colour(colour) -> tuple:
    """A group's colour, darker: its references keep its hue but show where they lie on its model's line."""
    red, green, blue, _ = to_rgba(colour)
    return tuple(REFERENCE_SHADE * c for c in (red, green, blue))


def readable(text: str) -> str:
    """A text with the columns' names replaced by their symbols ('n_star not reached' -> 'n* not reached')."""
    return CODE_NAME.sub(lambda match: WORDS[match.group(1)], str(text))


# Spaces a title may not break at: inside an interval and before it ("26.1 [19, 34]"), and around a comparison
# or an equals sign ("n_rep > 768").
INTERVAL = re.compile(r"\s?\[[^\]]*\]")
COMPARISON = re.compile(r"\s([<>=≤≥≈∝])\s")
NO_BREAK = "\u00a0"  # textwrap breaks at ASCII whitespace only


def wrap_words(line: str, chars: int) -> list[str]:
    """``line`` in lines of at most ``chars`` characters (longer where one unbreakable piece is), broken only between
    words outside brackets and never beside a comparison."""
    protected = INTERVAL.sub(lambda match: match.group(0).replace(" ", NO_BREAK), line)
    protected = COMPARISON.sub(lambda match: f"{NO_BREAK}{match.group(1)}{NO_BREAK}", protected)
    wrapped = textwrap.wrap(protected, max(chars, 8), break_long_words=False, break_on_hyphens=False)
    return [piece.replace(NO_BREAK, " ") for piece in wrapped]


def wrap_title(lines: Sequence[str], chars: int) -> str:
    """A panel title: each given line readable and wrapped to ``chars`` characters (``wrap_words``)."""
    return "\n".join(piece for line in lines if line for piece in wrap_words(readable(line), chars))
