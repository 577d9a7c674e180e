"""docs/training-time.md's numbers, from the tables shipped beside this script (docs/unet/training-time/).

    python docs/unet/training_time.py                    # the fits and the fraction table, from the shipped tables
    python docs/unet/training_time.py --ship RESULTS     # copy a run's tables here (what was done for the docs)

RESULTS is the folder of `memgen sweep unet configs/unet/training-time.yaml --workers 2` after `memgen analyze`.
Shipped: curves.csv (the memorized fraction, training and held-out loss and Ê_OG of every simulation (`trial`) at
every checkpoint: the data), training_times.csv (per n: τ_mem, τ_half and τ_gen with their 95% intervals, from
curves.csv by `memgen analyze`'s two-stage bootstrap) and training_fit.csv (τ = a n^β per time). Without --ship the
script refits β from training_times.csv with memgen's own fit (statistics.training_time.fit_time_exponent) and
rebuilds the table of mean memorized fractions from curves.csv: both must equal what is shipped and written in
docs/training-time.md (tests/test_docs_tables.py runs it).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from memgen_cli.statistics.training_time import TimeEstimate, fit_time_exponent

HERE = Path(__file__).resolve().parent / "training-time"
CURVE_COLUMNS = ["n", "trial", "seed", "step", "generated", "memorized_fraction", "train_loss", "heldout_loss", "E_OG"]
FITTED = ("tau_mem", "tau_half", "tau_gen")
STEPS_SHOWN = (100, 200, 400, 800, 1200, 1600, 2000)  # the columns of docs/training-time.md's first table


def refit(times: pd.DataFrame) -> pd.DataFrame:
    """training_fit.csv's rows, refitted from training_times.csv's per-n estimates."""
    rows = []
    for name in FITTED:
        estimates = [TimeEstimate(row[name], row[f"{name}_status"], row[f"{name}_lo"], row[f"{name}_hi"],
                                  np.array([]), row[f"{name}_frac_reached"]) for _, row in times.iterrows()]
        fit = fit_time_exponent(times["n"].to_numpy(dtype=float), estimates)
        rows.append({"time": name, "a": fit.a, "beta": fit.beta, "beta_lo": fit.beta_lo, "beta_hi": fit.beta_hi,
                     "points": fit.points, "status": fit.status})
    return pd.DataFrame(rows)


def fraction_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean memorized fraction over simulations, n by step (docs/training-time.md's first table)."""
    shown = curves[curves["step"].isin(STEPS_SHOWN)]
    return shown.pivot_table(index="n", columns="step", values="memorized_fraction", aggfunc="mean")


def ship(results: Path) -> None:
    HERE.mkdir(exist_ok=True)
    curves = pd.read_csv(results / "curves.csv")  # trial: the simulation
    curves[CURVE_COLUMNS].sort_values(["n", "trial", "step"]).to_csv(HERE / "curves.csv", index=False)
    for name in ("training_times.csv", "training_fit.csv"):
        shutil.copyfile(results / name, HERE / name)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--ship"]:
        ship(Path(argv[1]))
    times = pd.read_csv(HERE / "training_times.csv")
    print(refit(times).to_string(index=False))
    print()
    print(fraction_table(pd.read_csv(HERE / "curves.csv")).round(2).to_string())


if __name__ == "__main__":
    main(sys.argv[1:])
