"""The image experiments' reference models (issue 22): an ideal generalizer and an ideal memorizer in every
simulation, measured against the model's own prepared sets, from their own seed; evaluation.bandwidth; folders
written before them."""

import textwrap

import numpy as np
import pandas as pd
import pytest

from tiny import unet_cell, unet_sweep

import diffusers  # noqa: F401  (make test installs the unet extra: a missing one must fail, not skip)
import torch  # noqa: F401

from memgen_cli.config import config_to_dict
from memgen_cli.errors import MemgenError
from memgen_cli.imaging import data as data_mod
from memgen_cli.imaging.evaluation import ImageEvaluation, measure, pixel_width, prepare
from memgen_cli.imaging.references import REFERENCE_COLUMNS, reference_images, reference_seed
from memgen_cli.runner.sweep import load_sweep_config, run_sweep
from memgen_cli.unet import experiment as unet_experiment
from memgen_cli.unet import simulation
from memgen_cli.unet.params import SimulationParams

TINY = unet_cell()
TIMINGS = ("train_seconds", "sample_seconds", "eval_seconds", "reference_seconds")


def test_references_are_present_seeded_and_leave_the_model_alone():
    with_refs = simulation.simulate(TINY, seed=11, device="cpu", references=True).row
    again = simulation.simulate(TINY, seed=11, device="cpu", references=True).row
    without = simulation.simulate(TINY, seed=11, device="cpu", references=False).row
    other = simulation.simulate(TINY, seed=12, device="cpu", references=True).row
    assert set(REFERENCE_COLUMNS) <= set(with_refs) and not set(REFERENCE_COLUMNS) & set(without)
    assert {k: v for k, v in with_refs.items() if k not in REFERENCE_COLUMNS and k not in TIMINGS} == \
        {k: v for k, v in without.items() if k not in TIMINGS}  # the model's numbers do not move
    assert {k: with_refs[k] for k in REFERENCE_COLUMNS[:-1]} == {k: again[k] for k in REFERENCE_COLUMNS[:-1]}
    # Copies of training images are all called copies; fresh draws from the data distribution none.
    assert with_refs["memorizer_memorized_fraction"] == 1.0 and with_refs["generalizer_memorized_fraction"] == 0.0
    assert other["memorizer_memorized_fraction"] == 1.0
    assert reference_seed(11) != reference_seed(12)


def digits_sets(n=30, eval_original=1500, generated=16, seed=0, bandwidth="paper"):
    params = SimulationParams.from_cell({**TINY, "data": "digits", "n": n, "eval_original": eval_original,
                                         "generated": generated})
    split = data_mod.sample_split(params.data, n, params.grid.N, 8, np.random.default_rng(seed))
    evaluation = ImageEvaluation(eval_original=eval_original, bandwidth=bandwidth)
    return params, split, prepare(split, evaluation, np.random.default_rng(seed + 1), generated)


def test_digit_references_come_from_outside_the_training_set_and_the_evaluated_originals():
    params, split, sets = digits_sets()
    images = reference_images(params.data, sets, np.random.default_rng(3))
    rows = lambda a: {r.tobytes() for r in a.reshape(len(a), -1)}  # noqa: E731
    generalizer, memorizer = rows(images["generalizer"]), rows(images["memorizer"])
    assert len(generalizer) == 16 and not generalizer & rows(split.train) and not generalizer & rows(sets.original_eval)
    assert generalizer <= rows(split.original)
    assert memorizer <= rows(split.train) and len(memorizer) == 16  # n >= M: without replacement


def test_too_few_held_out_digits_is_refused_before_any_work(tmp_path):
    path = tmp_path / "digits.yaml"
    path.write_text(textwrap.dedent("""
        model: unet
        grid: {n: [4, 64], side: [8], train_steps: [3]}
        data: {family: digits}
        sampling: {generated: 16}
    """))
    # Every digit not trained on is evaluated: none is held out. Refused when the config is loaded.
    with pytest.raises(MemgenError, match=r"^cell 0 \(n = 4\): evaluation\.references: the ideal generalizer needs "
                                          r"16 held-out images .* every one of them is evaluated: set "
                                          r"evaluation\.eval_original to at most 1777, or evaluation\.references: "
                                          r"false$"):
        load_sweep_config(path, model="unet")
    load_sweep_config(path, ["evaluation.references=false"], model="unet")
    load_sweep_config(path, ["evaluation.eval_original=1700"], model="unet")


def test_new_settings_stay_out_of_cells_and_config_at_their_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: unet\ngrid: {n: [4], side: [8], train_steps: [3]}\n")
    experiment = unet_experiment.UnetExperiment()
    default = load_sweep_config(path, model="unet")
    stored = config_to_dict(default)["evaluation"]
    assert "bandwidth" not in stored and "references" not in stored  # old folders' config.yaml and part identities
    cell = experiment.cells(default)[0]
    assert "bandwidth" not in cell and "references" not in cell
    common = load_sweep_config(path, ["evaluation.bandwidth=common", "evaluation.references=false"], model="unet")
    common_cell = experiment.cells(common)[0]
    assert common_cell["bandwidth"] == "common" and "references" not in common_cell  # a new cell: other numbers
    assert SimulationParams.from_cell(common_cell).evaluation.bandwidth == "common"
    assert experiment.columns(common) == experiment.columns(default)[:len(experiment.columns(common))]
    assert not set(REFERENCE_COLUMNS) & set(experiment.columns(common))


def test_common_width_is_silvermans_rule_at_the_generated_count():
    common = ImageEvaluation(bandwidth="common")
    assert pixel_width(common, 0.1, 3000, 10) == pytest.approx(1.0592 * 0.1 * 10 ** -0.2, rel=1e-4)
    assert pixel_width(common, 0.1, 7, 10) == pixel_width(common, 0.1, 3000, 10)  # one width for every set
    assert pixel_width(ImageEvaluation(), 0.1, 50, 10) == pytest.approx(0.1 / 50)  # paper: sigma / m


def reference_outcomes(evaluation: ImageEvaluation, n: int, N: int, draws: int, metric: str = "delta_positive_exact"):
    """P(Δ>0) of the references over ``draws`` independent splits of Gaussian pixels (no network)."""
    data = data_mod.ImageData()
    found = {"generalizer": [], "memorizer": []}
    for k in range(draws):
        split = data_mod.sample_split(data, n, N, 8, np.random.default_rng(k))
        sets = prepare(split, evaluation, np.random.default_rng(1000 + k), 10)
        rng = np.random.default_rng(2000 + k)
        for name, images in reference_images(data, sets, rng).items():
            found[name].append(measure(images, sets, rng)[metric])
    return {name: float(np.mean(values)) for name, values in found.items()}


@pytest.mark.slow  # about 20 s
def test_the_common_width_tells_the_references_apart_where_the_papers_cannot():
    """docs/unet.md's finding on Gaussian pixels (d = 64, M = 10, n = 30): with the paper's σ/m and subsets of 10
    and 100 both references score P(Δ>0) near 0; with one common width, the whole training set and 600 originals
    the generalizer scores near 1 and the memorizer near 0."""
    paper = reference_outcomes(ImageEvaluation(eval_train=10, eval_original=100), 30, 600, 20)
    assert paper["generalizer"] <= 0.3 and paper["memorizer"] <= 0.3
    common = reference_outcomes(ImageEvaluation(bandwidth="common"), 30, 600, 20)
    assert common["generalizer"] >= 0.8 and common["memorizer"] <= 0.2


def test_a_reference_costs_its_own_terms_only(monkeypatch):
    """The references reuse the model's prepared training and original sets: preparing happens once per
    simulation, whatever the references."""
    calls = []
    real = simulation.prepare
    monkeypatch.setattr(simulation, "prepare", lambda *a, **k: calls.append(1) or real(*a, **k))
    simulation.simulate(TINY, seed=3, device="cpu", references=True)
    assert len(calls) == 1




def test_a_folder_from_before_the_references_resumes_without_retraining(tmp_path, monkeypatch):
    """Parts stored without the reference columns stay valid: nothing is retrained, the references read as missing
    (count 0) in summary.csv, and analyze keeps n* with 'no references'."""
    path = tmp_path / "c.yaml"
    path.write_text(unet_sweep())
    config = load_sweep_config(path, model="unet")
    out = tmp_path / "old"
    with monkeypatch.context() as old:  # what memgen wrote before issue 22
        columns = unet_experiment.UnetExperiment.columns
        old.setattr(unet_experiment.UnetExperiment, "columns",
                    lambda self, c: tuple(x for x in columns(self, c) if x not in REFERENCE_COLUMNS))
        real = simulation.simulate_group
        old.setattr(simulation, "simulate_group", lambda *a, **k: real(*a, **{**k, "references": False}))
        run_sweep(config, out, executor="serial")
    before = pd.read_csv(out / "trials.csv")
    assert not set(REFERENCE_COLUMNS) & set(before.columns)
    resumed = run_sweep(config, out, executor="serial")
    assert resumed.tasks_run == 0 and resumed.tasks_skipped == 4
    assert (resumed.summary["count_generalizer_delta_positive"] == 0).all()
    assert resumed.summary["p_generalizer_delta_positive"].isna().all()
    assert not resumed.notes  # missing references are not failed outcomes
    pd.testing.assert_frame_equal(pd.read_csv(out / "trials.csv"), before)
    from memgen_cli.report.analysis.transitions import find_transitions

    assert set(find_transitions(out, n_boot=50)["n_star_discriminates_at"]) == {"no references"}

