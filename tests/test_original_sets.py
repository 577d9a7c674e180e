"""Several original sets per cell: intervals that cover the original set's draw, and K = 1 as it always was."""

import numpy as np
import pandas as pd
import pytest

from memgen_cli.errors import MemgenError
from memgen_cli.linear.experiment import LinearExperiment, original_seed
from memgen_cli.linear.model import original_reference, run_linear_trial
from memgen_cli.report.analysis.transitions import find_transitions
from memgen_cli.seeding import trial_seed
from memgen_cli.runner.sweep import load_sweep_config, run_sweep

METRICS = ["log_E_TG", "log_E_OG", "delta_sign", "log_abs_delta", "delta_positive", "H2", "eps_N"]


def test_one_set_reproduces_the_single_fixed_set(small_config):
    """K = 1 is the old `original: fixed`: one set drawn from (root seed, d, N, mu, sigma), shared by every trial."""
    config = load_sweep_config(small_config, ["options.original_sets=1"])
    trials = run_sweep(config, executor="serial").trials
    for cell in LinearExperiment().cells(config):
        rng = np.random.default_rng(original_seed(config.seed, cell))
        original = original_reference(cell["sigma"] * rng.standard_normal((cell["N"], cell["d"])), "paper",
                                      cell["sigma"])
        rows = trials[trials["n"] == cell["n"]]
        assert "original_set" not in rows.columns  # the rows are exactly what one fixed set always gave
        for _, row in rows.iterrows():
            seed = trial_seed(config.seed, "linear", cell, int(row["trial"]))
            expected = run_linear_trial(np.random.default_rng(seed), cell["n"], cell["d"], cell["lambda"],
                                        cell["T"], cell["N"], mu=cell["mu"], sigma=cell["sigma"], original=original)
            assert int(row["seed"]) == seed
            for metric in METRICS:  # the sweep batches trials: the same up to the last bits (test_batched_trials.py)
                assert row[metric] == pytest.approx(expected[metric], rel=1e-12, abs=0)
            assert row["delta_sign"] == expected["delta_sign"] and row["eps_N"] == expected["eps_N"]


def test_trials_keep_their_seeds_and_are_spread_evenly_over_the_sets(small_config):
    one = run_sweep(load_sweep_config(small_config, ["options.original_sets=1", "trials=25"]), executor="serial")
    four = run_sweep(load_sweep_config(small_config, ["options.original_sets=4", "trials=25"]), executor="serial")
    assert one.trials["seed"].tolist() == four.trials["seed"].tolist()  # K enters no seed and no cell id
    assert one.trials["cell_id"].tolist() == four.trials["cell_id"].tolist()
    counts = four.trials.groupby(["cell", "original_set"]).size()
    assert set(counts) <= {6, 7} and counts.groupby("cell").sum().tolist() == [25, 25]
    # Set k is the same original set for every n: its bandwidth, and its draw, do not depend on n.
    by_set = four.trials.groupby(["original_set", "cell"])["eps_N"].first().unstack()
    assert (by_set.nunique(axis=1) == 1).all()
    cells = LinearExperiment().cells(load_sweep_config(small_config))
    assert [original_seed(3, cells[0], k) for k in range(4)] == [original_seed(3, cells[1], k) for k in range(4)]
    assert len({original_seed(3, cells[0], k) for k in range(4)}) == 4
    assert four.summary["original_sets"].tolist() == [4, 4]


def test_redraw_and_original_sets_together_are_refused(small_config):
    with pytest.raises(MemgenError, match="options.original_sets and options.original: redraw"):
        load_sweep_config(small_config, ["options.original=redraw", "options.original_sets=5"])
    redraw = load_sweep_config(small_config, ["options.original=redraw"])
    trials = run_sweep(redraw, executor="serial").trials
    assert "original_set" not in trials.columns  # every trial its own set: independent, Wilson as before


def test_same_csv_with_several_sets_whatever_the_workers(small_config, tmp_path):
    config = load_sweep_config(small_config, ["trials=30"])
    for name, kwargs in (("serial", {"executor": "serial"}), ("two", {"executor": "local", "workers": 2})):
        run_sweep(config, tmp_path / name, **kwargs)
    for table in ("trials.csv", "summary.csv"):
        assert (tmp_path / "serial" / table).read_bytes() == (tmp_path / "two" / table).read_bytes()


def test_interval_widens_with_the_between_set_spread():
    """Summary intervals: the Wilson interval over trials, widened to the t interval over set means."""
    from memgen_cli.statistics.summary import summarize_trials

    rng = np.random.default_rng(1)
    p_of_set = np.repeat([0.1, 0.9, 0.2, 0.8, 0.5], 40)  # five sets that disagree strongly
    trials = pd.DataFrame({"model": "linear", "cell": 0, "cell_id": "c", "n": 5,
                           "original_set": np.repeat(np.arange(5), 40),
                           "delta_positive": (rng.random(200) < p_of_set).astype(int)})
    row = summarize_trials(trials, ["model", "cell", "cell_id", "n"], ("delta_positive",), (), "original_set").iloc[0]
    set_means = trials.groupby("original_set")["delta_positive"].mean()
    from scipy.stats import t

    half = t.ppf(0.975, 4) * set_means.std(ddof=1) / np.sqrt(5)
    assert row["p_delta_positive_between_sd"] == pytest.approx(set_means.std(ddof=1))
    assert row["p_delta_positive_lo"] == pytest.approx(max(0.0, row["p_delta_positive"] - half))
    assert row["p_delta_positive_hi"] == pytest.approx(min(1.0, row["p_delta_positive"] + half))
    # Sets that agree give back the Wilson interval (the t interval is then the narrower one).
    trials["delta_positive"] = np.tile([0, 1], 100)
    agree = summarize_trials(trials, ["model", "cell", "cell_id", "n"], ("delta_positive",), (), "original_set")
    assert agree.iloc[0]["p_delta_positive_lo"] == pytest.approx(0.4313, abs=1e-4)  # Wilson, 100 of 200


@pytest.mark.slow  # two sweeps and their analyses
def test_analyze_resamples_sets_then_trials(small_config, tmp_path):
    # n from 2 to 20 at d = 4: H² sits at 1 while n <= d, so the onset (where it leaves that plateau) is inside
    wide = run_sweep(load_sweep_config(small_config, ["trials=40", "grid.n=[2, 3, 4, 6, 8, 12, 20]"]), tmp_path / "k")
    assert not wide.failed
    table = find_transitions(tmp_path / "k", n_boot=200)
    assert table["bootstrap"].iloc[0] == "trials"
    assert not any("conditional on one original set" in note for note in table.attrs["notes"])
    one = run_sweep(load_sweep_config(small_config, ["trials=40", "grid.n=[2, 3, 4, 6, 8, 12, 20]",
                                                     "options.original_sets=1"]), tmp_path / "one")
    conditional = find_transitions(tmp_path / "one", n_boot=200)
    assert not one.failed and np.isfinite(conditional["n_onset"].iloc[0])
    assert any("conditional on one original set" in note for note in conditional.attrs["notes"])


@pytest.mark.slow
def test_new_interval_covers_the_redraw_value_where_one_set_does_not(tmp_path):
    """d = 8, n = N = 500, where one original set moves P(Delta > 0) far from its redraw value."""
    base = tmp_path / "cov.yaml"
    base.write_text("model: linear\ntrials: 200\ngrid: {n: [500], d: [8], N: [500]}\n")
    reference = run_sweep(load_sweep_config(base, ["trials=3000", "options.original=redraw"]), executor="local",
                          workers=2).summary["p_delta_positive"].iloc[0]
    covered = {"sets": 0, "one": 0}
    seeds = range(1, 21)
    for seed in seeds:
        for name, k in (("sets", 10), ("one", 1)):
            row = run_sweep(load_sweep_config(base, [f"seed={seed}", f"options.original_sets={k}"]),
                            executor="serial").summary.iloc[0]
            covered[name] += row["p_delta_positive_lo"] <= reference <= row["p_delta_positive_hi"]
    assert covered["sets"] >= 0.85 * len(seeds), (covered, reference)
    assert covered["one"] <= covered["sets"] - 5, (covered, reference)


def test_a_folder_from_before_original_sets_is_explained_and_can_be_continued(small_config, tmp_path):
    import yaml

    from memgen_cli.cli import app
    from typer.testing import CliRunner

    out = tmp_path / "old"
    run_sweep(load_sweep_config(small_config, ["options.original_sets=1"]), out, executor="serial")
    stored = yaml.safe_load((out / "config.yaml").read_text())
    del stored["options"]["original_sets"]  # as an older memgen wrote it
    (out / "config.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))
    refused = CliRunner().invoke(app, ["sweep", "linear", str(small_config), "--out", str(out), "-q"])
    assert refused.exit_code == 2
    assert "options.original_sets was 1, now 10" in refused.output and "before options.original_sets existed" \
        in refused.output
    resumed = run_sweep(load_sweep_config(small_config, ["options.original_sets=1"]), out, executor="serial")
    assert resumed.tasks_run == 0 and len(resumed.trials) == 24
