"""A cell's verdict from its memorized fraction and its references' (pure; no files).

The 1/3 rule means something only where it tells the references apart: the ideal generalizer's 95% interval must
lie below the ideal memorizer's. Where it does, the samples' interval against 0.5 decides; where it does not (or
no held-out set gave a generalizer), the verdict says so instead of reading the fraction.
"""

from __future__ import annotations

import math

LEVEL = 0.5


def _finite(*values) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def separates(row: dict) -> bool | None:
    """Whether the references' intervals are disjoint (generalizer below memorizer); None: a reference is missing."""
    g_hi, m_lo = row.get("generalizer_memorized_hi"), row.get("memorizer_memorized_lo")
    if not _finite(g_hi, m_lo):
        return None
    return g_hi < m_lo


def position(row: dict) -> float:
    """Where the samples' fraction lies from the generalizer's (0) to the memorizer's (1); NaN without both."""
    f, g, m = (row.get(k) for k in ("memorized_fraction", "generalizer_memorized_fraction",
                                    "memorizer_memorized_fraction"))
    if not _finite(f, g, m) or m == g:
        return float("nan")
    return (f - g) / (m - g)


def cell_verdict(row: dict) -> tuple[str, str]:
    """(verdict, reason): copies / generalizes / generalizes, with copies / in between / undetermined."""
    found = separates(row)
    lo, hi = row.get("memorized_lo"), row.get("memorized_hi")
    if found is None:
        return "undetermined", "no ideal generalizer to calibrate against (give held-out images)"
    g, m = row["generalizer_memorized_fraction"], row["memorizer_memorized_fraction"]
    if not found:
        return "undetermined", (f"the 1/3 rule does not tell the references apart here (generalizer {g:.2f}, "
                                f"memorizer {m:.2f}: their intervals overlap)")
    if not _finite(lo, hi):
        return "undetermined", "no memorized fraction"
    where = f"memorized fraction {row['memorized_fraction']:.2f} [{lo:.2f}, {hi:.2f}]"
    if lo > LEVEL:
        return "copies", f"{where}: above {LEVEL}"
    if hi < LEVEL and lo <= row["generalizer_memorized_hi"]:
        return "generalizes", f"{where}: no more copies than held-out images ({g:.2f})"
    if hi < LEVEL:
        return "generalizes, with copies", f"{where}: below {LEVEL}, but above held-out images' {g:.2f}"
    return "in between", f"{where}: contains {LEVEL}"
