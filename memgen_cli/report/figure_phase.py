"""The phase diagram of a `memgen locate` folder, drawn from its nstar.csv (nothing is recomputed).

``phase_diagram``: left, n* against d in log-log with each n*'s 95% interval and the fitted power law
n* = a d^b per hue (b with its 95% interval in the legend; no fit from fewer values of d than its two parameters,
and a note says so); right, n*/d against d. Combinations without a
crossing (status "no crossing below n_max", "above 0.5 at n_min") are not drawn as points: a note names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memgen_cli import ledger
from memgen_cli.errors import MemgenError
from memgen_cli.statistics.power_law import fit_power_law
from memgen_cli.report.caption import RunDescription, describe, plain, read_config
from memgen_cli.report.reader import read_csv
from memgen_cli.report.canvas import new_figure, place_legend, save, styled
from memgen_cli.results_format import (FIGURES_DIR, FITS_FILE, NSTAR_FILE, atomic_write_csv, figure_file,
                                       figure_sidecar, make_folder)
from memgen_cli.version import __version__

PHASE_FIGURE = "phase_diagram"
HUE_CANDIDATES = ("covariance", "lambda", "T", "bandwidth", "ridge", "mu", "sigma")


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


PARAMETERS_OF_POWER_LAW = 2  # a and b: a fit needs at least this many values of d


@dataclass(frozen=True)
class PhaseFigure:
    figure: Figure
    fits: pd.DataFrame  # one row per hue value: a, b, b's interval, points (NaN: no fit, too few points)
    notes: list[str]
    record: dict  # the sidecar: every parameter of the run, the fits, the notes
    description: RunDescription


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


def phase_figure(folder: Path | str, hue: str | None = None) -> PhaseFigure:
    """The phase diagram drawn (inside ``styled()``) from nstar.csv, with its power-law fits; nothing is saved."""
    folder = Path(folder)
    table = read_nstar(folder)
    hue = choose_hue(table, hue)
    fits = power_law_rows(table, hue)
    notes = []
    crossed = np.isfinite(table["n_star"].to_numpy(dtype=float))
    for row in table[~crossed].itertuples(index=False):
        notes.append(f"d = {row.d}{f', {hue} = {getattr(row, hue)}' if hue else ''}: {row.status}; not drawn")
    open_ = table[crossed & (table["status"] != "converged")]
    for row in open_.itertuples(index=False):
        notes.append(f"d = {row.d}{f', {hue} = {getattr(row, hue)}' if hue else ''}: {row.status} (interval "
                     "wider than requested)")
    notes += fit_notes(fits, hue)
    parameters = list(table.columns[: list(table.columns).index("n_star")])
    config = read_config(folder)
    description = describe(str((config or {}).get("model", "unknown")), table, parameters, config=config,
                           repeats_column=None)
    caption = description.caption() + ". n* where P(Δ > 0) first crosses 0.5 (memgen locate), 95% intervals"
    figure, axes = new_figure(1, 2, caption, notes, sharex=True)
    left, right = axes[0, 0], axes[0, 1]
    handles, labels = [], []
    groups = table.groupby(hue, sort=True, dropna=False) if hue else [(None, table)]
    for k, (value, part) in enumerate(groups):
        colour = f"C{k}"
        part = part[np.isfinite(part["n_star"])].sort_values("d")
        d = part["d"].to_numpy(dtype=float)
        n, lo, hi = (part[c].to_numpy(dtype=float) for c in ("n_star", "n_star_lo", "n_star_hi"))
        yerr = np.vstack([n - np.where(np.isfinite(lo), lo, n), np.where(np.isfinite(hi), hi, n) - n])
        left.errorbar(d, n, yerr=yerr, fmt="o", color=colour, ms=3.5)
        right.errorbar(d, n / d, yerr=yerr / d, fmt="o-" if len(d) > 1 else "o", color=colour, ms=3.5)
        fit = fits.iloc[k]
        label = f"{hue} = {value}" if hue else "n*, 95% interval"
        fitted = np.isfinite(fit["b"]) and len(d) > 0
        if fitted:
            grid = np.geomspace(d.min(), d.max(), 50)
            left.plot(grid, fit["a"] * grid ** fit["b"], "--", color=colour, lw=1)
            label += f": n* = {fit['a']:.3g} d^b, b = {fit['b']:.2f} [{fit['b_lo']:.2f}, {fit['b_hi']:.2f}]"
        handles.append(Line2D([], [], color=colour, marker="o", ls="--" if fitted else "none"))
        labels.append(label)
    d_values = table["d"].to_numpy(dtype=float)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("dimension d")
        if len(set(d_values[np.isfinite(d_values)])) == 1:  # one d: a factor 2 either side, not matplotlib's 1-10
            ax.set_xlim(d_values[0] / 2, d_values[0] * 2)
    left.set_yscale("log")
    left.set_ylabel("n*")
    right.set_yscale("log")
    right.set_ylabel("n* / d")
    place_legend(figure, handles, labels, [left, right])
    record = {"figure": PHASE_FIGURE, "results_folder": str(folder), "memgen_version": __version__,
              **description.record(), "hue": hue,
              "fits": [{k: plain(v) for k, v in row.items()} for row in fits.to_dict("records")], "notes": notes}
    return PhaseFigure(figure, fits, notes, record, description)


def phase_diagram(folder: Path | str, out_dir: Path | str | None = None, formats: Sequence[str] = ("png",),
                  hue: str | None = None) -> tuple[list[Path], pd.DataFrame, list[str]]:
    """Draw the phase diagram (with its sidecar .json) and write the power-law fits (nstar_fits.csv, beside
    nstar.csv; with ``out_dir``, beside the figure: nothing is written into the results folder); returns (paths
    written, the fits, the notes drawn under the panels)."""
    from memgen_cli.report.figures import parse_formats  # the one list of formats

    folder = Path(folder)
    formats = parse_formats(formats)
    out = Path(out_dir) if out_dir is not None else folder / FIGURES_DIR
    fits_folder = folder if out_dir is None else out
    with styled():
        drawn = phase_figure(folder, hue)
        ledger.claim(out, [*(figure_file(PHASE_FIGURE, fmt) for fmt in formats), figure_sidecar(PHASE_FIGURE),
                           *([FITS_FILE] if fits_folder == out else [])],
                     legacy_ok=ledger.legacy_subfolder(folder, out))
        if fits_folder == folder:
            ledger.claim(folder, [FITS_FILE], legacy_ok=True)
        make_folder(out)
        paths = save(drawn.figure, out, PHASE_FIGURE, formats, drawn.record)
    atomic_write_csv(fits_folder / FITS_FILE, drawn.fits)
    return paths, drawn.fits, drawn.notes
