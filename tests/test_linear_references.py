"""The linear model's ideal generalizer (ρ_G = ρ, issue 22) against independent computations, and the formula that
decides every training-point memorizer (docs/linear-model.md, "Reference models")."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import logsumexp

from memgen_cli.kde import KDEReference, LowRankGaussian, log_gaussian_kde_overlap, log_isotropic_kde_overlaps
from memgen_cli.linear.model import generalizer_columns, original_reference, run_linear_trial

LAM, T = np.exp(-4.0), 2.0


def kde_pdf(points, eps, x):
    d = points.shape[1]
    d2 = ((x[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * eps**2)).mean(1) / (2 * np.pi * eps**2) ** (d / 2)


@pytest.mark.parametrize("rule,sigma,n", [("paper", 1.0, 7), ("rosenblatt", 1.3, 5), ("paper", 0.7, 40)])
def test_generalizer_delta_against_grid_integration_d2(rule, sigma, n):
    """Δ = E_TG − E_OG for ρ_G = N(0, σ² I), integrated on a fine grid, against the closed form."""
    rng = np.random.default_rng(n)
    train = KDEReference.for_rule(sigma * rng.standard_normal((n, 2)), rule, sigma)
    original = original_reference(sigma * rng.standard_normal((60, 2)), rule, sigma)
    log_c_train = float(log_isotropic_kde_overlaps(train.sq_norms, train.eps, sigma, 2))
    row = generalizer_columns(log_c_train, train, original, sigma)
    grid = np.linspace(-8 * sigma, 8 * sigma, 801)
    xx = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    cell = (grid[1] - grid[0]) ** 2
    rho = stats.multivariate_normal(np.zeros(2), sigma**2 * np.eye(2)).pdf(xx)
    e_tg = ((kde_pdf(train.points, train.eps, xx) - rho) ** 2).sum() * cell
    e_og = ((kde_pdf(original.points, original.eps, xx) - rho) ** 2).sum() * cell
    assert row["generalizer_delta_positive"] == int(e_tg > e_og)
    assert row["generalizer_log_abs_delta"] == pytest.approx(np.log(abs(e_tg - e_og)), abs=1e-3)


def test_isotropic_cross_term_equals_the_gaussian_kde_overlap():
    """The squared-norm shortcut against the general Gaussian–KDE overlap with ρ as a full-rank Gaussian; and the
    original set's term is kept once computed."""
    rng = np.random.default_rng(1)
    d, sigma = 16, 1.7
    ref = original_reference(sigma * rng.standard_normal((500, d)), "paper", sigma)
    rho = LowRankGaussian(np.zeros(d), np.eye(d), np.full(d, sigma**2))
    expected = log_gaussian_kde_overlap(rho, ref.points, ref.eps)
    assert ref.log_overlap_with_isotropic(sigma) == pytest.approx(expected, rel=1e-13)
    assert ref._isotropic == {sigma: ref.log_overlap_with_isotropic(sigma)}


def test_generalizer_is_the_same_in_the_trial_row():
    """run_linear_trial's generalizer columns are generalizer_columns of its own training set: the reference
    sees exactly the trial's training and original KDEs."""
    rng_data = np.random.default_rng(3)
    original = original_reference(rng_data.standard_normal((300, 8)), "paper", 1.0)
    row = run_linear_trial(np.random.default_rng(11), 20, 8, LAM, T, 300, original=original)
    Y = np.random.default_rng(11).standard_normal((20, 8))  # the trial's first draw: its training set
    train = KDEReference.for_rule(Y, "paper", 1.0)
    log_c = float(log_isotropic_kde_overlaps(train.sq_norms, train.eps, 1.0, 8))
    assert generalizer_columns(log_c, train, original, 1.0) == {k: row[k] for k in
                                                               ("generalizer_delta_positive",
                                                                "generalizer_log_abs_delta")}


def dirac_memorizer_delta_over_diagonal(rng, n, d, N):
    """Δ/D for ρ_G = (1/n) Σ δ(Y_k) (the empirical measure), by brute force: Δ = ∫ρ_T² − ∫ρ_O² −
    (2/n) Σ_k [ρ_T(Y_k) − ρ_O(Y_k)] (∫ρ_G² is infinite but cancels)."""
    Y, Ob = rng.standard_normal((n, d)), rng.standard_normal((N, d))
    train, orig = KDEReference.for_rule(Y, "paper", 1.0), KDEReference.for_rule(Ob, "paper", 1.0)

    def log_rho(points, eps, x):
        d2 = ((x[:, None, :] - points[None, :, :]) ** 2).sum(-1)
        return logsumexp(-d2 / (2 * eps**2), axis=1) - np.log(len(points)) - 0.5 * d * np.log(2 * np.pi * eps**2)

    log_d = train.log_self_diagonal  # = orig.log_self_diagonal under the paper's rule: (4π σ²)^(-d/2)
    self_terms = np.exp(train.log_self_offdiagonal - log_d) - np.exp(orig.log_self_offdiagonal - log_d)
    cross = (2 / n) * (np.exp(log_rho(Y, train.eps, Y) - log_d).sum() - np.exp(log_rho(Ob, orig.eps, Y) - log_d).sum())
    return self_terms - cross


@pytest.mark.parametrize("d", [8, 16, 100])
def test_every_training_point_memorizer_is_decided_by_its_self_match(d):
    """The formula docs/linear-model.md gives: Δ/D = −2^(d/2+1) + R, |R| of order one, so Δ < 0 in every trial."""
    rng = np.random.default_rng(d)
    for n in (2, 30, 300):
        for _ in range(3):
            ratio = dirac_memorizer_delta_over_diagonal(rng, n, d, 1000)
            assert ratio == pytest.approx(-(2 ** (d / 2 + 1)), abs=2.0, rel=1e-12)  # rel: rounding at d = 100
            assert ratio < 0


SMALL = """
model: linear
seed: 3
trials: 20
grid: {n: [4, 8], d: [4], N: [200]}
options: {original_sets: 2}
"""


def test_a_folder_from_before_the_generalizer_resumes_without_recomputing(tmp_path, monkeypatch):
    """Parts stored without the generalizer's columns stay valid; its summary reads as missing (count 0)."""
    from memgen_cli.linear import model
    from memgen_cli.linear.experiment import LinearExperiment
    from memgen_cli.linear.model import GENERALIZER_METRICS
    from memgen_cli.runner.sweep import load_sweep_config, run_sweep

    path = tmp_path / "c.yaml"
    path.write_text(SMALL)
    config = load_sweep_config(path)
    out = tmp_path / "old"
    with monkeypatch.context() as old:  # what memgen wrote before issue 22
        columns = LinearExperiment.columns
        old.setattr(LinearExperiment, "columns",
                    lambda self, c: tuple(x for x in columns(self, c) if x not in GENERALIZER_METRICS))
        old.setattr(model, "generalizer_columns", lambda *args: {})
        first = run_sweep(config, out, executor="serial")
    assert "generalizer_delta_positive" not in first.trials.columns
    resumed = run_sweep(config, out, executor="serial")
    assert resumed.tasks_run == 0 and not resumed.notes
    assert (resumed.summary["count_generalizer_delta_positive"] == 0).all()
    fresh = run_sweep(config, tmp_path / "new", executor="serial")  # the same numbers, and the generalizer
    shared = [c for c in fresh.trials.columns if c in resumed.trials.columns]
    pd.testing.assert_frame_equal(fresh.trials[shared], resumed.trials[shared])
    assert fresh.summary["count_generalizer_delta_positive"].eq(20).all()


FIG3 = """
model: linear
seed: 0
trials: {trials}
grid: {{n: [2, 16, 128, 2000, 10000], d: [16], N: [10000]}}
"""


@pytest.mark.slow  # about 2 minutes: 60 trials at n = N = 10^4 and ten original sets of 10^4 points
def test_fig3_settings_the_generalizer_separates_and_analyze_keeps_n_star(tmp_path):
    """Issue 22's acceptance test at the paper's Fig. 3 settings (d = 16, N = 10^4, paper bandwidth, 10 original
    sets), 60 trials per n: the ideal generalizer's P(Δ>0) >= 0.95 for 2 <= n <= 2000 and in [0.3, 0.7] at n = N
    (where T and O are exchangeable: exactly 0.5 in expectation), and `memgen analyze` calls the metric
    discriminating around n* and reports n* as before."""
    from memgen_cli.report.analysis.transitions import find_transitions
    from memgen_cli.runner.sweep import load_sweep_config, run_sweep

    path = tmp_path / "fig3.yaml"
    path.write_text(FIG3.format(trials=60))
    out = tmp_path / "fig3"
    summary = run_sweep(load_sweep_config(path), out, executor="serial").summary.set_index("n")
    p = summary["p_generalizer_delta_positive"]
    assert (p.loc[[2, 16, 128, 2000]] >= 0.95).all(), p
    assert 0.3 <= p.loc[10000] <= 0.7, p
    row = find_transitions(out, n_boot=200).iloc[0]
    assert row["n_star_status"] == "crossed" and 16 < row["n_star"] < 128
    assert row["n_star_discriminates_at"] == "2–2000" and row["n_star_blind_at"] == "none"
    assert row["n_star_grid_limited"]  # P = 0 at 16 and 1 at 128: the grid cannot place it closer
