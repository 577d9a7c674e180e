"""memgen locate: the search's intervals cover a known crossing, the CLI end to end, resume, the phase diagram."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from cli_helpers import assert_one_line_error, invoke
from memgen_cli.locate.run import run_locate
from memgen_cli.locate.search import ABOVE_AT_MIN, CONVERGED, NO_CROSSING, SEARCHING, Counts, decide, scan_sizes
from memgen_cli.statistics.power_law import fit_power_law
from memgen_cli.locate.setup import load_locate_config

# ----------------------------------------------------------------------------------------------
# The search on synthetic curves (a fast simulator: 0/1 trials with a known P(n), ten "original sets")


def synthetic_search(p_of_n, rng, rel_width=0.1, batch=20, sets=10, n_min=2, n_max=1000, scan=8, max_trials=4000):
    sizes = scan_sizes(n_min, n_max, scan)
    rows: list[tuple[int, int, float]] = []

    def add(n: int) -> None:
        outcomes = rng.random(batch) < p_of_n(n)
        rows.extend((n, j * sets // batch, float(y)) for j, y in enumerate(outcomes))

    for n in sizes:
        add(n)
    refinements = 0
    while True:
        table = pd.DataFrame(rows, columns=["n", "set", "y"]).groupby(["n", "set"])["y"].agg(["sum", "count"])
        n_idx, set_idx = (table.index.get_level_values(i).to_numpy() for i in (0, 1))
        counts = Counts(n_idx, set_idx, table["sum"].to_numpy(), table["count"].to_numpy(dtype=float))
        decision = decide(counts, sizes, rel_width, max_trials, 1, refinements)
        if decision.status != SEARCHING:
            return decision, len(rows)
        refinements += len(decision.next_sizes) if decision.method == "logistic" else 0
        for n in decision.next_sizes:
            add(n)


def probit(n_star: float, scale: float):
    return lambda n: float(norm.cdf((math.log(n) - math.log(n_star)) / scale))


@pytest.mark.slow  # 150 simulated searches per curve
@pytest.mark.parametrize("curve, true_n_star", [
    (probit(381, 0.5), 381),  # a probit truth: the logistic fit is (mildly) misspecified
    (lambda n: 1 / (1 + math.exp(-(math.log(n) - math.log(50)) / 0.3)), 50),
])
def test_intervals_cover_a_known_crossing_at_their_stated_rate(curve, true_n_star):
    rng = np.random.default_rng(20261128)
    results = [synthetic_search(curve, rng) for _ in range(150)]
    assert all(d.status == CONVERGED for d, _ in results)
    covered = np.mean([d.lo <= true_n_star <= d.hi for d, _ in results])
    # Stated 95%; with 150 repetitions the binomial sd is 0.018 and sequential stopping costs about 2 points
    # (docs/analysis.md). An interval of the same width around a biased estimate, or a too narrow one, fails.
    assert covered >= 0.88, covered
    widths = [math.sqrt(d.hi / d.lo) - 1 for d, _ in results]
    assert max(widths) <= 0.1 + 1e-12  # each stopped inside the requested width
    assert np.mean(widths) >= 0.07  # not needlessly narrow: it stops as soon as it may


def test_intervals_that_ignore_the_fit_noise_would_fail_the_coverage_check():
    # The check above can fail: the same searches with their intervals shrunk by half cover far less often.
    rng = np.random.default_rng(7)
    results = [synthetic_search(probit(381, 0.5), rng) for _ in range(60)]
    half = [(math.log(d.hi) - math.log(d.lo)) / 4 for d, _ in results]
    covered = np.mean([abs(math.log(d.n_star / 381)) <= h for (d, _), h in zip(results, half)])
    assert covered < 0.85


def test_the_first_upward_crossing_is_targeted_and_a_later_dip_is_said():
    # P rises above 0.5 near n = 6, falls back to 0 near n = 16-30 (the interpolation dip), rises again.
    def curve(n):
        return 0.8 * norm.cdf(math.log(n / 6) / 0.2) * (1 - norm.cdf(math.log(n / 12) / 0.1)) + \
            norm.cdf(math.log(n / 100) / 0.3)

    # The scan must see the bump (12 sizes from 2 to 1000 put 6 and 11 on it; 8 sizes step over it, and the
    # search then finds the crossing near 100: docs/analysis.md says so).
    decision, _ = synthetic_search(curve, np.random.default_rng(3), rel_width=0.15, scan=12)
    assert decision.status == CONVERGED
    assert 4.5 < decision.n_star < 8
    assert decision.falls_back_at > decision.n_star  # a scanned n above the crossing has P <= 0.5
    missed, _ = synthetic_search(curve, np.random.default_rng(3), rel_width=0.15, scan=8)
    assert 80 < missed.n_star < 130


def test_no_crossing_is_reported_not_invented():
    rng = np.random.default_rng(1)
    flat, trials = synthetic_search(lambda n: 0.3, rng)
    assert flat.status == NO_CROSSING and math.isnan(flat.n_star) and trials == 8 * 20
    high, _ = synthetic_search(lambda n: 0.9, rng)
    assert high.status == ABOVE_AT_MIN and math.isnan(high.n_star)


def test_the_budget_stops_a_search_that_cannot_reach_its_width():
    decision, trials = synthetic_search(probit(300, 0.5), np.random.default_rng(2), rel_width=0.001,
                                        max_trials=600)
    assert decision.status == "budget exhausted" and 600 <= trials < 620
    assert decision.lo < decision.n_star < decision.hi


def test_power_law_fit_recovers_the_exponent():
    d = np.array([4, 8, 16, 32, 64, 128, 256])
    rng = np.random.default_rng(0)
    n_star = 1.5 * d ** 1.2 * np.exp(0.03 * rng.standard_normal(len(d)))
    fit = fit_power_law(d, n_star, n_star / 1.06, n_star * 1.06)
    assert fit.b_lo < 1.2 < fit.b_hi and fit.b_hi - fit.b_lo < 0.1
    assert fit_power_law(d[:1], n_star[:1], n_star[:1] / 2, n_star[:1] * 2) is None


# ----------------------------------------------------------------------------------------------
# End to end on a small linear config


SMALL = """model: linear
seed: 3
grid:
  n: [2, 120]
  d: [8]
  N: [400]
options: {original_sets: 4}
locate: {rel_width: 0.4, batch: 8, scan: 5, max_trials: 240}
"""


@pytest.fixture
def small_locate(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def test_locate_writes_nstar_and_every_trial(small_locate, tmp_path):
    out = tmp_path / "out"
    result = invoke("locate", "linear", small_locate, "--out", out, "--executor", "serial", "-q")
    assert result.exit_code == 0, result.output
    nstar = pd.read_csv(out / "nstar.csv")
    trials = pd.read_csv(out / "trials.csv")
    points = pd.read_csv(out / "points.csv")
    assert len(nstar) == 1 and nstar["d"].tolist() == [8]
    row = nstar.iloc[0]
    assert row["status"] in ("converged", "budget exhausted")
    assert row["n_star_lo"] < row["n_star"] < row["n_star_hi"]
    assert row["trials"] == len(trials) == points["trials"].sum()
    assert set(points["n"]) >= {2, 120} and len(trials) % 8 == 0
    # every batch is a cell of its own: 8 trials over the 4 original sets, seeds never repeated
    assert (trials.groupby(["n", "batch"]).size() == 8).all()
    assert trials["seed"].is_unique and set(trials["original_set"]) == {0, 1, 2, 3}
    # n* agrees with the pooled points: P below 0.5 at the bracket's bottom, above at its top
    p = points.set_index("n")["p"]
    assert p[row["bracket_lo"]] <= 0.5 < p[row["bracket_hi"]]
    # analyze on a locate folder fits n* = a d^b (nstar_fits.csv, vouched for by analysis.json); one d gives no fit
    analyzed = invoke("analyze", out)
    assert analyzed.exit_code == 0, analyzed.output
    assert "no power law fitted: 1 value(s) of d" in " ".join(analyzed.output.split())
    assert pd.read_csv(out / "nstar_fits.csv")["points"].tolist() == [1]
    assert json.loads((out / "analysis.json").read_text())["tables"] == ["nstar_fits.csv"]


@pytest.mark.slow  # three searches end to end
def test_an_interrupted_search_resumes_to_the_same_output(small_locate, tmp_path):
    setup = load_locate_config(small_locate)
    whole = run_locate(setup, tmp_path / "whole", executor="serial")

    def stop_after_two(round_index, trials, decisions):
        if round_index == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_locate(setup, tmp_path / "cut", executor="serial", on_round=stop_after_two)
    assert not (tmp_path / "cut" / "nstar.csv").exists()
    again = run_locate(setup, tmp_path / "cut", executor="serial")
    assert again.tasks_run < whole.tasks_run  # the first rounds' batches were kept
    for name in ("nstar.csv", "trials.csv", "points.csv", "summary.csv"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "cut" / name).read_bytes(), name
    # and a looser width stops earlier on the same points: a prefix of the same search
    looser = run_locate(load_locate_config(small_locate, ["locate.rel_width=3"]), tmp_path / "cut",
                        executor="serial")
    assert looser.tasks_run == 0 and len(looser.trials) <= len(whole.trials)


def test_dry_run_prints_the_settings(small_locate):
    result = invoke("locate", "linear", small_locate, "--dry-run", "--rel-width", "0.2", "--batch", "12")
    assert result.exit_code == 0, result.output
    assert "rel_width: 0.2" in result.output and "batch: 12" in result.output
    assert "scan n = [2, 6, 15, 43, 120]" in result.output


@pytest.mark.slow  # starts processes
def test_the_linear_search_keeps_torch_and_dask_out(small_locate, tmp_path):
    code = ("import sys\nfrom memgen_cli.cli import app\n"
            f"sys.argv = ['memgen', 'locate', 'linear', {str(small_locate)!r}, '--out', {str(tmp_path / 'o')!r}, "
            "'--executor', 'serial', '-q', '--max-trials', '60']\n"
            "try:\n app()\nexcept SystemExit as e:\n print('EXIT', e.code)\n"
            "print('HEAVY', [m for m in ('torch', 'diffusers', 'dask', 'distributed') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert "EXIT 0" in done.stdout and "HEAVY []" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "o" / "nstar.csv").is_file()
    helped = invoke("locate", "linear", "--help")
    for option in ("--rel-width", "--batch", "--max-trials", "--workers", "--dry-run", "--set", "--executor"):
        assert option in helped.output


@pytest.mark.parametrize("args, fragments", [
    (["--rel-width", "0"], ["--rel-width", "must be > 0"]),
    (["--batch", "0"], ["--batch"]),
    (["--max-trials", "-5"], ["--max-trials"]),
    (["--set", "locate.scan=1"], ["locate.scan", ">= 2"]),
    (["--set", "locate.speed=3"], ["locate.speed", "unknown field"]),
    (["--set", "grid.n=[8]"], ["grid.n", "search range"]),
    (["--set", "locate.target=H3"], ["locate.target", "H3"]),
    (["--set", "locate.direction=sideways"], ["locate.direction"]),
    (["--set", "locate.n_max_per_d=0.1"], ["locate.n_max_per_d", "n_max = 1"]),
])
def test_bad_input_is_one_line(small_locate, args, fragments):
    assert_one_line_error(invoke("locate", "linear", small_locate, *args), *fragments)


# ----------------------------------------------------------------------------------------------
# The phase diagram


def test_plot_draws_the_phase_diagram_from_nstar_csv(tmp_path):
    d = np.array([4, 8, 16, 32, 64, 128])
    rows = []
    for cov, a, b in (("BBt", 1.6, 1.1), ("BtB", 0.8, 1.3)):
        n_star = a * d ** b
        rows += [{"d": int(k), "covariance": cov, "n_star": v, "n_star_lo": v / 1.08, "n_star_hi": v * 1.08,
                  "status": "converged"} for k, v in zip(d, n_star)]
    rows.append({"d": 256, "covariance": "BBt", "n_star": np.nan, "n_star_lo": np.nan, "n_star_hi": np.nan,
                 "status": "no crossing below n_max"})
    pd.DataFrame(rows).to_csv(tmp_path / "nstar.csv", index=False)
    result = invoke("plot", tmp_path, "--format", "png,svg")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "figures" / "phase_diagram.png").stat().st_size > 10_000
    svg = (tmp_path / "figures" / "phase_diagram.svg").read_text()
    assert "d^{\\,1.10}" in svg and "d^{\\,1.30}" in svg  # the fitted exponents, written in the legend
    sidecar = json.loads((tmp_path / "figures" / "phase_diagram.json").read_text())
    assert any("no crossing below n_max" in note for note in sidecar["notes"])  # the notes beside the image
    fits = pd.read_csv(tmp_path / "nstar_fits.csv").set_index("covariance")
    assert fits.loc["BBt", "b"] == pytest.approx(1.1, abs=1e-9) and fits.loc["BtB", "points"] == 6


def two_power_laws(folder: Path) -> None:
    """nstar.csv of two covariances whose n* follow known power laws (b = 1.1 and 1.3) at six values of d."""
    d = np.array([4, 8, 16, 32, 64, 128])
    rows = []
    for cov, a, b in (("BBt", 1.6, 1.1), ("BtB", 0.8, 1.3)):
        rows += [{"d": int(k), "covariance": cov, "lambda": 0.1 if k < 32 else 0.2, "n_star": v,
                  "n_star_lo": v / 1.08, "n_star_hi": v * 1.08, "status": "converged"}
                 for k, v in zip(d, a * d ** b)]
    pd.DataFrame(rows).to_csv(folder / "nstar.csv", index=False)


def test_analyze_fits_the_power_laws_and_plot_only_draws_them(tmp_path, monkeypatch):
    """The fit is the analysis': `memgen analyze` writes nstar_fits.csv with its sha256 in analysis.json, and
    `memgen plot` draws those fits without fitting, unless they are stale (another nstar.csv, another hue)."""
    from memgen_cli.report.analysis import nstar_fits

    two_power_laws(tmp_path)
    result = invoke("analyze", tmp_path)
    assert result.exit_code == 0, result.output
    assert "n* = 1.6 d^1.100" in result.output and "for covariance = BtB" in result.output
    fits = pd.read_csv(tmp_path / "nstar_fits.csv").set_index("covariance")
    assert fits.loc["BtB", "b"] == pytest.approx(1.3, abs=1e-9) and fits.loc["BBt", "points"] == 6
    record = json.loads((tmp_path / "analysis.json").read_text())
    assert record["settings"] == {"hue": "covariance"} and set(record["table_sha256"]) == {"nstar_fits.csv"}
    assert not (tmp_path / "figures").exists()  # analyze draws nothing

    calls = []
    real = nstar_fits.fit_power_law
    monkeypatch.setattr(nstar_fits, "fit_power_law", lambda *a: calls.append(a) or real(*a))
    result = invoke("plot", tmp_path, "--format", "svg")
    assert result.exit_code == 0, result.output
    assert calls == []  # drawn from the stored fits
    assert (tmp_path / "figures" / "phase_diagram.svg").stat().st_size > 10_000
    drawn = json.loads((tmp_path / "figures" / "phase_diagram.json").read_text())["fits"]  # the legend's laws
    assert sorted(round(row["b"], 2) for row in drawn) == [1.1, 1.3]
    # another hue's fits are not stored: plot analyses first, and the stored analysis becomes that hue's
    assert invoke("plot", tmp_path, "--hue", "lambda").exit_code == 0
    assert len(calls) == 2 and json.loads((tmp_path / "analysis.json").read_text())["settings"] == {"hue": "lambda"}
    assert pd.read_csv(tmp_path / "nstar_fits.csv").columns[0] == "lambda"
    # a changed nstar.csv, or a fits table edited since, makes the stored fits stale too
    added = {"nstar.csv": "256,BBt,0.2,,,,no crossing below n_max\n", "nstar_fits.csv": "\n"}
    for stale, line in added.items():
        assert invoke("analyze", tmp_path).exit_code == 0
        calls.clear()
        with open(tmp_path / stale, "a") as table:
            table.write(line)
        assert invoke("plot", tmp_path).exit_code == 0
        assert len(calls) == 2, stale


def test_one_value_of_d_gets_no_power_law_and_says_so(tmp_path):
    """A power law n* = a d^b has two parameters: from one d none is drawn, printed or written as a number, and a
    note says why (it once printed 'n* = nan d^nan (b in , 1 points)')."""
    from figure_checks import assert_plain_log_ticks, legend_labels, texts_outside

    from memgen_cli.report.figures.canvas import styled
    from memgen_cli.report.figures.figure_phase import phase_figure

    pd.DataFrame([{"d": 8, "N": 400, "n_star": 31.7, "n_star_lo": 23.0, "n_star_hi": 43.7, "status": "converged",
                   "trials": 160}]).to_csv(tmp_path / "nstar.csv", index=False)
    (tmp_path / "config.yaml").write_text("model: linear\nseed: 3\ngrid: {n: [2, 120], d: [8], N: [400]}\n")
    result = invoke("plot", tmp_path, "--format", "png")
    assert result.exit_code == 0, result.output
    assert "nan" not in result.output and not re.search(r"n\* = [0-9]", result.output)  # no fitted law printed
    assert "no power law fitted: 1 value(s) of d" in " ".join(result.output.split())
    with styled():
        drawn = phase_figure(tmp_path)
    left = drawn.figure.axes[0]
    assert [line for line in left.get_lines() if line.get_linestyle() == "--"] == []  # no fitted line
    assert not any("b = " in label for label in legend_labels(drawn.figure))
    assert drawn.fits["points"].tolist() == [1] and np.isnan(drawn.fits["b"]).all()
    lo, hi = left.get_xlim()
    assert lo == pytest.approx(4) and hi == pytest.approx(16)  # a factor 2 around the one d, not 1 to 10
    assert_plain_log_ticks(drawn.figure)
    assert texts_outside(drawn.figure) == []
    assert drawn.record["caption"] == "Linear model: d = 8, N = 400, seed = 3 (the rest at defaults)"
    assert drawn.record["fits"][0]["b"] is None


def test_two_values_of_d_give_an_exact_power_law_with_a_note(tmp_path):
    rows = [{"d": d, "n_star": 3.0 * d, "n_star_lo": 2.5 * d, "n_star_hi": 3.5 * d, "status": "converged"}
            for d in (8, 32)]
    pd.DataFrame(rows).to_csv(tmp_path / "nstar.csv", index=False)
    result = invoke("plot", tmp_path)
    assert result.exit_code == 0, result.output
    assert "passes exactly through its 2 points" in " ".join(result.output.split())
    assert "n* = 3 d^1.000" in result.output


def test_n_and_its_range_may_grow_with_d(tmp_path):
    path = tmp_path / "grow.yaml"
    path.write_text("model: linear\ngrid: {n: [2, 4096], d: [4, 64], N: [1000]}\n"
                    "locate: {N_per_d: 100, n_max_per_d: 16, scan: 4}\n")
    setup = load_locate_config(path)
    assert [c["N"] for c in setup.combinations] == [1000, 6400]  # N = max(grid N, 100 d)
    assert setup.scans == [[2, 6, 20, 64], [2, 16, 128, 1024]]  # up to 16 d


TINY_UNET = """model: unet
seed: 5
device: cpu
grid: {n: [2, 32], side: [8], N: [300], train_steps: [3]}
training: {lr: 1.0e-3, batch_size: 8}
sampling: {generated: 4}
evaluation: {eval_original: 40}
locate: {batch: 2, scan: 3, max_trials: 12, target: memorized_fraction, direction: down}
"""


@pytest.mark.slow
def test_the_unet_is_searched_with_simulations_as_the_unit(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_UNET)
    out = tmp_path / "out"
    result = invoke("locate", "unet", path, "--out", out, "--executor", "serial", "-q")
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(out / "trials.csv")
    nstar = pd.read_csv(out / "nstar.csv")
    assert sorted(trials["n"].unique()) == [2, 8, 32] and (trials.groupby("n").size() >= 2).all()
    assert "batch" in trials.columns and trials["memorized_fraction"].between(0, 1).all()
    assert nstar.loc[0, "trials"] == len(trials) and nstar.loc[0, "side"] == 8
    points = pd.read_csv(out / "points.csv")  # P of the target turned upwards: 1 - memorized fraction
    mean = trials.groupby("n")["memorized_fraction"].mean()
    assert np.allclose(points.set_index("n")["p"], 1 - mean)
