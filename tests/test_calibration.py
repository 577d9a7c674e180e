"""Calibrated verdicts (issue 22): where a metric tells the ideal generalizer from the ideal memorizer, n* only
there, and crossing intervals that cover a grid's gap; the pure logic (statistics/calibration.py) and `memgen
analyze` on constructed tables (no sweep)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import invoke
from memgen_cli.report.analysis.transitions import find_transitions
from memgen_cli.report.analysis.memorization import memorization_table
from memgen_cli.report.reader import read_results
from memgen_cli.statistics.calibration import (MISSING, NO, UNRESOLVED, YES, check_crossing, discrimination,
                                               grid_limited_interval, ranges_text)
from memgen_cli.statistics.summary import summarize_trials

X = np.array([4.0, 16.0, 64.0, 256.0])


def test_discrimination_needs_each_reference_beyond_its_interval_on_its_side():
    gen_lo, gen_hi = np.array([0.6, 0.6, 0.1, 0.45, np.nan]), np.array([1.0, 1.0, 0.4, 0.9, np.nan])
    mem_lo, mem_hi = np.array([0.0, 0.55, 0.0, 0.0, 0.0]), np.array([0.3, 0.9, 0.3, 0.3, 0.3])
    status = discrimination(gen_lo, gen_hi, mem_lo, mem_hi)
    # both on their sides / the memorizer above 0.5 / the generalizer below 0.5 / an interval on 0.5 / no reference
    assert list(status) == [YES, NO, NO, UNRESOLVED, MISSING]
    # The memorized fraction: a memorizer's fraction must be above 0.5, a generalizer's (false positives) below.
    fraction = discrimination(np.array([0.0, 0.0]), np.array([0.1, 0.6]), np.array([0.9, 0.9]),
                              np.array([1.0, 1.0]), generalizer_above=False)
    assert list(fraction) == [YES, UNRESOLVED]


def test_ranges_of_grid_points():
    status = np.array([YES, YES, NO, YES, YES, YES, UNRESOLVED], dtype=object)
    x = np.array([2, 4, 8, 16, 32, 64, 128], dtype=float)
    assert ranges_text(x, status) == "2–4, 16–64"
    assert ranges_text(x, status, NO) == "8"
    assert ranges_text(x, np.full(7, NO, dtype=object)) == "none"


def test_a_crossing_stands_only_between_two_discriminating_points():
    both = np.array([YES, YES, YES, NO], dtype=object)
    assert check_crossing(X, both, 32.0).reported
    blind = check_crossing(X, both, 128.0)
    assert not blind.reported
    assert blind.reason == "undetermined: this metric cannot tell a generalizer from a memorizer at n = 256"
    few = check_crossing(X, np.array([YES, UNRESOLVED, YES, YES], dtype=object), 8.0)
    assert few.reason.startswith("undetermined: too few trials") and few.reason.endswith("at n = 4, 16")
    assert check_crossing(X, np.full(4, MISSING, dtype=object), 32.0).reported  # older folders: as before
    assert check_crossing(X, both, np.nan).reported  # nothing crossed: nothing to judge


def test_grid_limited_interval_covers_the_gap():
    lo, hi = np.array([0.0, 0.0, 0.9, 0.95]), np.array([0.05, 0.1, 1.0, 1.0])
    assert grid_limited_interval(X, lo, hi, 45.6) == (16.0, 64.0)  # P = 0 at 16 and 0.98 at 64: anywhere between
    assert grid_limited_interval(X, lo, np.array([0.05, 0.6, 1.0, 1.0]), 45.6) is None  # 16's interval reaches 0.5
    assert grid_limited_interval(X, lo, hi, 16.0) is None  # on a grid point
    falling_lo, falling_hi = np.array([0.9, 0.8, 0.0, 0.0]), np.array([1.0, 1.0, 0.1, 0.1])
    assert grid_limited_interval(X, falling_lo, falling_hi, 32.0, rising=False) == (16.0, 64.0)


# -- `memgen analyze` on constructed folders -------------------------------------------------------------------

def write_folder(folder: Path, model: str, p: dict, references: dict, trials: int = 40) -> Path:
    """trials.csv and summary.csv with the model's P(Δ>0) and the references' per n (each a fraction of trials)."""
    rows = []
    for cell, n in enumerate(X):
        k = lambda fraction, t: int(t < round(fraction * trials))  # noqa: E731
        for t in range(trials):
            rows.append({"model": model, "cell": cell, "cell_id": f"c{cell}", "n": int(n), "trial": t, "seed": t,
                         "delta_positive": k(p[n], t), "E_OG": 1.0 / n, "E_TG": 1.0,
                         **{f"{name}_delta_positive": k(values[n], t) for name, values in references.items()}})
    frame = pd.DataFrame(rows)
    binary = ("delta_positive", *(f"{name}_delta_positive" for name in references))
    summary = summarize_trials(frame, ["model", "cell", "cell_id", "n"], binary, ("E_OG", "E_TG"))
    folder.mkdir(parents=True)
    frame.to_csv(folder / "trials.csv", index=False)
    summary.to_csv(folder / "summary.csv", index=False)
    return folder


P_RISING = {4.0: 0.0, 16.0: 0.0, 64.0: 1.0, 256.0: 1.0}


def test_linear_generalizer_above_everywhere_keeps_n_star_and_its_gap(tmp_path):
    """The linear model's memorizer is analytic (P = 0): the generalizer alone decides, and P jumps from 0 to 1
    between 16 and 64, so n* is interpolated there but its interval is the whole gap."""
    folder = write_folder(tmp_path / "lin", "linear", P_RISING, {"generalizer": dict.fromkeys(X, 1.0)})
    row = find_transitions(folder, n_boot=200).iloc[0]
    assert row["n_star_status"] == "crossed" and row["n_star"] == pytest.approx(32.0)
    assert row["n_star_discriminates_at"] == "4–256" and row["n_star_blind_at"] == "none"
    assert row["n_star_grid_limited"] and (row["n_star_lo"], row["n_star_hi"]) == (16.0, 64.0)


def test_references_that_agree_leave_no_n_star(tmp_path):
    """Both references below 0.5 at 16 and 64 (a blind metric): no n* there, and the reason says why."""
    references = {"generalizer": {4.0: 1.0, 16.0: 0.0, 64.0: 0.0, 256.0: 1.0},
                  "memorizer": dict.fromkeys(X, 0.0)}
    folder = write_folder(tmp_path / "blind", "unet", P_RISING, references)
    row = find_transitions(folder, n_boot=200).iloc[0]
    assert np.isnan(row["n_star"]) and np.isnan(row["n_star_lo"]) and row["n_star_crossing"] == pytest.approx(32.0)
    assert row["n_star_status"] == ("undetermined: this metric cannot tell a generalizer from a memorizer at "
                                    "n = 16, 64")
    assert row["n_star_discriminates_at"] == "4, 256" and row["n_star_blind_at"] == "16–64"
    assert row["verdict"] == "undetermined"


@pytest.mark.parametrize("references", [
    {"generalizer": dict.fromkeys(X, 0.0), "memorizer": dict.fromkeys(X, 0.0)},  # both score 0 (the U-Net's metric)
    {"generalizer": dict.fromkeys(X, 0.0), "memorizer": dict.fromkeys(X, 1.0)},  # the memorizer above the generalizer
], ids=["both-zero", "memorizer-above"])
@pytest.mark.parametrize("p", [dict.fromkeys(X, 1.0), dict.fromkeys(X, 0.0), P_RISING],
                         ids=["above-at-start", "never-above", "crossing"])
def test_a_metric_that_discriminates_nowhere_is_the_reason_first(tmp_path, references, p):
    """Issue 35: where the references are never told apart, that is the reason for no n*, whatever the model's curve
    did: never 'above 0.5 at smallest n' (read: the model already generalizes), 'not reached' or a crossing."""
    folder = write_folder(tmp_path / "nowhere", "unet", p, references)
    result = invoke("analyze", str(folder), "--bootstrap", "100", env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    row = pd.read_csv(folder / "transitions.csv").iloc[0]
    assert row["n_star_status"] == ("undetermined: this metric does not discriminate at any n of the sweep: it "
                                    "cannot tell a generalizer from a memorizer at n = 4–256")
    assert np.isnan(row["n_star"]) and np.isnan(row["n_star_lo"]) and np.isnan(row["n_star_hi"])
    assert row["verdict"] == "undetermined" and row["n_star_discriminates_at"] == "none"
    assert row["verdict_reason"] == "n_star " + row["n_star_status"]
    for claim in ("above 0.5", "not reached", "crossed", "n_star/n_onset"):
        assert claim not in row["verdict_reason"] and claim not in row["n_star_status"]
    assert "does not discriminate at any n" in result.output and "above 0.5 at smallest n" not in result.output


def test_above_at_start_stands_only_where_the_smallest_n_discriminates(tmp_path):
    """The references are told apart from n = 16 on but not at n = 4: a model above 0.5 everywhere is not said to
    generalize at the smallest n; where n = 4 discriminates too, 'above 0.5 at smallest n' stands."""
    p = dict.fromkeys(X, 1.0)
    blind_start = {"generalizer": {4.0: 0.0, 16.0: 1.0, 64.0: 1.0, 256.0: 1.0}, "memorizer": dict.fromkeys(X, 0.0)}
    row = find_transitions(write_folder(tmp_path / "a", "unet", p, blind_start), n_boot=100).iloc[0]
    assert row["n_star_status"] == "undetermined: this metric cannot tell a generalizer from a memorizer at n = 4"
    assert row["verdict_reason"] == "n_star " + row["n_star_status"]
    sound = {"generalizer": dict.fromkeys(X, 1.0), "memorizer": dict.fromkeys(X, 0.0)}
    row = find_transitions(write_folder(tmp_path / "b", "unet", p, sound), n_boot=100).iloc[0]
    assert row["n_star_status"] == "above 0.5 at smallest n"
    few = {"generalizer": dict.fromkeys(X, 0.0), "memorizer": dict.fromkeys(X, 0.0)}
    few["generalizer"][256.0] = 0.5  # 20 of 40: its interval reaches 0.5; blind elsewhere
    row = find_transitions(write_folder(tmp_path / "c", "unet", p, few), n_boot=100).iloc[0]
    assert row["n_star_status"] == ("undetermined: this metric does not discriminate at any n of the sweep: it "
                                    "cannot tell a generalizer from a memorizer at n = 4–64; too few trials to show "
                                    "that it can at n = 256")


def test_folders_from_before_the_references_keep_their_n_star(tmp_path):
    folder = write_folder(tmp_path / "old", "unet", P_RISING, {})
    row = find_transitions(folder, n_boot=200).iloc[0]
    assert row["n_star_status"] == "crossed" and row["n_star_discriminates_at"] == "no references"


def test_memorized_fraction_is_judged_by_the_references_fractions(tmp_path):
    """n_mem where the generalizer's samples are never called copies and the memorizer's always are; the same
    folder's P(Δ>0) references agree everywhere (both 0), so its n* is undetermined there."""
    rows = []
    fraction = {4.0: 1.0, 16.0: 0.8, 64.0: 0.2, 256.0: 0.0}
    for cell, n in enumerate(X):
        for t in range(6):
            rows.append({"model": "unet", "cell": cell, "cell_id": f"c{cell}", "n": int(n), "generated": 20,
                         "trial": t, "seed": t, "delta_positive": int(n >= 64), "E_OG": 1.0, "E_TG": 1.0,
                         "memorized_fraction": fraction[n], "generalizer_memorized_fraction": 0.0,
                         "memorizer_memorized_fraction": 1.0, "generalizer_delta_positive": 0,
                         "memorizer_delta_positive": 0})
    trials = pd.DataFrame(rows)
    summary = summarize_trials(trials, ["model", "cell", "cell_id", "n", "generated"],
                               ("delta_positive", "generalizer_delta_positive", "memorizer_delta_positive"),
                               ("E_OG", "E_TG", "memorized_fraction"))
    folder = tmp_path / "mem"
    folder.mkdir()
    trials.to_csv(folder / "trials.csv", index=False)
    summary.to_csv(folder / "summary.csv", index=False)
    table = memorization_table(read_results(folder), n_boot=300)
    row = table.groups.iloc[0]
    assert row["n_mem_status"] == "crossed" and row["n_mem"] == pytest.approx(32.0)
    assert row["n_mem_discriminates_at"] == "4–256"
    assert row["n_star_status"].startswith("undetermined: this metric does not discriminate at any n")
    assert row["n_star_blind_at"] == "4–256" and row["verdict"] == "undetermined"
    cells = table.cells
    assert (cells["generalizer_memorized_fraction"] == 0).all() and (cells["memorizer_memorized_fraction"] == 1).all()
    result = invoke("analyze", str(folder), "--bootstrap", "100", env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert ("undetermined: this metric does not discriminate at any n of the sweep: it cannot tell a generalizer from "
            "a memorizer at n = 4–256") in result.output
    assert "discriminates at n: fraction; P" in result.output and "4–256; nowhere" in result.output


def test_figures_draw_both_references_as_lines_without_a_band_between_them(tmp_path):
    """Issue 37: the band between the references stacked into an opaque wash over several groups; the references
    are lines now, and the only fill is the model's own interval."""
    from memgen_cli.report.figures.draw import draw_figures

    references = {"generalizer": dict.fromkeys(X, 1.0), "memorizer": {4.0: 0.0, 16.0: 0.0, 64.0: 0.0, 256.0: 0.6}}
    folder = write_folder(tmp_path / "refs", "unet", P_RISING, references)
    report = draw_figures(folder, n_boot=100)
    figure = report.figures["p_delta_positive"]
    gids = {artist.get_gid() for ax in figure.axes for artist in (*ax.lines, *ax.collections)}
    assert {"generalizer", "memorizer"} <= gids and "references-band" not in gids
    assert len(figure.axes[0].collections) == 1  # the model's own interval
    generalizer, = [line for ax in figure.axes for line in ax.lines if line.get_gid() == "generalizer"]
    assert list(generalizer.get_ydata()) == [1.0] * 4
    legend, = [ax.get_legend() for ax in figure.axes if ax.get_legend() is not None]
    assert "ideal generalizer (at 1)" in [text.get_text() for text in legend.get_texts()]
    # The transition figure names a grid-limited n* (0 at 16, 1 at 64: anywhere between).
    titles = [ax.get_title() for ax in report.figures["transition"].axes]
    assert any("[16, 64] (grid-limited)" in title for title in titles), titles


def test_a_ratio_with_a_grid_limited_crossing_covers_the_crossings_intervals():
    from memgen_cli.report.analysis.calibrated import widened_ratio

    star = {"n_star_lo": 19.0, "n_star_hi": 34.0, "n_star_grid_limited": True}
    onset = {"n_onset_lo": 14.5, "n_onset_hi": 15.3}
    lo, hi = widened_ratio(1.69, 1.80, star, "n_star", onset, "n_onset")
    assert (lo, hi) == (pytest.approx(19 / 15.3), pytest.approx(34 / 14.5))  # the bootstrap's [1.69, 1.80] within
    assert widened_ratio(1.69, 1.80, {**star, "n_star_grid_limited": False}, "n_star", onset, "n_onset") == (1.69, 1.8)
