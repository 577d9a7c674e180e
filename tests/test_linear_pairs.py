"""The linear sweep's reproducibility columns: each trial's own fit against its partner's, checked against an
independent dense Monte Carlo; seeded apart; optional; old parts without the columns still valid; the same numbers
whatever the worker count."""

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from memgen_cli.linear.experiment import PAIR_METRICS, LinearExperiment, partner_seed
from memgen_cli.linear.model import noise_variance
from memgen_cli.results_format import csv_bytes, part_checksum_file
from memgen_cli.runner import parts
from memgen_cli.runner.sweep import load_sweep_config, run_sweep

T, LAM = 2.0, float(np.exp(-4.0))
SWEEP = """
model: linear
seed: 4
trials: 60
grid: {n: [3, 6, 40], d: [3], N: [200]}
options: {original_sets: 2}
"""


def dense_generator(rng, n, d, sigma=1.0):
    """Draw a training set as a trial does (data, then noise) and build G(z) = m + A z densely with lstsq."""
    Y = sigma * rng.standard_normal((n, d))
    X = np.exp(-T) * Y + np.sqrt(noise_variance(T, LAM)) * rng.standard_normal((n, d))
    y, x = Y - Y.mean(0), X - X.mean(0)
    Bt = np.linalg.lstsq(x, y, rcond=None)[0]  # x Bᵀ ≈ y, minimum norm
    mu_X = np.exp(-T) * Y.mean(0)
    var_X = np.exp(-2 * T) * np.sum(y**2) / (n * d) + noise_variance(T, LAM)
    m = Y.mean(0) + (mu_X - X.mean(0)) @ Bt
    return m, np.sqrt(var_X) * Bt.T


def hellinger_dense(m, cov, sigma=1.0):
    s = (cov + sigma**2 * np.eye(len(m))) / 2
    log_bc = (0.25 * np.linalg.slogdet(cov)[1] + 0.25 * len(m) * np.log(sigma**2) - 0.5 * np.linalg.slogdet(s)[1]
              - m @ np.linalg.solve(s, m) / 8)
    return -np.expm1(log_bc)


def cell(n, d=3):
    return {"n": n, "d": d, "lambda": LAM, "T": T, "N": 200, "mu": 10.0, "sigma": 1.0, "bandwidth": "paper",
            "covariance": "BBt", "ridge": 0.0, "original": "fixed"}


@pytest.mark.parametrize("n", [2, 6, 40])
def test_the_column_matches_a_dense_monte_carlo_of_the_trial_and_its_partner(tmp_path, n):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SWEEP))
    config = load_sweep_config(path)
    seeds = [(t, 1000 + t) for t in range(4)]
    rows = LinearExperiment().run_task(config, cell(n), seeds)
    for (_, seed), row in zip(seeds, rows):
        m1, A1 = dense_generator(np.random.default_rng(seed), n, 3)
        m2, A2 = dense_generator(np.random.default_rng(partner_seed(seed)), n, 3)
        if n > 3:  # member 1 is the trial itself: its H² is the row's
            assert hellinger_dense(m1 - 0.0, A1 @ A1.T) == pytest.approx(row["H2"], rel=1e-7, abs=1e-12)
        z = np.random.default_rng(seed + 1).standard_normal((200_000, 3))
        sq = np.sum(((m1 + z @ A1.T) - (m2 + z @ A2.T)) ** 2, axis=1)
        mc, se = sq.mean() / 6, sq.std(ddof=1) / np.sqrt(sq.size) / 6  # scaled by 2 d σ² = 6
        assert abs(row["paired_distance"] - mc) < 5 * se
        assert row["log_paired_distance"] == pytest.approx(np.log(row["paired_distance"]))
        assert row["reproduced"] == int(row["paired_distance"] < 1 / 9)
    assert partner_seed(1000) != 1000 and len({partner_seed(s) for _, s in seeds}) == len(seeds)


def test_pairs_change_no_other_column_and_can_be_left_out(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SWEEP))
    on = load_sweep_config(path)
    off = load_sweep_config(path, ["options.reproducibility=false"])
    experiment = LinearExperiment()
    seeds = [(t, 50 + t) for t in range(5)]
    with_pairs = experiment.run_task(on, cell(6), seeds)
    without = experiment.run_task(off, cell(6), seeds)
    assert [{k: v for k, v in row.items() if k not in PAIR_METRICS} for row in with_pairs] == without
    assert experiment.columns(on)[-3:] == PAIR_METRICS and not set(PAIR_METRICS) & set(experiment.columns(off))
    # the default stays out of config.yaml and out of the task inputs: folders from before it resume
    assert "reproducibility" not in on.model_dump()["options"]
    assert off.model_dump()["options"]["reproducibility"] is False
    assert experiment.task_inputs(on) != experiment.task_inputs(off)
    assert experiment.cells(on) == experiment.cells(off)


def test_parts_stored_before_the_columns_stay_valid(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SWEEP))
    config = load_sweep_config(path)
    out = tmp_path / "out"
    first = run_sweep(config, out, executor="serial")
    assert first.summary["p_reproduced"].notna().all() and "mean_paired_distance" in first.summary.columns
    # an older memgen's part: the same rows without the pair columns, its checksum rewritten, its identity kept
    part = sorted((out / "parts").glob("*.csv"))[0]
    key = part.name[:-len(".csv")]
    old = pd.read_csv(part).drop(columns=list(PAIR_METRICS))
    data = csv_bytes(old)
    part.write_bytes(data)
    identity = json.loads((out / part_checksum_file(key)).read_text())["inputs"]
    parts.write_checksum(out, key, data, len(old), identity)
    second = run_sweep(config, out, executor="serial")
    assert second.tasks_run == 0
    trials = pd.read_csv(out / "trials.csv")
    assert trials["reproduced"].isna().sum() == len(old)
    assert (second.summary["count_reproduced"] <= second.summary["trials"]).all()
    assert second.summary["count_reproduced"].sum() == len(trials) - len(old)


@pytest.mark.slow  # starts processes
def test_pair_columns_do_not_depend_on_the_worker_count(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SWEEP))
    config = load_sweep_config(path)
    run_sweep(config, tmp_path / "serial", executor="serial")
    run_sweep(config, tmp_path / "local", executor="local", workers=2)
    for name in ("trials.csv", "summary.csv"):
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
