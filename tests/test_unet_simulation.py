"""One U-Net simulation end to end at tiny sizes: determinism, data families, and input validation."""

import numpy as np
import pytest

import diffusers  # noqa: F401  (make test installs the unet extra: a missing one must fail, not skip)
import sklearn  # noqa: F401
import torch

from memgen_cli.errors import MemgenError
from memgen_cli.unet import data
from memgen_cli.unet.simulation import BINARY_METRICS, MEAN_METRICS, run_simulation, validate_params

TINY = {"n": 8, "side": 8, "N": 300, "train_steps": 4, "batch_size": 8, "lr": 1e-3, "generated": 4, "eval_original": 50}
TIMINGS = {"train_seconds", "sample_seconds", "eval_seconds"}


def _without_timings(row):
    return {k: v for k, v in row.items() if k not in TIMINGS}


def test_same_seed_same_numbers_and_other_seed_other_numbers():
    a = run_simulation(TINY, seed=11, device="cpu", threads=1)
    b = run_simulation(TINY, seed=11, device="cpu", threads=1)
    c = run_simulation(TINY, seed=12, device="cpu", threads=1)
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
    row = run_simulation({**TINY, "data": family, **extra}, seed=1, device="cpu", threads=1)
    assert np.isfinite(row["E_TG_exact"]) and row["n_eval_train"] == 8
    if family == "digits":
        assert row["n_original"] == data.digits_available() - 8


def test_digits_split_is_disjoint_and_in_unit_range():
    split = data.sample_split({"data": "digits", "n": 100, "side": 8}, np.random.default_rng(0))
    assert split.train.shape == (100, 8, 8) and split.original.shape == (1697, 8, 8)
    assert split.train.min() >= 0 and split.train.max() <= 1
    # Together they are the data set exactly once: a permutation, so no image is in both.
    everything = np.concatenate([split.train, split.original])
    assert sorted(r.tobytes() for r in everything) == sorted(r.tobytes() for r in data.digits_images())


def test_gmm_pixel_sigma_matches_samples():
    rng = np.random.default_rng(0)
    p = {"data": "gmm", "n": 20000, "side": 2, "N": 1, "gmm_means": [0.2, 0.8], "gmm_sigmas": [0.05, 0.1],
         "gmm_weights": [1, 3]}
    split = data.sample_split(p, rng)
    assert split.train.std() == pytest.approx(split.pixel_sigma, rel=0.02)


def test_model_scale_round_trip():
    x = np.random.default_rng(0).uniform(size=(3, 4, 4))
    np.testing.assert_allclose(data.from_model_scale(data.to_model_scale(x)), x)
    assert data.to_model_scale(np.array([0.0, 1.0])).tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("bad,field", [
    ({"side": 7}, "side"),  # tiny downsamples by 2
    ({"preset": "small", "side": 6}, "side"),  # small downsamples by 4
    ({"preset": "huge"}, "preset"),
    ({"schedule": "quadratic"}, "schedule"),
    ({"sampler": "euler"}, "sampler"),
    ({"data": "digits", "n": 1797}, "n"),
    ({"data": "digits", "side": 16}, "side"),
    ({"data": "cifar"}, "data"),
    ({"eval_train": 9}, "eval_train"),
    ({"eval_original": 301}, "eval_original"),
    ({"epochs": 3}, "epochs"),  # both epochs and train_steps
    ({"n": 1}, "n"),
    ({"lr": 0}, "lr"),
    ({"sample_steps": 11}, "sample_steps"),
    ({"colour": 3}, "colour"),
])
def test_bad_input_is_one_line_error_naming_the_field(bad, field):
    with pytest.raises(MemgenError, match=rf"^{field}: ") as info:
        validate_params({**TINY, **bad})
    assert "\n" not in str(info.value)


def test_bad_device_fails_before_training(monkeypatch):
    from memgen_cli.unet import diffusion

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(diffusion, "train", no_training)
    with pytest.raises(MemgenError, match=r"^device: "):
        run_simulation(TINY, seed=0, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(MemgenError, match=r"^device: "):
            run_simulation(TINY, seed=0, device="cuda")
