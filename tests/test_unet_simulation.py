"""One U-Net simulation end to end at tiny sizes: determinism, data families, and input validation."""

import re

import numpy as np
import pydantic
import pytest

import diffusers  # noqa: F401  (make test installs the unet extra: a missing one must fail, not skip)
import sklearn  # noqa: F401
import torch

from tiny import unet_cell
from memgen_cli.errors import MemgenError
from memgen_cli.imaging import data
from memgen_cli.unet.params import SimulationParams
from memgen_cli.imaging.evaluation import BINARY_METRICS, MEAN_METRICS
from memgen_cli.unet.simulation import simulate

# A flat cell, as in trials.csv; what it leaves out takes the config sections' defaults.
TINY = unet_cell()
TIMINGS = {"train_seconds", "sample_seconds", "eval_seconds", "reference_seconds"}


def _without_timings(row):
    return {k: v for k, v in row.items() if k not in TIMINGS}


def test_same_seed_same_numbers_and_other_seed_other_numbers():
    a = simulate(TINY, seed=11, device="cpu", threads=1).row
    b = simulate(SimulationParams.from_cell(TINY), seed=11, device="cpu", threads=1).row  # typed: the same
    c = simulate(TINY, seed=12, device="cpu", threads=1).row
    assert _without_timings(a) == _without_timings(b)
    assert a["E_OG_exact"] != c["E_OG_exact"]
    for key in BINARY_METRICS:
        assert a[key] in (0, 1)
    for key in MEAN_METRICS:
        assert np.isfinite(a[key]), key
    assert 0 <= a["memorized_lo"] <= a["memorized_fraction"] <= a["memorized_hi"] <= 1


@pytest.mark.parametrize("family,extra", [("digits", {}), ("gmm", {"gmm_means": [0.2, 0.8],
                                                                    "gmm_weights": [1, 3]})])
def test_other_data_families_run(family, extra):
    row = simulate({**TINY, "data": family, **extra}, seed=1, device="cpu", threads=1).row
    assert np.isfinite(row["E_TG_exact"]) and row["n_eval_train"] == 8
    if family == "digits":
        assert row["n_original"] == data.digits_available() - 8


def test_digits_split_is_disjoint_and_in_unit_range():
    params = SimulationParams.from_cell({**TINY, "data": "digits", "n": 100})
    split = data.sample_split(params.data, 100, params.grid.N, 8, np.random.default_rng(0))
    assert split.train.shape == (100, 8, 8) and split.original.shape == (1697, 8, 8) == (params.original_count, 8, 8)
    assert split.train.min() >= 0 and split.train.max() <= 1
    # Together they are the data set exactly once: a permutation, so no image is in both.
    everything = np.concatenate([split.train, split.original])
    assert sorted(r.tobytes() for r in everything) == sorted(r.tobytes() for r in data.digits_images())


def test_gmm_pixel_sigma_matches_samples():
    rng = np.random.default_rng(0)
    p = SimulationParams.from_cell({**TINY, "data": "gmm", "n": 20000, "side": 2, "N": 2, "eval_original": None,
                                    "gmm_means": [0.2, 0.8], "gmm_sigmas": [0.05, 0.1], "gmm_weights": [1, 3]})
    split = data.sample_split(p.data, p.grid.n, p.grid.N, p.grid.side, rng)
    assert split.train.std() == pytest.approx(split.pixel_sigma, rel=0.02)
    assert data.gmm_components(p.data) == ([0.2, 0.8], [0.05, 0.1], [1.0, 3.0])


def test_gmm_components_default_to_sigma_and_equal_weights():
    params = SimulationParams.from_cell({**TINY, "data": "gmm", "sigma": 0.2, "gmm_means": "0.1,0.5,0.9"})
    assert data.gmm_components(params.data) == ([0.1, 0.5, 0.9], [0.2, 0.2, 0.2], [1.0, 1.0, 1.0])


def test_model_scale_round_trip():
    x = np.random.default_rng(0).uniform(size=(3, 4, 4))
    np.testing.assert_allclose(data.from_model_scale(data.to_model_scale(x)), x)
    assert data.to_model_scale(np.array([0.0, 1.0])).tolist() == [-1.0, 1.0]


def test_params_are_frozen_and_mirror_the_config():
    params = SimulationParams.from_cell({**TINY, "data": "gmm", "gmm_weights": [1, 3]})
    assert params.grid.n == 8 and params.training.lr == 1e-3 and params.data.gmm_weights == (1.0, 3.0)
    assert params.data.mu == 0.5 and params.training.schedule == "logsnr_linear"  # the config's defaults
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        params.grid.n = 9
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        params.training = params.training
    cell = params.to_cell()
    assert cell["gmm_weights"] == "1.0,3.0" and cell["gmm_means"] == "0.3,0.7" and "mu" not in cell
    assert SimulationParams.from_cell(cell) == params


@pytest.mark.parametrize("bad,path", [
    ({"side": 7}, "grid.side"),  # tiny downsamples by 2
    ({"preset": "small", "side": 6}, "grid.side"),  # small downsamples by 4
    ({"preset": "huge"}, "grid.preset"),
    ({"schedule": "quadratic"}, "training.schedule"),
    ({"sampler": "euler"}, "sampling.sampler"),
    ({"data": "digits", "n": 1797}, "grid.n"),
    ({"data": "digits", "side": 12}, "grid.side"),  # 8, or 16 upsampled
    ({"data": "cifar"}, "data.family"),
    ({"data": "gmm", "gmm_sigmas": [0.1]}, "data.gmm_sigmas"),
    ({"data": "gmm", "gmm_weights": [1, 2, 3]}, "data.gmm_weights"),
    ({"data": "gmm", "gmm_weights": [0, 0]}, "data.gmm_weights"),
    ({"data": "gmm", "gmm_means": []}, "data.gmm_means"),
    ({"sigma": 0}, "data.sigma"),
    ({"eval_train": 9}, "evaluation.eval_train"),
    ({"eval_original": 301}, "evaluation.eval_original"),
    ({"epochs": 3}, "grid.epochs"),  # both epochs and train_steps
    ({"train_steps": None}, "grid.epochs"),  # neither
    ({"n": 1}, "grid.n"),
    ({"lr": 0}, "training.lr"),
    ({"batch_size": 0}, "training.batch_size"),
    ({"sample_steps": 11}, "sampling.sample_steps"),
    ({"kde_max_points": 1}, "evaluation.kde_max_points"),
    ({"colour": 3}, "colour"),
])
def test_bad_input_is_one_line_error_naming_the_config_path(bad, path):
    with pytest.raises(MemgenError, match=rf"^cell: {re.escape(path)}: ") as info:
        SimulationParams.from_cell({**TINY, **bad})
    assert "\n" not in str(info.value)


def test_messages_of_the_rules_across_fields():
    def message(**bad):
        with pytest.raises(MemgenError) as info:
            SimulationParams.from_cell({**TINY, **bad})
        return str(info.value)

    assert message(epochs=3) == "cell: grid.epochs: give exactly one training budget, grid.epochs or grid.train_steps"
    assert message(sample_steps=12) == "cell: sampling.sample_steps: must be between 1 and steps = 10 (got 12)"
    assert message(side=7) == ("cell: grid.side: preset 'tiny' downsamples by 2, so the image side must be a "
                               "multiple of 2 (got 7)")
    assert message(eval_train=9) == ("cell: evaluation.eval_train: evaluation subset of 9 is larger than the "
                                     "training set (n = 8)")


def test_bad_params_and_bad_device_fail_before_training(monkeypatch):
    from memgen_cli.unet import diffusion

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(diffusion, "train", no_training)
    with pytest.raises(MemgenError, match=r"^cell: grid\.side: "):
        simulate({**TINY, "side": 7}, seed=0, device="cpu")
    with pytest.raises(MemgenError, match=r"^device: "):
        simulate(TINY, seed=0, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(MemgenError, match=r"^device: "):
            simulate(TINY, seed=0, device="cuda")
