"""memgen analyze: n_star and n_onset recovered from synthetic folders with known answers; clear errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from memgen_cli.cli.report import analyze, plot
from memgen_cli.errors import MemgenError
from memgen_cli.report.analysis.transitions import find_transitions
from memgen_cli.report.analysis.memorization import verdict as memorization_verdict
from memgen_cli.report.analysis.outputs import analyze_folder
from memgen_cli.report.analysis.settings import AnalysisSettings
from memgen_cli.statistics.estimators import (
    ABOVE_AT_START,
    CROSSED,
    NOT_REACHED,
    alignment_verdict,
    first_upward_crossings,
    fit_broken_line,
    percentile_interval,
)

from results_factory import (broken_h2, logistic_p, merge_results, two_group_linear_results, write_linear_results,
                             write_unet_summary)

N_GRID = np.unique(np.geomspace(4, 2000, 16).astype(int))


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


# ----------------------------------------------------------------------------------------------
# The pieces


def test_crossing_is_interpolated_in_log_n():
    log_n = np.log([10.0, 100.0, 1000.0])
    crossings = first_upward_crossings(log_n, np.array([[0.2, 0.8, 0.9]]))
    assert crossings.status[0] == CROSSED
    assert math.exp(crossings.log_x[0]) == pytest.approx(math.sqrt(10 * 100))  # halfway in log n


def test_first_crossing_wins_and_statuses_name_the_other_cases():
    log_n = np.log([1.0, 10.0, 100.0, 1000.0, 10000.0])
    rows = np.array(
        [
            [0.0, 0.6, 0.4, 0.9, 0.5],  # 0 -> 0.6: 0.5 is 5/6 of the way
            [0.3, 0.3, 0.3, 0.3, 0.3],
            [0.7, 0.2, 0.9, 0.9, 0.9],
        ]
    )
    crossings = first_upward_crossings(log_n, rows)
    assert math.exp(crossings.log_x[0]) == pytest.approx(10 ** (5 / 6))
    assert list(crossings.status) == [CROSSED, NOT_REACHED, ABOVE_AT_START]
    assert np.isnan(crossings.log_x[1:]).all()
    assert list(crossings.censored()[1:]) == [np.inf, -np.inf]  # misses widen an interval, not vanish


def test_censored_percentiles_and_the_verdict_at_the_factor():
    interval = percentile_interval(np.array([np.nan, -np.inf] + [1.0] * 96 + [np.inf, np.inf, np.inf]))
    assert (interval.lo, interval.hi) == (1.0, np.inf)  # 3 of 100 replicates beyond the sweep
    assert interval.exp().hi == np.inf
    assert alignment_verdict(2.0, 1.5, 2.0, CROSSED, "ok", 2.0).label == "aligned"  # [1/F, F] is closed
    assert alignment_verdict(2.2, 2.01, 3.0, CROSSED, "ok", 2.0).label == "not aligned"
    assert alignment_verdict(1.0, 0.2, 0.4, CROSSED, "ok", 2.0).label == "not aligned"
    assert alignment_verdict(1.0, 1.0, 1.0, NOT_REACHED, "ok", 2.0).reason == "n_star not reached"


def test_a_ratio_whose_interval_reaches_past_the_factor_is_undetermined_not_aligned():
    # configs/linear/quick.yaml at d = 16 gave 1.22 [0.80, 2.17]: the point is within a factor 2, its interval
    # is not, so neither "aligned" nor "not aligned" is shown; the reason says which side the interval crosses.
    verdict = alignment_verdict(1.22, 0.80, 2.17, CROSSED, "ok", 2.0)
    assert verdict.label == "undetermined"
    assert "1.22 [0.8, 2.17]" in verdict.reason and "reaches across a factor 2" in verdict.reason
    assert alignment_verdict(3.0, 1.9, 4.0, CROSSED, "ok", 2.0).label == "undetermined"  # point outside, too
    assert alignment_verdict(1.2, np.nan, np.nan, CROSSED, "ok", 2.0).label == "undetermined"  # no interval
    label, reason = memorization_verdict(1.1, 0.7, 1.6, CROSSED, CROSSED, 2.0)
    assert label == "same n" and "whole interval" in reason
    assert memorization_verdict(1.1, 0.4, 1.6, CROSSED, CROSSED, 2.0)[0] == "undetermined"
    assert memorization_verdict(5.0, 2.5, 9.0, CROSSED, CROSSED, 2.0)[0] == "different n"


def test_broken_line_fit_recovers_breakpoint_between_data_points():
    u = np.log(np.geomspace(5, 5000, 14))
    u_break = math.log(137.0)  # not a data point
    v = 0.3 - 0.1 * np.minimum(u - u_break, 0) - 1.7 * np.maximum(u - u_break, 0)
    fit = fit_broken_line(u, v)
    assert math.exp(fit.u_break) == pytest.approx(137.0, rel=1e-3)
    assert fit.slope_before == pytest.approx(-0.1, abs=1e-3)
    assert fit.slope_after == pytest.approx(-1.7, abs=1e-3)


# ----------------------------------------------------------------------------------------------
# A whole folder with a known crossing and a known breakpoint


@pytest.fixture(scope="module")
def linear_folder(tmp_path_factory):
    return two_group_linear_results(tmp_path_factory.mktemp("linear"), N_GRID, trials=200, seed=3)


def test_known_crossing_and_breakpoint_are_recovered(linear_folder):
    table = find_transitions(linear_folder, n_boot=300, seed=1)
    assert list(table["d"]) == [16, 64]
    for row in table.to_dict("records"):
        d = row["d"]
        assert row["n_star_status"] == CROSSED
        assert row["n_star"] == pytest.approx(2.5 * d, rel=0.15)
        assert row["n_star_lo"] <= 2.5 * d <= row["n_star_hi"]
        assert row["n_star_lo"] < row["n_star"] < row["n_star_hi"]
        assert row["boot_frac_crossed"] == 1.0
        assert row["n_onset"] == pytest.approx(d, rel=0.1)
        assert row["slope_before"] == pytest.approx(0.0, abs=0.05)
        assert row["slope_after"] == pytest.approx(-1.5, abs=0.05)
        assert row["ratio"] == pytest.approx(2.5, rel=0.2)
        # 2.5 lies outside a factor 2, but the grid-widened interval reaches inside it: never "aligned", and
        # "not aligned" only where the whole interval is past 2
        assert row["verdict"] == ("not aligned" if row["ratio_lo"] > 2 else "undetermined")
        assert row["ratio_hi"] > 2
        assert row["bootstrap"] == "trials"
        assert row["p_at_n_max"] == pytest.approx(1.0, abs=0.02)
        # The fit as recorded: H² = 1 (log 0) at the break, fitted on the plateau and the first two cells off it.
        assert row["log_error_at_onset"] == pytest.approx(0.0, abs=0.05)
        assert (row["fit_n_min"], row["fit_n_max"]) == (N_GRID[0], N_GRID[N_GRID > d][1])
        # Never narrower than the gap between the last cell on the plateau and the first off it (wider where
        # replicates of this noisy plateau leave it earlier).
        assert row["n_onset_lo"] <= N_GRID[N_GRID <= d][-1] and row["n_onset_hi"] >= N_GRID[N_GRID > d][0]


def test_align_factor_changes_the_verdict_and_seed_fixes_the_interval(linear_folder):
    # the ratios' intervals reach from about 1.5 to 3.7: undetermined at a factor 2 or 3, aligned at 4
    assert set(find_transitions(linear_folder, align_factor=3.0, n_boot=200, seed=5)["verdict"]) == {"undetermined"}
    wide = find_transitions(linear_folder, align_factor=4.0, n_boot=200, seed=5)
    again = find_transitions(linear_folder, align_factor=4.0, n_boot=200, seed=5)
    assert set(wide["verdict"]) == {"aligned"}
    pd.testing.assert_frame_equal(wide, again)


def test_a_groups_interval_does_not_depend_on_the_other_groups(tmp_path):
    # d = 64 alone, and after d = 16 in one folder (the same cells and trials): the same row.
    # A gentle rise (no grid gap whose two cells both exclude 0.5): n*'s interval comes from the replicates alone.
    gentle = lambda n, params: logistic_p(2.5 * params["d"], steepness=0.7)(n, params)  # noqa: E731
    small = write_linear_results(tmp_path / "small", N_GRID, groups=[{"d": 16}], trials=60, seed=4, p_of=gentle)
    alone = write_linear_results(tmp_path / "alone", N_GRID, groups=[{"d": 64}], trials=60, seed=5, p_of=gentle)
    both = merge_results(tmp_path / "both", small, alone)
    row_alone = find_transitions(alone, n_boot=200, seed=9).iloc[0]
    table = find_transitions(both, n_boot=200, seed=9)
    assert list(table["d"]) == [16, 64]
    row_both = table.iloc[1]
    columns = [
        "n_star",
        "n_star_lo",
        "n_star_hi",
        "n_onset",
        "n_onset_lo",
        "n_onset_hi",
        "ratio_lo",
        "ratio_hi",
    ]
    assert row_alone[columns].tolist() == row_both[columns].tolist()
    other_seed = find_transitions(alone, n_boot=200, seed=10).iloc[0]
    assert not row_alone["n_star_grid_limited"]
    assert (other_seed["n_star_lo"], other_seed["n_star_hi"]) != (row_alone["n_star_lo"], row_alone["n_star_hi"])


def test_transitions_csv_has_one_row_per_group(linear_folder, tmp_path):
    _, paths = analyze_folder(linear_folder, tmp_path, AnalysisSettings(bootstrap=100))
    written = pd.read_csv(paths[0])
    assert len(written) == 2
    for column in (
        "d",
        "n_star",
        "n_star_lo",
        "n_star_hi",
        "n_onset",
        "slope_before",
        "slope_after",
        "log_error_at_onset",
        "fit_n_min",
        "fit_n_max",
        "ratio",
        "verdict",
        "p_at_n_max",
    ):
        assert column in written.columns


def test_unet_summary_without_trials_uses_summary_counts(tmp_path):
    folder = write_unet_summary(
        tmp_path / "unet", np.unique(np.geomspace(10, 5000, 24).astype(int)), n_star=100, n_break=100
    )
    row = find_transitions(folder, n_boot=200).iloc[0]
    assert row["error_metric"] == "Ê_OG"
    assert row["bootstrap"].startswith("summary")
    assert row["n_star"] == pytest.approx(100, rel=0.4)
    assert row["n_onset"] == pytest.approx(100, rel=0.1)
    assert 0.5 <= row["ratio_lo"] and row["ratio_hi"] <= 2  # a grid fine enough for the interval to tell
    assert row["verdict"] == "aligned"
    coarse = write_unet_summary(tmp_path / "coarse", np.unique(np.geomspace(10, 5000, 12).astype(int)), n_star=100,
                                n_break=100)
    row = find_transitions(coarse, n_boot=200).iloc[0]  # onset gaps of 1.8x: its interval reaches past 2
    assert row["verdict"] == "undetermined" and "reaches across a factor 2" in row["verdict_reason"]


def test_a_curve_that_never_crosses_is_reported_not_reached(tmp_path):
    folder = write_linear_results(tmp_path / "flat", N_GRID[:8], trials=50, p_of=lambda n, params: 0.1)
    row = find_transitions(folder, n_boot=200).iloc[0]
    assert row["n_star_status"] == NOT_REACHED
    assert math.isnan(row["n_star"])
    assert row["verdict"] == "undetermined"
    assert math.isinf(row["n_star_hi"])  # no replicate crosses inside the sweep


# ----------------------------------------------------------------------------------------------
# Odd folders: a row with a reason, or one line of error; never a traceback


def test_single_cell_sweep_gives_a_row_with_reasons(tmp_path):
    folder = write_linear_results(tmp_path / "one", [50], trials=20)
    row = find_transitions(folder, n_boot=100).iloc[0]
    assert row["group"] == "all cells"
    assert row["n_star_status"].startswith("too few points")
    assert row["onset_status"].startswith("not estimable")
    assert row["verdict"] == "undetermined"


def test_nan_and_infinite_cells_are_left_out(tmp_path):
    folder = write_linear_results(
        tmp_path / "holes", N_GRID, trials=100, p_of=logistic_p(40), h2_of=broken_h2(16)
    )
    summary = pd.read_csv(folder / "summary.csv")
    summary.loc[3, "p_delta_positive"] = np.nan
    summary.loc[12, "mean_H2"] = np.inf
    summary.to_csv(folder / "summary.csv", index=False)
    row = find_transitions(folder, n_boot=100).iloc[0]
    assert row["cells_with_p"] == len(N_GRID) - 1
    assert row["n_star"] == pytest.approx(40, rel=0.2)
    assert row["n_onset"] == pytest.approx(16, rel=0.15)


def test_too_few_finite_error_points_is_not_estimable(tmp_path):
    folder = write_linear_results(tmp_path / "short", N_GRID[:6], trials=30)
    summary = pd.read_csv(folder / "summary.csv")
    summary.loc[:2, "mean_H2"] = np.nan
    summary.to_csv(folder / "summary.csv", index=False)
    row = find_transitions(folder, n_boot=100).iloc[0]
    assert row["onset_status"] == "not estimable: 3 points with a finite H², need 4"


def test_missing_column_is_one_line(tmp_path):
    folder = write_linear_results(tmp_path / "nop", N_GRID[:5], trials=10)
    pd.read_csv(folder / "summary.csv").drop(columns=["p_delta_positive"]).to_csv(
        folder / "summary.csv", index=False
    )
    with pytest.raises(MemgenError) as excinfo:
        find_transitions(folder)
    assert one_line_error(excinfo) == "summary.csv: missing column 'p_delta_positive'"


def test_not_a_results_folder(tmp_path):
    with pytest.raises(MemgenError) as excinfo:
        find_transitions(tmp_path)
    assert one_line_error(excinfo) == f"{tmp_path}: not a memgen results folder (no summary.csv)"
    with pytest.raises(MemgenError, match="no such folder"):
        find_transitions(tmp_path / "absent")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(MemgenError, match="not a folder"):
        find_transitions(tmp_path / "file.txt")


def test_unreadable_or_non_numeric_summary(tmp_path):
    (tmp_path / "summary.csv").write_text("")
    with pytest.raises(MemgenError) as excinfo:
        find_transitions(tmp_path)
    assert one_line_error(excinfo).endswith("summary.csv: empty file")
    (tmp_path / "summary.csv").write_text(
        "n,p_delta_positive,p_delta_positive_lo,p_delta_positive_hi\n10,lots,0,1\n20,0.5,0.1,0.9\n"
    )
    with pytest.raises(MemgenError) as excinfo:
        find_transitions(tmp_path)
    assert one_line_error(excinfo) == "summary.csv: column 'p_delta_positive' is not numeric (found 'lots')"


def test_non_positive_n_cannot_go_on_a_log_axis(tmp_path):
    folder = write_linear_results(tmp_path / "zero", [0, 10, 20], trials=5)
    with pytest.raises(MemgenError, match="column 'n' has values <= 0"):
        find_transitions(folder)


# ----------------------------------------------------------------------------------------------
# The Typer commands


def figures_app() -> typer.Typer:
    app = typer.Typer()
    app.command("plot")(plot)
    app.command("analyze")(analyze)
    return app


def test_analyze_command_prints_table_and_writes_csv(linear_folder, tmp_path):
    result = CliRunner().invoke(
        figures_app(),
        ["analyze", str(linear_folder), "--out", str(tmp_path), "--bootstrap", "100"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "n_onset" in result.output and "undetermined" in result.output  # ratios 2.3-2.5, intervals across 2
    assert (tmp_path / "transitions.csv").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--align-factor", "1"], "--align-factor: must be > 1 (got 1.0)"),
        (["--bootstrap", "50"], "--bootstrap: must be >= 100 (got 50)"),
    ],
)
def test_analyze_command_rejects_bad_options(linear_folder, args, message):
    result = CliRunner().invoke(figures_app(), ["analyze", str(linear_folder), *args])
    assert isinstance(result.exception, MemgenError)  # the main app turns this into one line, exit 2
    assert str(result.exception) == message


def test_analyze_command_on_a_wrong_folder_is_a_memgen_error(tmp_path):
    result = CliRunner().invoke(figures_app(), ["analyze", str(tmp_path)])
    assert isinstance(result.exception, MemgenError)
    assert "not a memgen results folder" in str(result.exception)


def test_two_cells_with_the_same_n_in_a_group_is_a_clear_error(tmp_path):
    folder = write_linear_results(tmp_path / "dup", [10, 20, 40], trials=5)
    summary = pd.read_csv(folder / "summary.csv")
    summary.drop(columns=["d"]).assign(d=16).pipe(lambda s: pd.concat([s, s.iloc[[1]]])).to_csv(
        folder / "summary.csv", index=False
    )
    with pytest.raises(MemgenError) as excinfo:
        find_transitions(folder)
    assert one_line_error(excinfo) == (
        "summary.csv: two cells of group 'all cells' share n = 20; a swept parameter is missing from the file"
    )


def test_replicates_drawn_in_chunks_match_drawn_at_once(linear_folder, monkeypatch):
    import memgen_cli.report.analysis.bootstrap as bootstrap_module

    at_once = find_transitions(linear_folder, n_boot=150, seed=7)
    monkeypatch.setattr(bootstrap_module, "MAX_DRAWS", 200 * 7)  # 7 replicates per chunk of 200 trials
    in_chunks = find_transitions(linear_folder, n_boot=150, seed=7)
    pd.testing.assert_frame_equal(at_once, in_chunks)


def test_a_lock_is_reported_only_while_a_sweep_holds_it(linear_folder):
    import fcntl

    from memgen_cli.report.reader import read_results

    lock = linear_folder / ".lock"
    lock.touch()  # a finished sweep leaves the file behind
    assert read_results(linear_folder).notes == ()
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running sweep holds
        assert "a sweep is writing this folder" in read_results(linear_folder).notes[0]
    lock.unlink()


def test_nan_simulations_are_named_in_the_notes(tmp_path):
    """Issue 34: analyze, plot and report never mentioned NaN simulations (summary.csv counted them out silently)."""
    from memgen_cli.report.reader import read_results
    from results_factory import write_unet_summary

    folder = write_unet_summary(tmp_path / "f", [10, 100, 1000], trials=3)
    rows = [{"model": "unet", "cell": c, "cell_id": f"{c:012x}", "n": n, "trial": t, "seed": t,
             "delta_positive": float("nan") if (n, t) == (100, 1) else 1.0}
            for c, n in enumerate((10, 100, 1000)) for t in range(3)]
    pd.DataFrame(rows).to_csv(folder / "trials.csv", index=False)
    notes = read_results(folder).notes
    assert any("1 of 9 trials have no finite delta_positive" in note and "n = 100" in note for note in notes), notes
