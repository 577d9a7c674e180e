"""The tiled pair sums against the earlier full-width strips: the same terms, rounded in another order.

The exponents -s |a - b|² come from Gram products in both paths, so each carries a rounding error of about
s · max|x|² · 2^-52 (the condition of the pair sum): at d = 1, where s = m²/4, that is 10^-11 and more.
The tiles and the strips must agree to that, and to 1e-13 relative wherever it is smaller."""

import numpy as np
import pandas as pd
import pytest

from memgen_cli import kde, pair_sums
from memgen_cli.runner.sweep import load_sweep_config, run_sweep

RTOL = 1e-13  # on the log value, where the exponents are well conditioned
TILE = pair_sums.TILE


def condition(scale: float, *point_sets: np.ndarray) -> float:
    """The rounding error of a Gram-product exponent: s · max|x|² · 2^-52, times a safety factor of 8."""
    return 8 * scale * max(float(np.max(np.sum(p**2, axis=1))) for p in point_sets) * np.finfo(float).eps


def assert_close_log(new: float, old: float, atol: float = 0.0) -> None:
    if old == -np.inf:
        assert new == -np.inf
    else:
        assert np.isfinite(new) and abs(new - old) <= max(RTOL * max(abs(old), 1.0), atol)


def width(m: int, d: int) -> float:
    return float(np.exp(-np.log(max(m, 2)) / d))  # the paper's rule at sigma = 1


CASES = [(m, d) for d in (1, 16, 100) for m in (1, 2, 3, TILE - 1, TILE, TILE + 1, 2 * TILE + 37, 1100)]
CASES += [(m, 4096) for m in (1, 2, 40, TILE + 3)]


@pytest.mark.parametrize("m,d", CASES)
def test_self_offdiagonal_tiles_match_strips(m, d):
    rng = np.random.default_rng(1000 * m + d)
    points = rng.standard_normal((m, d))
    eps = width(m, d)
    assert_close_log(kde.log_kde_self_offdiagonal(points, eps),
                     kde.log_kde_self_offdiagonal(points, eps, tiled=False), condition(0.25 / eps**2, points))


def test_self_offdiagonal_tiles_against_direct_sum():
    rng = np.random.default_rng(7)
    points = rng.standard_normal((TILE + 10, 3))
    eps = 0.4
    i, j = np.triu_indices(len(points), k=1)
    sq = np.sum((points[i] - points[j]) ** 2, axis=1)
    direct = np.log(2.0 * np.sum(np.exp(-sq / (4 * eps**2)))) - 2 * np.log(len(points)) \
        - 1.5 * np.log(4 * np.pi * eps**2)
    assert kde.log_kde_self_offdiagonal(points, eps) == pytest.approx(direct, rel=1e-13)


@pytest.mark.parametrize("m,d", [(300, 1), (1100, 1), (TILE + 3, 16), (40, 4096)])
def test_both_paths_within_their_condition_of_exact_differences(m, d):
    """Against the pair sum from exact coordinate differences (scipy's pdist): both paths err by no more
    than the Gram products' condition, also at d = 1 where the kernel is 1/m wide."""
    from scipy.spatial.distance import pdist
    from scipy.special import logsumexp

    points = np.random.default_rng(m + d).standard_normal((m, d))
    eps = width(m, d)
    direct = float(np.log(2.0) + logsumexp(-pdist(points, "sqeuclidean") / (4 * eps**2)) - 2 * np.log(m)
                   - 0.5 * d * np.log(4 * np.pi * eps**2))
    for tiled in (True, False):
        assert abs(kde.log_kde_self_offdiagonal(points, eps, tiled) - direct) <= condition(0.25 / eps**2, points)


def test_tiles_keep_far_apart_clusters_exact():
    # Tiles whose terms are e^-2000 below the others: each tile's own shift keeps them from underflowing to a
    # wrong total; the sum is that of the close cluster.
    rng = np.random.default_rng(3)
    points = np.vstack([rng.standard_normal((TILE + 5, 8)), 100.0 + rng.standard_normal((TILE + 5, 8))])
    assert_close_log(kde.log_kde_self_offdiagonal(points, 0.7), kde.log_kde_self_offdiagonal(points, 0.7, tiled=False),
                     condition(0.25 / 0.7**2, points))


@pytest.mark.parametrize("ma,mb,d", [(1, 1, 1), (1, 2, 16), (10, 1100, 16), (TILE + 1, 3 * TILE, 100),
                                     (2, TILE - 1, 4096), (1100, 1100, 1)])
def test_cross_overlap_tiles_match_strips(ma, mb, d):
    rng = np.random.default_rng(ma + 7 * mb + d)
    a, b = rng.standard_normal((ma, d)), 0.3 + rng.standard_normal((mb, d))
    eps_a, eps_b = width(ma, d), width(mb, d)
    assert_close_log(kde.log_kde_cross_overlap(a, b, eps_a, eps_b),
                     kde.log_kde_cross_overlap(a, b, eps_a, eps_b, tiled=False),
                     condition(0.5 / (eps_a**2 + eps_b**2), a, b))


def test_sweep_rows_match_the_strips(small_config, monkeypatch):
    # Training sets up to 2.3 tiles and an original set of 3.1 tiles: every trial's Δ sign is unchanged and
    # every value agrees to the last bits.
    config = load_sweep_config(small_config, ["trials=6", "grid.n=[3, 20, 300, 600]", "grid.d=[4, 16]",
                                              "grid.N=[800]"])
    tiled = run_sweep(config, executor="serial").trials
    tiles = kde.log_kde_self_offdiagonal
    monkeypatch.setattr(kde, "log_kde_self_offdiagonal", lambda points, eps, tiled=True: tiles(points, eps, False))
    old = run_sweep(config, executor="serial").trials
    assert len(tiled) == 48
    assert (tiled["delta_positive"] == old["delta_positive"]).all()
    assert (tiled["delta_sign"] == old["delta_sign"]).all()
    floats = [c for c in tiled.columns if c.startswith("log_") or c in ("H2", "eps_n", "eps_N")]
    pd.testing.assert_frame_equal(tiled[floats], old[floats], rtol=RTOL, atol=0.0)
    pd.testing.assert_frame_equal(tiled.drop(columns=floats), old.drop(columns=floats))
