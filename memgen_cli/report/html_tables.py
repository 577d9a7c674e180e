"""The tables of `memgen report`'s page, written from the CSVs' own columns, so that a column a later memgen adds
(a new estimate, another verdict) shows up without a change here.

Columns are read by their names' roles: ``X`` with ``X_lo`` and ``X_hi`` is an estimate, printed "X [lo, hi]"
(its status, ``X_status``, where X has no value); a column whose name holds "verdict" is a verdict, coloured by
its word (its ``..._reason`` beside it); the rest are printed as they are. Every cell is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

import numpy as np
import pandas as pd

# The columns a transitions table is read for first; every other column is in the full table below it.
KEY_ESTIMATES = ("n_star", "n_onset", "ratio", "n_mem", "window_start", "window_end", "p_at_n_max", "n_rep",
                 "ratio_star_mem", "ratio_star_rep", "ratio_mem_rep", "tau_mem", "tau_half", "tau_gen", "beta")
SIZE_PREFIXES = ("n_", "window_")  # estimates that are training-set sizes: a lower bound 0 means below n_min
UNSURE_WORDS = ("undetermined", "inconclusive", "unknown", "not estimable", "too few")
BAD_WORDS = ("not ", "different", "fail", "cannot", "does not", "no ")


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def number(value: object) -> str:
    """A table's number as a reader wants it: 26.1, 381, 0.0183, 1.2e+04; ∞; – when missing."""
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value == 0:
            return "0"
        if float(value).is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.0f}" if 100 <= abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def is_verdict(column: str) -> bool:
    return "verdict" in column and not column.endswith("_reason")


def verdict_class(word: object) -> str:
    """'good', 'bad' or 'unsure', from the verdict's own words (the text is always shown too)."""
    text = str(word).lower()
    if not text or text == "nan" or any(w in text for w in UNSURE_WORDS):
        return "unsure"
    return "bad" if any(w in text + " " for w in BAD_WORDS) else "good"


def estimates(columns: Sequence[str]) -> list[str]:
    """The columns X that have X_lo and X_hi beside them."""
    names = set(columns)
    return [c for c in columns if f"{c}_lo" in names and f"{c}_hi" in names]


def estimate_cell(row: dict, name: str) -> str:
    """'26.1 [25.8, 26.5]'; a size's lower bound 0 reads '<n_min' (the row's n_min); the status when X has no
    value."""
    value = row.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        status = row.get(f"{name}_status")
        return esc(status) if isinstance(status, str) and status else "–"
    lo, hi = row.get(f"{name}_lo"), row.get(f"{name}_hi")
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return esc(number(value))
    n_min = row.get("n_min")
    below_sweep = lo == 0 and n_min is not None and name.startswith(SIZE_PREFIXES)  # censored below the sweep
    low = f"&lt;{esc(number(n_min))}" if below_sweep else esc(number(lo))
    return f"{esc(number(value))} <span class=ci>[{low}, {esc(number(hi))}]</span>"


def verdict_cell(row: dict, name: str) -> str:
    word = row.get(name)
    reason = row.get(f"{name}_reason")
    text = f"<span class='verdict {verdict_class(word)}'>{esc(number(word))}</span>"
    if isinstance(reason, str) and reason:
        text += f" <span class=reason>{esc(reason)}</span>"
    return text


def table_columns(frame: pd.DataFrame, only: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """(heading, kind) per shown column, in the frame's order: kind is 'estimate', 'verdict' or 'plain'.

    Columns folded into another (X_lo, X_hi, X_status of an estimate; a verdict's reason) are not shown alone.
    ``only``: keep just these bases (the key table), verdicts always kept."""
    columns = [str(c) for c in frame.columns]
    bases = estimates(columns)
    folded = {f"{b}_{part}" for b in bases for part in ("lo", "hi", "status")}
    folded |= {f"{c}_reason" for c in columns if is_verdict(c)}
    shown = []
    for column in columns:
        if column in folded:
            continue
        kind = "estimate" if column in bases else "verdict" if is_verdict(column) else "plain"
        if only is not None and kind != "verdict" and column not in only:
            continue
        shown.append((column, kind))
    return shown


def frame_table(frame: pd.DataFrame, only: Sequence[str] | None = None, caption: str = "",
                headings: dict[str, str] | None = None) -> str:
    """An HTML table of a frame (in a horizontally scrolling box, for narrow windows)."""
    if frame is None or frame.empty:
        return "<p class=empty>(no rows)</p>"
    shown = table_columns(frame, only)
    headings = headings or {}
    # words read from the left, numbers line up on the right
    left = {c for c, kind in shown if kind == "verdict" or not pd.api.types.is_numeric_dtype(frame[c])}
    align = {c: " class=t" if c in left else "" for c, _ in shown}
    head = "".join(f"<th{align[c]}>{esc(headings.get(c, c))}{' [95% CI]' if kind == 'estimate' else ''}</th>"
                   for c, kind in shown)
    body = []
    for row in frame.to_dict("records"):
        cells = []
        for column, kind in shown:
            if kind == "estimate":
                cells.append(estimate_cell(row, column))
            elif kind == "verdict":
                cells.append(verdict_cell(row, column))
            else:
                cells.append(esc(number(row.get(column))))
        body.append("<tr>" + "".join(f"<td{align[c]}>{cell}</td>" for (c, _), cell in zip(shown, cells)) + "</tr>")
    cap = f"<p class=tcap>{esc(caption)}</p>" if caption else ""
    return (f"{cap}<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            "</table></div>")


def key_and_full(frame: pd.DataFrame, group_columns: Sequence[str], caption: str) -> str:
    """The columns a reader asks first (group, the key estimates, every verdict), then every column folded away."""
    key = [*(group_columns or ["group"]), *KEY_ESTIMATES]
    return (frame_table(frame, only=key, caption=caption)
            + f"<details><summary>every column ({len(frame.columns)})</summary>{frame_table(frame)}</details>")


def records_table(records: Sequence[dict], caption: str = "") -> str:
    """A table of JSON records (failed.json, the manifest's runs): the union of their keys as columns."""
    if not records:
        return "<p class=empty>(none)</p>"
    frame = pd.DataFrame([{k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()}
                          for r in records])
    return frame_table(frame, caption=caption)


def definition_list(items: dict[str, object], css: str = "config") -> str:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items.items())
    return f"<dl class={css}>{rows}</dl>"
