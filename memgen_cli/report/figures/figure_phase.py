"""The phase diagram of a `memgen locate` folder, drawn from its nstar.csv (nothing is recomputed).

``phase_diagram``: left, n* against d in log-log with each n*'s 95% interval and the fitted power law
n* = a d^b per hue, as the analysis fitted it (``analysis.nstar_fits``; b with its 95% interval in the legend; no fit
from fewer values of d than its two parameters, and a note says so); right, n*/d against d. A search that ran out of
budget before its interval was as narrow as asked is an open marker. Combinations without a crossing (status "no
crossing below n_max", "above 0.5 at n_min") are not drawn as points: a note names them.
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
from memgen_cli.report.caption import RunDescription, describe, plain, read_config
from memgen_cli.report.analysis.nstar_fits import choose_hue, fit_notes, nstar_fits_for, read_nstar
from memgen_cli.report.figures.canvas import finish, new_figure, place_legend, save, styled
from memgen_cli.results_format import FIGURES_DIR, figure_file, figure_sidecar, make_folder
from memgen_cli.version import __version__

PHASE_FIGURE = "phase_diagram"


@dataclass(frozen=True)
class PhaseFigure:
    figure: Figure
    fits: pd.DataFrame  # one row per hue value: a, b, b's interval, points (NaN: no fit, too few points)
    notes: list[str]
    record: dict  # the sidecar: every parameter of the run, the fits, the notes
    description: RunDescription


def draw_phase_group(left, right, part: pd.DataFrame, fit: pd.Series, colour) -> bool:
    """One hue's n* (left) and n*/d (right) with their intervals, open where the search's budget ran out; its power
    law over the d it was fitted on. True when the fit is drawn."""
    d = part["d"].to_numpy(dtype=float)
    n, lo, hi = (part[c].to_numpy(dtype=float) for c in ("n_star", "n_star_lo", "n_star_hi"))
    yerr = np.vstack([n - np.where(np.isfinite(lo), lo, n), np.where(np.isfinite(hi), hi, n) - n])
    converged = (part["status"] == "converged").to_numpy()
    right.plot(d, n / d, "-" if len(d) > 1 else "none", color=colour, lw=1)
    for ax, scale in ((left, 1.0), (right, d)):
        for done, face in ((converged, colour), (~converged, "white")):
            if done.any():
                ax.errorbar(d[done], (n / scale)[done], yerr=(yerr / scale)[:, done] if np.ndim(scale) else
                            yerr[:, done], fmt="o", color=colour, markerfacecolor=face, ms=3.5, zorder=3)
    fitted = bool(np.isfinite(fit["b"]) and len(d) > 0)
    if fitted:
        found = part[np.isfinite(part["n_star_lo"]) & np.isfinite(part["n_star_hi"]) & (part["n_star_lo"] > 0)]
        grid = np.geomspace(found["d"].min(), found["d"].max(), 50)
        left.plot(grid, fit["a"] * grid ** fit["b"], "--", color=colour, lw=1)
    return fitted


def phase_figure(folder: Path | str, hue: str | None = None, store_analysis: bool = True) -> PhaseFigure:
    """The phase diagram drawn (inside ``styled()``) from nstar.csv, with the power-law fits of its analysis
    (``nstar_fits_for``: fitted and written first only when the folder has none current); no figure is saved."""
    folder = Path(folder)
    table = read_nstar(folder)
    hue = choose_hue(table, hue)
    fits = nstar_fits_for(folder, hue, store=store_analysis).fits
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
    captions = description.captions(". n* where P(Δ > 0) first crosses 0.5 (memgen locate), 95% intervals")
    figure, axes = new_figure(1, 2, captions + description.captions(), sharex=True)
    left, right = axes[0, 0], axes[0, 1]
    handles, labels = [], []
    groups = table.groupby(hue, sort=True, dropna=False) if hue else [(None, table)]
    for k, (value, part) in enumerate(groups):
        colour = f"C{k}"
        fit = fits.iloc[k]
        label = f"{hue} = {value}" if hue else "n*, 95% interval"
        fitted = draw_phase_group(left, right, part[np.isfinite(part["n_star"])].sort_values("d"), fit, colour)
        if fitted:
            label += (f": $n^* = {fit['a']:.3g}\\,d^{{\\,{fit['b']:.2f}}}$ (b's 95% interval [{fit['b_lo']:.2f}, "
                      f"{fit['b_hi']:.2f}])")
        handles.append(Line2D([], [], color=colour, marker="o", ls="--" if fitted else "none"))
        labels.append(label)
    if not open_.empty:
        handles.append(Line2D([], [], color="0.3", marker="o", markerfacecolor="white", ls="none"))
        labels.append("open: budget exhausted (interval wider than requested)")
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
    place_legend(figure, handles, labels)
    finish(figure)
    record = {"figure": PHASE_FIGURE, "results_folder": str(folder), "memgen_version": __version__,
              **description.record(), "hue": hue,
              "fits": [{k: plain(v) for k, v in row.items()} for row in fits.to_dict("records")], "notes": notes}
    return PhaseFigure(figure, fits, notes, record, description)


def phase_diagram(folder: Path | str, out_dir: Path | str | None = None, formats: Sequence[str] = ("png",),
                  hue: str | None = None) -> tuple[list[Path], pd.DataFrame, list[str]]:
    """Draw the phase diagram (with its sidecar .json, which holds the fits) from nstar.csv and the analysis'
    power-law fits (nstar_fits.csv; with ``out_dir`` elsewhere a fit that is not current is computed, not stored:
    nothing is written into the results folder); returns (paths written, the fits, the notes drawn under the
    panels)."""
    from memgen_cli.report.figures.draw import parse_formats  # the one list of formats

    folder = Path(folder)
    formats = parse_formats(formats)
    out = Path(out_dir) if out_dir is not None else folder / FIGURES_DIR
    with styled():
        drawn = phase_figure(folder, hue, store_analysis=out_dir is None)
        ledger.claim(out, [*(figure_file(PHASE_FIGURE, fmt) for fmt in formats), figure_sidecar(PHASE_FIGURE)],
                     legacy_ok=ledger.legacy_subfolder(folder, out))
        make_folder(out)
        paths = save(drawn.figure, out, PHASE_FIGURE, formats, drawn.record)
    return paths, drawn.fits, drawn.notes
