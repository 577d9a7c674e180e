"""The linear model's math against independent computations: quadrature, Monte Carlo, dense algebra, mpmath."""

import mpmath
import numpy as np
import pytest
from scipy import integrate, stats
from scipy.spatial.distance import pdist
from scipy.special import logsumexp

from memgen_cli.kde import (KDEReference, kde_bandwidth, log_gaussian_kde_overlap, log_gaussian_self_overlap,
                            kde_l2_distances)
from memgen_cli.linear.model import (fit_denoiser, forward_noise, generated_distribution, hellinger_squared,
                                     noise_variance, original_reference, run_linear_trial,
                                     sampling_distribution)

LAM, T = np.exp(-4.0), 2.0


def make_trial_parts(rng, n, d, N, covariance="BBt", bandwidth="paper", ridge=0.0, sigma=1.0):
    Y = sigma * rng.standard_normal((n, d))
    X = forward_noise(Y, T, LAM, rng)
    gen = generated_distribution(fit_denoiser(Y, X, ridge), *sampling_distribution(Y, T, LAM), covariance)
    train = KDEReference.for_rule(Y, bandwidth, sigma)
    orig = original_reference(sigma * rng.standard_normal((N, d)), bandwidth, sigma)
    dist = kde_l2_distances(log_gaussian_self_overlap(gen), log_gaussian_kde_overlap(gen, Y, train.eps),
                            log_gaussian_kde_overlap(gen, orig.points, orig.eps), train, orig)
    return Y, X, gen, train, orig, dist


def kde_pdf(points, eps, x):
    """Dense KDE density at rows of x (brute force)."""
    d = points.shape[1]
    d2 = ((x[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * eps**2)).mean(1) / (2 * np.pi * eps**2) ** (d / 2)


def delta_value(dist):
    return dist["delta_sign"] * np.exp(dist["log_abs_delta"])


@pytest.mark.parametrize("covariance", ["BBt", "BtB"])
def test_fit_and_covariance_match_dense_algebra(covariance):
    rng = np.random.default_rng(1)
    for n, d in [(5, 8), (30, 8)]:
        Y = rng.standard_normal((n, d)) + 3.0
        X = forward_noise(Y, T, LAM, rng)
        den = fit_denoiser(Y, X)
        x, y = X - X.mean(0), Y - Y.mean(0)
        Bt_ref = np.linalg.lstsq(x, y, rcond=None)[0]  # minimum-norm least squares
        np.testing.assert_allclose(den.matrix().T, Bt_ref, atol=1e-9)
        mu_X, var_X = sampling_distribution(Y, T, LAM)
        gen = generated_distribution(den, mu_X, var_X, covariance)
        B = Bt_ref.T
        cov_ref = var_X * (B @ B.T if covariance == "BBt" else B.T @ B)
        np.testing.assert_allclose(gen.covariance(), cov_ref, atol=1e-9 * np.abs(cov_ref).max())
        theta0 = Y.mean(0) - B @ X.mean(0)
        np.testing.assert_allclose(gen.mean, theta0 + B @ mu_X, atol=1e-9)
        assert gen.rank == min(n - 1, d)


def test_ridge_matches_regularised_normal_equations():
    rng = np.random.default_rng(2)
    Y, X = rng.standard_normal((12, 6)), rng.standard_normal((12, 6))
    x, y = X - X.mean(0), Y - Y.mean(0)
    ref = np.linalg.solve(x.T @ x + 0.3 * np.eye(6), x.T @ y)
    np.testing.assert_allclose(fit_denoiser(Y, X, ridge=0.3).matrix().T, ref, atol=1e-10)


def test_sampling_distribution_definition():
    rng = np.random.default_rng(3)
    Y = rng.standard_normal((7, 3)) * 2 + 1
    mu_X, var_X = sampling_distribution(Y, T, LAM)
    np.testing.assert_allclose(mu_X, np.exp(-T) * Y.mean(0))
    expected = np.exp(-2 * T) * ((Y - Y.mean(0)) ** 2).sum() / 21 + LAM * (1 - np.exp(-2 * T))
    assert var_X == pytest.approx(expected)
    assert noise_variance(T, LAM) == pytest.approx(LAM * (1 - np.exp(-2 * T)))


@pytest.mark.parametrize("covariance", ["BBt", "BtB"])
def test_distances_against_quadrature_d1(covariance):
    rng = np.random.default_rng(4)
    Y, _, gen, train, orig, dist = make_trial_parts(rng, n=6, d=1, N=40, covariance=covariance)
    sd = np.sqrt(gen.covariance()[0, 0])
    g = lambda x: stats.norm.pdf(x, gen.mean[0], sd)  # noqa: E731
    ker = lambda pts, eps, x: stats.norm.pdf(x, pts[:, 0], eps).mean()  # noqa: E731
    lo, hi = -8, 8
    kw = dict(limit=400, epsabs=0, epsrel=1e-10)
    e_tg = integrate.quad(lambda x: (ker(Y, train.eps, x) - g(x)) ** 2, lo, hi, **kw)[0]
    e_og = integrate.quad(lambda x: (ker(orig.points, orig.eps, x) - g(x)) ** 2, lo, hi, **kw)[0]
    assert np.exp(dist["log_E_TG"]) == pytest.approx(e_tg, rel=1e-6)
    assert np.exp(dist["log_E_OG"]) == pytest.approx(e_og, rel=1e-6)
    assert delta_value(dist) == pytest.approx(e_tg - e_og, rel=1e-5, abs=1e-12)


def test_distances_against_grid_integration_d2():
    rng = np.random.default_rng(5)
    Y, _, gen, train, orig, dist = make_trial_parts(rng, n=9, d=2, N=60, bandwidth="rosenblatt")
    grid = np.linspace(-7, 7, 701)
    xx = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    cell = (grid[1] - grid[0]) ** 2
    g = stats.multivariate_normal(gen.mean, gen.covariance()).pdf(xx)
    e_tg = (((kde_pdf(Y, train.eps, xx) - g) ** 2).sum()) * cell
    e_og = (((kde_pdf(orig.points, orig.eps, xx) - g) ** 2).sum()) * cell
    assert np.exp(dist["log_E_TG"]) == pytest.approx(e_tg, rel=1e-4)
    assert np.exp(dist["log_E_OG"]) == pytest.approx(e_og, rel=1e-4)
    assert delta_value(dist) == pytest.approx(e_tg - e_og, rel=1e-3)


def test_singular_generated_distribution_gives_infinite_distances_but_finite_delta():
    rng = np.random.default_rng(6)
    *_, gen, train, orig, dist = make_trial_parts(rng, n=2, d=2, N=30)
    assert gen.is_singular and gen.rank == 1
    assert dist["log_E_TG"] == np.inf and dist["log_E_OG"] == np.inf
    # Δ against quadrature along the line: ρ_G is a 1-D Gaussian on the line mean + t·u.
    u = gen.basis[:, 0]
    sd = np.sqrt(gen.variances[0])
    grid = np.linspace(-8 * sd, 8 * sd, 4001)
    pts = gen.mean + grid[:, None] * u
    w = stats.norm.pdf(grid, 0, sd) * (grid[1] - grid[0])
    cross = lambda ref: (kde_pdf(ref.points, ref.eps, pts) * w).sum()  # noqa: E731
    self_term = lambda ref: np.exp(ref.log_self_overlap)  # noqa: E731
    delta_ref = self_term(train) - 2 * cross(train) - self_term(orig) + 2 * cross(orig)
    assert delta_value(dist) == pytest.approx(delta_ref, rel=1e-6)


@pytest.mark.parametrize("n", [3, 12])
def test_cross_term_against_monte_carlo(n):
    """∫ρ_G ρ_X = E_{x~ρ_G} ρ_X(x), also when ρ_G is singular (n = 3 <= d = 5)."""
    rng = np.random.default_rng(7)
    d = 5
    Y, _, gen, train, *_ = make_trial_parts(rng, n=n, d=d, N=10)
    z = rng.standard_normal((200_000, gen.rank))
    samples = gen.mean + (z * np.sqrt(gen.variances)) @ gen.basis.T
    mc = kde_pdf(Y, train.eps, samples)
    exact = np.exp(log_gaussian_kde_overlap(gen, Y, train.eps))
    assert exact == pytest.approx(mc.mean(), abs=4 * mc.std() / np.sqrt(mc.size))


def test_hellinger_against_quadrature():
    rng = np.random.default_rng(8)
    *_, gen, _, _, _ = make_trial_parts(rng, n=8, d=1, N=10)
    p = lambda x: stats.norm.pdf(x, gen.mean[0], np.sqrt(gen.variances[0]))  # noqa: E731
    bc = integrate.quad(lambda x: np.sqrt(p(x) * stats.norm.pdf(x, 0.4, 1.3)), -15, 15, epsabs=0, epsrel=1e-12)[0]
    h2, log_bc = hellinger_squared(gen, np.array([0.4]), 1.3)
    assert h2 == pytest.approx(1 - bc, rel=1e-8)
    assert log_bc == pytest.approx(np.log(bc), rel=1e-8)
    # d = 2 on a grid
    *_, gen2, _, _, _ = make_trial_parts(rng, n=20, d=2, N=10)
    grid = np.linspace(-8, 8, 801)
    xx = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    pg = stats.multivariate_normal(gen2.mean, gen2.covariance()).pdf(xx)
    pq = stats.multivariate_normal(np.zeros(2), np.eye(2)).pdf(xx)
    bc2 = np.sqrt(pg * pq).sum() * (grid[1] - grid[0]) ** 2
    assert hellinger_squared(gen2, np.zeros(2), 1.0)[0] == pytest.approx(1 - bc2, rel=1e-5)
    # singular covariance: H² = 1 exactly; identical distributions: H² = 0.
    *_, gen3, _, _, _ = make_trial_parts(rng, n=2, d=3, N=10)
    assert hellinger_squared(gen3, np.zeros(3), 1.0) == (1.0, -np.inf)


def test_bandwidth_rules():
    assert kde_bandwidth("paper", 10_000, 16, 1.0) == pytest.approx(10_000 ** (-1 / 16))
    assert kde_bandwidth("mixing", 100, 4, 2.0) ** 2 == pytest.approx(np.log(1 + 4.0 / (100 ** 0.5 - 1)))
    assert kde_bandwidth("rosenblatt", 50, 3, 1.5) == pytest.approx((4 / 5) ** (1 / 7) * 1.5 * 50 ** (-1 / 7))
    with pytest.raises(ValueError):
        kde_bandwidth("silverman", 10, 2, 1.0)


def reference_delta_mpmath(Y, gen, orig_points, eps_n, eps_N):
    """Δ summed term by term at 50 digits, the diagonal parts included, with eps_m = m^(-1/d) in mpmath."""
    mpmath.mp.dps = 50
    d = Y.shape[1]

    def self_term(P, eps):
        m = P.shape[0]
        logs = -pdist(P, "sqeuclidean") / (4 * eps**2)
        # The pair sum itself is safe in float64 (terms of one scale); only the final combination is not.
        off = 2 * mpmath.exp(mpmath.mpf(logsumexp(logs)) - mpmath.mpf(d) / 2 * mpmath.log(4 * mpmath.pi * eps**2))
        eps_exact = mpmath.mpf(m) ** (-mpmath.mpf(1) / d)
        diagonal = m * (4 * mpmath.pi * eps_exact**2) ** (-mpmath.mpf(d) / 2)
        return (diagonal + off) / m**2

    def cross(P, eps):
        lp = stats.multivariate_normal(gen.mean, gen.covariance() + eps**2 * np.eye(d)).logpdf(P)
        return mpmath.exp(mpmath.mpf(logsumexp(lp))) / P.shape[0]

    return (self_term(Y, eps_n) - 2 * cross(Y, eps_n)) - (self_term(orig_points, eps_N) - 2 * cross(orig_points, eps_N))


def test_delta_sign_where_float64_sum_is_noise():
    """Spec section 4: d = 100, n = 100, N = 2000. Diagonal parts e^-126.55 swamp everything else."""
    rng = np.random.default_rng(9)
    for _ in range(3):
        Y, _, gen, train, orig, dist = make_trial_parts(rng, n=100, d=100, N=2000)
        assert train.log_self_diagonal == pytest.approx(-126.55, abs=0.01)
        ref = reference_delta_mpmath(Y, gen, orig.points, train.eps, orig.eps)
        assert dist["delta_sign"] == int(mpmath.sign(ref))
        assert dist["log_abs_delta"] == pytest.approx(float(mpmath.log(abs(ref))), abs=1e-6)


@pytest.mark.parametrize("d,n", [(2, 5), (16, 8), (16, 64), (100, 150), (1024, 60), (4096, 40)])
def test_trial_is_finite_for_every_dimension(d, n):
    rng = np.random.default_rng(d + n)
    row = run_linear_trial(rng, n, d, LAM, T, N=300)
    assert np.isfinite(row["log_abs_delta"]) and row["delta_sign"] in (-1, 1)
    assert 0.0 <= row["H2"] <= 1.0
    if n > d:
        assert np.isfinite(row["log_E_TG"]) and np.isfinite(row["log_E_OG"]) and row["rank_G"] == d
        assert np.isfinite(row["log_one_minus_H2"])
    else:
        assert row["log_E_TG"] == np.inf and row["H2"] == 1.0 and row["rank_G"] == n - 1


def test_full_rank_at_large_dimension_is_finite():
    row = run_linear_trial(np.random.default_rng(11), 1100, 1024, LAM, T, N=200)
    assert row["rank_G"] == 1024
    assert np.isfinite(row["log_E_TG"]) and np.isfinite(row["log_E_OG"]) and np.isfinite(row["log_abs_delta"])
    assert row["log_E_TG"] < -500  # far below the float64 range: only a log can hold it


def test_isotropic_kde_distances_against_quadrature_d1():
    """Three KDEs (the U-Net case): E_TG, E_OG and Δ against direct integration."""
    rng = np.random.default_rng(12)
    gen, train, orig = rng.normal(size=(4, 1)), rng.normal(size=(6, 1)), rng.normal(size=(30, 1))
    from memgen_cli.kde import isotropic_kde_distances

    out = isotropic_kde_distances(gen, train, orig, sigma=1.0, rule="rosenblatt")
    eps = lambda m: kde_bandwidth("rosenblatt", m, 1, 1.0)  # noqa: E731
    dens = lambda pts, x: stats.norm.pdf(x, pts[:, 0], eps(len(pts))).mean()  # noqa: E731
    kw = dict(limit=400, epsabs=0, epsrel=1e-10)
    e_tg = integrate.quad(lambda x: (dens(train, x) - dens(gen, x)) ** 2, -9, 9, **kw)[0]
    e_og = integrate.quad(lambda x: (dens(orig, x) - dens(gen, x)) ** 2, -9, 9, **kw)[0]
    assert np.exp(out["log_E_TG"]) == pytest.approx(e_tg, rel=1e-6)
    assert np.exp(out["log_E_OG"]) == pytest.approx(e_og, rel=1e-6)
    assert delta_value(out) == pytest.approx(e_tg - e_og, rel=1e-5)
