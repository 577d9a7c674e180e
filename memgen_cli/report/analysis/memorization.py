"""The field's memorization measure in a U-Net results folder: where the memorized fraction falls.

A generated sample is a copy when |x − NN1| / |x − NN2| < 1/3 (Gu et al., Bonnaire et al.); trials.csv
holds each simulation's ``memorized_fraction`` of its M = ``generated`` samples. Per group of cells (every
swept parameter but n held fixed):

- ``n_mem``: where the memorized fraction falls through 0.5 (first downward crossing, linear in log n);
- the memorization window: where it falls through 0.9 (``window_start``) and through 0.1 (``window_end``),
  as DruvPai/diffusion_mem_gen reports it, and its width ``window_end / window_start``;
- ``n_star``: where P(Δ > 0) rises through 0.5 (as `memgen analyze`'s transitions.csv);
- ``ratio`` = n_star / n_mem and a verdict: do the paper's metric and the field's measure place the
  transition at the same n (within a factor F)?

Intervals: a two-stage percentile bootstrap. The M samples of one simulation come from one network and
are not independent, so each replicate resamples a cell's simulations with replacement, then the samples
within each chosen simulation (k copies among M samples resampled: Binomial(M, k / M), exactly what
resampling M 0/1 samples gives). P(Δ > 0) is one number per simulation; it is recomputed from the same
resampled simulations, so the ratio's interval is paired. Reads CSVs only; no torch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from memgen_cli.errors import MemgenError
from memgen_cli.report.analysis.transitions import cells_key, group_columns, split_groups, transitions_star
from memgen_cli.report.analysis.calibrated import (GENERALIZER, MEMORIZER, calibrated, cell_bounds, p_status,
                                                   widened_ratio)
from memgen_cli.statistics.calibration import MISSING, discrimination
from memgen_cli.statistics.estimators import (ABOVE_AT_START, CROSSED, NOT_REACHED, estimate_crossing,
                                          percentile_interval, ratio_verdict)
from memgen_cli.report.reader import TRIALS_FILE, Results, numeric_column
from memgen_cli.seeding import derived_seed

MEMORIZED = "memorized_fraction"
MEM_LEVEL = 0.5
WINDOW = (0.9, 0.1)  # the window opens where the fraction falls through 0.9 and closes where it falls through 0.1
METHOD = "simulations, then samples within them (two-stage)"
# P(Δ>0) as published (the verdict's), then the exact per-pixel and the full-dimensional KDE versions (n_star_exact,
# n_star_kde and their ratios to n_mem, for comparison)
P_METRICS = {"delta_positive": "", "delta_positive_exact": "_exact", "delta_positive_kde": "_kde"}


def has_memorization(results: Results) -> bool:
    return f"mean_{MEMORIZED}" in results.summary.columns


@dataclass(frozen=True)
class MemorizationTable:
    groups: pd.DataFrame  # memorization.csv: one row per group
    cells: pd.DataFrame  # per cell: n, the fraction and its two-stage 95% interval (for the figures)


def cell_replicates(trials: pd.DataFrame, n_boot: int, rng: np.random.Generator, column: str = MEMORIZED
                    ) -> tuple[float, np.ndarray, dict[str, tuple[float, np.ndarray]]]:
    """(fraction, its replicates, {binary metric: (P, P's replicates)}) of one cell's simulations: the
    fraction resampled in two stages, every P(Δ>0) from the same resampled simulations (paired). ``column``: the
    model's fraction, or a reference's (then P is not wanted: no metric is resampled with it)."""
    if column not in trials.columns:
        return np.nan, np.full(n_boot, np.nan), {}
    fraction = numeric_column(trials, column, TRIALS_FILE)
    samples = numeric_column(trials, "generated", TRIALS_FILE) if "generated" in trials.columns else None
    keep = np.isfinite(fraction)
    fraction = fraction[keep]
    metrics = [m for m in P_METRICS if m in trials.columns and column == MEMORIZED]
    if not len(fraction):
        return np.nan, np.full(n_boot, np.nan), {m: (np.nan, np.full(n_boot, np.nan)) for m in metrics}
    m = samples[keep].astype(int) if samples is not None else np.full(len(fraction), 0)
    copies = np.round(fraction * m).astype(int)
    draws = rng.integers(0, len(fraction), size=(n_boot, len(fraction)))  # stage 1: simulations
    if samples is not None and (m > 0).all():  # stage 2: samples within each chosen simulation
        boot = rng.binomial(m[draws], copies[draws] / m[draws]).sum(axis=1) / m[draws].sum(axis=1)
    else:  # no sample count: the simulations alone
        boot = fraction[draws].mean(axis=1)
    outcomes = {}
    for metric in metrics:
        values = numeric_column(trials, metric, TRIALS_FILE)[keep]
        with warnings.catch_warnings():  # a replicate of NaNs only is NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            outcomes[metric] = (float(np.nanmean(values)) if np.isfinite(values).any() else np.nan,
                                np.nanmean(values[draws], axis=1))
    return float(fraction.mean()), boot, outcomes


def falling_crossing(log_x: np.ndarray, values: np.ndarray, boot: np.ndarray, level: float):
    """Where ``values`` first falls through ``level`` (from >= level to < level): where 1 − v + level − 0.5
    first rises through 0.5."""
    shift = level - 0.5
    return estimate_crossing(log_x, 1 - values + shift, 1 - boot + shift)


def status_words(status: str, level: float) -> str:
    return {CROSSED: CROSSED, NOT_REACHED: f"still >= {level:g} at the largest n",
            ABOVE_AT_START: f"already < {level:g} at the smallest n"}.get(status, status)


def crossing_columns(name: str, log_x: np.ndarray, values: np.ndarray, boot: np.ndarray, level: float,
                     rising: bool = False) -> tuple[dict, np.ndarray]:
    if rising:
        estimate = estimate_crossing(log_x, values, boot)
        status = estimate.status
    else:
        estimate = falling_crossing(log_x, values, boot, level)
        status = status_words(estimate.status, level)
    interval = percentile_interval(estimate.replicates).exp()
    return ({name: float(np.exp(estimate.log_x)), f"{name}_lo": interval.lo, f"{name}_hi": interval.hi,
             f"{name}_status": status}, estimate.replicates)


def verdict(ratio: float, lo: float, hi: float, star_status: str, mem_status: str, factor: float
            ) -> tuple[str, str]:
    """same n / different n from the ratio's whole interval (estimators.ratio_verdict), else undetermined."""
    if star_status != CROSSED:
        return "undetermined", f"n_star {star_status}"
    if mem_status != CROSSED:
        return "undetermined", f"n_mem: memorized fraction {mem_status}"
    found = ratio_verdict("n_star/n_mem", ratio, lo, hi, factor, ("same n", "different n"))
    return found.label, found.reason


def other_stars(log_x: np.ndarray, mem_cols: dict, outcomes: dict, calibrate) -> dict:
    """n* of the exact and KDE versions of P(Δ>0), and their ratios to n_mem (points only)."""
    columns = {}
    for metric, (p, p_boot) in outcomes.items():
        suffix = P_METRICS[metric]
        if not suffix:
            continue
        star, _ = crossing_columns(f"n_star{suffix}", log_x, p, p_boot, 0.5, rising=True)
        star = calibrate(f"n_star{suffix}", star, metric)
        both = star[f"n_star{suffix}_status"] == CROSSED and mem_cols["n_mem_status"] == CROSSED
        columns.update(star, **{f"ratio{suffix}": star[f"n_star{suffix}"] / mem_cols["n_mem"] if both else np.nan})
    return columns


def group_row(log_x: np.ndarray, mem: np.ndarray, mem_boot: np.ndarray, outcomes: dict, factor: float,
              calibrate=lambda name, columns, metric: columns, given_star: dict | None = None) -> dict:
    """One row of memorization.csv. ``calibrate(name, columns, metric)`` makes a crossing's columns honest
    (calibrated.py) before the ratios and verdict read them; by default they stand as found. ``given_star``:
    n*'s columns as transitions.csv has them, which stand instead of this bootstrap's (its replicates serve the
    paired ratio only)."""
    p, p_boot = outcomes["delta_positive"]
    mem_cols, mem_reps = crossing_columns("n_mem", log_x, mem, mem_boot, MEM_LEVEL)
    mem_cols = calibrate("n_mem", mem_cols, MEMORIZED)
    start, _ = crossing_columns("window_start", log_x, mem, mem_boot, WINDOW[0])
    end, _ = crossing_columns("window_end", log_x, mem, mem_boot, WINDOW[1])
    star, star_reps = crossing_columns("n_star", log_x, p, p_boot, 0.5, rising=True)
    star = {**calibrate("n_star", star, "delta_positive"), **(given_star or {})}
    both = star["n_star_status"] == CROSSED and mem_cols["n_mem_status"] == CROSSED
    ratio = star["n_star"] / mem_cols["n_mem"] if both else np.nan
    with np.errstate(invalid="ignore"):
        interval = percentile_interval(star_reps - mem_reps).exp() if both else None
    width = end["window_end"] / start["window_start"] if np.isfinite(end["window_end"] / start["window_start"]) \
        else np.nan
    lo, hi = (widened_ratio(interval.lo, interval.hi, star, "n_star", mem_cols, "n_mem") if interval
              else (np.nan, np.nan))
    label, reason = verdict(ratio, lo, hi, star["n_star_status"], mem_cols["n_mem_status"], factor)
    return {**mem_cols, **start, **end, "window_width": width, **star, "ratio": ratio, "ratio_lo": lo, "ratio_hi": hi,
            "verdict": label, "verdict_reason": reason, **other_stars(log_x, mem_cols, outcomes, calibrate),
            "memorized_at_n_min": float(mem[0]), "memorized_at_n_max": float(mem[-1])}


def _calibrate(x: np.ndarray, usable: np.ndarray, statuses: dict, bounds: dict, name: str, found: dict,
               metric: str) -> dict:
    """report.analysis.calibrated.calibrated for one crossing of a group, on its usable cells."""
    status = statuses.get(metric, np.full(len(x), MISSING, dtype=object))[usable]
    lo, hi = (b[usable] for b in bounds[metric])
    rising = metric != MEMORIZED
    return calibrated(name, found, x[usable], status, lo, hi, rising=rising,
                      at_start=ABOVE_AT_START if rising else status_words(ABOVE_AT_START, MEM_LEVEL))


def reference_fractions(cell_trials: list[pd.DataFrame], n_boot: int, rng: np.random.Generator) -> dict:
    """Per reference, (fraction, lo, hi) per cell: the same two-stage bootstrap as the model's fraction, from its
    own generator (the model's intervals do not move)."""
    found = {}
    for reference in (GENERALIZER, MEMORIZER):
        values = [cell_replicates(trials, n_boot, rng, f"{reference}_{MEMORIZED}")[:2] for trials in cell_trials]
        bounds = [percentile_interval(boot) for _, boot in values]
        found[reference] = (np.array([v for v, _ in values]), np.array([b.lo for b in bounds]),
                            np.array([b.hi for b in bounds]))
    return found


def memorization_table(results: Results, align_factor: float = 2.0, n_boot: int = 1000, seed: int = 0,
                       x: str = "n", transitions: pd.DataFrame | None = None) -> MemorizationTable:
    """Per group: n_mem, the window, n_star and their ratio; per cell: the fraction with its interval. ``transitions``:
    the folder's transitions table, whose n* (point, interval, status) the n_star columns repeat."""
    if results.trials is None or MEMORIZED not in results.trials.columns:
        raise MemgenError(f"{results.folder}: no {TRIALS_FILE} with a '{MEMORIZED}' column (a U-Net sweep writes "
                          "one); the memorized fraction's intervals resample its simulations")
    columns = group_columns(results, x)
    by_cell = dict(tuple(results.trials.groupby("cell", sort=False)))
    rows, cell_rows = [], []
    for group in split_groups(results, x, columns):
        cells = group.cells
        key = cells_key(cells, [c for c in results.parameters if c != x])
        rng = np.random.default_rng(derived_seed(seed, "memorization", [list(pair) for pair in key]))
        log_x = np.log(cells["_x"].to_numpy(dtype=float))
        empty = pd.DataFrame(columns=[MEMORIZED, *P_METRICS])
        cell_trials = [by_cell.get(c, empty) for c in cells["cell"]]
        stats = [cell_replicates(trials, n_boot, rng) for trials in cell_trials]
        mem = np.array([s[0] for s in stats])
        mem_boot = np.array([s[1] for s in stats])
        outcomes = {metric: (np.array([s[2][metric][0] for s in stats]), np.array([s[2][metric][1] for s in stats]))
                    for metric in P_METRICS if all(metric in s[2] for s in stats)}
        p = outcomes["delta_positive"][0] if "delta_positive" in outcomes else np.full(len(cells), np.nan)
        references = reference_fractions(cell_trials, n_boot, np.random.default_rng(
            derived_seed(seed, "memorization references", [list(pair) for pair in key])))
        mem_bounds = [percentile_interval(mem_boot[k]) for k in range(len(cells))]
        for k in range(len(cells)):
            cell_rows.append({**dict(zip(columns, group.key)), "group": group.label, "cell": cells["cell"].iloc[k],
                              x: float(cells["_x"].iloc[k]), MEMORIZED: mem[k], f"{MEMORIZED}_lo": mem_bounds[k].lo,
                              f"{MEMORIZED}_hi": mem_bounds[k].hi, "simulations": len(cell_trials[k]),
                              **{f"{ref}_{MEMORIZED}{end}": references[ref][j][k] for ref in references
                                 for j, end in enumerate(("", "_lo", "_hi"))}})
        usable = np.isfinite(mem) & np.isfinite(p)
        row = {**dict(zip(columns, group.key)), "group": group.label, "cells": len(cells),
               "n_min": float(cells["_x"].iloc[0]), "n_max": float(cells["_x"].iloc[-1])}
        if usable.sum() >= 2:
            gen, mem_ref = references[GENERALIZER], references[MEMORIZER]
            statuses = {MEMORIZED: discrimination(gen[1], gen[2], mem_ref[1], mem_ref[2], generalizer_above=False),
                        **{m: p_status(cells, m, results.analytic_memorizer) for m in P_METRICS}}
            bounds = {MEMORIZED: (np.array([b.lo for b in mem_bounds]), np.array([b.hi for b in mem_bounds])),
                      **{m: cell_bounds(cells, m) for m in P_METRICS}}
            calibrate = partial(_calibrate, cells["_x"].to_numpy(dtype=float), usable, statuses, bounds)
            row.update(group_row(log_x[usable], mem[usable], mem_boot[usable],
                                 {k: (v[0][usable], v[1][usable]) for k, v in outcomes.items()}, align_factor,
                                 calibrate, transitions_star(transitions, cells)))
        else:
            row.update(verdict="undetermined", verdict_reason=f"too few cells with simulations ({usable.sum()})")
        rows.append({**row, "bootstrap": METHOD})
    groups = pd.DataFrame(rows)
    groups.attrs["group_columns"] = columns
    return MemorizationTable(groups, pd.DataFrame(cell_rows))
