"""Batched trials (linear/batch.py) against the one-by-one path (model.run_linear_trial): the same draws and
the same rows up to the last bits, the same sign of Δ, every rank and both covariance conventions."""

import math

import mpmath
import numpy as np
import pandas as pd
import pytest

from memgen_cli.kde import KDEReference, kde_references_for_rule, log_gaussian_kde_overlap, signed_log_sum
from memgen_cli.linear.batch import _hellinger_stack, generated_distributions, run_linear_trials
from memgen_cli.linear.kde_overlaps import log_gaussian_kde_overlaps
from memgen_cli.linear.experiment import LinearExperiment
from memgen_cli.linear.model import (fit_denoiser, generated_distribution, hellinger_squared, original_reference,
                                     run_linear_trial, sampling_distribution)
from memgen_cli.runner.sweep import load_sweep_config, run_sweep

LAM, T = math.exp(-4.0), 2.0
RTOL = 1e-12  # on log values: only the order of rounding differs (measured: at most a few 1e-14)
EXACT = ("delta_sign", "delta_positive", "rank_G", "eps_n", "eps_N", "generalizer_delta_positive")


def assert_rows_match(batched: list[dict], single: list[dict]) -> None:
    assert len(batched) == len(single)
    for b, s in zip(batched, single):
        assert b.keys() == s.keys()
        for key in b:
            if key in EXACT or not np.isfinite(s[key]):
                assert b[key] == s[key], key
            else:
                assert b[key] == pytest.approx(s[key], rel=RTOL, abs=RTOL), key


@pytest.mark.parametrize("d,n", [(1, 2), (2, 3), (16, 8), (16, 17), (16, 50), (100, 40), (100, 150), (40, 300)])
@pytest.mark.parametrize("covariance", ["BBt", "BtB"])
def test_batched_rows_equal_one_by_one(d, n, covariance):
    rng = np.random.default_rng(d * 1000 + n)
    original = original_reference(rng.standard_normal((700, d)), "paper", 1.0)
    seeds = list(range(7))
    single = [run_linear_trial(np.random.default_rng(s), n, d, LAM, T, 700, covariance=covariance,
                               original=original) for s in seeds]
    batched = run_linear_trials([np.random.default_rng(s) for s in seeds], n, d, LAM, T, original,
                                covariance=covariance)
    assert_rows_match(batched, single)


@pytest.mark.parametrize("bandwidth,ridge,sigma", [("mixing", 0.0, 1.0), ("rosenblatt", 0.3, 2.5), ("paper", 5.0, 0.5)])
def test_batched_rows_equal_one_by_one_for_other_options(bandwidth, ridge, sigma):
    rng = np.random.default_rng(3)
    original = original_reference(sigma * rng.standard_normal((500, 12)), bandwidth, sigma)
    for n in (5, 12, 40):
        single = [run_linear_trial(np.random.default_rng(s), n, 12, LAM, T, 500, sigma=sigma, bandwidth=bandwidth,
                                   ridge=ridge, original=original) for s in range(5)]
        batched = run_linear_trials([np.random.default_rng(s) for s in range(5)], n, 12, LAM, T, original,
                                    sigma=sigma, bandwidth=bandwidth, ridge=ridge)
        assert_rows_match(batched, single)


def one_by_one(Y, X, covariance):
    return generated_distribution(fit_denoiser(Y, X), *sampling_distribution(Y, T, LAM), covariance)


@pytest.mark.parametrize("covariance", ["BBt", "BtB"])
def test_trials_of_different_ranks_keep_their_own_cut(covariance):
    """A repeated input point lowers one trial's first rank; a repeated target lowers its coefficients' rank.
    Each trial is cut at its own tolerance, as the one-trial path cuts it."""
    rng = np.random.default_rng(5)
    Y = rng.standard_normal((3, 6, 8))
    X = np.exp(-T) * Y + 0.1 * rng.standard_normal(Y.shape)
    X[1, 1] = X[1, 0]  # rank of the centred inputs: 4 instead of 5
    for stack in (X, None):
        if stack is None:  # inputs of full rank, a target repeated: Σ_G loses a direction
            X = np.exp(-T) * Y + 0.1 * rng.standard_normal(Y.shape)
            Y[2, 3] = Y[2, 2]
        gens = generated_distributions(Y, X, T, LAM, 0.0, covariance)
        expected = [one_by_one(Y[k], X[k], covariance) for k in range(3)]
        assert [g.rank for g in gens] == [e.rank for e in expected]
        assert len({g.rank for g in gens}) == 2
        for g, e in zip(gens, expected):
            np.testing.assert_allclose(g.mean, e.mean, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(g.variances, e.variances, rtol=1e-10)
            np.testing.assert_allclose(g.covariance(), e.covariance(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("quadratic", [False, True])
def test_shared_product_against_the_density_formula(quadratic):
    """The expanded quadratic form (one product per chunk, row blocks; or each point's quadratic features) against
    log_density_plus_isotropic, with Gaussians of different ranks in one chunk and chunks or row blocks cut small."""
    rng = np.random.default_rng(8)
    points = rng.standard_normal((1000, 10))
    Ys = [rng.standard_normal((n, 10)) for n in (4, 30, 7, 30)]
    gens = [one_by_one(Y, np.exp(-T) * Y + 0.2 * rng.standard_normal(Y.shape), "BBt") for Y in Ys]
    assert len({g.rank for g in gens}) == 3
    expected = [log_gaussian_kde_overlap(g, points, 0.6) for g in gens]
    for max_columns, block in ((1024, 1 << 16), (12, 500)):
        got = log_gaussian_kde_overlaps(gens, points, 0.6, max_columns=max_columns, block=block, quadratic=quadratic)
        np.testing.assert_allclose(got, expected, rtol=1e-13)


@pytest.mark.parametrize("d,N", [(8, 10_000), (16, 10_000), (32, 3000)])
def test_quadratic_features_agree_with_the_columns(d, N):
    """The two ways to the cross terms (kde_overlaps.log_gaussian_kde_overlaps) on a task's ρ_G at every rank, both
    covariance conventions and a ridge, against the original set's width: the same values to rounding (measured:
    a few 1e-15 relative). At d = 16 and full rank the automatic choice takes the features."""
    rng = np.random.default_rng(d)
    points = rng.standard_normal((N, d))
    eps = original_reference(points[:2], "paper", 1.0).eps * (2 / N) ** (1 / d)  # the width of N points
    for n in (2, 3, d, d + 1, d + 2, 50):
        for covariance, ridge in (("BBt", 0.0), ("BtB", 0.0), ("BBt", 0.5)):
            Y = rng.standard_normal((5, n, d))
            X = np.exp(-T) * Y + 0.1 * rng.standard_normal(Y.shape)
            gens = generated_distributions(Y, X, T, LAM, ridge, covariance)
            columns = log_gaussian_kde_overlaps(gens, points, eps, quadratic=False)
            features = log_gaussian_kde_overlaps(gens, points, eps, quadratic=True, block=3000)
            np.testing.assert_allclose(features, columns, rtol=1e-13, atol=0)
            if d == 16 and gens[0].rank == 16:
                assert np.array_equal(log_gaussian_kde_overlaps(gens, points, eps), features)


@pytest.mark.parametrize("m", [2, 3, 50, 256, 257])
def test_stacked_training_references_are_the_one_by_one_references(m):
    """kde_references_for_rule (a task's training KDEs, their pair sums as one stacked tile) gives exactly what
    KDEReference.for_rule gives each set (above TILE points it is that path)."""
    Y = np.random.default_rng(m).standard_normal((4, m, 7)) * 1.7
    for rule in ("paper", "mixing"):
        for got, points in zip(kde_references_for_rule(Y, rule, 1.7), Y):
            want = KDEReference.for_rule(points, rule, 1.7)
            assert (got.eps, got.log_self_diagonal, got.log_self_offdiagonal) == \
                (want.eps, want.log_self_diagonal, want.log_self_offdiagonal)
            assert np.array_equal(got.sq_norms, want.sq_norms) and got.points is not None


def test_stacked_hellinger_is_the_one_by_one_hellinger():
    """The batch's H² (batch._hellinger_stack) is model.hellinger_squared's, bit for bit; singular Σ_G and mixed
    ranks are left to it (None)."""
    for n, d, sigma in ((50, 16, 1.0), (300, 40, 2.5), (8, 16, 1.0)):
        Y = sigma * np.random.default_rng(n).standard_normal((6, n, d))
        X = np.exp(-T) * Y + 0.1 * np.random.default_rng(d).standard_normal(Y.shape)
        for covariance in ("BBt", "BtB"):
            gens = generated_distributions(Y, X, T, LAM, 0.0, covariance)
            got = _hellinger_stack(gens, sigma)
            if n <= d:
                assert got == [None] * 6
            else:
                assert got == [hellinger_squared(g, np.zeros(d), sigma) for g in gens]


def test_signed_log_sum_takes_lists_of_numbers_and_of_arrays():
    terms = [np.log(3.0), np.float64(np.log(1.0)), 0.0]
    assert signed_log_sum(terms, [1, -1, -1]) == pytest.approx((np.log(1.0), 1))
    for top, expected in ((4.0, 1.0), (8.0, 5.0)):  # top - 1 - 2, the -inf term left out
        pairs = [np.array([np.log(top), 0.0]), np.array([np.log(2.0), -math.inf])]
        assert signed_log_sum(pairs, np.array([1, -1, -1, 1])) == pytest.approx((np.log(expected), 1), abs=1e-15)
    assert signed_log_sum((2.0, 2.0), (1, -1)) == (-math.inf, 0)


def test_sign_of_delta_at_d100_against_50_digits():
    """Spec section 4's case (d = 100, n = 100, N = 2000), through the batched path: Δ summed term by term in
    mpmath from the same draws decides the sign."""
    from test_linear_model import reference_delta_mpmath  # the 50-digit reference of the one-trial tests

    rng = np.random.default_rng(9)
    original = original_reference(rng.standard_normal((2000, 100)), "paper", 1.0)
    rows = run_linear_trials([np.random.default_rng(s) for s in range(3)], 100, 100, LAM, T, original)
    for s, row in enumerate(rows):
        draw = np.random.default_rng(s)
        Y = draw.standard_normal((100, 100))
        X = np.exp(-T) * Y + np.sqrt(LAM * -np.expm1(-2 * T)) * draw.standard_normal((100, 100))
        gen = one_by_one(Y, X, "BBt")
        train = KDEReference.for_rule(Y, "paper", 1.0)
        ref = reference_delta_mpmath(Y, gen, original.points, train.eps, original.eps)
        assert row["delta_sign"] == int(mpmath.sign(ref))
        assert row["log_abs_delta"] == pytest.approx(float(mpmath.log(abs(ref))), abs=1e-6)


# (1100, 1200): one Gaussian wider than a product chunk (1024 columns); its SVDs take seconds
@pytest.mark.parametrize("d,n", [(1024, 60), pytest.param(1100, 1200, marks=pytest.mark.slow), (4096, 40)])
def test_batched_trials_are_finite_up_to_d4096(d, n):
    rng = np.random.default_rng(d)
    original = original_reference(rng.standard_normal((300, d)), "paper", 1.0)
    rows = run_linear_trials([np.random.default_rng(s) for s in range(2)], n, d, LAM, T, original)
    single = [run_linear_trial(np.random.default_rng(s), n, d, LAM, T, 300, original=original) for s in range(2)]
    assert_rows_match(rows, single)
    for row in rows:
        assert np.isfinite(row["log_abs_delta"]) and row["delta_sign"] in (-1, 1)
        assert row["rank_G"] == min(n - 1, d)


def test_sweep_is_the_same_batched_or_one_by_one(small_config, monkeypatch):
    """The sweep's tasks (several original sets, redraw too) give the same trials.csv either way, to the last
    bits, with the same sign of Δ in every trial."""
    run_task = LinearExperiment.run_task

    def one_by_one(self, config, cell, trials):
        return run_task(self, config, cell, trials, batched=False)

    for extra in (["options.original_sets=3"], ["options.original=redraw"]):
        config = load_sweep_config(small_config, ["trials=9", "grid.n=[2, 5, 16, 40]", "grid.N=[400]", *extra])
        batched = run_sweep(config, executor="serial").trials
        monkeypatch.setattr(LinearExperiment, "run_task", one_by_one)
        single = run_sweep(config, executor="serial").trials
        monkeypatch.undo()
        assert len(batched) == 36
        assert (batched["delta_sign"] == single["delta_sign"]).all()
        floats = [c for c in batched.columns if c.startswith("log_") or c == "H2"]
        pd.testing.assert_frame_equal(batched[floats], single[floats], rtol=RTOL, atol=RTOL)
        pd.testing.assert_frame_equal(batched.drop(columns=floats), single.drop(columns=floats))
