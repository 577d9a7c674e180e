"""`memgen analyze` on folders with reproducibility pairs: three criteria of the transition on the same runs
(criteria.csv, one row per group; criteria_cells.csv, each criterion per cell with its interval).

- n_star: where P(Δ > 0) rises through 0.5 (the paper's metric; delta_positive, as transitions.csv);
- n_mem: where the memorized fraction (NN1/NN2 < 1/3) falls through 0.5 (image models; the linear model has no
  such measure: its generated distribution is a Gaussian, not a set of copies);
- n_rep: where reproducibility rises through 0.5: the fraction of pairs that are the same image (image models,
  ``reproduced_fraction``), or P(reproduced), the fraction of pair trials whose paired distance is below 1/9
  (linear model; equivalently where the median paired distance falls through 1/9).

The verdict and ratios are statistics.criteria's (within a factor F = --align-factor of each other).

n_star is transitions.csv's (given ``transitions``, as `memgen analyze` does): its point, interval, status and grid
flag are copied from the group's row there, never located again from another bootstrap, so that one number has one
interval in every table, figure and console line (issue 37). Its replicates here serve the paired ratios only.

Intervals: percentile bootstrap, every criterion from the same resampled trials, so the ratios are paired. Linear
model: the original sets first (shared by the group's cells, as bootstrap.py), then trials within them; both
columns of a trial come from the same rows. Image models: a cell's simulations, then within each chosen
simulation its M samples (Binomial(M, f), as memorization.py) for the memorized fraction and its M pairs for
the reproduced fraction; P(Δ > 0) is one number per simulation. The M pairs of one simulation share two networks,
so pairs are resampled within simulations, never pooled across them.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from memgen_cli.report.analysis.transitions import (cells_key, group_columns, located_columns, split_groups,
                                                    transitions_star)
from memgen_cli.report.analysis.bootstrap import group_set_draws, two_stage_means
from memgen_cli.report.analysis.calibrated import GENERALIZER, MEMORIZER, p_status
from memgen_cli.report.analysis.memorization import MEMORIZED, reference_fractions
from memgen_cli.report.reader import TRIALS_FILE, Results, numeric_column
from memgen_cli.seeding import derived_seed
from memgen_cli.statistics.calibration import discrimination
from memgen_cli.statistics.criteria import CriterionCurve, criteria_row, mem_curve, rep_curve, star_curve
from memgen_cli.statistics.estimators import percentile_interval

REPRODUCED = "reproduced"  # linear trials: 1 when the pair's scaled distance is below 1/9
REPRODUCED_FRACTION = "reproduced_fraction"  # image simulations: the fraction of M pairs that are the same image
P_COLUMN = "delta_positive"
LINEAR_METHOD = "trials (original sets first, where several)"
IMAGE_METHOD = "simulations, then samples and pairs within them (two-stage)"
LABELS = {"n_star": "P(Δ > 0)", "n_mem": "memorized fraction", "n_rep": "reproduced"}


@dataclass(frozen=True)
class CriteriaTable:
    groups: pd.DataFrame  # criteria.csv
    cells: pd.DataFrame  # criteria_cells.csv: per cell and criterion, the value and its 95% interval


@contextmanager
def _quiet_nanmean():
    """A replicate of NaNs only (a cell without pairs) is NaN, without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def reproducibility_column(results: Results) -> str | None:
    """The trials' reproducibility column with at least one finite value (None: the folder has no pairs)."""
    trials = results.trials
    if trials is None:
        return None
    for column in (REPRODUCED, REPRODUCED_FRACTION):
        if column in trials.columns and np.isfinite(pd.to_numeric(trials[column], errors="coerce")).any():
            return column
    return None


def _column(trials: pd.DataFrame, name: str) -> np.ndarray:
    values = numeric_column(trials, name, TRIALS_FILE)
    return np.where(np.isfinite(values), values, np.nan)


def linear_replicates(results: Results, cells: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> dict:
    """{criterion: (values per cell, (cells, n_boot) replicates)} for P(Δ > 0) and P(reproduced), paired."""
    by_cell = dict(tuple(results.trials.groupby("cell", sort=False)))
    set_ids, chosen = group_set_draws(results.trials, cells, n_boot, rng, results.cluster_column)
    values = np.full((2, len(cells)), np.nan)
    boot = np.full((2, len(cells), n_boot), np.nan)
    for row, cell in enumerate(cells["cell"]):
        trials = by_cell.get(cell)
        if trials is None or not len(trials):
            continue
        p, rep = _column(trials, P_COLUMN), _column(trials, REPRODUCED)
        with _quiet_nanmean():
            values[:, row] = np.nanmean(p), np.nanmean(rep)
            if chosen is not None:
                sets = trials[results.cluster_column].to_numpy()
                boot[0, row], boot[1, row] = two_stage_means(p, rep, [np.flatnonzero(sets == s) for s in set_ids],
                                                             chosen, rng)
            else:
                draws = rng.integers(0, len(trials), size=(n_boot, len(trials)))
                boot[0, row], boot[1, row] = np.nanmean(p[draws], axis=1), np.nanmean(rep[draws], axis=1)
    return {"n_star": (values[0], boot[0]), "n_rep": (values[1], boot[1])}


def _two_stage(fraction: np.ndarray, samples: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replicates of a pooled fraction: the drawn simulations' k of M redrawn as Binomial(M, k / M)."""
    keep = np.isfinite(fraction[draws]) & (samples[draws] > 0)
    m = np.where(keep, samples[draws], 0)
    f = np.where(keep, fraction[draws], 0.0)
    copies = rng.binomial(m, np.clip(f, 0.0, 1.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m.sum(axis=1) > 0, copies.sum(axis=1) / m.sum(axis=1), np.nan)


def _pooled(fraction: np.ndarray, samples: np.ndarray) -> float:
    keep = np.isfinite(fraction) & (samples > 0)
    return float(np.sum(fraction[keep] * samples[keep]) / np.sum(samples[keep])) if keep.any() else np.nan


def image_replicates(results: Results, cells: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> dict:
    """{criterion: (values per cell, replicates)} for P(Δ > 0), the memorized and the reproduced fraction."""
    by_cell = dict(tuple(results.trials.groupby("cell", sort=False)))
    names = ("n_star", "n_mem", "n_rep")
    values = np.full((3, len(cells)), np.nan)
    boot = np.full((3, len(cells), n_boot), np.nan)
    for row, cell in enumerate(cells["cell"]):
        trials = by_cell.get(cell)
        if trials is None or not len(trials):
            continue
        p, mem, rep = (_column(trials, c) for c in (P_COLUMN, MEMORIZED, REPRODUCED_FRACTION))
        samples = (_column(trials, "generated") if "generated" in trials.columns else np.zeros(len(trials)))
        samples = np.where(np.isfinite(samples), samples, 0).astype(int)
        draws = rng.integers(0, len(trials), size=(n_boot, len(trials)))
        with _quiet_nanmean():
            values[0, row], boot[0, row] = np.nanmean(p), np.nanmean(p[draws], axis=1)
        for k, fraction in ((1, mem), (2, rep)):
            if (samples > 0).all():
                values[k, row], boot[k, row] = _pooled(fraction, samples), _two_stage(fraction, samples, draws, rng)
            else:  # no sample count: the simulations alone
                with _quiet_nanmean():
                    values[k, row], boot[k, row] = np.nanmean(fraction), np.nanmean(fraction[draws], axis=1)
    return {name: (values[k], boot[k]) for k, name in enumerate(names)}


def _curves(found: dict) -> list[CriterionCurve]:
    makers = {"n_star": star_curve, "n_mem": mem_curve, "n_rep": rep_curve}
    return [makers[name](*found[name]) for name in ("n_star", "n_mem", "n_rep") if name in found]


def discriminates(results: Results, cells: pd.DataFrame, key: tuple, n_boot: int, seed: int, image: bool) -> dict:
    """Per criterion with references, whether its metric tells the ideal generalizer from the ideal memorizer at each
    cell (as transitions.csv and memorization.csv judge it, with memorization.csv's generator for the fractions)."""
    found = {"n_star": p_status(cells, P_COLUMN, results.analytic_memorizer)}
    if image:
        by_cell = dict(tuple(results.trials.groupby("cell", sort=False)))
        empty = pd.DataFrame(columns=[MEMORIZED])
        rng = np.random.default_rng(derived_seed(seed, "memorization references", [list(pair) for pair in key]))
        refs = reference_fractions([by_cell.get(c, empty) for c in cells["cell"]], n_boot, rng)
        (_, gen_lo, gen_hi), (_, mem_lo, mem_hi) = refs[GENERALIZER], refs[MEMORIZER]
        found["n_mem"] = discrimination(gen_lo, gen_hi, mem_lo, mem_hi, generalizer_above=False)
    return found


def _given(transitions: pd.DataFrame | None, memorization: pd.DataFrame | None, cells: pd.DataFrame) -> dict:
    """The criteria located by another table of the same cells, as that table has them (statistics.criteria.adopted)."""
    found = {"n_star": transitions_star(transitions, cells), "n_mem": located_columns(memorization, cells, "n_mem")}
    return {name: columns for name, columns in found.items() if columns}


def criteria_table(results: Results, align_factor: float = 2.0, n_boot: int = 1000, seed: int = 0,
                   x: str = "n", transitions: pd.DataFrame | None = None,
                   memorization: pd.DataFrame | None = None) -> CriteriaTable | None:
    """Per group: each criterion's crossing with its interval, their ratios and the verdict; per cell: each
    criterion's value and interval. None when the folder holds no reproducibility pairs. ``transitions``: the
    folder's transitions table, whose n* (point, interval, status) the n_star columns repeat; ``memorization``:
    memorization.csv's groups, whose crossed n_mem the n_mem columns repeat."""
    column = reproducibility_column(results)
    if column is None:
        return None
    image = column == REPRODUCED_FRACTION
    columns = group_columns(results, x)
    rows, cell_rows = [], []
    for group in split_groups(results, x, columns):
        cells = group.cells
        key = cells_key(cells, [c for c in results.parameters if c != x])
        rng = np.random.default_rng(derived_seed(seed, "criteria", [list(pair) for pair in key]))
        found = (image_replicates if image else linear_replicates)(results, cells, n_boot, rng)
        log_x = np.log(cells["_x"].to_numpy(dtype=float))
        head = {**dict(zip(columns, group.key)), "group": group.label}
        for k in range(len(cells)):
            cell_row = {**head, "cell": cells["cell"].iloc[k], x: float(cells["_x"].iloc[k])}
            for name, (value, boot) in found.items():
                interval = percentile_interval(boot[k])
                cell_row.update({f"{name}_value": value[k], f"{name}_value_lo": interval.lo,
                                 f"{name}_value_hi": interval.hi})
            cell_rows.append(cell_row)
        row = {**head, "cells": len(cells), "n_min": float(cells["_x"].iloc[0]), "n_max": float(cells["_x"].iloc[-1])}
        if len(cells) >= 2:
            row.update(criteria_row(log_x, _curves(found), align_factor,
                                    discriminates(results, cells, key, n_boot, seed, image),
                                    given=_given(transitions, memorization, cells)))
        else:
            row.update(verdict="undetermined", verdict_reason=f"one cell ({x} = {row['n_min']:g}): nothing to cross")
        rows.append({**row, "bootstrap": IMAGE_METHOD if image else LINEAR_METHOD})
    groups = pd.DataFrame(rows)
    groups.attrs["group_columns"] = columns
    return CriteriaTable(groups, pd.DataFrame(cell_rows))
