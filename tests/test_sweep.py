"""Sweeps: determinism across executors and worker counts, resume after kill -9, locking, the transition."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from memgen_cli.errors import MemgenError
from memgen_cli.linear.experiment import LinearConfig
from memgen_cli.statistics.summary import summarize_trials, wilson_interval
from memgen_cli.runner.results_folder import ResultsFolder
from memgen_cli.runner.sweep import load_sweep_config, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def csv_bytes(folder: Path) -> tuple[bytes, bytes]:
    return (folder / "trials.csv").read_bytes(), (folder / "summary.csv").read_bytes()


@pytest.mark.slow  # starts processes
def test_same_csv_whatever_the_executor_or_workers(small_config, tmp_path):
    config = load_sweep_config(small_config, ["trials=120", "options.original=redraw"])
    serial = run_sweep(config, tmp_path / "serial", executor="serial")
    run_sweep(config, tmp_path / "one", executor="local", workers=1)
    run_sweep(config, tmp_path / "two", executor="local", workers=2)
    assert csv_bytes(tmp_path / "serial") == csv_bytes(tmp_path / "one") == csv_bytes(tmp_path / "two")
    assert b"generalizer_delta_positive" in csv_bytes(tmp_path / "serial")[0]  # the ideal generalizer too
    in_memory = run_sweep(config, executor="serial").trials
    pd.testing.assert_frame_equal(in_memory, pd.read_csv(tmp_path / "serial" / "trials.csv"), check_dtype=False)
    assert len(serial.trials) == 240 and serial.trials["seed"].is_unique


def test_seeds_depend_on_cell_and_trial_not_on_the_rest_of_the_grid(small_config):
    both = run_sweep(load_sweep_config(small_config), executor="serial").trials
    only_big = run_sweep(load_sweep_config(small_config, ["grid.n=[20]"]), executor="serial").trials
    pd.testing.assert_frame_equal(both[both.n == 20].drop(columns="cell").reset_index(drop=True),
                                  only_big.drop(columns="cell"))
    other_root = run_sweep(load_sweep_config(small_config, ["seed=4"]), executor="serial").trials
    assert not np.array_equal(other_root["seed"], both["seed"])


@pytest.mark.slow  # starts processes
def test_resume_after_kill_minus_9(tmp_path):
    config = tmp_path / "resume.yaml"
    config.write_text("model: linear\ntrials: 400\ngrid: {n: [4, 30, 60], d: [24], N: [1500]}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "memgen_cli", "sweep", "linear", str(config), "--quiet", "--workers", "1"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list((killed / "parts").glob("*.csv"))) < 3:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker, mid-sweep
    finally:
        proc.wait(timeout=30)
    finished_before = len(list((killed / "parts").glob("*.csv")))
    assert 3 <= finished_before < 30, "the kill should land mid-sweep"  # 3 cells x 10 original sets
    assert not (killed / "trials.csv").exists()
    rerun = subprocess.run(cmd + ["--out", str(killed)], env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    clean = subprocess.run(cmd + ["--out", str(tmp_path / "clean")], env=env, capture_output=True, timeout=300)
    assert clean.returncode == 0
    assert csv_bytes(killed) == csv_bytes(tmp_path / "clean")
    trials = pd.read_csv(killed / "trials.csv")
    assert len(trials) == 1200 and not trials.duplicated(["cell", "trial"]).any()
    import json
    runs = json.loads((killed / "manifest.json").read_text())["runs"]
    assert runs[-1]["tasks_already_done"] == finished_before and runs[-1]["status"] == "finished"


def test_second_run_on_the_same_folder_is_refused(small_config, tmp_path):
    holder = ResultsFolder(tmp_path / "busy")
    config = load_sweep_config(small_config)
    from memgen_cli.config import config_to_dict

    holder.open(config_to_dict(config))
    try:
        with pytest.raises(MemgenError, match="another memgen run"):
            run_sweep(config, tmp_path / "busy", executor="serial")
    finally:
        holder.close()
    run_sweep(config, tmp_path / "busy", executor="serial")  # free again


def test_failed_task_is_reported_and_retried(small_config, tmp_path, monkeypatch):
    from memgen_cli.linear import experiment as linear_experiment

    config = load_sweep_config(small_config, ["options.original_sets=1"])  # one task per cell
    original = linear_experiment.LinearExperiment.run_task

    def flaky(self, cfg, cell, trials):
        if cell["n"] == 3:
            raise RuntimeError("boom")
        return original(self, cfg, cell, trials)

    monkeypatch.setattr(linear_experiment.LinearExperiment, "run_task", flaky)
    messages = []
    first = run_sweep(config, tmp_path / "f", executor="serial", on_failure=messages.append)
    assert len(first.failed) == 1 and "boom" in messages[0] and "n=3" in messages[0]
    assert set(first.trials["n"]) == {20}  # the other cell went on and was written
    # The screen and failed.json keep one line and name the log, which holds the whole traceback.
    log = tmp_path / "f" / first.failed[0]["log"]
    assert first.failed[0]["error"] == "RuntimeError: boom" and str(log) in messages[0]
    assert json.loads((tmp_path / "f" / "failed.json").read_text())[0]["log"] == f"logs/{first.failed[0]['task']}.log"
    text = log.read_text()
    assert text.startswith("Traceback (most recent call last):") and "in flaky" in text
    assert text.rstrip().endswith("RuntimeError: boom")
    monkeypatch.setattr(linear_experiment.LinearExperiment, "run_task", original)
    retried = run_sweep(config, tmp_path / "f", executor="serial", retry_failed=True)
    assert retried.tasks_run == 1 and not retried.failed and len(retried.trials) == 24
    assert not (tmp_path / "f" / "failed.json").exists() and not log.exists()  # no stale log once it succeeded


def test_force_clears_the_logs_and_resume_keeps_them(small_config, tmp_path, monkeypatch):
    from memgen_cli.linear import experiment as linear_experiment

    def always_fails(self, cfg, cell, trials):
        raise RuntimeError("boom")

    monkeypatch.setattr(linear_experiment.LinearExperiment, "run_task", always_fails)
    one_set = ["options.original_sets=1"]  # one task per cell
    first = run_sweep(load_sweep_config(small_config, one_set), tmp_path / "f", executor="serial")
    logs = sorted((tmp_path / "f" / "logs").glob("*.log"))
    assert len(logs) == len(first.failed) == 2
    run_sweep(load_sweep_config(small_config, one_set), tmp_path / "f", executor="serial")  # resume: still failing
    assert sorted((tmp_path / "f" / "logs").glob("*.log")) == logs
    monkeypatch.undo()
    run_sweep(load_sweep_config(small_config, ["trials=5"]), tmp_path / "f", executor="serial", force=True)
    assert not any((tmp_path / "f" / "logs").glob("*.log"))


def test_grid_ranges_round_and_deduplicate():
    cfg = LinearConfig(grid={"n": {"start": 2, "stop": 1000, "num": 12}, "N": "1e4", "d": 16})
    assert cfg.grid.n[0] == 2 and cfg.grid.n[-1] == 1000 and len(cfg.grid.n) == len(set(cfg.grid.n)) == 12
    assert cfg.grid.N == [10_000] and cfg.grid.d == [16]
    small = LinearConfig(grid={"n": {"start": 2, "stop": 5, "num": 10}})
    assert small.grid.n == [2, 3, 4, 5]
    lin = LinearConfig(grid={"T": {"start": 1, "stop": 2, "num": 3, "spacing": "linear"}})
    assert lin.grid.T == [1.0, 1.5, 2.0]


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    assert all(np.isnan(wilson_interval(0, 0)))  # a cell with no finite outcome has no interval


def test_summary_statistics_average_finite_values_only():
    """summary.csv's columns against a direct computation: Wilson from its closed form, finite-only means."""
    rng = np.random.default_rng(4)
    trials = pd.DataFrame({"model": "linear", "cell": np.repeat([0, 1, 2], 40), "cell_id": "c",
                           "n": np.repeat([3, 5, 9], 40), "delta_positive": rng.integers(0, 2, 120).astype(float),
                           "log_E": rng.standard_normal(120)})
    trials.loc[:39, "log_E"] = np.inf  # an n <= d cell: every E infinite
    trials.loc[45:49, "log_E"] = np.nan
    trials.loc[80:84, "delta_positive"] = np.nan
    summary = summarize_trials(trials, ["model", "cell", "cell_id", "n"], ("delta_positive",), ("log_E",))
    z = 1.959963984540054
    for cell, group in trials.groupby("cell"):
        row = summary.iloc[cell]
        outcome = group["delta_positive"].dropna().to_numpy()
        k, m = outcome.sum(), len(outcome)
        centre = (k / m + z**2 / (2 * m)) / (1 + z**2 / m)
        half = z * np.sqrt(k / m * (1 - k / m) / m + z**2 / (4 * m**2)) / (1 + z**2 / m)
        assert row["trials"] == 40 and row["p_delta_positive"] == pytest.approx(k / m, abs=1e-15)
        assert (row["p_delta_positive_lo"], row["p_delta_positive_hi"]) == pytest.approx((centre - half,
                                                                                          centre + half), abs=1e-14)
        values = group["log_E"].to_numpy()
        values = values[np.isfinite(values)]
        assert row["count_log_E"] == len(values)
        if len(values):
            assert row["mean_log_E"] == pytest.approx(values.mean(), abs=1e-14)
            assert row["se_log_E"] == pytest.approx(values.std(ddof=1) / np.sqrt(len(values)), abs=1e-14)
        else:
            assert np.isnan(row["mean_log_E"]) and np.isnan(row["se_log_E"])


@pytest.mark.slow
def test_transition_at_the_papers_settings():
    """mu = 10, sigma = 1, T = 2, lambda = e^-4, N = 10^4, BBt, d = 16: memorizes below d, generalizes at 64."""
    config = LinearConfig(trials=100, grid={"n": [4, 8, 64], "d": [16], "N": [10_000]})
    summary = run_sweep(config, executor="local", workers=2).summary.set_index("n")
    assert summary.loc[4, "p_delta_positive"] <= 0.05
    assert summary.loc[8, "p_delta_positive"] <= 0.05
    assert summary.loc[64, "p_delta_positive"] >= 0.9
    assert summary.loc[64, "mean_H2"] < summary.loc[8, "mean_H2"] == 1.0


@pytest.mark.slow  # starts processes
def test_options_can_be_swept_from_the_grid(small_config, tmp_path):
    config = load_sweep_config(small_config, ["grid.covariance=[BBt, BtB]", "grid.ridge=[0, 0.5]",
                                              "options={bandwidth: paper, original: fixed}"])
    result = run_sweep(config, tmp_path / "opts", executor="local", workers=1)  # config round-trips to a worker
    assert not result.failed
    cells = result.summary[["n", "covariance", "ridge"]].drop_duplicates()
    assert len(cells) == 8 and set(cells["covariance"]) == {"BBt", "BtB"} and set(cells["ridge"]) == {0.0, 0.5}


def test_a_setting_lives_in_one_place_grid_or_options(small_config, tmp_path):
    # A file that sets options.covariance and sweeps grid.covariance too is ambiguous ...
    both = tmp_path / "both.yaml"
    both.write_text(small_config.read_text().replace("grid: {", "grid: {covariance: [BBt, BtB], "))
    with pytest.raises(MemgenError, match=r"grid.covariance and options.covariance: both given"):
        load_sweep_config(both)
    # ... while --set grid.covariance replaces the file's options.covariance (and --set options.X a grid.X).
    config = load_sweep_config(small_config, ["grid.covariance=[BBt, BtB]"])
    assert config.grid.covariance == ["BBt", "BtB"] and "covariance" not in config.options.model_fields_set
    back = load_sweep_config(both, ["options.covariance=BtB"])
    assert back.grid.covariance is None and back.options.covariance == "BtB"
    result = run_sweep(config, tmp_path / "swept", executor="serial")
    assert sorted(result.summary["covariance"].unique()) == ["BBt", "BtB"]
    # The resolved config.yaml names covariance once (in the grid), so it runs again as a config.
    again = load_sweep_config(tmp_path / "swept" / "config.yaml")
    assert again.grid.covariance == ["BBt", "BtB"] and "covariance" not in again.options.model_fields_set
    assert run_sweep(again, tmp_path / "swept", executor="serial").tasks_run == 0  # the same config: resumed
