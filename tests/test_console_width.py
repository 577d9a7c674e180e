"""`memgen analyze` at 80 columns (issue 37): a plain terminal, or its output sent to a pipe or a file, gets tables
that fit (long statuses as numbered notes), or one block per group, never a line over 80 characters, a column
wrapped to one word per line or a header cut off with '…'."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from cli_helpers import invoke, sweep
from results_factory import write_linear_results
from tiny import CLOSEDFORM_SWEEP
from memgen_cli.cli.console_tables import Cell, ConsoleTable, print_table

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 80


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A linear folder (two groups, one n* grid-limited, reproducibility pairs: criteria.csv) and a closed-form one
    (memorization.csv and criteria.csv, metrics that discriminate nowhere: the longest statuses)."""
    base = tmp_path_factory.mktemp("width")
    linear = write_linear_results(base / "linear", [4, 8, 16, 32, 64, 128, 256], groups=[{"d": 8}, {"d": 16}],
                                  trials=60, seed=3)
    trials = pd.read_csv(linear / "trials.csv")
    rng = np.random.default_rng(0)
    trials["reproduced"] = (rng.random(len(trials)) < (trials["n"] > 50)).astype(int)
    trials.to_csv(linear / "trials.csv", index=False)
    config = base / "closedform.yaml"
    config.write_text(CLOSEDFORM_SWEEP + "reproducibility: true\n")
    closedform = base / "closedform"
    assert sweep(config, closedform, model="closedform").exit_code == 0
    return {"linear": linear, "closedform": closedform}


def check_fits(output: str) -> None:
    long = [line for line in output.splitlines() if len(line) > WIDTH]
    assert not long, "\n".join(long)
    assert "…" not in output, output  # no header or cell cut off


@pytest.mark.parametrize("kind", ["linear", "closedform"])
def test_analyze_at_80_columns_fits_them(folders, kind):
    result = invoke("analyze", folders[kind], "--bootstrap", "100", env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    check_fits(result.output)
    assert "verdict" in result.output and "n* [95% CI]" in result.output  # a header word for word, not cut off
    if kind == "closedform":
        assert "does not discriminate at any n" in result.output and "n_mem" in result.output


@pytest.mark.parametrize("kind", ["linear", "closedform"])
def test_analyze_into_a_pipe_fits_80_columns(folders, kind):
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "memgen_cli", "analyze", str(folders[kind]), "--bootstrap", "100"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    check_fits(done.stdout)
    assert "wrote" in done.stdout


def render(table: ConsoleTable, width: int) -> str:
    console = Console(width=width, color_system=None)
    with console.capture() as captured:
        print_table(console, table)
    return captured.get()


def test_long_statuses_become_numbered_notes_and_a_wide_table_becomes_blocks():
    table = ConsoleTable("T", [("group", "left"), ("n* [95% CI]", "right"), ("verdict", "left")])
    reason = "n_star undetermined: this metric does not discriminate at any n of the sweep"
    table.add_row("d = 4", Cell("26.1 [19, 34]"), Cell("undetermined", reason))
    table.add_row("d = 8", Cell("", "still <= 0.5 at the largest n"), Cell("undetermined", reason))
    wide = render(table, WIDTH)
    lines = wide.splitlines()
    assert any("undetermined [1]" in line for line in lines) and any("[2]" in line for line in lines)
    assert sum(reason in line for line in lines) == 1  # one note for both groups, under the table
    assert any(line.startswith("[1] " + reason) for line in lines)
    narrow = render(table, 30)  # the table cannot fit: one block per group, notes inline
    check_fits(narrow)
    assert "d = 8" in narrow and "n* [95% CI]: still <= 0.5 at the largest n" in " ".join(narrow.split())
    assert "[1]" not in narrow
