"""The batched reproducibility pairs (linear/pair_batch.py, issue 36) against the path they replace in a sweep's
batched tasks (experiment.pair_columns: member 1 rebuilt from the trial's seed, both fits by SVD, one pair at a
time): the same draws, the same columns up to rounding, on every branch (the SVD with its QR difference, the
normal equations through d × d and through the Helmert rows, the fallback where ranks differ)."""

import math

import numpy as np
import pytest

from memgen_cli.linear import pair_batch
from memgen_cli.linear.batch import fits_and_distributions, run_linear_trials
from memgen_cli.linear.experiment import PAIR_METRICS, LinearConfig, LinearExperiment, pair_columns, partner_seed
from memgen_cli.linear.model import draw_training_sets, forward_noise, original_reference

LAM, T = math.exp(-4.0), 2.0
LOG_TOL = 1e-11  # on ln(paired distance): measured at most ~1e-14 (the normal equations' cond(xᵀx) ε, cond <= 1e4)


def cell(n, d, sigma=1.0, ridge=0.0, covariance="BBt"):
    return {"n": n, "d": d, "lambda": LAM, "T": T, "N": 300, "mu": 10.0, "sigma": sigma, "bandwidth": "paper",
            "covariance": covariance, "ridge": ridge, "original": "fixed"}


def assert_pairs_match(rows, reference):
    assert len(rows) == len(reference)
    for row, ref in zip(rows, reference):
        assert row["reproduced"] == ref["reproduced"]
        assert row["log_paired_distance"] == pytest.approx(ref["log_paired_distance"], abs=LOG_TOL)
        assert row["paired_distance"] == pytest.approx(ref["paired_distance"], rel=LOG_TOL)


@pytest.mark.parametrize("d,n", [(1, 2), (2, 3), (16, 2), (16, 5), (16, 9), (16, 16), (16, 17), (16, 18), (16, 19),
                                 (16, 50), (16, 400), (40, 10), (40, 25), (40, 41), (40, 200), (100, 8), (100, 60)])
@pytest.mark.parametrize("covariance", ["BBt", "BtB"])
def test_task_pairs_equal_the_one_pair_path(d, n, covariance):
    """A sweep's batched task against pair_columns per trial, for every branch of the partners' fit."""
    c = cell(n, d, covariance=covariance)
    trials = [(k, 1000 * d + n + k) for k in range(6)]
    rows = LinearExperiment().run_task(LinearConfig(trials=6, options={"original_sets": 1}), c, trials)
    assert_pairs_match(rows, [pair_columns(c, seed) for _, seed in trials])
    assert all(set(PAIR_METRICS) <= set(row) for row in rows)


@pytest.mark.parametrize("sigma,ridge", [(2.5, 0.3), (0.5, 5.0), (1.0, 1e-6)])
@pytest.mark.parametrize("n", [4, 12, 13, 40])
def test_other_options(sigma, ridge, n):
    c = cell(n, 12, sigma, ridge)
    trials = [(k, 70 + k) for k in range(5)]
    rows = LinearExperiment().run_task(LinearConfig(trials=5, options={"original_sets": 1}), c, trials)
    assert_pairs_match(rows, [pair_columns(c, seed) for _, seed in trials])


def test_chunks_and_fallback_give_the_same_pairs(monkeypatch):
    """Partners drawn a few at a time (CHUNK) and pair by pair (ranks differing within a stack) agree with the
    stacked path; the trial's own rows do not change with the pairs."""
    n, d = 30, 16
    original = original_reference(np.random.default_rng(0).standard_normal((300, d)), "paper", 1.0)

    def rows(**kw):
        rngs = [np.random.default_rng(s) for s in range(7)]
        partners = [np.random.default_rng(partner_seed(s)) for s in range(7)]
        return run_linear_trials(rngs, n, d, LAM, T, original, partners=partners, **kw)

    stacked = rows()
    monkeypatch.setattr(pair_batch, "CHUNK", n * d * 3)  # chunks of 3, 3, 1
    assert_pairs_match(rows(), stacked)
    monkeypatch.setattr(pair_batch, "fit_partners", lambda *a, **k: None)  # as if ranks differed
    assert_pairs_match(rows(), stacked)
    without = run_linear_trials([np.random.default_rng(s) for s in range(7)], n, d, LAM, T, original)
    assert [{k: v for k, v in row.items() if k not in PAIR_METRICS} for row in stacked] == without


def test_stacked_draws_are_the_trial_draws():
    for sigma in (1.0, 2.5):
        Y, X = draw_training_sets([np.random.default_rng(s) for s in range(3)], 9, 4, LAM, T, sigma)
        for s in range(3):
            rng = np.random.default_rng(s)
            y = sigma * rng.standard_normal((9, 4))
            assert np.array_equal(Y[s], y) and np.array_equal(X[s], forward_noise(y, T, LAM, rng))


def test_ill_conditioned_partners_take_the_svd():
    """At the interpolation threshold the normal equations are refused (rcond below GRAM_RCOND): the SVD's
    orthonormal basis is used; far from it the Gram fit's."""
    d = 30
    for n, gram in ((31, False), (300, True), (8, True)):
        Y, X = draw_training_sets([np.random.default_rng(s) for s in range(4)], n, d, LAM, T, 1.0)
        fits = pair_batch.fit_partners(Y, X, T, LAM, 0.0)
        assert (fits.Bt is not None or not fits.orthonormal) == gram
        # the same matrices as the SVD's either way
        svd = pair_batch.fit_partners(Y, X, T, LAM, 0.0, gram=False)
        assert np.allclose(fits.dense(), svd.dense(), rtol=1e-9, atol=1e-12)
        assert np.allclose(fits.mean, svd.mean, rtol=1e-9, atol=1e-12)
        own = fits_and_distributions(Y, X, T, LAM, 0.0, "BBt")[1]
        assert np.allclose(own.dense(), svd.dense(), rtol=1e-12, atol=1e-14)
