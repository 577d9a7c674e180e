"""The per-pixel metric against brute-force integration, its fast paths, and the nearest-neighbour test."""

import numpy as np
import pytest
from scipy import integrate

from memgen_cli.imaging import metrics


def _brute_force_pixel_distance(x, g, eps_x, eps_g):
    """sum_i integral (rho_X,i - rho_G,i)^2 by adaptive quadrature, pixel by pixel."""
    def kde(points, eps):
        return lambda y: np.mean(np.exp(-(y - points) ** 2 / (2 * eps**2))) / np.sqrt(2 * np.pi * eps**2)

    total = 0.0
    for i in range(x.shape[1]):
        rx, rg = kde(x[:, i], eps_x), kde(g[:, i], eps_g)
        breaks = np.sort(np.concatenate([x[:, i], g[:, i]]))
        total += integrate.quad(lambda y, rx=rx, rg=rg: (rx(y) - rg(y)) ** 2, breaks[0] - 1, breaks[-1] + 1,
                                points=breaks, limit=1000, epsabs=1e-13, epsrel=1e-12)[0]
    return total


@pytest.mark.parametrize("sizes", [(4, 5, 7), (10, 3, 20)])
def test_exact_pixel_metric_matches_quadrature(sizes):
    rng = np.random.default_rng(1)
    m_g, m_t, m_o = sizes
    sigma = 0.1
    g, t, o = (rng.normal(0.5, sigma, (m, 3)) for m in sizes)
    out = metrics.pixel_kde_distances_exact(g, t, o, sigma)
    e_tg = _brute_force_pixel_distance(t, g, sigma / m_t, sigma / m_g)
    e_og = _brute_force_pixel_distance(o, g, sigma / m_o, sigma / m_g)
    assert out["E_TG"] == pytest.approx(e_tg, rel=1e-8)
    assert out["E_OG"] == pytest.approx(e_og, rel=1e-8)
    assert out["Delta"] == pytest.approx(e_tg - e_og, rel=1e-7, abs=1e-9)


def test_grid_metric_converges_to_exact_with_many_points():
    # Wide kernels (small sets) inside (0, 1): a fine midpoint rule must approach the closed form.
    rng = np.random.default_rng(2)
    sigma = 0.15  # eps <= 0.05: the kernels lie inside (0, 1), where the grid lives
    g, t, o = (rng.uniform(0.3, 0.7, (m, 4)) for m in (3, 4, 5))
    exact = metrics.pixel_kde_distances_exact(g, t, o, sigma)
    fine = metrics.pixel_kde_distances_grid(g, t, o, sigma, points=4000)
    coarse = metrics.pixel_kde_distances_grid(g, t, o, sigma, points=16)
    assert fine["E_TG"] == pytest.approx(exact["E_TG"], rel=2e-3)
    assert fine["E_OG"] == pytest.approx(exact["E_OG"], rel=2e-3)
    assert coarse["E_TG"] != pytest.approx(fine["E_TG"], rel=1e-6)  # 16 points is a different number


def test_grid_points_are_sixteen_equidistant_in_open_unit_interval():
    pts = metrics.grid_points(16)
    assert pts.size == 16 and pts.min() > 0 and pts.max() < 1
    assert np.allclose(np.diff(pts), 1 / 16)


def test_generated_equal_to_training_set_gives_zero_E_TG():
    rng = np.random.default_rng(3)
    train = rng.normal(0.5, 0.1, (10, 64))
    original = rng.normal(0.5, 0.1, (500, 64))
    out = metrics.pixel_kde_distances_exact(train.copy(), train, original, 0.1)
    assert abs(out["E_TG"]) < 1e-9 * out["E_OG"]
    assert out["E_OG"] > 0 and out["Delta"] < 0


def test_windowed_sums_match_dense_sums():
    rng = np.random.default_rng(4)
    values = rng.normal(0.5, 0.1, (3000, 16))
    queries = rng.normal(0.5, 0.1, (10, 16))
    dense = metrics._gauss_sums_dense(queries, values, 1e-3)
    windowed = metrics._gauss_sums_windowed(queries, metrics._sorted_pixel_rows(values), 1e-3)
    np.testing.assert_allclose(windowed, dense, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("quantized", [False, True])
def test_off_diagonal_pair_sums_match_brute_force(quantized):
    rng = np.random.default_rng(5)
    values = rng.normal(0.5, 0.1, (800, 5))
    if quantized:  # digits-like ties: many exactly equal values
        values = np.round(values * 16) / 16
    s = 2e-3
    diff = values[:, None, :] - values[None, :, :]
    brute = np.exp(-diff**2 / (2 * s * s)).sum(axis=(0, 1)) - len(values)
    np.testing.assert_allclose(metrics._off_diagonal_pair_sums(values, s), brute, rtol=1e-9)


def test_large_sets_take_the_windowed_paths_and_match_the_dense_formula():
    # 200 generated and 1500 original images: narrow kernels, so both the self term and the cross term go
    # through the sorted-window code; compare with the plain dense double sums.
    rng = np.random.default_rng(6)
    g, t, o = rng.normal(0.5, 0.1, (200, 8)), rng.normal(0.5, 0.1, (50, 8)), rng.normal(0.5, 0.1, (1500, 8))
    out = metrics.pixel_kde_distances_exact(g, t, o, 0.1)

    def overlap(a, b, eps_a, eps_b):
        var = eps_a**2 + eps_b**2
        return (np.exp(-(a[:, None, :] - b[None]) ** 2 / (2 * var)).sum() / np.sqrt(2 * np.pi * var)
                / (len(a) * len(b)))

    eg, eo = 0.1 / 200, 0.1 / 1500
    expected = overlap(g, g, eg, eg) + overlap(o, o, eo, eo) - 2 * overlap(g, o, eg, eo)
    assert out["E_OG"] == pytest.approx(expected, rel=1e-9)


def test_nearest_neighbour_ratio_constructed_cases():
    train = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 5.0]])
    generated = np.array([
        [0.0, 0.0],  # exact copy of a training image: ratio 0
        [0.1, 0.0],  # near copy: 0.1 / 0.9 < 1/3
        [0.5, 0.0],  # halfway between two training images: ratio 1
        [50.0, 50.0],  # far from everything: ratio near 1
    ])
    ratios = metrics.nearest_neighbour_ratios(generated, train)
    assert ratios[0] == 0.0
    assert ratios[1] == pytest.approx(0.1 / 0.9)
    assert ratios[2] == pytest.approx(1.0)
    assert ratios[3] > 0.9
    out = metrics.memorized_fraction(generated, train, np.random.default_rng(0))
    assert out["memorized_fraction"] == 0.5
    assert 0.0 <= out["memorized_lo"] <= 0.5 <= out["memorized_hi"] <= 1.0


def test_copy_of_a_duplicated_training_image_counts_as_memorized():
    train = np.array([[1.0, 1.0], [1.0, 1.0], [3.0, 3.0]])
    assert metrics.nearest_neighbour_ratios(np.array([[1.0, 1.0]]), train)[0] == 0.0


def test_memorized_interval_collapses_when_every_sample_is_a_copy():
    rng = np.random.default_rng(7)
    train = rng.normal(size=(20, 9))
    out = metrics.memorized_fraction(train[:5], train, rng)
    assert (out["memorized_fraction"], out["memorized_lo"], out["memorized_hi"]) == (1.0, 1.0, 1.0)
