"""`memgen analyze` of a `memgen locate` folder: the power law n* = a d^b fitted to its nstar.csv, one fit per
hue value (nstar_fits.csv), and `memgen plot`'s way back to it.

The analysis is stored as a sweep's is: nstar_fits.csv, then analysis.json (last: it vouches for the table) with
the setting it used (the hue), the sha256 of the nstar.csv it read and of the table it wrote. ``nstar_fits_for``
returns the stored fits when they are current (this memgen and analysis version, same hue, same nstar.csv, the
table unchanged), else fits again and writes them into the folder, as `memgen analyze` would: the phase diagram
draws them and fits nothing itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from memgen_cli import ledger
from memgen_cli.errors import MemgenError
from memgen_cli.report.analysis.outputs import versions
from memgen_cli.report.reader import read_csv
from memgen_cli.results_format import (ANALYSIS_FILE, FITS_FILE, NSTAR_FILE, atomic_write_csv, atomic_write_text,
                                       file_digest, make_folder)
from memgen_cli.statistics.power_law import fit_power_law

HUE_CANDIDATES = ("covariance", "lambda", "T", "bandwidth", "ridge", "mu", "sigma")
PARAMETERS_OF_POWER_LAW = 2  # a and b: a fit needs at least this many values of d


@dataclass(frozen=True)
class NstarFits:
    """A locate folder's analysis: one row per hue value (a, b, b's 95% interval, points; NaN: no fit)."""

    hue: str | None  # the nstar.csv column whose values get a fit each (None: one fit over every row)
    fits: pd.DataFrame


def read_nstar(folder: Path) -> pd.DataFrame:
    path = Path(folder) / NSTAR_FILE
    if not path.is_file():
        raise MemgenError(f"{folder}: no {NSTAR_FILE} (written by `memgen locate`)")
    table = read_csv(path)
    missing = [c for c in ("d", "n_star", "n_star_lo", "n_star_hi", "status") if c not in table.columns]
    if missing:
        raise MemgenError(f"{path}: lacks the column {missing[0]!r}")
    return table


def choose_hue(table: pd.DataFrame, hue: str | None) -> str | None:
    """The column given (--hue), else the first of HUE_CANDIDATES that varies, else None."""
    if hue is not None:
        if hue not in table.columns:
            raise MemgenError(f"--hue: {hue!r} is not a column of {NSTAR_FILE}")
        return hue
    varying = [c for c in HUE_CANDIDATES if c in table.columns and table[c].nunique(dropna=False) > 1]
    return varying[0] if varying else None


def power_law_rows(table: pd.DataFrame, hue: str | None) -> pd.DataFrame:
    """One fit of n* = a d^b per hue value, over the combinations with an interval of n*."""
    rows = []
    for value, part in (table.groupby(hue, sort=True, dropna=False) if hue else [(None, table)]):
        found = part[np.isfinite(part["n_star_lo"]) & np.isfinite(part["n_star_hi"]) & (part["n_star_lo"] > 0)]
        fit = fit_power_law(found["d"], found["n_star"], found["n_star_lo"], found["n_star_hi"])
        row = {hue: value} if hue else {}
        if fit is None:
            rows.append({**row, "a": np.nan, "b": np.nan, "b_lo": np.nan, "b_hi": np.nan, "points": len(found)})
        else:
            rows.append({**row, "a": fit.a, "b": fit.b, "b_lo": fit.b_lo, "b_hi": fit.b_hi, "points": fit.points})
    return pd.DataFrame(rows)


def fit_notes(fits: pd.DataFrame, hue: str | None) -> list[str]:
    """Where no power law is drawn, or one passes exactly through its points, say so."""
    notes = []
    for row in fits.to_dict("records"):
        where = f"{hue} = {row[hue]}: " if hue else ""
        if not np.isfinite(row["b"]):
            notes.append(f"{where}no power law fitted: {int(row['points'])} value(s) of d with an interval of n*, "
                         f"and n* = a d^b has {PARAMETERS_OF_POWER_LAW} parameters")
        elif row["points"] == PARAMETERS_OF_POWER_LAW:
            notes.append(f"{where}the power law passes exactly through its 2 points; b's interval comes from "
                         "their intervals alone")
    return notes


def analyze_nstar(folder: Path | str, hue: str | None = None) -> NstarFits:
    """Fit the power laws of a locate folder (nothing is written); ``hue`` as --hue, else chosen."""
    table = read_nstar(Path(folder))
    hue = choose_hue(table, hue)
    return NstarFits(hue, power_law_rows(table, hue))


def write_nstar_fits(analysis: NstarFits, folder: Path, out_dir: Path | str) -> list[Path]:
    """Write nstar_fits.csv, then analysis.json; returns the paths."""
    out = Path(out_dir)
    ledger.claim(out, [FITS_FILE, ANALYSIS_FILE], legacy_ok=out == Path(folder))
    make_folder(out)
    atomic_write_csv(out / FITS_FILE, analysis.fits)
    record = {**versions(), "settings": {"hue": analysis.hue}, "inputs": {NSTAR_FILE: file_digest(folder / NSTAR_FILE)},
              "tables": [FITS_FILE], "table_sha256": {FITS_FILE: file_digest(out / FITS_FILE)}}
    atomic_write_text(out / ANALYSIS_FILE, json.dumps(record, indent=2) + "\n")
    return [out / FITS_FILE, out / ANALYSIS_FILE]


def read_nstar_fits(folder: Path, hue: str | None) -> NstarFits | None:
    """The folder's stored fits when current for its nstar.csv and this (chosen) hue, else None."""
    try:
        record = json.loads((folder / ANALYSIS_FILE).read_text())
        current = (all(record.get(key) == value for key, value in versions().items())
                   and record["settings"] == {"hue": hue}
                   and record["inputs"] == {NSTAR_FILE: file_digest(folder / NSTAR_FILE)}
                   and record["table_sha256"] == {FITS_FILE: file_digest(folder / FITS_FILE)})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not current:
        return None
    try:
        return NstarFits(hue, read_csv(folder / FITS_FILE))
    except MemgenError:
        return None  # unreadable although its digest matches (it was written so): fitted again


def nstar_fits_for(folder: Path | str, hue: str | None = None, store: bool = True) -> NstarFits:
    """The current fits of a locate folder: read back when stored for this hue and nstar.csv, else fitted and
    written into the folder (as `memgen analyze` writes them), or with ``store`` False only fitted (a folder that
    may be read-only: plot and report with --out elsewhere write nothing into it)."""
    folder = Path(folder)
    stored = read_nstar_fits(folder, choose_hue(read_nstar(folder), hue))
    if stored is not None:
        return stored
    analysis = analyze_nstar(folder, hue)
    if store:
        write_nstar_fits(analysis, folder, folder)
    return analysis


def analyze_locate_folder(folder: Path | str, out: Path | str | None = None) -> tuple[NstarFits, list[Path]]:
    """`memgen analyze` of a locate folder: fit its power laws and write them (into ``out``, default the folder)."""
    analysis = analyze_nstar(folder)
    return analysis, write_nstar_fits(analysis, Path(folder), out if out is not None else folder)
