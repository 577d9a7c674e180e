"""Configs and options that are refused before any work: repeated grid values, coerced types, duplicate
YAML keys, sweeps too big to plan, linear-model values where float64 breaks, and plot/analyze options.
Each is one line through the CLI, exit code 2, nothing written."""

from __future__ import annotations

import math
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml


from cli_helpers import assert_one_line_error, invoke  # tests/ is on sys.path
from memgen_cli.runner.plan import work_counts
from memgen_cli.linear.domain import T_MAX, VAR_HI, VAR_LO
from memgen_cli.runner.plan import plan_tasks
from memgen_cli.runner.registry import get_experiment
from memgen_cli.runner.sweep import load_sweep_config

from results_factory import broken_h2, logistic_p, write_linear_results

ROOT = Path(__file__).resolve().parents[1]


def dry_run(config, *sets, model="linear"):
    return invoke("sweep", model, config, *[x for s in sets for x in ("--set", s)], "--dry-run")


def resolved(result) -> dict:
    assert result.exit_code == 0, result.output
    return yaml.safe_load("\n".join(line for line in result.output.splitlines() if not line.startswith("#")))


@pytest.fixture
def unet_config(tmp_path) -> Path:
    path = tmp_path / "unet.yaml"
    path.write_text((ROOT / "configs" / "unet" / "quick.yaml").read_text())
    return path


# ----------------------------------------------------------------------------------------------
# 1. A grid value listed twice


@pytest.mark.parametrize("setting, field, value", [
    ("grid.n=[2,2,2]", "grid.n", "2 appears 3 times"),
    ("grid.n=[4, 4.0]", "grid.n", "4 appears 2 times"),
    ("grid.d=[8, 16, 8]", "grid.d", "8 appears 2 times"),
    ("grid.N=[1000, 1e3]", "grid.N", "1000 appears 2 times"),
    ("grid.lambda=[0.1, 0.1]", "grid.lambda", "0.1 appears 2 times"),
    ("grid.T=[2, 2.0]", "grid.T", "2.0 appears 2 times"),
    ("grid.covariance=[BBt, BBt]", "grid.covariance", "'BBt' appears 2 times"),
    ("grid.bandwidth=[paper, mixing, paper]", "grid.bandwidth", "'paper' appears 2 times"),
    ("grid.ridge=[0, 0.0]", "grid.ridge", "0.0 appears 2 times"),
    ("grid.T={start: 2, stop: 2, num: 3}", "grid.T", "2.0 appears 3 times"),  # a real range that repeats
])
def test_a_repeated_grid_value_is_refused(small_config, tmp_path, setting, field, value):
    result = invoke("sweep", "linear", small_config, "--out", tmp_path / "out", "--set", setting)
    assert_one_line_error(result, f"{field}: {value}; each value once")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("setting, field", [
    ("grid.n=[8, 8]", "grid.n"), ("grid.side=[8, 8]", "grid.side"), ("grid.N=[50, 50]", "grid.N"),
    ("grid.preset=[tiny, tiny]", "grid.preset"), ("grid.steps=[10, 10]", "grid.steps"),
    ("grid.train_steps=[400, 400]", "grid.train_steps"),
])
def test_a_repeated_unet_grid_value_is_refused(unet_config, setting, field):
    assert_one_line_error(dry_run(unet_config, setting, model="unet"), field, "appears 2 times; each value once")


def test_an_integer_range_still_drops_the_repeats_its_rounding_makes(small_config):
    config = resolved(dry_run(small_config, "grid.n={start: 2, stop: 10, num: 20, spacing: log}"))
    assert config["grid"]["n"] == [2, 3, 4, 5, 6, 7, 8, 9, 10]


# ----------------------------------------------------------------------------------------------
# 2. Types: no booleans for numbers, one rule for integers, no duplicate keys


@pytest.mark.parametrize("setting, field, kind", [
    ("trials=true", "trials", "integer"),
    ("seed=false", "seed", "integer"),
    ("grid.d=[True]", "grid.d[0]", "integer"),
    ("grid.n={start: 2, stop: 64, num: true}", "grid.n", "integer"),
    ("grid.lambda=[true]", "grid.lambda[0]", "number"),
    ("grid.ridge=[0, true]", "grid.ridge[1]", "number"),
    ("data.sigma=true", "data.sigma", "number"),
    ("data.mu=false", "data.mu", "number"),
    ("options.ridge=true", "options.ridge", "number"),
    ("options.original_sets=true", "options.original_sets", "integer"),
])
def test_a_boolean_is_not_a_number(small_config, setting, field, kind):
    assert_one_line_error(dry_run(small_config, setting), field, f"must be {'an' if kind == 'integer' else 'a'} "
                                                                 f"{kind}, not a boolean")


@pytest.mark.parametrize("setting, field", [
    ("simulations=true", "simulations"), ("grid.side=[true]", "grid.side[0]"), ("training.lr=true", "training.lr"),
    ("data.mu=true", "data.mu"), ("sampling.generated=true", "sampling.generated"),
])
def test_a_boolean_is_not_a_number_in_a_unet_config(unet_config, setting, field):
    assert_one_line_error(dry_run(unet_config, setting, model="unet"), field, "not a boolean")


def test_one_rule_for_integer_fields_scalars_and_grid_values_alike(small_config, unet_config):
    config = resolved(dry_run(small_config, "trials=1e3", "seed=7.0", "grid.N=[1e3, 2000.0]", "grid.d=[4]",
                              "grid.n={start: 2, stop: 64, num: 6.0}"))
    assert config["trials"] == 1000 and config["seed"] == 7 and config["grid"]["N"] == [1000, 2000]
    assert config["grid"]["n"] == [2, 4, 8, 16, 32, 64]
    for setting, field in (("trials=4.5", "trials"), ("grid.N=[1000.5]", "grid.N[0]"), ("seed=2.5", "seed"),
                           ("grid.n={start: 2, stop: 64, num: 6.5}", "grid.n")):
        assert_one_line_error(dry_run(small_config, setting), field, "integer")
    assert_one_line_error(dry_run(small_config, "seed=1e30"), "seed: write 1e+30 out in digits")  # not exact
    assert resolved(dry_run(small_config, "seed=1000000000000000000000000000000"))["seed"] == 10**30
    unet = resolved(dry_run(unet_config, "simulations=2.0", "sampling.generated=1e1", model="unet"))
    assert unet["simulations"] == 2 and unet["sampling"]["generated"] == 10
    assert_one_line_error(dry_run(unet_config, "sampling.generated=2.5", model="unet"), "sampling.generated",
                          "integer")


def test_a_key_given_twice_in_a_file_is_refused_with_its_line(tmp_path):
    config = tmp_path / "twice.yaml"
    config.write_text("model: linear\ntrials: 5\ngrid: {n: [2, 4], d: [4], N: [50]}\ntrials: 50\n")
    assert_one_line_error(invoke("sweep", "linear", config, "--dry-run"), "twice.yaml: line 4: trials: given twice",
                          "first at line 2")
    nested = tmp_path / "nested.yaml"
    nested.write_text("model: linear\ngrid:\n  n: [2, 4]\n  d: [4]\n  n: [8]\n")
    assert_one_line_error(invoke("sweep", "linear", nested, "--dry-run"), "line 5: n: given twice")


def test_a_key_given_twice_in_a_set_value_is_refused(small_config):
    assert_one_line_error(dry_run(small_config, "grid={n: [2], n: [4]}"), "--set grid: n: given twice")


def test_yaml_merge_keys_still_override_on_purpose(tmp_path):
    config = tmp_path / "merge.yaml"
    config.write_text("model: linear\ntrials: 3\ngrid:\n  <<: {n: [2, 4], d: [4], N: [50]}\n  n: [8]\n")
    grid = resolved(invoke("sweep", "linear", config, "--dry-run"))["grid"]
    assert grid["n"] == [8] and grid["d"] == [4] and grid["N"] == [50]


# ----------------------------------------------------------------------------------------------
# 3. Sweeps too big to plan are refused from the raw config, dry run included


@pytest.mark.parametrize("sets, fragments", [
    (["grid.n={start: 2, stop: 1000000000, num: 1000000000}"],
     ["grid: 1000000000 cells, over the limit of 100000", "MEMGEN_MAX_CELLS"]),
    (["grid.n={start: 2, stop: 1000000, num: 1000}", "grid.d={start: 1, stop: 1000, num: 1000}",
      "grid.N={start: 2, stop: 100000, num: 1000}"], ["grid: 1000000000 cells", "MEMGEN_MAX_CELLS"]),
    (["trials=1000000000000"], ["2 cells x 1000000000000 trials = 2000000000000 trials, over the limit of 1000000",
                                "MEMGEN_MAX_TRIALS"]),
    (["trials=1e12"], ["= 2000000000000 trials", "MEMGEN_MAX_TRIALS"]),
])
@pytest.mark.parametrize("dry", [True, False])
def test_a_huge_sweep_is_refused_at_once(small_config, tmp_path, sets, fragments, dry):
    out = tmp_path / "out"
    start = time.perf_counter()
    result = invoke("sweep", "linear", small_config, "--out", out, *[x for s in sets for x in ("--set", s)],
                    *(["--dry-run"] if dry else ["-q"]))
    assert time.perf_counter() - start < 20  # it used to allocate 23.5 GB or run for minutes
    assert_one_line_error(result, *fragments)
    assert not out.exists()


def test_the_size_limits_can_be_raised_or_lowered(small_config):
    assert dry_run(small_config, "trials=600000").exit_code == 2  # 2 cells x 600000 > 10^6
    raised = invoke("sweep", "linear", small_config, "--set", "trials=600000", "--dry-run",
                    env={"MEMGEN_MAX_TRIALS": "2e6"})
    assert "# 2 cells x 600000 trials = 1200000 trials" in raised.output
    lowered = invoke("sweep", "linear", small_config, "--dry-run", env={"MEMGEN_MAX_CELLS": "1"})
    assert_one_line_error(lowered, "grid: 2 cells, over the limit of 1")
    assert_one_line_error(invoke("sweep", "linear", small_config, "--dry-run", env={"MEMGEN_MAX_TRIALS": "lots"}),
                          "MEMGEN_MAX_TRIALS: must be a positive integer (got 'lots')")


def test_a_huge_unet_sweep_is_refused(unet_config):
    assert_one_line_error(dry_run(unet_config, "simulations=1000000000", model="unet"),
                          "5 cells x 1000000000 simulations", "MEMGEN_MAX_TRIALS")


def test_the_dry_run_counts_tasks_as_the_sweep_cuts_them(small_config):
    sets = ["trials=120", "options.original_sets=7", "grid.n=[2, 3, 5]"]
    result = dry_run(small_config, *sets)
    cfg = load_sweep_config(small_config, sets, model="linear")
    tasks = plan_tasks(get_experiment("linear"), cfg)
    assert work_counts(get_experiment("linear"), cfg) == (3, 120, len(tasks))
    assert f"# 3 cells x 120 trials = 360 trials in {len(tasks)} tasks" in result.output


# ----------------------------------------------------------------------------------------------
# 4. The linear model's float64 domain: just inside runs and gives finite numbers, just outside is refused

TINY_SWEEP = """
model: linear
seed: 1
trials: 2
grid: {n: [2, 3], d: [1], lambda: [0.0183], T: [2.0], N: [20]}
options: {original_sets: 1}
"""
NOISE = -math.expm1(-4.0)  # 1 - e^(-2T) at T = 2
SD_X = math.sqrt(math.exp(-4.0) + 0.0183 * NOISE)  # σ_X at sigma = 1, lambda = 0.0183, T = 2
RIDGE_MAX = SD_X * min(1.0, SD_X) * math.sqrt(2 / 1e-300)  # B's variances stay normal floats (n = 2)
EDGES = [  # (setting, value just inside, value just outside, what the refusal names)
    ("data.sigma", math.sqrt(VAR_LO) * 20 * 1.001, math.sqrt(VAR_LO) * 20 * 0.999, "kernel variance eps²"),
    ("data.sigma", math.sqrt(VAR_HI) * 0.999, math.sqrt(VAR_HI) * 1.001, "σ²"),
    ("grid.lambda", VAR_LO / NOISE * 1.001, VAR_LO / NOISE * 0.999, "noise variance"),
    ("grid.lambda", VAR_HI / NOISE * 0.999, VAR_HI / NOISE * 1.001, "noise variance"),
    ("grid.T", T_MAX * 0.9999, T_MAX * 1.0001, "e^(-2T) underflows"),
    ("options.ridge", RIDGE_MAX * 0.999, RIDGE_MAX * 1.001, "generated variances underflow"),
]


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(TINY_SWEEP))
    return path


def _override(field: str, value: float) -> str:
    return f"{field}={[value]!r}" if field.startswith("grid.") else f"{field}={value!r}"


@pytest.mark.parametrize("field, inside, outside, why", EDGES, ids=[f"{e[0]}-{e[3][:12]}" for e in EDGES])
def test_linear_values_at_the_edge_of_float64(tiny_config, tmp_path, field, inside, outside, why):
    out = tmp_path / "in"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an underflow or overflow inside fails the task
        result = invoke("sweep", "linear", tiny_config, "--out", out, "--executor", "serial", "-q",
                        "--set", _override(field, inside))
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(out / "trials.csv")
    metrics = ["log_E_TG", "log_E_OG", "log_abs_delta", "H2", "log_one_minus_H2"]
    assert len(trials) == 4 and np.isfinite(trials[metrics].to_numpy(dtype=float)).all()
    refused = invoke("sweep", "linear", tiny_config, "--out", tmp_path / "out", "--set", _override(field, outside))
    assert_one_line_error(refused, field, why)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("settings, fragments", [
    (["data.sigma=1e-300"], ["data.sigma: 1e-300 is too small", "below 1e-100"]),  # the reported case
    (["grid.lambda=[1e-300]", "grid.T=[1e-10]"], ["grid.lambda: 1e-300 is too small", "noise variance"]),
    (["grid.T=[1000]"], ["grid.T: 1000 is too large"]),
    (["options.bandwidth=mixing", "data.sigma=1e10"], ["data.sigma", "mixing bandwidth", "rounding"]),
    (["grid.ridge=[0, 1e200]"], ["grid.ridge: 1e+200 is too large"]),
])
def test_values_where_the_linear_math_breaks_say_why(tiny_config, settings, fragments):
    assert_one_line_error(dry_run(tiny_config, *settings), *fragments)


# ----------------------------------------------------------------------------------------------
# 5. plot and analyze options, and what analyze leaves out

N_VALUES = [2, 4, 8, 16, 32, 64, 128, 256]


@pytest.fixture
def folder(tmp_path) -> Path:
    return write_linear_results(tmp_path / "res", N_VALUES, trials=60, p_of=logistic_p(40), h2_of=broken_h2(16))


@pytest.mark.parametrize("command", ["analyze", "plot"])
@pytest.mark.parametrize("option, value, message", [
    ("--seed", "-1", "--seed: must be >= 0 (got -1)"),
    ("--bootstrap", "1000000000000", "--bootstrap: must be <= 10000 (got 1000000000000)"),
    ("--bootstrap", "10001", "--bootstrap: must be <= 10000"),
])
def test_bad_plot_and_analyze_options_are_one_line(folder, tmp_path, command, option, value, message):
    out = tmp_path / "elsewhere"
    assert_one_line_error(invoke(command, folder, "--out", out, option, value), message)
    assert not out.exists()


def test_analyze_says_which_cells_it_left_out_and_where_p_at_max_n_comes_from(folder):
    summary = pd.read_csv(folder / "summary.csv")
    summary.loc[summary["n"] == 256, "p_delta_positive"] = np.nan
    summary.loc[summary["n"] == 8, "mean_H2"] = np.inf
    summary.to_csv(folder / "summary.csv", index=False)
    result = invoke("analyze", folder, "--bootstrap", "100", env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert ("1 cell(s) with a NaN or infinite p_delta_positive left out (n = 256); P at max n is the one at "
            "n = 128 (n_last_p), not at n = 256") in result.output
    assert "1 cell(s) with a NaN, infinite or <= 0 mean_H2 left out of the n_onset fit (n = 8)" in result.output
    assert " at n=128" in result.output  # the table's "P(Δ>0) at max n" column
    assert pd.read_csv(folder / "transitions.csv")["n_last_p"].iloc[0] == pytest.approx(128)


def test_analyze_of_a_whole_folder_has_no_such_note(folder):
    result = invoke("analyze", folder, "--bootstrap", "100", env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "left out" not in result.output and " at n=" not in result.output


def test_the_memory_estimate_counts_every_local_worker(monkeypatch):
    """Issue 34: the estimate was per task, so -w 2 could start two tasks that together exceed the memory."""
    from memgen_cli.errors import MemgenError
    from memgen_cli.runner.limits import MEMORY_VARIABLE, check_footprint
    from memgen_cli.runner.registry import get_experiment
    from memgen_cli.linear.experiment import LinearConfig

    experiment = get_experiment("linear")
    config = LinearConfig.model_validate({"grid": {"n": [2_000_000], "d": [4]}})
    each = max(e.memory for e in experiment.footprint(config))
    monkeypatch.setenv(MEMORY_VARIABLE, str(int(1.5 * each)))
    check_footprint(experiment, config, "c.yaml", work=False, workers=1)
    with pytest.raises(MemgenError, match=r"2 workers at once would hold about .* \(fewer --workers"):
        check_footprint(experiment, config, "c.yaml", work=False, workers=2)


def test_closed_form_sizes_that_passed_the_checks_are_refused_at_once(tmp_path):
    """Issue 34: grid.steps = 1e9 and evaluation.bootstrap = 1e9 passed the checks and failed inside a task."""
    from memgen_cli.errors import MemgenError
    from memgen_cli.runner.configs import load_sweep_config

    config = Path(__file__).resolve().parents[1] / "configs" / "closedform" / "quick.yaml"
    with pytest.raises(MemgenError, match="grid.steps: a task would hold about"):
        load_sweep_config(config, ["grid.steps=[1000000000]"], model="closedform")
    with pytest.raises(MemgenError, match="evaluation.bootstrap: must be <= 1000000"):
        load_sweep_config(config, ["evaluation.bootstrap=1e9"], model="closedform")
