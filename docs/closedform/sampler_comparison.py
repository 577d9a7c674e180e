"""Rebuild docs/closedform/sampler-comparison.csv: configs/closedform/sampler-comparison.yaml swept with each
sampler (ddpm, ddim, euler) at 10 and 100 steps, each folder analysed by `memgen analyze`, and per n the
memorized fraction (memorization_cells.csv) beside the group's n_mem (memorization.csv).

    python docs/closedform/sampler_comparison.py [RESULTS_DIR]     # default results/sampler-comparison

Six sweeps of 160 simulations, 6 to 10 s of CPU each on one worker.
"""

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "closedform" / "sampler-comparison.yaml"
RUNS = [(sampler, steps) for steps in (10, 100) for sampler in ("ddpm", "ddim", "euler")]


def main(out: Path) -> None:
    rows = []
    for sampler, steps in RUNS:
        folder = out / f"{sampler}-{steps}"
        memgen = [sys.executable, "-m", "memgen_cli"]
        subprocess.run([*memgen, "sweep", "closedform", str(CONFIG), "--workers", "1", "-q", "--force",
                        "--set", f"sampling.sampler={sampler}", "--set", f"grid.steps=[{steps}]", "-o", str(folder)],
                       check=True)
        subprocess.run([*memgen, "analyze", str(folder)], check=True, stdout=subprocess.DEVNULL)
        cells = pd.read_csv(folder / "memorization_cells.csv")
        group = pd.read_csv(folder / "memorization.csv").iloc[0]
        for _, cell in cells.iterrows():
            rows.append({"sampler": sampler, "steps": steps, "n": int(cell["n"]),
                         "memorized_fraction": cell["memorized_fraction"],
                         "memorized_lo": cell["memorized_fraction_lo"], "memorized_hi": cell["memorized_fraction_hi"],
                         "simulations": int(cell["simulations"]), "n_mem": group["n_mem"],
                         "n_mem_lo": group["n_mem_lo"], "n_mem_hi": group["n_mem_hi"],
                         "n_mem_grid_limited": group["n_mem_grid_limited"]})
    pd.DataFrame(rows).round(4).to_csv(ROOT / "docs" / "closedform" / "sampler-comparison.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "results" / "sampler-comparison")
