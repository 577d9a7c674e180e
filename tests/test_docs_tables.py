"""Numbers in docs/ come from tables shipped under docs/ (issue 35): refitted here from those tables, they are the
numbers the text states."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TRAINING = ROOT / "docs" / "unet" / "training-time"


def _training_script():
    spec = importlib.util.spec_from_file_location("training_time", ROOT / "docs" / "unet" / "training_time.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_training_time_fits_are_refitted_from_the_shipped_per_n_estimates():
    script = _training_script()
    refitted = script.refit(pd.read_csv(TRAINING / "training_times.csv")).set_index("time")
    shipped = pd.read_csv(TRAINING / "training_fit.csv").set_index("time")
    for name in script.FITTED:
        for column in ("a", "beta", "beta_lo", "beta_hi"):
            assert refitted.loc[name, column] == pytest.approx(shipped.loc[name, column], rel=1e-9, nan_ok=True), \
                (name, column)
        assert refitted.loc[name, "status"] == shipped.loc[name, "status"]


def _markdown_table(text: str, first_cell: str) -> list[list[str]]:
    """The rows of the markdown table whose header starts with ``first_cell``."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"| {first_cell} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_docs_fraction_table_and_beta_are_the_shipped_tables():
    text = (ROOT / "docs" / "training-time.md").read_text()
    table = _training_script().fraction_table(pd.read_csv(TRAINING / "curves.csv"))
    for row in _markdown_table(text, "step"):
        n = int(re.search(r"n = (\d+)", row[0]).group(1))
        shown = [float(value) for value in row[1:]]
        assert np.allclose(shown, table.loc[n].to_numpy(dtype=float), atol=0.005 + 1e-9), n
    fits = pd.read_csv(TRAINING / "training_fit.csv").set_index("time")
    beta = fits.loc["tau_mem"]
    assert f"β = {beta['beta']:.2f} [{beta['beta_lo']:.2f}, {beta['beta_hi']:.2f}]" in text


def test_the_docs_training_times_are_the_shipped_per_n_estimates():
    text = (ROOT / "docs" / "training-time.md").read_text()
    times = pd.read_csv(TRAINING / "training_times.csv").set_index("n")
    checked = 0
    for row in _markdown_table(text, "n"):
        n = float(row[0])
        for cell, name in zip(row[1:3], ("tau_mem", "tau_half")):
            shown = re.match(r"(\d+) \[(\d+), (\d+|∞)", cell)
            if shown is None:  # "not reached within 2000": the table's words for the status
                assert times.loc[n, f"{name}_status"] != "reached", (n, name)
                continue
            expected = [times.loc[n, name], times.loc[n, f"{name}_lo"], times.loc[n, f"{name}_hi"]]
            values = [float(v) if v != "∞" else np.inf for v in shown.groups()]
            assert values == pytest.approx(np.round(expected), abs=0.51), (n, name)
            checked += 1
    assert checked == 9
