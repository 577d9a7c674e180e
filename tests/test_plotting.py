"""memgen plot: every figure in every format, at a predictable pixel size; notes instead of failures."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from memgen_cli.cli.report import analyze, plot
from memgen_cli.errors import MemgenError
from memgen_cli.report.figures import SINGULAR_NOTE, draw_figures, plot_results

try:
    from results_factory import write_linear_results, write_unet_summary
except ImportError:  # tests/ imported as a package
    from tests.results_factory import write_linear_results, write_unet_summary

N_GRID = np.unique(np.geomspace(4, 1000, 10).astype(int))
FIGURES = ("p_delta_positive", "hellinger", "errors_vs_p", "transition")
# Panels are 4.4 x 3.3 in plus a 2.3 in legend column, at 150 dpi; notes add 0.2 in (30 px) per line.
ONE_PANEL_WIDTH, TWO_PANEL_WIDTH, PANEL_HEIGHT, NOTE_LINE = 1005, 1665, 495, 30


@pytest.fixture(scope="module")
def linear_folder(tmp_path_factory):
    return write_linear_results(
        tmp_path_factory.mktemp("linear"), N_GRID, groups=[{"d": 16}, {"d": 64}], trials=40, seed=2
    )


def png_size(path) -> tuple[int, int]:
    height, width = matplotlib.image.imread(path).shape[:2]
    return width, height


def assert_panel_height(height: int, rows: int) -> None:
    """A whole number of panels plus 1 to 8 lines of caption/notes: nothing ballooned or collapsed."""
    extra = height - rows * PANEL_HEIGHT
    assert extra % NOTE_LINE == 0 and 1 <= extra // NOTE_LINE <= 8, height


def test_every_figure_in_every_format(linear_folder, tmp_path):
    report = draw_figures(linear_folder, tmp_path, "png,pdf,svg", n_boot=100)
    assert sorted(p.name for p in report.paths) == sorted(
        f"{f}.{e}" for f in FIGURES for e in ("png", "pdf", "svg")
    )
    assert report.skipped == []
    widths = {
        "p_delta_positive": ONE_PANEL_WIDTH,
        "hellinger": ONE_PANEL_WIDTH,
        "errors_vs_p": TWO_PANEL_WIDTH,
        "transition": TWO_PANEL_WIDTH,
    }  # transition: one panel per d
    for figure in FIGURES:
        width, height = png_size(tmp_path / f"{figure}.png")
        assert width == widths[figure], figure
        assert_panel_height(height, rows=1)
        image = matplotlib.image.imread(tmp_path / f"{figure}.png")[..., :3]
        assert image.std() > 0.05  # something was drawn, not a blank canvas
        pdf = (tmp_path / f"{figure}.pdf").read_bytes()
        svg = (tmp_path / f"{figure}.svg").read_bytes()
        assert pdf.startswith(b"%PDF") and len(pdf) > 5000
        assert b"<svg" in svg[:1000] and len(svg) > 5000


def test_default_folder_is_results_figures_and_linear_note_is_drawn(linear_folder):
    report = draw_figures(linear_folder, n_boot=100)
    assert {p.parent for p in report.paths} == {linear_folder / "figures"}
    assert SINGULAR_NOTE + "." in report.figure_notes["errors_vs_p"]  # n <= d cells are infinite


def test_facet_puts_one_panel_per_value(tmp_path):
    folder = write_linear_results(
        tmp_path / "grid",
        N_GRID[:6],
        trials=10,
        groups=[{"d": d, "lambda": lam} for d in (8, 32) for lam in (0.01, 0.1)],
    )
    paths = plot_results(folder, tmp_path / "out", x="n", hue="d", facet="lambda")
    sizes = {p.stem: png_size(p) for p in paths}
    assert sizes["p_delta_positive"][0] == TWO_PANEL_WIDTH  # two lambda panels side by side
    assert_panel_height(sizes["errors_vs_p"][1], rows=2)  # one row per lambda
    assert sizes["transition"][0] == ONE_PANEL_WIDTH + 2 * 660  # four groups: three columns
    assert_panel_height(sizes["transition"][1], rows=2)


def test_unet_layout_skips_hellinger_and_draws_the_rest(tmp_path):
    folder = write_unet_summary(tmp_path / "unet", np.unique(np.geomspace(10, 5000, 8).astype(int)))
    report = draw_figures(folder, tmp_path / "out", "png", n_boot=100)
    assert [p.stem for p in report.paths] == ["p_delta_positive", "errors_vs_p", "transition"]
    assert report.skipped and report.skipped[0].startswith("hellinger")


def test_single_cell_sweep_is_drawn_with_a_note(tmp_path):
    folder = write_linear_results(tmp_path / "one", [50], trials=10)
    report = draw_figures(folder, tmp_path / "out", n_boot=100)
    assert len(report.paths) == 4
    assert any("single point" in note for note in report.figure_notes["p_delta_positive"])


def test_nan_and_inf_cells_are_left_out_with_a_note(linear_folder, tmp_path):
    folder = tmp_path / "holes"
    folder.mkdir()
    summary = pd.read_csv(linear_folder / "summary.csv")
    summary.loc[2, "p_delta_positive"] = np.nan
    summary.loc[5, "mean_H2"] = np.inf
    summary.to_csv(folder / "summary.csv", index=False)
    report = draw_figures(folder, n_boot=100)
    assert len(report.paths) == 4
    assert any("NaN or infinite P(Δ > 0)" in note for note in report.figure_notes["p_delta_positive"])
    assert any("non-finite or ≤ 0 mean H²" in note for note in report.figure_notes["hellinger"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(formats="png,jpg"), "--format: 'jpg' is not one of png, pdf, svg"),
        (dict(x="q"), "--x: 'q' is not a parameter column of summary.csv"),
        (dict(hue="n"), "--hue: 'n' is already the x axis"),
        (dict(hue="d", facet="d"), "--facet: 'd' is already the hue; pick another column"),
        (dict(hue="mean_H2"), "--hue: 'mean_H2' is not a parameter column of summary.csv"),
    ],
)
def test_bad_options_are_one_line_errors(linear_folder, tmp_path, kwargs, message):
    with pytest.raises(MemgenError) as excinfo:
        plot_results(linear_folder, tmp_path, **kwargs)
    assert str(excinfo.value).startswith(message) and "\n" not in str(excinfo.value)


def test_missing_column_and_wrong_folder_are_one_line_errors(linear_folder, tmp_path):
    folder = tmp_path / "nolo"
    folder.mkdir()
    pd.read_csv(linear_folder / "summary.csv").drop(columns=["p_delta_positive_lo"]).to_csv(
        folder / "summary.csv", index=False
    )
    with pytest.raises(MemgenError) as excinfo:
        plot_results(folder)
    assert str(excinfo.value) == "summary.csv: missing column 'p_delta_positive_lo'"
    with pytest.raises(MemgenError) as excinfo:
        plot_results(tmp_path / "nowhere")
    assert str(excinfo.value) == f"{tmp_path / 'nowhere'}: no such folder"


def test_plot_command_writes_figures_and_turns_bad_input_into_memgen_errors(linear_folder, tmp_path):
    app = typer.Typer()
    app.command("plot")(plot)
    app.command("analyze")(analyze)
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["plot", str(linear_folder), "--out", str(tmp_path), "--format", "png", "--bootstrap", "100"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "wrote 4 files" in result.output
    result = runner.invoke(app, ["plot", str(tmp_path), "--format", "gif"])
    assert isinstance(result.exception, MemgenError)
    assert str(result.exception) == "--format: 'gif' is not one of png, pdf, svg"


def test_a_swept_parameter_with_missing_values_keeps_its_own_colour(tmp_path):
    groups = [{"d": 8, "ridge": 0.1}, {"d": 8, "ridge": np.nan}, {"d": 32, "ridge": 0.1}]
    folder = write_linear_results(tmp_path / "nan_param", N_GRID[:6], trials=10, groups=groups)
    paths = plot_results(folder, tmp_path / "out", hue="ridge", facet="d")
    assert len(paths) == 4
    assert png_size(tmp_path / "out" / "p_delta_positive.png")[0] == TWO_PANEL_WIDTH  # d = 8 and d = 32


TINY_SWEEP = """
model: linear
seed: 0
trials: 30
grid:
  n: {start: 2, stop: 120, num: 7, spacing: log}
  d: [4, 8]
  lambda: [0.01831563888873418]
  T: [2.0]
  N: [300]
data: {mu: 10.0, sigma: 1.0}
options: {bandwidth: paper, covariance: BBt, ridge: 0.0, original: fixed}
"""


@pytest.mark.slow
def test_plot_and_analyze_a_real_small_sweep(tmp_path):
    """End to end on `memgen sweep linear` output."""
    import memgen_cli.cli as cli
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_SWEEP)
    folder = tmp_path / "tiny"
    runner = CliRunner()
    result = runner.invoke(cli.app, ["sweep", "linear", str(config), "--out", str(folder), "--workers", "1"])
    assert result.exit_code == 0, result.output
    commands = {command.name for command in cli.app.registered_commands}
    if {"plot", "analyze"} <= commands:  # through the main app, as a user runs them
        result = runner.invoke(
            cli.app, ["plot", str(folder), "--format", "png,pdf,svg", "--bootstrap", "100"]
        )
        assert result.exit_code == 0, result.output
        result = runner.invoke(cli.app, ["analyze", str(folder), "--bootstrap", "100"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(cli.app, ["analyze", str(tmp_path)])
        assert result.exit_code == 2 and "Traceback" not in result.output
    else:
        draw_figures(folder, formats="png,pdf,svg", n_boot=100)
        from memgen_cli.report.analysis import find_transitions, write_transitions

        write_transitions(find_transitions(folder, n_boot=100), folder)
    for figure in FIGURES:
        width, height = png_size(folder / "figures" / f"{figure}.png")
        assert width == (TWO_PANEL_WIDTH if figure in ("errors_vs_p", "transition") else ONE_PANEL_WIDTH)
        assert_panel_height(height, rows=1)
        assert (folder / "figures" / f"{figure}.svg").stat().st_size > 5000
        assert (folder / "figures" / f"{figure}.pdf").read_bytes().startswith(b"%PDF")
    table = pd.read_csv(folder / "transitions.csv")
    assert list(table["d"]) == [4, 8]
