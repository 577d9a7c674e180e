"""`memgen analyze` on folders with curves.csv (the U-Net with evaluation.every): training times per cell and how
they grow with n (training_times.csv, training_fit.csv). The closed-form model is not trained, so it has none.

Per cell, from the memorized fraction along training (statistics.training_time, whose docstring documents
every choice):

- tau_mem: the onset of memorization, the first checkpoint step at which the cell's memorized fraction exceeds
  ONSET_LEVEL = 0.05 (interpolated in log step); tau_half: where it exceeds 0.5;
- tau_gen: where the held-out loss (curves.csv's heldout_loss: the epsilon loss on original images never
  trained on, with noise and time steps fixed along training) stops improving by more than PLATEAU_TOL = 5%;
  tau_gen_eog: the same from Ê_OG (the published grid metric's distance to the original set, lower is better);
- intervals: a two-stage percentile bootstrap over the cell's simulations, then the samples within them;
  "not reached within the budget" and "at the first checkpoint" are censored, never dropped. A time is measured
  on the checkpoints, so its interval is never narrower than they resolve (``at_checkpoint_resolution``): it
  covers at least the two checkpoints around an interpolated crossing, and for τ_gen (a checkpoint itself) the
  one before it, where the plateau may have begun.

Per group (every swept parameter but n): tau = a n^β fitted to the cells whose time is reached with a finite
interval, with a 95% interval on β, only from MIN_CELLS_FOR_FIT = 4 or more such n (else the reason). Steps are
optimizer steps at the cell's fixed batch size (grid.train_steps budgets: full batches whatever n).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from memgen_cli.report.analysis.transitions import cells_key, group_columns, split_groups
from memgen_cli.report.analysis.memorization import MEMORIZED
from memgen_cli.report.reader import Results
from memgen_cli.results_format import CURVES_FILE, STEP_COLUMN, TRIAL_COLUMNS
from memgen_cli.seeding import derived_seed
from memgen_cli.statistics.training_time import (HALF_LEVEL, ONSET_LEVEL, PLATEAU_TOL, REACHED, ExponentFit,
                                                 TimeEstimate, fit_time_exponent, generalization_time,
                                                 memorization_times)

HELDOUT = "heldout_loss"
E_OG = "E_OG"
TIMES = ("tau_mem", "tau_half", "tau_gen", "tau_gen_eog")
FITTED = ("tau_mem", "tau_half", "tau_gen")
METHOD = "simulations, then samples within them (two-stage)"
NOT_ESTIMABLE = "not estimable"


@dataclass(frozen=True)
class TrainingTable:
    cells: pd.DataFrame  # training_times.csv: per cell, each time with its interval and status
    fits: pd.DataFrame  # training_fit.csv: per group and time, tau = a n^beta
    notes: list[str]


def _matrix(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, simulations x steps, their trial numbers) of one column; simulations lacking a checkpoint or a
    finite value left out."""
    table = frame.pivot_table(index=TRIAL_COLUMNS[0], columns=STEP_COLUMN, values=column, aggfunc="first",
                              dropna=False)
    steps = np.asarray(table.columns, dtype=float)
    values = table.to_numpy(dtype=float)
    keep = np.isfinite(values).all(axis=1)
    return steps, values[keep], np.asarray(table.index)[keep]


def _columns(name: str, estimate: TimeEstimate | None, why: str = NOT_ESTIMABLE) -> dict:
    if estimate is None:
        return {name: np.nan, f"{name}_lo": np.nan, f"{name}_hi": np.nan, f"{name}_status": why,
                f"{name}_frac_reached": np.nan}
    return {name: estimate.step, f"{name}_lo": estimate.lo, f"{name}_hi": estimate.hi,
            f"{name}_status": estimate.status, f"{name}_frac_reached": estimate.frac_reached}


def at_checkpoint_resolution(estimate: TimeEstimate, steps: np.ndarray, checkpoint: bool = False) -> TimeEstimate:
    """The estimate with its interval widened to the checkpoints around it (module docstring); others unchanged."""
    if estimate.status != REACHED:
        return estimate
    k = int(np.searchsorted(steps, estimate.step * (1 - 1e-9)))  # the first checkpoint at or after the time
    if checkpoint:
        low, high = steps[max(k - 1, 0)], steps[k]
    else:
        low, high = steps[max(k - 1, 0)], steps[min(k, len(steps) - 1)]
    return replace(estimate, lo=min(estimate.lo, float(low)), hi=max(estimate.hi, float(high)))


def cell_times(frame: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> tuple[dict, dict[str, TimeEstimate]]:
    """One cell's row of training_times.csv and its estimates (for the fits)."""
    steps, fractions, kept = _matrix(frame, MEMORIZED)
    samples = None
    if "generated" in frame.columns:  # M per simulation: the second stage of the bootstrap
        samples = frame.groupby(TRIAL_COLUMNS[0])["generated"].first().loc[kept].to_numpy(dtype=int)
    row = {"simulations": len(fractions), "checkpoints": len(steps), "first_step": steps[0] if len(steps) else np.nan,
           "budget": steps[-1] if len(steps) else np.nan}
    found: dict[str, TimeEstimate] = {}
    if len(fractions) and len(steps) >= 2:
        found.update({name: at_checkpoint_resolution(estimate, steps)
                      for name, estimate in memorization_times(steps, fractions, rng, n_boot, samples=samples).items()})
    for name, column in (("tau_gen", HELDOUT), ("tau_gen_eog", E_OG)):
        if column in frame.columns:
            steps_v, values, _ = _matrix(frame, column)
            if len(values) and len(steps_v) >= 2 and np.all(values > 0):
                found[name] = at_checkpoint_resolution(generalization_time(steps_v, values, rng, n_boot), steps_v,
                                                       checkpoint=True)
    for name in TIMES:
        row.update(_columns(name, found.get(name)))
    return row, found


def _fit_row(name: str, fit: ExponentFit) -> dict:
    return {"time": name, "a": fit.a, "beta": fit.beta, "beta_lo": fit.beta_lo, "beta_hi": fit.beta_hi,
            "points": fit.points, "status": fit.status}


def training_table(results: Results, curves: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                   x: str = "n") -> TrainingTable:
    """Per cell the training times, per group the power laws in n (module docstring)."""
    columns = group_columns(results, x)
    by_cell = dict(tuple(curves.groupby("cell", sort=False)))
    cell_rows, fit_rows, notes = [], [], []
    for group in split_groups(results, x, columns):
        cells = group.cells
        key = cells_key(cells, [c for c in results.parameters if c != x])
        rng = np.random.default_rng(derived_seed(seed, "training", [list(pair) for pair in key]))
        head = {**dict(zip(columns, group.key)), "group": group.label}
        sizes, estimates = [], {name: [] for name in FITTED}
        for k, cell in enumerate(cells["cell"]):
            frame = by_cell.get(cell)
            if frame is None:
                notes.append(f"{group.label}: {x} = {cells['_x'].iloc[k]:g} has no curve in {CURVES_FILE}")
                continue
            row, found = cell_times(frame, n_boot, rng)
            cell_rows.append({**head, "cell": cell, x: float(cells["_x"].iloc[k]), **row})
            sizes.append(float(cells["_x"].iloc[k]))
            for name in FITTED:
                estimates[name].append(found.get(name, TimeEstimate(np.nan, NOT_ESTIMABLE, np.nan, np.nan,
                                                                   np.array([]), np.nan)))
        for name in FITTED:
            fit_rows.append({**head, **_fit_row(name, fit_time_exponent(sizes, estimates[name]))})
    cells_table = pd.DataFrame(cell_rows)
    if not cells_table.empty:
        cells_table["bootstrap"] = METHOD
    fits = pd.DataFrame(fit_rows)
    cells_table.attrs["group_columns"] = fits.attrs["group_columns"] = columns
    return TrainingTable(cells_table, fits, notes)


def definitions() -> str:
    """One line for captions and notes: what the times are."""
    return (f"τ_mem: the memorized fraction first > {ONSET_LEVEL:g}; τ_half: > {HALF_LEVEL:g}; τ_gen: the first "
            f"checkpoint after which the held-out loss improves by less than {PLATEAU_TOL:.0%}")
