"""``originals: evaluated`` (issue 36): a closed-form simulation of a drawn family draws only the original images it
evaluates, from a stream of their own. Every metric keeps its distribution (two-sample KS tests against
``originals: all``), the default leaves old folders and their numbers as they were, and a folder made one way is
refused in one line when resumed the other."""

import textwrap

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cli_helpers import assert_one_line_error, invoke  # tests/ is on sys.path
from memgen_cli.closedform import simulation
from memgen_cli.closedform.params import CellParams, ClosedFormConfig
from memgen_cli.imaging import data as data_mod
from memgen_cli.runner.sweep import load_sweep_config, run_sweep
from tiny import CLOSEDFORM_SWEEP

CELL = {"n": 12, "side": 4, "N": 3000, "steps": 5, "smoothing": 0.2, "generated": 8, "eval_train": 6,
        "eval_original": 40, "data": "gaussian", "mu": 0.5, "sigma": 0.1}


@pytest.mark.slow  # 2 x 300 simulations
@pytest.mark.parametrize("family", ["gaussian", "gmm"])
def test_every_metric_keeps_its_distribution(family):
    """300 simulations each way on a small case; a two-sample KS test per metric (Bonferroni over the metrics)."""
    params = CellParams.from_cell({**CELL, "data": family})
    runs = {mode: pd.DataFrame([simulation.simulate(params, 10_000 * k + 7, references=True, originals=drawn).row
                                for k in range(300)])
            for mode, drawn in (("all", None), ("evaluated", 40))}
    numeric = [c for c in runs["all"].columns if pd.api.types.is_numeric_dtype(runs["all"][c])
               and not c.endswith("_seconds") and runs["all"][c].nunique() > 1]
    assert {"E_TG", "E_OG", "Delta", "log_E_OG_kde", "memorized_fraction", "nn_ratio_mean"} <= set(numeric)
    for column in numeric:
        p = stats.ks_2samp(runs["all"][column].dropna(), runs["evaluated"][column].dropna()).pvalue
        assert p > 0.001 / len(numeric), (column, p)
    for column in ("n_original", "n_eval_original", "n_eval_train", "pixel_sigma"):
        assert (runs["all"][column] == runs["evaluated"][column]).all()


def test_it_draws_the_evaluated_subset_from_its_own_stream():
    data = data_mod.ImageData()
    split = data_mod.sample_split_evaluated(data, 5, 10_000, 4, np.random.default_rng(1), np.random.default_rng(2), 40)
    assert split.original.shape == (40, 4, 4) and split.n_original == 10_000
    # the training set is the one sample_split draws first
    assert np.array_equal(split.train, data_mod.sample_split(data, 5, 10, 4, np.random.default_rng(1)).train)
    assert np.array_equal(split.original, data_mod.draw_fresh(data, 40, 4, np.random.default_rng(2)))
    row = simulation.simulate(CellParams.from_cell(CELL), 3, originals=40).row
    assert row["n_original"] == 3000 and row["n_eval_original"] == 40


def test_default_is_all_and_stays_out_of_config_and_identity(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(CLOSEDFORM_SWEEP))
    old = load_sweep_config(path)
    new = load_sweep_config(path, ["originals=evaluated"])
    assert old.originals == "all" and "originals" not in old.model_dump()
    assert new.model_dump()["originals"] == "evaluated"
    assert new.originals_drawn(300) == 40 and old.originals_drawn(300) == 300
    assert load_sweep_config(path, ["originals=evaluated", "reproducibility=true"]).originals_drawn(300) == 300
    from memgen_cli.closedform.experiment import ClosedFormExperiment
    experiment = ClosedFormExperiment()
    assert "originals" not in experiment.task_inputs(old) and experiment.task_inputs(new)["originals"] == "evaluated"
    with pytest.raises(ValueError, match="originals: evaluated"):
        ClosedFormConfig.model_validate({**old.model_dump(), "originals": "evaluated", "data": {"family": "digits"}})


def test_folders_resume_as_made_or_are_refused_in_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(CLOSEDFORM_SWEEP))
    out = tmp_path / "out"
    first = run_sweep(load_sweep_config(path), out, executor="serial")
    again = run_sweep(load_sweep_config(path), out, executor="serial")
    assert again.tasks_run == 0 and first.tasks_run > 0
    assert_one_line_error(invoke("sweep", "closedform", path, "--out", out, "--set", "originals=evaluated", "--quiet"),
                          "holds results of a different config", "originals")
    lazy = run_sweep(load_sweep_config(path, ["originals=evaluated"]), tmp_path / "lazy", executor="serial")
    trials = pd.read_csv(tmp_path / "lazy" / "trials.csv")
    assert lazy.tasks_run == first.tasks_run and (trials["n_original"] == 300).all()
    assert (trials["n_eval_original"] == 40).all()
