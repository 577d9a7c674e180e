"""The memorized fraction as `memgen analyze` and `memgen plot` use it: n_mem, its window, n*/n_mem, the
two-stage interval (simulations, then samples), and the figures; on synthetic U-Net folders (no torch)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import invoke
from memgen_cli.report.analysis.memorization import cell_replicates, memorization_table
from memgen_cli.report.reader import read_results
from memgen_cli.statistics.summary import summarize_trials

N_VALUES = (4, 16, 64, 256)
M = 20  # samples per simulation


def write_unet_folder(folder: Path, fractions: dict, positives: dict, curves: bool = False) -> Path:
    """trials.csv and summary.csv of a U-Net sweep; fractions[n]: each simulation's memorized fraction."""
    rows = []
    for cell, n in enumerate(N_VALUES):
        for trial, (fraction, positive) in enumerate(zip(fractions[n], positives[n])):
            rows.append({"model": "unet", "cell": cell, "cell_id": f"c{cell}", "n": n, "generated": M,
                         "trial": trial, "seed": 1000 * cell + trial, "delta_positive": positive,
                         "delta_positive_exact": int(n == 256),
                         "E_OG": 2.0 / n ** 0.5 + 0.01 * trial, "E_TG": 1.0, "memorized_fraction": fraction})
    trials = pd.DataFrame(rows)
    summary = summarize_trials(trials, ["model", "cell", "cell_id", "n", "generated"],
                               ("delta_positive", "delta_positive_exact"),
                               ("E_OG", "E_TG", "memorized_fraction"))
    folder.mkdir(parents=True)
    trials.to_csv(folder / "trials.csv", index=False)
    summary.to_csv(folder / "summary.csv", index=False)
    if curves:
        steps = [{**row, "step": step, "memorized_fraction": row["memorized_fraction"] * step / 300}
                 for row in rows for step in (100, 200, 300)]
        columns = ["model", "cell", "cell_id", "n", "generated", "trial", "seed", "step"]
        frame = pd.DataFrame(steps)
        frame[columns + [c for c in frame.columns if c not in columns]].to_csv(folder / "curves.csv", index=False)
    return folder


# Memorized fraction 1, 0.8, 0.2, 0 (every simulation alike); P(Delta > 0) 0, 0.25, 0.75, 1 over 4 simulations.
FALLING = {4: [1.0] * 4, 16: [0.8] * 4, 64: [0.2] * 4, 256: [0.0] * 4}
RISING = {4: [0, 0, 0, 0], 16: [1, 0, 0, 0], 64: [1, 1, 1, 0], 256: [1, 1, 1, 1]}


def test_n_mem_window_n_star_and_their_ratio(tmp_path):
    folder = write_unet_folder(tmp_path / "r", FALLING, RISING)
    row = memorization_table(read_results(folder), n_boot=300).groups.iloc[0]
    # The fraction falls through 0.5 halfway (in log n) between 16 (0.8) and 64 (0.2): n_mem = 32.
    assert row["n_mem_status"] == "crossed" and row["n_mem"] == pytest.approx(32.0)
    # Through 0.9 halfway between 4 (1.0) and 16 (0.8): 8; through 0.1 halfway between 64 and 256: 128.
    assert row["window_start"] == pytest.approx(8.0) and row["window_end"] == pytest.approx(128.0)
    assert row["window_width"] == pytest.approx(16.0)
    # P rises through 0.5 halfway between 16 (0.25) and 64 (0.75): n* = 32, the same n.
    assert row["n_star"] == pytest.approx(32.0) and row["ratio"] == pytest.approx(1.0)
    # Both crossings sit between grid points 4x apart, so the ratio's grid-widened interval reaches from 1/4 to 4:
    # the points agree, the grid cannot tell a factor 2 (never "same n" from the point alone).
    assert row["ratio_lo"] <= 0.5 and row["ratio_hi"] >= 2
    assert row["verdict"] == "undetermined" and "reaches across a factor 2" in row["verdict_reason"]
    assert row["n_mem_lo"] <= 32 <= row["n_mem_hi"]
    # The exact metric rises through 0.5 halfway between 64 (0) and 256 (1): 128, four times n_mem.
    assert row["n_star_exact"] == pytest.approx(128.0) and row["ratio_exact"] == pytest.approx(4.0)
    assert "n_star_kde" not in row.index  # no such column in this folder's trials


def test_fractions_that_never_fall_leave_the_verdict_undetermined(tmp_path):
    folder = write_unet_folder(tmp_path / "r", {n: [0.95] * 4 for n in N_VALUES}, RISING)
    row = memorization_table(read_results(folder), n_boot=200).groups.iloc[0]
    assert row["n_mem_status"] == "still >= 0.5 at the largest n" and np.isnan(row["n_mem"])
    assert row["verdict"] == "undetermined" and "n_mem" in row["verdict_reason"]


def test_interval_resamples_simulations_before_samples():
    # Two simulations memorize every sample, two none: the M samples of a simulation are not independent.
    # Resampling the 80 samples as if independent gives about 0.5 +- 0.11; resampling simulations first
    # gives an interval several times wider.
    trials = pd.DataFrame({"memorized_fraction": [1.0, 0.0, 1.0, 0.0], "delta_positive": [0, 1, 0, 1],
                           "generated": [M] * 4})
    fraction, boot, outcomes = cell_replicates(trials, 2000, np.random.default_rng(0))
    p, p_boot = outcomes["delta_positive"]
    assert fraction == 0.5 and p == 0.5
    lo, hi = np.quantile(boot, [0.025, 0.975])
    assert lo <= 0.05 and hi >= 0.95
    # Paired: a replicate that drew more memorizing simulations drew fewer with Delta > 0.
    assert np.corrcoef(boot, p_boot)[0, 1] < -0.9
    # Samples within a simulation are resampled too: one simulation at 0.5 still has an interval.
    one = pd.DataFrame({"memorized_fraction": [0.5], "delta_positive": [1], "generated": [M]})
    _, boot_one, _ = cell_replicates(one, 2000, np.random.default_rng(1))
    assert np.quantile(boot_one, 0.975) - np.quantile(boot_one, 0.025) > 0.3


def test_same_seed_same_intervals_other_seed_other_intervals(tmp_path):
    fractions = {4: [1.0, 0.9, 0.95, 1.0], 16: [0.9, 0.4, 0.7, 0.8], 64: [0.1, 0.4, 0.2, 0.0], 256: [0.0] * 4}
    results = read_results(write_unet_folder(tmp_path / "r", fractions, RISING))
    a = memorization_table(results, n_boot=300, seed=1).groups
    b = memorization_table(results, n_boot=300, seed=1).groups
    c = memorization_table(results, n_boot=300, seed=2).groups
    pd.testing.assert_frame_equal(a, b)
    assert (a["n_mem_lo"].iloc[0], a["n_mem_hi"].iloc[0]) != (c["n_mem_lo"].iloc[0], c["n_mem_hi"].iloc[0])


def test_analyze_writes_memorization_csv_and_plot_draws_the_figures(tmp_path):
    folder = write_unet_folder(tmp_path / "r", FALLING, RISING, curves=True)
    result = invoke("analyze", str(folder), "--bootstrap", "200")
    assert result.exit_code == 0, result.output
    assert "n_mem" in result.output and "undetermined" in result.output
    table = pd.read_csv(folder / "memorization.csv")
    assert table["n_mem"].iloc[0] == pytest.approx(32.0) and table["verdict"].iloc[0] == "undetermined"
    result = invoke("plot", str(folder), "--bootstrap", "200")
    assert result.exit_code == 0, result.output
    for name in ("memorized_fraction", "memorization_vs_p", "training_curves", "p_delta_positive"):
        assert (folder / "figures" / f"{name}.png").stat().st_size > 10_000, name


def test_plot_says_why_training_curves_are_missing(tmp_path):
    folder = write_unet_folder(tmp_path / "r", FALLING, RISING)
    result = invoke("plot", str(folder), "--bootstrap", "200")
    assert result.exit_code == 0 and "training_curves: no curves.csv" in result.output
    assert (folder / "figures" / "memorized_fraction.png").exists()


def test_linear_folders_get_no_memorization_table(tmp_path):
    from results_factory import write_linear_results

    folder = write_linear_results(tmp_path / "lin", [8, 16, 32, 64], trials=20)
    result = invoke("analyze", str(folder), "--bootstrap", "100")
    assert result.exit_code == 0, result.output
    assert not (folder / "memorization.csv").exists() and "n_mem" not in result.output


def test_without_trials_csv_analyze_says_so_and_plot_skips_the_memorization_figures(tmp_path):
    folder = write_unet_folder(tmp_path / "r", FALLING, RISING)
    (folder / "trials.csv").unlink()
    result = invoke("analyze", str(folder), "--bootstrap", "100")
    assert result.exit_code == 0, result.output
    assert "no memorization.csv" in result.output and not (folder / "memorization.csv").exists()
    result = invoke("plot", str(folder), "--bootstrap", "100")
    assert result.exit_code == 0 and "memorized_fraction, memorization_vs_p: no trials.csv" in result.output


@pytest.mark.slow  # a digits U-Net folder, analysed and drawn end to end
def test_figures_of_a_digits_folder_name_its_original_set_not_n(tmp_path):
    """Digits: the original set is every digit not trained on (1797 - n), whatever the N column says; the caption
    and the sidecar say so, and a single group's legend names no group."""
    import json

    from figure_checks import assert_legends_clear_of_data, legend_labels, texts_outside

    from memgen_cli.report.figures.draw import draw_figures

    folder = write_unet_folder(tmp_path / "r", FALLING, RISING, curves=True)
    for name in ("trials.csv", "summary.csv", "curves.csv"):
        frame = pd.read_csv(folder / name)
        at = list(frame.columns).index("n") + 1
        frame.insert(at, "N", 10_000)
        frame.insert(at + 1, "data", "digits")
        if name == "trials.csv":
            frame["n_original"] = 1797 - frame["n"]
        frame.to_csv(folder / name, index=False)
    report = draw_figures(folder, n_boot=200)
    sidecar = json.loads((folder / "figures" / "memorization_vs_p.json").read_text())
    caption = sidecar["caption"]
    assert caption.startswith("U-Net: data = digits, original set 1541–1793 images"), caption
    assert "N = " not in caption and sidecar["ignored"] == ["N"]
    assert sidecar["original_set_sizes"] == [1541, 1733, 1781, 1793]
    figure = report.figures["memorization_vs_p"]
    assert "all cells" not in legend_labels(figure)
    assert legend_labels(figure)[:2] == ["memorized fraction, 95% interval", "P(Δ > 0), 95% interval"]
    title = figure.axes[0].get_title()
    assert "n_mem = 32" in title and "[" in title.split("n_mem = ")[1].splitlines()[0]  # with its interval
    for name, drawn in report.figures.items():
        assert texts_outside(drawn) == [], name
        assert_legends_clear_of_data(drawn, name)
