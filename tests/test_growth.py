"""Growing a sweep in place (issue 26): added grid values and more trials run only the new tasks, and the CSVs
equal those of the final config run from scratch, byte for byte; changes that would alter stored numbers are
refused with one line naming them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, sweep

LINEAR = """model: linear
seed: 2
trials: 60
grid: {n: [3, 20], d: [4], lambda: [0.0183], T: [2.0], N: [150]}
options: {original_sets: 1}
"""
UNET = """model: unet
seed: 5
simulations: 2
device: cpu
grid: {n: [4, 12], side: [8], N: [300], train_steps: [3]}
training: {lr: 1.0e-3, batch_size: 8}
sampling: {generated: 4}
evaluation: {eval_original: 40}
"""


def grow(model: str, config: Path, out: Path, *overrides: str):
    return sweep(config, out, *(arg for o in overrides for arg in ("--set", o)), model=model)


def tables(folder: Path) -> tuple[bytes, bytes]:
    return (folder / "trials.csv").read_bytes(), (folder / "summary.csv").read_bytes()


def last_run(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["runs"][-1]


@pytest.fixture
def linear_config(tmp_path) -> Path:
    path = tmp_path / "grow.yaml"
    path.write_text(LINEAR)
    return path


def test_a_linear_sweep_grows_by_an_n_value_and_by_more_trials(linear_config, tmp_path):
    out = tmp_path / "grown"
    assert grow("linear", linear_config, out).exit_code == 0
    first = last_run(out)["tasks_to_run"]  # 2 cells x (50 + 10 trials)
    grown = grow("linear", linear_config, out, "grid.n=[3, 10, 20]")
    assert grown.exit_code == 0, grown.output
    assert last_run(out)["tasks_to_run"] == first // 2 and last_run(out)["tasks_already_done"] == first
    assert last_run(out)["grown"] == ["grid.n: + [10]"]
    more = grow("linear", linear_config, out, "grid.n=[3, 10, 20]", "trials=100")
    assert more.exit_code == 0, more.output
    # trials 50-59 were a task of 10; they are now part of a task of 50 (50-99): 3 cells' new tasks run
    assert last_run(out)["tasks_to_run"] == 3 and last_run(out)["tasks_already_done"] == 3
    scratch = tmp_path / "scratch"
    assert grow("linear", linear_config, scratch, "grid.n=[3, 10, 20]", "trials=100").exit_code == 0
    assert tables(out) == tables(scratch)


def test_changes_that_alter_stored_numbers_are_refused_naming_them(linear_config, tmp_path):
    out = tmp_path / "folder"
    assert grow("linear", linear_config, out).exit_code == 0
    assert_one_line_error(grow("linear", linear_config, out, "seed=3"), "different config", "seed was 2, now 3")
    assert_one_line_error(grow("linear", linear_config, out, "grid.n=[3]"), "different config", "grid.n")
    several = tmp_path / "sets"
    assert grow("linear", linear_config, several, "options.original_sets=2").exit_code == 0
    # more trials are a round of their own (tests/test_trials_in_place.py); a hand-written history that is not the
    # folder's would move its stored trials between sets
    assert_one_line_error(grow("linear", linear_config, several, "options.original_sets=2", "trials=80",
                               "earlier_trials=[{trials: 30}]"), "move trials between the 2 original sets")


@pytest.mark.slow
def test_a_unet_sweep_grows_by_more_simulations_and_an_n_value(tmp_path):
    config = tmp_path / "unet.yaml"
    config.write_text(UNET)
    out = tmp_path / "grown"
    assert grow("unet", config, out).exit_code == 0
    grown = grow("unet", config, out, "simulations=3", "grid.n=[4, 8, 12]")
    assert grown.exit_code == 0, grown.output
    assert last_run(out)["tasks_already_done"] == 4 and last_run(out)["tasks_to_run"] == 9 - 4
    scratch = tmp_path / "scratch"
    assert grow("unet", config, scratch, "simulations=3", "grid.n=[4, 8, 12]").exit_code == 0
    timings = ("train_seconds", "sample_seconds", "eval_seconds", "reference_seconds")
    import pandas as pd

    a, b = (pd.read_csv(folder / "trials.csv").drop(columns=list(timings)) for folder in (out, scratch))
    pd.testing.assert_frame_equal(a, b)


def test_a_growth_run_says_what_grew(tmp_path):
    """Issue 37: a growth run did not say what grew."""
    from cli_helpers import invoke

    config = Path(__file__).resolve().parents[1] / "configs" / "linear" / "quick.yaml"
    out = tmp_path / "r"
    assert invoke("sweep", "linear", str(config), "--set", "trials=4", "--set", "grid.n=[2,4]", "--out", str(out),
                  "--quiet").exit_code == 0
    grown = invoke("sweep", "linear", str(config), "--set", "trials=4", "--set", "grid.n=[2,4,8]", "--out", str(out),
                   "--quiet")
    assert grown.exit_code == 0 and "growing the folder's sweep: grid.n: + [8]" in grown.output
