"""`memgen analyze`'s criteria.csv and training tables on constructed folders with known answers, written,
read back, drawn and put on the report page."""

import json

import numpy as np
import pandas as pd
import pytest

from results_factory import write_linear_results  # tests/ is on sys.path
from memgen_cli.report.analysis.criteria import criteria_table
from memgen_cli.report.figures.draw import draw_figures
from memgen_cli.report.page.html_report import write_report
from memgen_cli.report.analysis.outputs import analyze_folder, read_analysis
from memgen_cli.report.reader import read_results
from memgen_cli.report.analysis.settings import AnalysisSettings
from memgen_cli.report.analysis.training import training_table
from memgen_cli.statistics.summary import summarize_trials

N_LINEAR = [5, 8, 13, 20, 32, 50, 80, 128, 200, 320, 512]


def logistic(n, centre, steepness=3.0):
    return 1.0 / (1.0 + np.exp(-steepness * (np.log(n) - np.log(centre))))


def linear_folder(folder, n_rep, rng, column=True):
    """The factory's linear folder (P(Δ>0) crossing at 2.5 d = 40) with a reproduced column crossing at n_rep."""
    write_linear_results(folder, N_LINEAR, trials=300, seed=int(rng.integers(1000)))
    if column:
        trials = pd.read_csv(folder / "trials.csv")
        trials["reproduced"] = (rng.random(len(trials)) < logistic(trials["n"].to_numpy(float), n_rep)).astype(int)
        trials.to_csv(folder / "trials.csv", index=False)
    return folder


def test_linear_criteria_place_two_transitions_apart(tmp_path):
    rng = np.random.default_rng(0)
    row = criteria_table(read_results(linear_folder(tmp_path / "a", 160.0, rng))).groups.iloc[0]
    assert "n_mem" not in row  # no memorized fraction in the linear model
    for name, truth in (("n_star", 40.0), ("n_rep", 160.0)):
        assert row[f"{name}_status"] == "crossed" and row[f"{name}_lo"] <= truth <= row[f"{name}_hi"]
        assert row[name] == pytest.approx(truth, rel=0.25)
    assert row["ratio_star_rep"] == pytest.approx(0.25, rel=0.35) and row["ratio_star_rep_hi"] < 0.5
    assert row["verdict"] == "different n"


def test_linear_criteria_at_the_same_n_are_the_same(tmp_path):
    rng = np.random.default_rng(1)
    row = criteria_table(read_results(linear_folder(tmp_path / "b", 40.0, rng))).groups.iloc[0]
    assert 0.5 < row["ratio_star_rep_lo"] <= 1.0 <= row["ratio_star_rep_hi"] < 2.0
    assert row["verdict"] == "same n", row["verdict_reason"]


def test_a_folder_without_pairs_has_no_criteria_table(tmp_path):
    rng = np.random.default_rng(2)
    assert criteria_table(read_results(linear_folder(tmp_path / "c", 40.0, rng, column=False))) is None
    folder = linear_folder(tmp_path / "d", 40.0, rng)
    trials = pd.read_csv(folder / "trials.csv")
    trials["reproduced"] = np.nan  # parts stored before the columns: nothing to locate
    trials.to_csv(folder / "trials.csv", index=False)
    assert criteria_table(read_results(folder)) is None


def image_folder(folder, rng, n_star=100.0, n_mem=100.0, n_rep=400.0, sims=10, samples=16, references=None):
    """A U-Net-like folder: per simulation a P(Δ>0) outcome, a memorized and a reproduced fraction of M samples, a
    network-level spread between simulations (each simulation's own rate), then binomial samples. ``references``:
    {column: value} for every simulation (e.g. generalizer_delta_positive: 0)."""
    rows = []
    n_values = [25, 50, 100, 200, 400, 800, 1600]
    for cell, n in enumerate(n_values):
        for trial in range(sims):
            jitter = np.exp(0.2 * rng.standard_normal(3))
            mem = 1 - logistic(n, n_mem * jitter[0])
            rep = logistic(n, n_rep * jitter[1])
            rows.append({"model": "unet", "cell": cell, "cell_id": f"{cell:012x}", "n": n, "side": 8,
                         "generated": samples, "trial": trial, "seed": 100 * cell + trial,
                         "delta_positive": int(rng.random() < logistic(n, n_star * jitter[2])),
                         "memorized_fraction": rng.binomial(samples, mem) / samples,
                         "reproduced_fraction": rng.binomial(samples, rep) / samples,
                         "E_OG": 1.0 / n, **(references or {})})
    trials = pd.DataFrame(rows)
    binary = ("delta_positive", *(c for c in references or {} if c.endswith("delta_positive")))
    summary = summarize_trials(trials, ["model", "cell", "cell_id", "n", "side", "generated"], binary,
                               ("memorized_fraction", "reproduced_fraction", "E_OG"))
    folder.mkdir(parents=True, exist_ok=True)
    trials.to_csv(folder / "trials.csv", index=False)
    summary.to_csv(folder / "summary.csv", index=False)
    return folder


def test_image_criteria_locate_all_three_with_paired_intervals(tmp_path):
    table = criteria_table(read_results(image_folder(tmp_path / "img", np.random.default_rng(3))))
    row = table.groups.iloc[0]
    for name, truth in (("n_star", 100.0), ("n_mem", 100.0), ("n_rep", 400.0)):
        assert row[f"{name}_lo"] <= truth <= row[f"{name}_hi"], (name, row[name], row[f"{name}_lo"],
                                                                  row[f"{name}_hi"])
    assert row["ratio_mem_rep_hi"] < 0.5 and row["verdict"] == "different n"
    cells = table.cells
    assert list(cells["n"]) == [25, 50, 100, 200, 400, 800, 1600]
    inside = (cells["n_rep_value_lo"] <= cells["n_rep_value"]) & (cells["n_rep_value"] <= cells["n_rep_value_hi"])
    assert inside.all() and (cells["n_mem_value"].diff().dropna() <= 0.2).all()


def test_a_criterion_whose_metric_discriminates_nowhere_is_not_located(tmp_path):
    """Issue 35: P(Δ>0) is above 0.5 from the smallest n, but both references score 0 at every n: criteria.csv does
    not say n* is below the sweep (which would make the verdict 'different n'); it says the metric does not
    discriminate. The memorized fraction's references are told apart everywhere, so n_mem stands."""
    references = {"generalizer_delta_positive": 0, "memorizer_delta_positive": 0,
                  "generalizer_memorized_fraction": 0.0, "memorizer_memorized_fraction": 1.0}
    folder = image_folder(tmp_path / "img", np.random.default_rng(4), n_star=5.0, n_rep=100.0, references=references)
    row = criteria_table(read_results(folder)).groups.iloc[0]
    assert row["n_star_status"].startswith("undetermined: this metric does not discriminate at any n of the sweep")
    assert np.isnan(row["n_star"]) and np.isnan(row["ratio_star_mem"]) and np.isnan(row["ratio_star_rep"])
    assert row["n_mem_status"] == "crossed" and row["n_mem_lo"] <= 100.0 <= row["n_mem_hi"]
    assert row["verdict"] == "undetermined" and "already > 0.5" not in row["verdict_reason"]
    assert row["verdict_reason"] == ("n_star: undetermined: this metric does not discriminate at any n of the sweep: "
                                     "it cannot tell a generalizer from a memorizer at n = 25–1600")


def training_folder(folder, rng, sims=3, samples=16):
    """Curves whose memorized fraction follows a logistic in log step centred at 25 n (so τ ∝ n), the held-out loss
    falling to a floor by step 600; n = 512 memorizes only after the budget of 2000 steps."""
    steps = np.arange(50, 2001, 50)
    rows, trial_rows = [], []
    n_values = [4, 8, 16, 32, 512]
    for cell, n in enumerate(n_values):
        for trial in range(sims):
            centre = 25 * n * np.exp(0.1 * rng.standard_normal())
            for step in steps:
                fraction = rng.binomial(samples, logistic(step, centre, 4.0)) / samples
                loss = 0.3 + 0.4 * np.exp(-step / 150)
                rows.append({"model": "unet", "cell": cell, "cell_id": f"{cell:012x}", "n": n, "generated": samples,
                             "trial": trial, "seed": trial, "step": int(step), "memorized_fraction": fraction,
                             "heldout_loss": loss, "E_OG": loss, "E_TG": loss, "delta_positive": 0})
            trial_rows.append({**{k: rows[-1][k] for k in ("model", "cell", "cell_id", "n", "generated", "trial",
                                                           "seed", "memorized_fraction", "E_OG")},
                               "delta_positive": 0})
    trials = pd.DataFrame(trial_rows)
    summary = summarize_trials(trials, ["model", "cell", "cell_id", "n", "generated"], ("delta_positive",),
                               ("memorized_fraction", "E_OG"))
    folder.mkdir(parents=True, exist_ok=True)
    trials.to_csv(folder / "trials.csv", index=False)
    summary.to_csv(folder / "summary.csv", index=False)
    pd.DataFrame(rows).to_csv(folder / "curves.csv", index=False)
    return folder, steps


def brute_force_plateau(steps, values, tol=0.05):
    for k in range(len(steps)):
        if all(values[j] >= (1 - tol) * values[k] for j in range(k + 1, len(steps))):
            return steps[k]


def test_training_times_and_their_power_law(tmp_path):
    folder, steps = training_folder(tmp_path / "tr", np.random.default_rng(4))
    table = training_table(read_results(folder), pd.read_csv(folder / "curves.csv"), n_boot=400)
    cells = table.cells.set_index("n")
    # the fraction passes 0.5 at 25 n (the logistic's centre): τ_half brackets it, τ_mem comes before
    for n in (4, 8, 16, 32):
        assert cells.loc[n, "tau_half_status"] == "reached"
        assert cells.loc[n, "tau_half_lo"] <= 25 * n * 1.3 and cells.loc[n, "tau_half_hi"] >= 25 * n / 1.3
        assert cells.loc[n, "tau_mem"] < cells.loc[n, "tau_half"] or cells.loc[n, "tau_mem_status"] != "reached"
    assert cells.loc[4, "tau_mem_status"] == "at the first checkpoint"  # 6% copies at step 50 already
    assert (cells.loc[[8, 16, 32], "tau_mem_status"] == "reached").all()
    assert cells.loc[512, "tau_mem_status"] == "not reached within the budget"
    assert cells.loc[512, "tau_mem_hi"] == np.inf
    # the held-out loss reaches its plateau where a brute force over the checkpoints says, the same at every n
    loss = 0.3 + 0.4 * np.exp(-steps / 150)
    assert cells["tau_gen"].to_numpy() == pytest.approx(np.full(5, brute_force_plateau(steps, loss)))
    fits = table.fits.set_index("time")
    assert fits.loc["tau_half", "status"] == "ok" and fits.loc["tau_half", "points"] == 4
    assert fits.loc["tau_half", "beta_lo"] <= 1.0 <= fits.loc["tau_half", "beta_hi"]
    assert fits.loc["tau_half", "beta"] == pytest.approx(1.0, abs=0.15)
    assert fits.loc["tau_gen", "beta"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow  # analyze, plot and report end to end
def test_analyze_writes_reads_back_draws_and_reports_the_new_tables(tmp_path):
    folder, _ = training_folder(tmp_path / "tr", np.random.default_rng(5))
    trials = pd.read_csv(folder / "trials.csv")
    trials["reproduced_fraction"] = np.where(trials["n"] >= 32, 0.9, 0.0)
    trials.to_csv(folder / "trials.csv", index=False)
    settings = AnalysisSettings(bootstrap=200)
    analysis, paths = analyze_folder(folder, settings=settings)
    names = {p.name for p in paths}
    assert {"criteria.csv", "criteria_cells.csv", "training_times.csv", "training_fit.csv"} <= names
    record = json.loads((folder / "analysis.json").read_text())
    assert "curves.csv" in record["inputs"] and "criteria.csv" in record["tables"]
    stored = read_analysis(read_results(folder), settings)
    assert stored is not None and stored.criteria is not None and stored.training is not None
    pd.testing.assert_frame_equal(stored.training.fits.reset_index(drop=True),
                                  pd.read_csv(folder / "training_fit.csv"))
    row = stored.criteria.groups.iloc[0]
    assert row["n_rep_grid_limited"] and row["n_rep_lo"] == pytest.approx(16) and row["n_rep_hi"] == pytest.approx(32)
    report = draw_figures(folder, n_boot=200)
    drawn = {p.name for p in report.paths}
    assert {"criteria.png", "training_times.png"} <= drawn
    page = write_report([folder], analysis=settings).read_text()
    assert "Three criteria" in page and "Training times" in page and "training_fit.csv" in page


def test_n_star_and_its_interval_are_the_same_in_transitions_and_criteria(tmp_path):
    """One number, one interval (issue 37): criteria.csv's n* is transitions.csv's, read from the files written,
    on a linear folder with reproducibility."""
    rng = np.random.default_rng(6)
    folder = tmp_path / "lin"
    # 40 trials: d = 16's interval is the bootstrap's own (not widened to the grid), where two bootstraps differ
    write_linear_results(folder, [8, 13, 20, 32, 50, 80, 128], groups=({"d": 16}, {"d": 4}), trials=40, seed=3)
    trials = pd.read_csv(folder / "trials.csv")
    trials["reproduced"] = (rng.random(len(trials)) < logistic(trials["n"].to_numpy(float), 20.0)).astype(int)
    trials.to_csv(folder / "trials.csv", index=False)
    analyze_folder(folder, settings=AnalysisSettings(bootstrap=200, seed=11))
    assert len(pd.read_csv(folder / "criteria.csv")) == 2
    assert_one_n_star(folder, "criteria.csv")


def assert_one_n_star(folder, *tables):
    """Each table's n*, interval and status are transitions.csv's, group by group."""
    transitions = pd.read_csv(folder / "transitions.csv").set_index("group")
    assert (transitions["n_star_status"] == "crossed").all() and not transitions["n_star_grid_limited"].all()
    for name in tables:
        other = pd.read_csv(folder / name).set_index("group")
        assert sorted(transitions.index) == sorted(other.index), name
        for group in transitions.index:
            for column in ("n_star", "n_star_lo", "n_star_hi", "n_star_grid_limited"):
                assert transitions.loc[group, column] == pytest.approx(other.loc[group, column], nan_ok=True), \
                    (name, group, column)
            assert other.loc[group, "n_star_status"] == "crossed", (name, group)


def test_n_star_and_its_interval_are_the_same_in_every_image_table(tmp_path):
    """The same in an image folder: memorization.csv's and criteria.csv's n* are transitions.csv's."""
    folder = image_folder(tmp_path / "img", np.random.default_rng(7), sims=40)  # enough for distinct intervals
    analyze_folder(folder, settings=AnalysisSettings(bootstrap=200, seed=4))
    assert_one_n_star(folder, "memorization.csv", "criteria.csv")
    # and n_mem: criteria.csv's is memorization.csv's (its own bootstrap gave another interval: [50, 373] against
    # [50, 348] on the closed-form digits)
    memorization = pd.read_csv(folder / "memorization.csv").set_index("group")
    criteria = pd.read_csv(folder / "criteria.csv").set_index("group")
    assert (memorization["n_mem_status"] == "crossed").all()
    for column in ("n_mem", "n_mem_lo", "n_mem_hi", "n_mem_grid_limited"):
        assert memorization[column].tolist() == pytest.approx(criteria.loc[memorization.index, column].tolist()), column
