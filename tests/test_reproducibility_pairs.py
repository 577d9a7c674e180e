"""Reproducibility pairs of the image models (imaging.pairs): partners on disjoint training sets with seeds of their
own, sharing the sampling noise; rows otherwise unchanged; configs that cannot have disjoint sets refused; the same
numbers whatever the worker count or an interruption."""

import textwrap

import numpy as np
import pandas as pd
import pytest

from memgen_cli.closedform import simulation as cf_simulation
from memgen_cli.closedform.experiment import ClosedFormExperiment
from memgen_cli.closedform.params import CellParams
from memgen_cli.errors import MemgenError
from memgen_cli.imaging import data as data_mod
from memgen_cli.imaging import evaluation, pairs
from memgen_cli.imaging.evaluation import ImageEvaluation
from memgen_cli.runner.sweep import load_sweep_config, run_sweep

TIMINGS = ("data_seconds", "sample_seconds", "eval_seconds", "pair_seconds", "reference_seconds")
PAIRS_SWEEP = """
model: closedform
seed: 2
simulations: 3
reproducibility: true
grid: {n: [6, 60], side: [8], smoothing: [0, 0.2]}
data: {family: digits}
sampling: {generated: 5}
evaluation: {eval_original: 100}
"""


def digits_cell(n=30, smoothing=0.0, eval_original=150, eval_train=None):
    return CellParams.model_validate({"grid": {"n": n, "side": 8, "N": 2, "steps": 10, "smoothing": smoothing},
                                      "data": {"family": "digits"}, "sampling": {"generated": 6},
                                      "evaluation": {"eval_original": eval_original, "eval_train": eval_train}})


@pytest.mark.parametrize("eval_train,eval_original", [(None, 150), (10, 150), (None, None), (10, 40)])
def test_the_evaluated_original_subset_is_the_one_evaluate_uses(eval_train, eval_original):
    """evaluated_original repeats evaluate's draws; checked against the original subset evaluate's prepare draws
    from the same seed and every metric is measured against."""
    split = data_mod.sample_split(data_mod.ImageData(family="digits"), 30, 2, 8, np.random.default_rng(1))
    settings = ImageEvaluation(eval_train=eval_train, eval_original=eval_original)
    used = evaluation.prepare(split, settings, np.random.default_rng(77), generated=4).original_eval
    expected = split.original.reshape(len(split.original), -1)[pairs.evaluated_original(split, settings, 77)]
    assert np.array_equal(used, expected)


def test_digit_partners_are_disjoint_from_the_training_set_and_the_evaluated_originals(monkeypatch):
    p = digits_cell()
    captured = {}
    real = pairs.partner_training_set

    def spy(data, split, n, side, settings, eval_seed, rng):
        images = real(data, split, n, side, settings, eval_seed, rng)
        captured.update(split=split, images=images, evaluated=pairs.evaluated_original(split, settings, eval_seed))
        return images

    monkeypatch.setattr(pairs, "partner_training_set", spy)
    cf_simulation.simulate(p, 11, reproducibility=True)
    split, partner = captured["split"], captured["images"].reshape(30, -1)
    everything = data_mod.digits_images(8).reshape(1797, -1)  # 1797 distinct images: content names the digit
    positions = [int(np.flatnonzero((everything == image).all(axis=1))[0]) for image in partner]
    forbidden = set(split.train_index.tolist()) | set(split.original_index[captured["evaluated"]].tolist())
    assert len(set(positions)) == 30 and not set(positions) & forbidden
    assert len(captured["evaluated"]) == 150 and len(forbidden) == 180


def test_partners_are_seeded_apart_and_leave_the_row_unchanged():
    p = digits_cell(smoothing=0.2)
    plain = cf_simulation.simulate(p, 11).row
    paired = cf_simulation.simulate(p, 11, reproducibility=True).row
    again = cf_simulation.simulate(p, 11, reproducibility=True).row
    other = cf_simulation.simulate(p, 12, reproducibility=True).row
    assert {k: v for k, v in paired.items() if k in plain and k not in TIMINGS} == \
        {k: v for k, v in plain.items() if k not in TIMINGS}
    assert list(paired)[-len(pairs.PAIR_COLUMNS):] == list(pairs.PAIR_COLUMNS)
    assert {k: again[k] for k in pairs.PAIR_COLUMNS[:-1]} == {k: paired[k] for k in pairs.PAIR_COLUMNS[:-1]}
    assert paired["paired_distance"] != other["paired_distance"]
    assert pairs.partner_seed(11) != pairs.partner_seed(12) and pairs.partner_seed(11) != 11


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_the_two_members_share_their_sampling_noise(monkeypatch, smoothing):
    """Give the partner the simulation's own training set: with shared noise (and shared σ-CFDM perturbations) it
    must draw exactly the same images, so every pair is the same image at distance 0."""
    monkeypatch.setattr(pairs, "partner_training_set", lambda data, split, *a: split.train.copy())
    row = cf_simulation.simulate(digits_cell(smoothing=smoothing), 5, reproducibility=True).row
    assert row["reproduced_fraction"] == 1.0 and row["paired_distance"] == 0.0


def test_gaussian_partners_are_fresh_draws():
    p = CellParams.model_validate({"grid": {"n": 8, "side": 8, "N": 100, "steps": 10, "smoothing": 0.0},
                                   "data": {"family": "gaussian"}, "sampling": {"generated": 4}})
    split = data_mod.sample_split(p.data, 8, 100, 8, np.random.default_rng(3))
    partner = pairs.partner_training_set(p.data, split, 8, 8, p.evaluation, 9, np.random.default_rng(4))
    assert partner.shape == split.train.shape and not np.isin(partner, split.train).any()
    row = cf_simulation.simulate(p, 3, reproducibility=True).row
    assert row["reproduced_fraction"] == 0.0 and 0.5 < row["paired_distance"] < 1.5  # copies of unrelated images


def test_a_pool_too_small_for_a_disjoint_partner_is_refused(tmp_path):
    path = tmp_path / "pairs.yaml"
    path.write_text(textwrap.dedent(PAIRS_SWEEP))
    with pytest.raises(MemgenError, match=r"^cell 0: reproducibility: the partner needs n = 6 training images"):
        load_sweep_config(path, ["evaluation.eval_original=null", "evaluation.references=false"], model="closedform")
    with pytest.raises(MemgenError, match=r"set evaluation.eval_original to at most 1677"):
        load_sweep_config(path, ["evaluation.eval_original=1700"], model="closedform")
    load_sweep_config(path, ["evaluation.eval_original=1677"], model="closedform")
    assert pairs.pair_problem(data_mod.ImageData(), 10, 100, ImageEvaluation()) is None  # drawn: always disjoint


def test_the_option_stays_out_of_cells_and_config_yaml_when_off(tmp_path):
    path = tmp_path / "pairs.yaml"
    path.write_text(textwrap.dedent(PAIRS_SWEEP))
    on = load_sweep_config(path, model="closedform")
    off = load_sweep_config(path, ["reproducibility=false"], model="closedform")
    experiment = ClosedFormExperiment()
    assert experiment.cells(on) == experiment.cells(off)
    assert "reproducibility" not in off.model_dump() and on.model_dump()["reproducibility"] is True
    assert experiment.task_inputs(off) == experiment.task_inputs(load_sweep_config(
        path, ["reproducibility=false"], model="closedform"))
    assert set(experiment.columns(on)) - set(experiment.columns(off)) == set(pairs.PAIR_COLUMNS)


def without_timings(path):
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return table.drop(columns=[c for c in table.columns if any(c.endswith(t) for t in TIMINGS)])


def test_a_pairs_sweep_resumes_to_the_same_numbers(tmp_path):
    path = tmp_path / "pairs.yaml"
    path.write_text(textwrap.dedent(PAIRS_SWEEP))
    config = load_sweep_config(path, model="closedform")
    whole = tmp_path / "whole"
    run_sweep(config, whole, executor="serial")
    resumed = tmp_path / "resumed"
    run_sweep(config, resumed, executor="serial")
    parts = sorted((resumed / "parts").glob("*.csv"))
    for part in parts[::2]:  # as if killed: half the finished simulations lost
        part.unlink()
    second = run_sweep(config, resumed, executor="serial")
    assert second.tasks_run == len(parts[::2])
    for name in ("trials.csv", "summary.csv"):
        pd.testing.assert_frame_equal(without_timings(whole / name), without_timings(resumed / name))
    summary = pd.read_csv(whole / "summary.csv")
    assert {"mean_reproduced_fraction", "mean_paired_distance"} <= set(summary.columns)


@pytest.mark.slow  # starts processes
def test_a_pairs_sweep_does_not_depend_on_the_worker_count(tmp_path):
    path = tmp_path / "pairs.yaml"
    path.write_text(textwrap.dedent(PAIRS_SWEEP))
    config = load_sweep_config(path, model="closedform")
    run_sweep(config, tmp_path / "serial", executor="serial")
    run_sweep(config, tmp_path / "local", executor="local", workers=2)
    for name in ("trials.csv", "summary.csv"):
        pd.testing.assert_frame_equal(without_timings(tmp_path / "serial" / name),
                                      without_timings(tmp_path / "local" / name))


UNET_CELL = {"n": 8, "side": 8, "N": 300, "preset": "tiny", "steps": 10, "train_steps": 6, "batch_size": 8, "lr": 1e-3,
             "generated": 4, "eval_original": 50}
UNET_TIMINGS = ("train_seconds", "sample_seconds", "eval_seconds", "pair_seconds", "reference_seconds")


def test_a_unet_partner_is_a_second_training_that_leaves_the_row_unchanged():
    from memgen_cli.unet.simulation import simulate

    plain = simulate(UNET_CELL, seed=4, device="cpu", threads=1).row
    paired = simulate(UNET_CELL, seed=4, device="cpu", threads=1, reproducibility=True).row
    assert {k: v for k, v in paired.items() if k in plain and k not in UNET_TIMINGS} == \
        {k: v for k, v in plain.items() if k not in UNET_TIMINGS}
    assert set(paired) - set(plain) == set(pairs.PAIR_COLUMNS)
    assert 0 <= paired["reproduced_fraction"] <= 1 and paired["paired_distance"] > 0


def test_a_unet_partner_shares_the_sampling_noise(monkeypatch):
    """A partner built exactly as its simulation (same data, weights, batches) must draw the very same images."""
    from memgen_cli.unet import simulation

    monkeypatch.setattr(simulation, "_partner", lambda p, seed, s: simulation._setup(p, seed))
    row = simulation.simulate(UNET_CELL, seed=4, device="cpu", threads=1, reproducibility=True).row
    assert row["reproduced_fraction"] == 1.0 and row["paired_distance"] == 0.0


def test_unet_reproducibility_stays_out_of_config_yaml_and_cells(tmp_path):
    from memgen_cli.unet.experiment import UnetExperiment

    path = tmp_path / "unet.yaml"
    path.write_text("model: unet\ngrid: {n: [4], train_steps: [3]}\nreproducibility: true\n")
    on = load_sweep_config(path, model="unet")
    off = load_sweep_config(path, ["reproducibility=false"], model="unet")
    experiment = UnetExperiment()
    assert experiment.cells(on) == experiment.cells(off) and "reproducibility" not in off.model_dump()
    assert experiment.columns(on)[-len(pairs.PAIR_COLUMNS):] == pairs.PAIR_COLUMNS
    assert pairs.PAIR_COLUMNS[0] not in experiment.columns(off)
