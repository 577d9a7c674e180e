"""The three-criteria table on constructed curves."""

import numpy as np
import pytest

from memgen_cli.statistics.criteria import DIFFERENT, MISSING, SAME, UNDETERMINED, criteria_row, locate, \
    mem_curve, rep_curve, star_curve

N = np.array([10, 20, 50, 100, 200, 500, 1000], dtype=float)
LOG_N = np.log(N)


def logistic(n, centre, rising=True):
    p = 1 / (1 + np.exp(-3 * (np.log(n) - np.log(centre))))
    return p if rising else 1 - p


def with_replicates(rng, curve, noise=0.03, replicates=400):
    boot = np.clip(curve[:, None] + noise * rng.standard_normal((len(curve), replicates)), 0, 1)
    return curve, boot


def three(rng, star=100.0, mem=100.0, rep=120.0, n=N, rep_values=None):
    s = star_curve(*with_replicates(rng, logistic(n, star)))
    m = mem_curve(*with_replicates(rng, logistic(n, mem, rising=False)))
    r = rep_curve(*with_replicates(rng, logistic(n, rep) if rep_values is None else rep_values))
    return [s, m, r]


DENSE = np.geomspace(10, 1000, 25)  # 100 is a grid point; neighbours 21% apart


def test_all_agree():
    """On a grid fine enough that the cells around each crossing have intervals reaching 0.5 (on a coarse one
    the interval would be the grid's gap, as in the test of a jump below)."""
    rng = np.random.default_rng(0)
    row = criteria_row(np.log(DENSE), three(rng, n=DENSE))
    assert row["n_star"] == pytest.approx(100.0) and row["n_mem"] == pytest.approx(100.0)  # grid points: exact
    assert 100 < row["n_rep"] < 200
    for name in ("n_star", "n_mem", "n_rep"):
        assert row[f"{name}_status"] == "crossed" and row[f"{name}_lo"] < row[name] < row[f"{name}_hi"]
    assert row["ratio_star_mem"] == pytest.approx(1.0)
    assert row["ratio_star_mem_lo"] < 1.0 < row["ratio_star_mem_hi"]
    assert row["ratio_star_rep"] == pytest.approx(row["n_star"] / row["n_rep"])
    assert row["ratio_mem_rep_lo"] < row["ratio_mem_rep"] < row["ratio_mem_rep_hi"]
    assert row["spread"] == pytest.approx(row["n_rep"] / 100.0) and row["spread_lo"] >= 1.0
    assert row["verdict"] == SAME and "within a factor 2" in row["verdict_reason"]


def test_one_differs_by_five():
    rng = np.random.default_rng(1)
    row = criteria_row(LOG_N, three(rng, rep=500.0))
    assert row["n_rep"] == pytest.approx(500.0)
    assert row["ratio_star_rep"] == pytest.approx(0.2) and row["ratio_star_rep_hi"] < 0.5
    assert row["verdict"] == DIFFERENT and row["verdict_reason"].startswith("n_star/n_rep = 0.2 [")
    assert "outside a factor 2 with its whole interval" in row["verdict_reason"]
    # a wider factor accepts it
    assert criteria_row(LOG_N, three(np.random.default_rng(1), rep=500.0), factor=6)["verdict"] == SAME


def test_one_never_crosses_is_undetermined():
    """Reproducibility stays at 0.2 over a sweep ending at n = 150: n_rep > 150 only, within a factor 2 of the
    others' 100, so nothing is decided."""
    rng = np.random.default_rng(2)
    n = np.array([10, 20, 50, 100, 150], dtype=float)
    row = criteria_row(np.log(n), three(rng, n=n, rep_values=np.full(5, 0.2)))
    assert row["n_rep_status"] == "still <= 0.5 at the largest n" and np.isnan(row["n_rep"])
    assert row["n_rep_hi"] == np.inf
    assert np.isnan(row["ratio_star_rep"]) and np.isnan(row["spread"])
    assert row["verdict"] == UNDETERMINED and row["verdict_reason"] == "n_rep: still <= 0.5 at the largest n"


def test_a_bound_outside_the_sweep_can_decide():
    """The same never-crossing curve over a sweep reaching n = 1000: n_rep > 1000 > 2 x 100."""
    rng = np.random.default_rng(3)
    row = criteria_row(LOG_N, three(rng, rep_values=np.full(7, 0.2)))
    assert row["verdict"] == DIFFERENT and "n_rep (> 1000) is more than 2 times n_star (" in row["verdict_reason"]


def test_already_past_at_the_start_is_an_upper_bound():
    rng = np.random.default_rng(4)
    row = criteria_row(LOG_N, three(rng, mem=1.0))  # memorized fraction below 0.5 from n = 10 on
    assert row["n_mem_status"] == "already < 0.5 at the smallest n" and row["n_mem_lo"] == 0.0
    assert row["verdict"] == DIFFERENT and "is more than 2 times n_mem (< 10)" in row["verdict_reason"]
    assert row["verdict_reason"].startswith(f"n_star ({row['n_star_lo']:.4g} to {row['n_star_hi']:.4g})")


def test_falling_distance_and_missing_values():
    """A distance read downward through 1/9 (the linear paired distance), in log distance; NaN points: missing."""
    rng = np.random.default_rng(5)
    distance = 1.0 / 9 * (N / 200.0) ** -1.0  # equals 1/9 at n = 200
    curve = rep_curve(np.log(distance), np.log(distance)[:, None] + 0.05 * rng.standard_normal((7, 200)),
                      level=np.log(1 / 9), rising=False)
    est = locate(LOG_N, curve)
    assert np.exp(est.log_x) == pytest.approx(200.0)
    broken = rep_curve(np.where(N == 50, np.nan, 0.3), np.zeros((7, 10)))
    row = criteria_row(LOG_N, [star_curve(logistic(N, 100), np.zeros((7, 10)) + 0.5), broken])
    assert row["n_rep_status"] == MISSING and row["verdict"] == UNDETERMINED


def test_paired_replicates_narrow_the_ratio():
    """When both curves' replicates move together (same resampled simulations) the ratio interval is narrow;
    drawn independently it is wider. Either way it covers the true ratio 1."""
    rng = np.random.default_rng(6)
    shift = 0.15 * rng.standard_normal(400)  # a common shift of the crossing, replicate by replicate
    star = np.array([logistic(N, 100 * np.exp(s)) for s in shift]).T
    mem = np.array([logistic(N, 100 * np.exp(s), rising=False) for s in shift]).T
    paired = criteria_row(LOG_N, [star_curve(logistic(N, 100), star), mem_curve(logistic(N, 100, False), mem)])
    mem_ind = mem[:, rng.permutation(400)]
    independent = criteria_row(LOG_N, [star_curve(logistic(N, 100), star),
                                       mem_curve(logistic(N, 100, False), mem_ind)])
    def width(row):
        return row["ratio_star_mem_hi"] / row["ratio_star_mem_lo"]

    assert width(paired) < 1.01 < width(independent)
    assert independent["ratio_star_mem_lo"] < 1 < independent["ratio_star_mem_hi"]


def test_names_must_differ():
    rng = np.random.default_rng(7)
    s = star_curve(*with_replicates(rng, logistic(N, 100)))
    with pytest.raises(ValueError, match="distinct"):
        criteria_row(LOG_N, [s, s])


def test_a_jump_between_two_cells_is_located_only_by_the_grid():
    """0 at n = 50, 1 at n = 100 in every replicate: interpolation puts every replicate at 70.7; the interval is
    the two cells, the ratio's the extremes they allow, and the verdict cannot call 70.7 and 100 the same."""
    rng = np.random.default_rng(8)
    jump = np.array([0, 0, 0, 1, 1, 1, 1], dtype=float)
    row = criteria_row(LOG_N, [star_curve(*with_replicates(rng, logistic(N, 100))),
                               rep_curve(jump, np.repeat(jump[:, None], 400, axis=1))])
    assert row["n_rep"] == pytest.approx(np.sqrt(50 * 100)) and row["n_rep_grid_limited"]
    assert (row["n_rep_lo"], row["n_rep_hi"]) == pytest.approx((50.0, 100.0))
    assert not row["n_star_grid_limited"] and row["n_star_hi"] / row["n_star_lo"] < 1.5
    assert row["ratio_star_rep_lo"] <= row["n_star_lo"] / 100.0 and row["ratio_star_rep_hi"] >= row["n_star_hi"] / 50
    assert row["verdict"] == UNDETERMINED and "reaches beyond a factor 2" in row["verdict_reason"]
    # a factor wide enough for every value the grid allows: the same n
    assert criteria_row(LOG_N, [star_curve(*with_replicates(np.random.default_rng(8), logistic(N, 100))),
                                rep_curve(jump, np.repeat(jump[:, None], 400, axis=1))], factor=3)["verdict"] == SAME


def test_points_within_the_factor_but_an_interval_beyond_it_is_undetermined():
    """n_rep at 180 with noisy replicates: the point ratio 0.56 is within 2, its interval is not."""
    rng = np.random.default_rng(9)
    curves = [star_curve(*with_replicates(rng, logistic(N, 100), noise=0.01)),
              rep_curve(*with_replicates(rng, logistic(N, 180), noise=0.15))]
    row = criteria_row(LOG_N, curves)
    assert 0.5 < row["ratio_star_rep"] < 1 and row["ratio_star_rep_lo"] < 0.5
    assert row["verdict"] == UNDETERMINED and row["verdict_reason"].startswith("n_star/n_rep = ")
