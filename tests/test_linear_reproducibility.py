"""The linear model's paired (reproducibility) distance against dense, independent computations."""

import numpy as np
import pytest

from memgen_cli.linear.model import fit_denoiser, forward_noise, noise_variance, sampling_distribution
from memgen_cli.linear.reproducibility import REPRODUCED_LEVEL, generator_difference_norm2, paired_distance, \
    run_pair_trial

T, LAM = 2.0, float(np.exp(-4.0))


def fitted(rng, n, d, sigma=1.0, ridge=0.0):
    Y = sigma * rng.standard_normal((n, d))
    X = forward_noise(Y, T, LAM, rng)
    return (fit_denoiser(Y, X, ridge), *sampling_distribution(Y, T, LAM))


def dense_generator(den, mu, var, covariance):
    """(m, A) of G(z) = m + A z built from the dense B: A = σ_X B (BBt) or σ_X Bᵀ (BtB)."""
    B = den.matrix()
    return den.apply(mu), np.sqrt(var) * (B if covariance == "BBt" else B.T)


@pytest.mark.parametrize("covariance", ["BBt", "BtB"])
@pytest.mark.parametrize("d,n", [(3, 2), (5, 3), (3, 3), (5, 5), (3, 8), (5, 40)])
def test_matches_monte_carlo_with_shared_noise(covariance, d, n):
    """Push the same 10^5 z's through both dense generators; the closed form must sit within 5 standard errors."""
    rng = np.random.default_rng(100 * d + n)
    (den1, mu1, var1), (den2, mu2, var2) = fitted(rng, n, d), fitted(rng, n, d)
    m1, A1 = dense_generator(den1, mu1, var1, covariance)
    m2, A2 = dense_generator(den2, mu2, var2, covariance)
    z = rng.standard_normal((100_000, d))
    sq = np.sum(((m1 + z @ A1.T) - (m2 + z @ A2.T)) ** 2, axis=1)
    mc, se = sq.mean(), sq.std(ddof=1) / np.sqrt(sq.size)
    scaled, log_scaled = paired_distance(den1, mu1, var1, den2, mu2, var2, 1.0, covariance)
    exact = scaled * 2 * d
    assert abs(exact - mc) < 5 * se
    # and the dense closed form ‖Δm‖² + ‖ΔA‖_F² to rounding
    dense = np.sum((m1 - m2) ** 2) + np.sum((A1 - A2) ** 2)
    assert exact == pytest.approx(dense, rel=1e-10)
    assert log_scaled == pytest.approx(np.log(scaled), rel=1e-12)


def test_both_branches_of_the_matrix_part_agree_with_dense():
    """Small ranks take the thin-QR route, full ranks the dense one; both equal ‖s1 B1 - s2 B2‖_F²."""
    rng = np.random.default_rng(7)
    d = 12
    for n1, n2 in [(2, 3), (4, 4), (13, 30), (3, 20)]:  # k = r1 + r2 = 3, 6 (< d); 24, 14 (>= d)
        den1, den2 = fitted(rng, n1, d)[0], fitted(rng, n2, d)[0]
        s1, s2 = 0.7, 1.3
        want = np.sum((s1 * den1.matrix() - s2 * den2.matrix()) ** 2)
        assert generator_difference_norm2(den1, s1, den2, s2) == pytest.approx(want, rel=1e-11)


def test_identical_generators_give_zero():
    rng = np.random.default_rng(1)
    for n, d in [(3, 5), (5, 5), (20, 5), (64, 4096)]:
        den, mu, var = fitted(rng, n, d)
        scaled, log_scaled = paired_distance(den, mu, var, den, mu, var, 1.0)
        assert scaled < 1e-20  # the difference is formed entry by entry: no cancellation of two ~d-sized norms
        assert log_scaled < -40


def test_one_training_point_is_two_independent_data_draws():
    """n = 1: B = 0 and G_i = Y_i, so D / 2dσ² = |Y1 - Y1'|² / 2dσ² = χ²_d / d: mean 1, for any σ."""
    rng = np.random.default_rng(2)
    d, sigma = 5, 2.5
    values = np.array([run_pair_trial(rng, 1, d, LAM, T, sigma=sigma)["paired_distance"] for _ in range(4000)])
    assert values.mean() == pytest.approx(1.0, abs=4 * np.sqrt(2 / d / values.size))
    assert values.var() == pytest.approx(2 / d, rel=0.15)


@pytest.mark.parametrize("covariance", ["BBt", "BtB"])
def test_finite_at_d_4096(covariance):
    rng = np.random.default_rng(3)
    for n in (2, 64):
        row = run_pair_trial(rng, n, 4096, LAM, T, covariance=covariance)
        assert np.isfinite(row["paired_distance"]) and row["paired_distance"] > 0
        assert np.isfinite(row["log_paired_distance"])
        assert row["paired_distance"] == pytest.approx(np.exp(row["log_paired_distance"]), rel=1e-12)


def test_conventions_give_the_same_distance():
    """‖σ1 B1 - σ2 B2‖_F = ‖σ1 B1ᵀ - σ2 B2ᵀ‖_F: under shared noise the covariance convention does not matter."""
    rows = [run_pair_trial(np.random.default_rng(4), 6, 10, LAM, T, covariance=c) for c in ("BBt", "BtB")]
    assert rows[0] == rows[1]
    with pytest.raises(ValueError, match="covariance"):
        run_pair_trial(np.random.default_rng(4), 6, 10, LAM, T, covariance="BB")


def mean_distance(n, d, trials, seed):
    rng = np.random.default_rng(seed)
    return np.mean([run_pair_trial(rng, n, d, LAM, T)["paired_distance"] for _ in range(trials)])


def test_vanishes_like_one_over_n_for_large_n():
    """Both fits tend to the population denoiser B* = e^{-T}σ²/σ_x² I with O(1/√n) errors per entry, so the
    scaled distance falls like 1/n, towards the derived constant n·E[D]/2dσ² → dΔ/σ_x² + 1 + B*²Δ/σ²."""
    d = 5
    means = [mean_distance(n, d, 100, 10 + n) for n in (100, 1000, 10000)]
    assert means[0] > means[1] > means[2]
    assert 5 < means[0] / means[1] < 20 and 5 < means[1] / means[2] < 20
    delta = noise_variance(T, LAM)
    var_x = np.exp(-2 * T) + delta
    b_star = np.exp(-T) / var_x
    limit = d * delta / var_x + 1 + b_star**2 * delta
    assert 10000 * means[2] == pytest.approx(limit, rel=0.08)
    # the population denoiser the fits approach
    den = fitted(np.random.default_rng(5), 200_000, d)[0]
    assert np.allclose(den.matrix(), b_star * np.eye(d), atol=0.02)


def test_memorizing_models_are_far_apart_and_reproduced_flag():
    """n ≈ d: the minimum-norm fit interpolates noise, the two generators disagree (distance >= 1); at n ≫ d they
    agree (distance < 1/9) and the trial counts as reproduced."""
    d = 8
    assert mean_distance(d, d, 100, 20) > 1.0
    rng = np.random.default_rng(21)
    rows = [run_pair_trial(rng, 2000, d, LAM, T) for _ in range(20)]
    assert all(r["reproduced"] == 1 and r["paired_distance"] < REPRODUCED_LEVEL for r in rows)
    assert all(0 <= r["paired_mean_distance"] <= r["paired_distance"] for r in rows)
