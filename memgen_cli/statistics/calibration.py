"""Is a transition metric able to tell a generalizing model from a memorizing one, at each n? And how wide must a
crossing's interval be on a grid? Pure math on arrays, no files (issue 22; docs/analysis.md, "Calibrated verdicts").

Every cell also measures two reference models by the model's own metric: an ideal generalizer and an ideal
memorizer. At a given n the metric *discriminates* when the generalizer scores above 0.5 and the memorizer below
it (for P(Δ > 0); the other way round for the memorized fraction), each beyond its 95% interval. A crossing such
as n* says something about the model only where the metric discriminates on both sides of it.

On a grid of n, a crossing between two cells whose intervals both exclude 0.5 is somewhere in the gap, and no
interpolation can say where: its interval then covers the whole gap (``grid_limited_interval``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVEL = 0.5
YES = "yes"  # the references lie on their own sides of 0.5, each beyond its interval
NO = "no"  # a reference lies on the wrong side of 0.5, beyond its interval: the metric mis-scores it
UNRESOLVED = "unresolved"  # an interval reaches 0.5: more trials could tell
MISSING = "no references"  # a folder from before memgen measured them (or a cell without their trials)


def discrimination(gen_lo: np.ndarray, gen_hi: np.ndarray, mem_lo: np.ndarray, mem_hi: np.ndarray,
                   generalizer_above: bool = True, level: float = LEVEL) -> np.ndarray:
    """Per n: YES, NO, UNRESOLVED or MISSING, from the two references' interval bounds.

    generalizer_above: True for P(Δ > 0) (a generalizer should score above ``level``, a memorizer below); False for
    the memorized fraction (a memorizer's samples should be called copies, a generalizer's not: the generalizer's
    fraction is the test's false-positive rate).
    """
    gen_lo, gen_hi, mem_lo, mem_hi = (np.asarray(v, dtype=float) for v in (gen_lo, gen_hi, mem_lo, mem_hi))
    if not generalizer_above:  # mirror: the memorizer plays the part that should be above
        (gen_lo, gen_hi), (mem_lo, mem_hi) = (mem_lo, mem_hi), (gen_lo, gen_hi)
    status = np.full(gen_lo.shape, UNRESOLVED, dtype=object)
    status[(gen_hi < level) | (mem_lo > level)] = NO
    status[(gen_lo > level) & (mem_hi < level)] = YES
    missing = ~(np.isfinite(gen_lo) & np.isfinite(gen_hi) & np.isfinite(mem_lo) & np.isfinite(mem_hi))
    status[missing] = MISSING
    return status


def format_size(value: float) -> str:
    """16, 2000, 1e+04, 45.6: as n is printed in messages."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e6 else f"{value:.3g}"


def ranges_text(x: np.ndarray, status: np.ndarray, wanted: str = YES) -> str:
    """The grid points with ``wanted`` status as runs of consecutive points: '2–2000', '4, 16–64'; 'none' for none
    (a word, not '': an empty CSV field reads back as NaN)."""
    runs, start = [], None
    flags = [s == wanted for s in status] + [False]
    for k, flag in enumerate(flags):
        if flag and start is None:
            start = k
        elif not flag and start is not None:
            runs.append(format_size(x[start]) if k - 1 == start else
                        f"{format_size(x[start])}–{format_size(x[k - 1])}")
            start = None
    return ", ".join(runs) or "none"


def bracket(x: np.ndarray, crossing: float) -> int | None:
    """i with x[i] <= crossing <= x[i + 1] (the grid points a crossing was interpolated between); None outside."""
    if not np.isfinite(crossing) or len(x) < 2:
        return None
    i = int(np.searchsorted(x, crossing, side="right")) - 1
    i = min(max(i, 0), len(x) - 2)
    return i if x[i] <= crossing <= x[i + 1] else None


@dataclass(frozen=True)
class CrossingCheck:
    reported: bool  # the crossing stands (False: it must not be reported as a property of the model)
    reason: str  # why not, as the status a table writes ("" when reported)


def check_points(x: np.ndarray, status: np.ndarray, around: list[int], name: str = "n") -> CrossingCheck:
    """Whether the metric discriminates (YES) at every grid point in ``around``; MISSING at all of them: as before."""
    if all(status[k] == MISSING for k in around):
        return CrossingCheck(True, "")
    points = ", ".join(format_size(x[k]) for k in around)
    if any(status[k] == NO for k in around):
        blind = ", ".join(format_size(x[k]) for k in around if status[k] == NO)
        return CrossingCheck(False, f"undetermined: this metric cannot tell a generalizer from a memorizer at "
                                    f"{name} = {blind}")
    if any(status[k] != YES for k in around):
        return CrossingCheck(False, f"undetermined: too few trials to show that this metric tells a generalizer "
                                    f"from a memorizer at {name} = {points}")
    return CrossingCheck(True, "")


def check_crossing(x: np.ndarray, status: np.ndarray, crossing: float, name: str = "n") -> CrossingCheck:
    """Whether a crossing at ``crossing`` (interpolated between two grid points) lies where the metric discriminates:
    both grid points around it must be YES. Without references (MISSING) the crossing stands as before."""
    i = bracket(x, crossing)
    if i is None:
        return CrossingCheck(True, "")
    return check_points(x, status, [i] if x[i] == crossing else [i, i + 1], name)


NOWHERE = "undetermined: this metric does not discriminate at any {name} of the sweep"


def check_discriminates_somewhere(x: np.ndarray, status: np.ndarray, name: str = "n") -> CrossingCheck:
    """Whether the metric tells the references apart at one grid point at least (YES somewhere). Where it does
    nowhere, no crossing, 'not reached' or 'above 0.5' says anything about the model, and the reason says so first
    (issue 35). Without references (every point MISSING, or no point) the estimate stands as before."""
    status = np.asarray(status, dtype=object)
    if all(s == MISSING for s in status) or any(s == YES for s in status):
        return CrossingCheck(True, "")
    why = []
    if any(s == NO for s in status):
        why.append(f"it cannot tell a generalizer from a memorizer at {name} = {ranges_text(x, status, NO)}")
    if any(s == UNRESOLVED for s in status):
        why.append(f"too few trials to show that it can at {name} = {ranges_text(x, status, UNRESOLVED)}")
    if any(s == MISSING for s in status):
        why.append(f"no references at {name} = {ranges_text(x, status, MISSING)}")
    return CrossingCheck(False, NOWHERE.format(name=name) + ": " + "; ".join(why))


def check_claim(x: np.ndarray, status: np.ndarray, crossing: float = float("nan"), at_start: bool = False,
                name: str = "n") -> CrossingCheck:
    """Whether an estimate's claim about the model rests on grid points where the metric discriminates, decided in
    this order: the metric must discriminate somewhere (else that is the reason, whatever the curve did); a crossing
    must lie between two discriminating points (check_crossing); a curve already past the level at the smallest n
    (``at_start``: 'above 0.5 at smallest n', the model read as generalizing there) needs the smallest n to
    discriminate. Any other status (not reached, too few points) stands once the metric discriminates somewhere."""
    somewhere = check_discriminates_somewhere(x, status, name)
    if not somewhere.reported:
        return somewhere
    if at_start and len(x):
        return check_points(x, status, [0], name)
    return check_crossing(x, status, crossing, name)


def grid_limited_interval(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, crossing: float, rising: bool = True,
                          level: float = LEVEL) -> tuple[float, float] | None:
    """(x[i], x[i + 1]) when the crossing lies between two grid points whose intervals both exclude ``level`` on
    their own sides (below then above for a rising curve): the data place it somewhere in that gap and nowhere more
    precisely, so its interval must cover the gap. None otherwise."""
    i = bracket(x, crossing)
    if i is None or x[i] == crossing:
        return None
    before, after = (hi[i] < level, lo[i + 1] > level) if rising else (lo[i] > level, hi[i + 1] < level)
    return (float(x[i]), float(x[i + 1])) if before and after else None
