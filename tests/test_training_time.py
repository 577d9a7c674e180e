"""Training times on constructed curves, and the τ_mem ∝ n^β fit."""

import numpy as np
import pytest

from memgen_cli.statistics.training_time import AT_FIRST, GEN_WORDS, MEM_WORDS, REACHED, TimeEstimate, \
    fit_time_exponent, generalization_time, mean_curve_replicates, memorization_crossings, memorization_times, \
    plateau_crossings
from memgen_cli.statistics.estimators import NOT_REACHED

STEPS = np.arange(1, 11) * 100.0  # checkpoints every 100 optimizer steps
MID = np.array([0, 0, 0, 0.1, 0.3, 0.6, 0.8, 0.9, 1.0, 1.0])  # crosses 0.05 after step 300 and 0.5 after 500


def test_crossing_mid_way_is_interpolated_in_log_step():
    rng = np.random.default_rng(0)
    times = memorization_times(STEPS, np.tile(MID, (3, 1)), rng, n_boot=200)
    onset, half = times["tau_mem"], times["tau_half"]
    assert onset.status == half.status == REACHED
    assert onset.step == pytest.approx(np.sqrt(300 * 400))  # 0.05 is half way from 0 to 0.1: geometric midpoint
    assert half.step == pytest.approx(500 * (600 / 500) ** (2 / 3))  # (0.5 - 0.3) / (0.6 - 0.3) of the way
    # identical simulations: every replicate equals the point, so the interval collapses onto it
    assert onset.lo == pytest.approx(onset.step) and onset.hi == pytest.approx(onset.step)
    assert onset.frac_reached == 1.0


def test_never_crossing_is_censored_at_the_budget():
    rng = np.random.default_rng(1)
    est = memorization_times(STEPS, np.zeros((4, 10)), rng, n_boot=100)["tau_mem"]
    assert est.status == MEM_WORDS[NOT_REACHED] == "not reached within the budget"
    assert np.isnan(est.step) and est.hi == np.inf and est.lo == np.inf
    assert np.all(est.replicates == np.inf) and est.frac_reached == 0.0


def test_crossing_at_the_first_checkpoint():
    rng = np.random.default_rng(2)
    curves = np.tile(np.linspace(0.2, 1.0, 10), (3, 1))
    times = memorization_times(STEPS, curves, rng, n_boot=100)
    assert times["tau_mem"].status == AT_FIRST and times["tau_mem"].lo == 0.0 and np.isnan(times["tau_mem"].step)
    assert times["tau_half"].status == REACHED  # 0.5 is passed later, between steps 400 and 500
    assert 400 < times["tau_half"].step < 500


def test_some_simulations_never_memorize_the_interval_reaches_the_budget():
    """Two of four simulations copy nothing: the mean curve still crosses 0.05, but replicates drawing mostly
    the silent ones never do, so the upper end is +inf rather than a falsely narrow step."""
    rng = np.random.default_rng(3)
    curves = np.vstack([MID, MID, np.zeros(10), np.zeros(10)])
    est = memorization_times(STEPS, curves, rng, n_boot=2000)["tau_mem"]
    assert est.status == REACHED and est.hi == np.inf
    assert 0.8 < est.frac_reached < 1.0  # all four silent is (1/2)^4 of draws; 0.05 needs > 1/2 of MID's 0.1


def test_two_stage_replicates_match_pooled_binomial_moments():
    rng = np.random.default_rng(4)
    curves = np.array([[0.0, 0.5, 0.9], [0.2, 0.5, 0.1]])
    boot = mean_curve_replicates(curves, 20000, rng, samples=10)
    assert boot.mean(axis=0) == pytest.approx(curves.mean(axis=0), abs=0.01)
    # a column where both simulations agree (0.5) varies only through the binomial stage: var = f(1-f)/(2M)
    assert boot[:, 1].var() == pytest.approx(0.25 / 20, rel=0.05)
    assert mean_curve_replicates(curves, 5, rng).shape == (5, 3)


def brute_plateau(steps, values, tol):
    for k in range(len(values)):
        if all(values[j] >= (1 - tol) * values[k] for j in range(k + 1, len(values))):
            return k
    raise AssertionError


def test_plateau_of_a_decaying_curve_against_brute_force():
    steps = np.arange(1, 41) * 50.0
    for scale in (100.0, 300.0, 900.0):
        values = 10 * np.exp(-steps / scale) + 1.0
        k = brute_plateau(steps, values, 0.05)
        found = plateau_crossings(steps, values, 0.05)
        if 0 < k < len(steps) - 1:
            assert found.status[0] == "crossed" and np.exp(found.log_x[0]) == pytest.approx(steps[k])
        # the same from the logs
        assert plateau_crossings(steps, np.log(values), 0.05, log_values=True).log_x[0] == pytest.approx(
            found.log_x[0], nan_ok=True)


def test_generalization_time_on_constructed_curves():
    rng = np.random.default_rng(5)
    plateau = np.array([5, 3, 2, 1.0, 0.99, 0.98, 0.99, 0.97, 0.98, 0.99])  # k = 3: later min 0.97 >= 0.95
    est = generalization_time(STEPS, np.tile(plateau, (3, 1)), rng, n_boot=100)
    assert est.status == REACHED and est.step == pytest.approx(400.0)
    # k = 2 fails: 0.97 < 0.95 * 2. With tol = 1% every k up to 6 is still beaten (0.97 < 0.99 * 0.98): k = 7
    assert generalization_time(STEPS, plateau, rng, n_boot=10, tol=0.01).step == pytest.approx(800.0)
    still = generalization_time(STEPS, 0.85 ** np.arange(10), rng, n_boot=10)
    assert still.status == GEN_WORDS[NOT_REACHED] and still.hi == np.inf
    flat = generalization_time(STEPS, np.ones(10), rng, n_boot=10)
    assert flat.status == AT_FIRST and flat.lo == 0.0
    with pytest.raises(ValueError, match="positive"):
        generalization_time(STEPS, -np.ones(10), rng)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="increasing"):
        memorization_crossings([100, 100, 200], np.zeros(3))
    with pytest.raises(ValueError, match="checkpoints"):
        memorization_crossings(STEPS, np.zeros(9))
    with pytest.raises(ValueError, match="finite"):
        memorization_crossings(STEPS, np.full(10, np.nan))


def synthetic_cells(rng, beta, sd, sizes, a=50.0):
    """τ(n) = a n^β with log-normal scatter sd, each with the 95% interval that scatter implies."""
    tau = a * sizes**beta * np.exp(sd * rng.standard_normal(len(sizes)))
    half = 1.96 * sd
    return [TimeEstimate(t, REACHED, t * np.exp(-half), t * np.exp(half), np.array([]), 1.0) for t in tau]


def test_exponent_recovered_with_an_interval_that_covers_it():
    sizes = np.array([16, 32, 64, 128, 256, 512], dtype=float)
    fit = fit_time_exponent(sizes, synthetic_cells(np.random.default_rng(6), 1.0, 0.1, sizes))
    assert fit.status == "ok" and fit.points == 6
    assert fit.beta_lo < 1.0 < fit.beta_hi and abs(fit.beta - 1.0) < 0.15
    # coverage over many synthetic sweeps: near (at least) 95%
    covered = []
    for seed in range(300):
        f = fit_time_exponent(sizes, synthetic_cells(np.random.default_rng(1000 + seed), 0.7, 0.2, sizes))
        covered.append(f.beta_lo < 0.7 < f.beta_hi)
    assert 0.9 <= np.mean(covered) <= 1.0


def test_exponent_refused_with_fewer_than_four_usable_cells():
    sizes = np.array([16, 32, 64], dtype=float)
    fit = fit_time_exponent(sizes, synthetic_cells(np.random.default_rng(7), 1.0, 0.1, sizes))
    assert fit.status.startswith("3 sizes") and "needs 4" in fit.status and np.isnan(fit.beta)
    # four cells, but one never memorizes and one's interval reaches the budget
    sizes = np.array([16, 32, 64, 128, 256], dtype=float)
    cells = synthetic_cells(np.random.default_rng(8), 1.0, 0.1, sizes)
    cells[3] = TimeEstimate(np.nan, "not reached within the budget", np.inf, np.inf, np.array([]), 0.0)
    cells[4] = TimeEstimate(cells[4].step, REACHED, cells[4].lo, np.inf, np.array([]), 0.9)
    fit = fit_time_exponent(sizes, cells)
    assert np.isnan(fit.beta) and "n=128 (not reached within the budget)" in fit.status and "n=256" in fit.status


def test_end_to_end_from_noisy_simulated_curves():
    """Curves from a logistic onset in log step at τ(n) = 20 n, 8 simulations per cell with their own jitter
    and 50 binomial samples per checkpoint: the per-cell τ_mem (where the expected fraction passes 0.05, at
    20 n 19^(-1/4) ≈ 9.6 n) and the fit recover β = 1."""
    rng = np.random.default_rng(9)
    steps = np.arange(1, 401) * 50.0
    sizes = np.array([16, 32, 64, 128, 256], dtype=float)
    cells = []
    for n in sizes:
        centre = np.log(20 * n) + 0.1 * rng.standard_normal((8, 1))
        prob = 1 / (1 + np.exp(-4 * (np.log(steps) - centre)))
        curves = rng.binomial(50, prob) / 50
        cells.append(memorization_times(steps, curves, rng, n_boot=300, samples=50)["tau_mem"])
    assert all(c.status == REACHED for c in cells)
    assert all(c.lo < 20 * 19 ** -0.25 * n < c.hi for c, n in zip(cells, sizes))
    fit = fit_time_exponent(sizes, cells)
    assert fit.status == "ok" and fit.beta_lo < 1.0 < fit.beta_hi and abs(fit.beta - 1.0) < 0.1
