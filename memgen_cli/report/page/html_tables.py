"""The tables of `memgen report`'s page, written from the CSVs' own columns, so that a column a later memgen adds
(a new estimate, another verdict) shows up without a change here.

Columns are read by their names' roles: ``X`` with ``X_lo`` and ``X_hi`` is an estimate, printed "X [lo, hi]"
(its status, ``X_status``, where X has no value); a column whose name holds "verdict" is a verdict, coloured by
its word (its ``..._reason`` a note); the rest are printed as they are. Every cell is HTML-escaped.

A table fits the page as the console's do (cli.console_tables, issue 37): a long text (a status, a verdict's reason,
a command line) is not written into its cell, which would stretch the column to the text's length, but numbered
under the table, the cell showing "[k]"; one number per distinct text. The "every column" table is transposed (a
row per column, a column per group), so that its width grows with the groups, not with the dozens of columns.
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
SHORT = 14  # a status this long or shorter stays in its cell, a longer one becomes a note (as cli.console_tables)
LONG = 40  # a plain text (a command line, an error) longer than this becomes a note


class Notes:
    """The numbered notes of one table: each distinct long text once, in reading order."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        return f"<sup class=nref>[{self.texts.index(text) + 1}]</sup>"

    def html(self) -> str:
        if not self.texts:
            return ""
        return "<ol class=tnotes>" + "".join(f"<li>{esc(text)}</li>" for text in self.texts) + "</ol>"


def short_or_note(text: str, notes: Notes, limit: int = SHORT) -> str:
    """The text itself when short, else its note's mark."""
    return esc(text) if len(text) <= limit else notes.mark(text)


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


def estimate_cell(row: dict, name: str, notes: Notes) -> str:
    """'26.1 [25.8, 26.5]'; a size's lower bound 0 reads '<n_min' (the row's n_min); the status when X has no
    value (a note when long)."""
    value = row.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        status = row.get(f"{name}_status")
        return short_or_note(status, notes) if isinstance(status, str) and status else "–"
    lo, hi = row.get(f"{name}_lo"), row.get(f"{name}_hi")
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return esc(number(value))
    n_min = row.get("n_min")
    below_sweep = lo == 0 and n_min is not None and name.startswith(SIZE_PREFIXES)  # censored below the sweep
    low = f"&lt;{esc(number(n_min))}" if below_sweep else esc(number(lo))
    return f"{esc(number(value))} <span class=ci>[{low}, {esc(number(hi))}]</span>"


def verdict_cell(row: dict, name: str, notes: Notes) -> str:
    """The verdict, coloured by its word; its reason a note."""
    word = row.get(name)
    reason = row.get(f"{name}_reason")
    text = f"<span class='verdict {verdict_class(word)}'>{esc(number(word))}</span>"
    if isinstance(reason, str) and reason:
        text += notes.mark(reason)
    return text


def plain_cell(value: object, notes: Notes) -> str:
    return short_or_note(value, notes, LONG) if isinstance(value, str) else esc(number(value))


def cell_html(row: dict, column: str, kind: str, notes: Notes) -> str:
    if kind == "estimate":
        return estimate_cell(row, column, notes)
    if kind == "verdict":
        return verdict_cell(row, column, notes)
    return plain_cell(row.get(column), notes)


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
    """An HTML table of a frame, its long texts numbered under it (in a box that scrolls sideways, if ever a table is
    wider than a narrow window)."""
    if frame is None or frame.empty:
        return "<p class=empty>(no rows)</p>"
    shown = table_columns(frame, only)
    headings = headings or {}
    notes = Notes()
    # words read from the left, numbers line up on the right
    left = {c for c, kind in shown if kind == "verdict" or not pd.api.types.is_numeric_dtype(frame[c])}
    align = {c: " class=t" if c in left else "" for c, _ in shown}
    head = "".join(f"<th{align[c]}>{esc(headings.get(c, c))}{' [95% CI]' if kind == 'estimate' else ''}</th>"
                   for c, kind in shown)
    body = []
    for row in frame.to_dict("records"):
        cells = [cell_html(row, column, kind, notes) for column, kind in shown]
        body.append("<tr>" + "".join(f"<td{align[c]}>{cell}</td>" for (c, _), cell in zip(shown, cells)) + "</tr>")
    cap = f"<p class=tcap>{esc(caption)}</p>" if caption else ""
    return (f"{cap}<div class=scroll><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            f"</table></div>{notes.html()}")


def transposed_table(frame: pd.DataFrame, label: str = "group", caption: str = "", name: str = "") -> str:
    """Every column of a frame, one table row per column and one table column per frame row (headed by its
    ``label`` column, else ``name`` and its number), long texts numbered under it."""
    if frame is None or frame.empty:
        return "<p class=empty>(no rows)</p>"
    records = frame.to_dict("records")
    notes = Notes()
    heads = [esc(number(r[label])) if label in frame.columns else f"{esc(name)} {k + 1}".strip()
             for k, r in enumerate(records)]
    head = "<th class=t>column</th>" + "".join(f"<th>{h}</th>" for h in heads)
    body = []
    for column, kind in table_columns(frame):
        if column == label:
            continue
        name = f"{esc(column)}{' [95% CI]' if kind == 'estimate' else ''}"
        cells = "".join(f"<td>{cell_html(r, column, kind, notes)}</td>" for r in records)
        body.append(f"<tr><th class=t scope=row>{name}</th>{cells}</tr>")
    cap = f"<p class=tcap>{esc(caption)}</p>" if caption else ""
    return (f"{cap}<div class=scroll><table class=every><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            f"</table></div>{notes.html()}")


def key_and_full(frame: pd.DataFrame, group_columns: Sequence[str], caption: str) -> str:
    """The columns a reader asks first (group, the key estimates, every verdict), then every column folded away."""
    key = [*(group_columns or ["group"]), *KEY_ESTIMATES]
    return (frame_table(frame, only=key, caption=caption)
            + f"<details><summary>every column ({len(frame.columns)})</summary>{transposed_table(frame)}</details>")


def records_table(records: Sequence[dict], caption: str = "", name: str = "") -> str:
    """A table of JSON records (failed.json, the manifest's runs): the union of their keys as columns; with a
    ``name`` ("run"), transposed: a row per key, a column per record ("run 1", ...)."""
    if not records:
        return "<p class=empty>(none)</p>"
    frame = pd.DataFrame([{k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()}
                          for r in records])
    return transposed_table(frame, label="", caption=caption, name=name) if name else frame_table(frame,
                                                                                                  caption=caption)


def definition_list(items: dict[str, object], css: str = "config") -> str:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items.items())
    return f"<dl class={css}>{rows}</dl>"
