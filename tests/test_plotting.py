"""memgen plot: every figure in every format, printable at a paper's column widths, with properties checked
without pixels (tick labels, legends, texts inside the figure, captions, sidecars); notes instead of failures."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from tiny import LINEAR_SWEEP
from memgen_cli.cli.report import analyze, plot
from memgen_cli.errors import MemgenError
from memgen_cli.report.figures.canvas import BOTTOM_LABEL, DPI, ONE_COLUMN, TWO_COLUMNS
from memgen_cli.report.figures.figure_errors import SINGULAR_NOTE
from memgen_cli.report.figures.draw import draw_figures

from figure_checks import (assert_legends_clear_of_data, assert_plain_log_ticks, grid_shape, legend_colours,
                           legend_labels, panels, rgb, texts_outside)
from results_factory import two_group_linear_results, write_linear_results, write_unet_summary

N_GRID = np.unique(np.geomspace(4, 1000, 10).astype(int))
FIGURES = ("p_delta_positive", "hellinger", "errors_vs_p", "transition")
WIDTHS = {"p_delta_positive": ONE_COLUMN, "hellinger": ONE_COLUMN, "errors_vs_p": TWO_COLUMNS,
          "transition": TWO_COLUMNS}  # one panel: one paper column; two panels side by side: the text width


@pytest.fixture(scope="module")
def linear_folder(tmp_path_factory):
    return two_group_linear_results(tmp_path_factory.mktemp("linear"), N_GRID, trials=40, seed=2)


def figures_app() -> typer.Typer:
    app = typer.Typer()
    app.command("plot")(plot)
    app.command("analyze")(analyze)
    return app


def group_lines(figure, label: str) -> list:
    """The data lines a figure drew for one group (they carry the group's label)."""
    return [line for ax in figure.axes for line in ax.get_lines() if line.get_label() == label]


def by_gid(figure, gid: str):
    found = figure.findobj(lambda artist: artist.get_gid() == gid)
    assert len(found) <= 1, gid
    return found[0] if found else None


def test_every_figure_in_every_format(linear_folder, tmp_path):
    report = draw_figures(linear_folder, tmp_path, "png,pdf,svg", n_boot=100)
    assert sorted(p.name for p in report.paths) == sorted(
        f"{f}.{e}" for f in FIGURES for e in ("png", "pdf", "svg")
    )
    assert sorted(p.name for p in report.sidecars) == sorted(f"{f}.json" for f in FIGURES)
    assert report.skipped == []
    summary = pd.read_csv(linear_folder / "summary.csv")
    for figure in FIGURES:
        drawn = report.figures[figure]
        assert drawn.get_figwidth() == pytest.approx(WIDTHS[figure]), figure
        assert drawn.get_figheight() < 4.5, figure  # a panel row, its titles, legend and caption: no ballooning
        colours = legend_colours(drawn)
        for d in (16, 64):  # each group drawn in the colour its legend entry shows
            lines = group_lines(drawn, f"d = {d}")
            assert lines, (figure, d)
            if figure != "transition":  # the transition's panels are named in their titles, not the legend
                assert {rgb(line.get_color()) for line in lines} == {colours[f"d = {d}"]}, figure
        pdf = (tmp_path / f"{figure}.pdf").read_bytes()
        svg = (tmp_path / f"{figure}.svg").read_bytes()
        assert pdf.startswith(b"%PDF") and len(pdf) > 5000
        assert b"<svg" in svg[:1000] and len(svg) > 5000
    for gid in ("n_star-0", "n_star_interval-1", "n_onset-0", "onset_fit-1"):
        assert f'id="{gid}"'.encode() in (tmp_path / "transition.svg").read_bytes()
    for d in (16, 64):  # what each group's lines hold: the summary's numbers
        cells = summary[summary["d"] == d].sort_values("n")
        label = f"d = {d}"
        (p_line,) = group_lines(report.figures["p_delta_positive"], label)
        np.testing.assert_array_equal(p_line.get_xdata(), cells["n"])
        np.testing.assert_array_equal(p_line.get_ydata(), cells["p_delta_positive"])
        (h2_line,) = group_lines(report.figures["hellinger"], label)
        np.testing.assert_array_equal(h2_line.get_ydata(), cells["mean_H2"])
        og_line, tg_line = group_lines(report.figures["errors_vs_p"], label)[:2]
        assert og_line.get_xdata()[0] == cells["n"][cells["n"] > d].iloc[0]  # E is infinite while n <= d
        # Both divided by E_OG at the largest n: Ê_OG ends at 1, Ê_TG keeps its ratio to Ê_OG there.
        last = cells.iloc[-1]
        assert og_line.get_ydata()[-1] == 1.0
        assert tg_line.get_ydata()[-1] == pytest.approx(math.exp(last["mean_log_E_TG"] - last["mean_log_E_OG"]))
        np.testing.assert_allclose(og_line.get_ydata(),
                                   np.exp(cells["mean_log_E_OG"][cells["n"] > d] - last["mean_log_E_OG"]))
        assert og_line.get_linestyle() == "-" and tg_line.get_linestyle() == "--"
    error_axes = [ax for ax in report.figures["errors_vs_p"].axes if "largest n" in ax.get_ylabel()]
    assert len(error_axes) == 1  # the reference is said on the axis


@pytest.mark.slow  # every figure drawn and measured
def test_figures_read_at_a_glance(linear_folder, tmp_path):
    """Plain-number log ticks, legends clear of the data and without redundant entries, nothing cut at the edges,
    a short caption; what a reader would otherwise fix by hand before printing."""
    report = draw_figures(linear_folder, tmp_path, n_boot=100)
    for name, figure in report.figures.items():
        assert_plain_log_ticks(figure, name)
        assert_legends_clear_of_data(figure, name)
        assert texts_outside(figure) == [], name
        assert "all cells" not in legend_labels(figure), name
    p_figure = report.figures["p_delta_positive"]
    assert legend_labels(p_figure) == ["d = 16", "d = 64", "95% interval"]
    assert p_figure.axes[0].get_legend() is None  # below the panel, never over it
    assert [ax.get_label() for ax in p_figure.axes if ax.get_legend() is not None] == [BOTTOM_LABEL]
    colours = legend_colours(p_figure)
    bands = [rgb(c.get_facecolor()[0]) for c in p_figure.axes[0].collections]
    assert sorted(bands) == sorted([colours["d = 16"], colours["d = 64"]])  # bands named in their own colours
    transition = report.figures["transition"]
    titles = [ax.get_title() for ax in panels(transition)]
    for title in titles:  # every estimate with its interval
        assert "n* = " in title and "[" in title.split("n* = ")[1].splitlines()[0], title
        assert "n_onset = " in title and "[" in title.split("n_onset = ")[1].splitlines()[0], title
    sidecar = json.loads((tmp_path / "transition.json").read_text())
    assert sidecar["caption"] == "Linear model: 40 trials per cell (the rest at defaults); swept: d, n"
    assert sidecar["differs_from_defaults"] == {} and sidecar["repeats"]["per_cell"] == [40]
    assert sidecar["fixed"]["N"] == 10000 and sidecar["swept"]["d"] == [16, 64]
    assert sidecar["analysis"] == {"align_factor": 2.0, "bootstrap": 100, "seed": 0, "x": "n"}
    assert sidecar["notes"] == report.figure_notes["transition"]


def test_one_group_needs_no_group_name_and_the_caption_names_what_differs(tmp_path):
    folder = write_linear_results(tmp_path / "one", N_GRID, groups=[{"d": 16, "N": 2000, "lambda": 0.1}], trials=20)
    report = draw_figures(folder, tmp_path / "out", n_boot=100)
    p_figure = report.figures["p_delta_positive"]
    assert legend_labels(p_figure) == ["P(Δ > 0), 95% interval"]
    for name, figure in report.figures.items():
        assert "all cells" not in legend_labels(figure) + [ax.get_title() for ax in figure.axes], name
    sidecar = json.loads((tmp_path / "out" / "hellinger.json").read_text())
    caption = sidecar["caption"]
    assert caption == "Linear model: λ = 0.1, N = 2000, 20 trials per cell (the rest at defaults); swept: n"
    assert set(sidecar["differs_from_defaults"]) == {"lambda", "N"}
    assert sidecar["differs_from_defaults"]["N"] == {"value": 2000, "default": 10000}
    for name, figure in report.figures.items():  # the caption is the first line under the panels, whole
        texts = [" ".join(str(t.get_text()).split()) for t in figure.findobj(lambda a: hasattr(a, "get_text"))]
        assert any(text.startswith(caption) for text in texts), name


def test_default_folder_is_results_figures_and_linear_note_is_drawn(linear_folder):
    report = draw_figures(linear_folder, n_boot=100)
    assert {p.parent for p in report.paths} == {linear_folder / "figures"}
    assert SINGULAR_NOTE + "." in report.figure_notes["errors_vs_p"]  # n <= d cells are infinite


@pytest.mark.slow  # a faceted grid's analysis and figures
def test_facet_puts_one_panel_per_value(tmp_path):
    folder = write_linear_results(
        tmp_path / "grid",
        N_GRID[:6],
        trials=10,
        groups=[{"d": d, "lambda": lam} for d in (8, 32) for lam in (0.01, 0.1)],
    )
    report = draw_figures(folder, tmp_path / "out", x="n", hue="d", facet="lambda", n_boot=100)
    assert grid_shape(report.figures["p_delta_positive"]) == (1, 2)  # two lambda panels side by side
    assert report.figures["p_delta_positive"].get_figwidth() == pytest.approx(TWO_COLUMNS)
    assert grid_shape(report.figures["errors_vs_p"]) == (2, 2)  # one row per lambda
    transition = report.figures["transition"]
    assert grid_shape(transition) == (2, 2)  # four groups: 2 x 2, no empty panel
    assert len(panels(transition)) == 4
    # Twin axes: P's label at the left edge, the error's at the right, none between the panels.
    left = sorted(panels(transition), key=lambda ax: ax.get_position().x0)[:2]
    assert all(ax.get_ylabel() for ax in left)
    assert sum(bool(ax.get_ylabel()) for ax in transition.axes) == 4  # 2 rows x (P left, error right)
    for name, figure in report.figures.items():
        assert texts_outside(figure) == [], name


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
        draw_figures(linear_folder, tmp_path, **kwargs)
    assert str(excinfo.value).startswith(message) and "\n" not in str(excinfo.value)


def test_missing_column_and_wrong_folder_are_one_line_errors(linear_folder, tmp_path):
    folder = tmp_path / "nolo"
    folder.mkdir()
    pd.read_csv(linear_folder / "summary.csv").drop(columns=["p_delta_positive_lo"]).to_csv(
        folder / "summary.csv", index=False
    )
    with pytest.raises(MemgenError) as excinfo:
        draw_figures(folder)
    assert str(excinfo.value) == "summary.csv: missing column 'p_delta_positive_lo'"
    with pytest.raises(MemgenError) as excinfo:
        draw_figures(tmp_path / "nowhere")
    assert str(excinfo.value) == f"{tmp_path / 'nowhere'}: no such folder"


def test_plot_command_writes_figures_and_turns_bad_input_into_memgen_errors(linear_folder, tmp_path):
    app = figures_app()
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


@pytest.mark.slow  # three groups' analysis and figures
def test_a_swept_parameter_with_missing_values_keeps_its_own_colour(tmp_path):
    groups = [{"d": 8, "ridge": 0.1}, {"d": 8, "ridge": np.nan}, {"d": 32, "ridge": 0.1}]
    folder = write_linear_results(tmp_path / "nan_param", N_GRID[:6], trials=10, groups=groups)
    report = draw_figures(folder, tmp_path / "out", hue="ridge", facet="d", n_boot=100)
    assert len(report.paths) == 4
    assert grid_shape(report.figures["p_delta_positive"]) == (1, 2)  # d = 8 and d = 32
    colour_of_group = {
        "d = 8, ridge = 0.1": "ridge = 0.1",
        "d = 8, ridge = –": "ridge = –",
        "d = 32, ridge = 0.1": "ridge = 0.1",
    }
    for name, figure in report.figures.items():
        if name == "transition":  # one panel per group, named in its title: no colour entries
            continue
        colours = legend_colours(figure)
        assert colours["ridge = –"] != colours["ridge = 0.1"], name  # NaN is a value of its own
        for group, colour_label in colour_of_group.items():
            lines = group_lines(figure, group)
            assert lines, (name, group)
            assert {rgb(line.get_color()) for line in lines} == {colours[colour_label]}, (name, group)


@pytest.mark.slow  # four groups' analysis and figures
def test_transition_figure_draws_the_rows_of_transitions_csv(tmp_path):
    groups = [{"d": d, "lambda": lam} for d in (8, 32) for lam in (0.01, 0.1)]
    folder = write_linear_results(tmp_path / "grid", N_GRID, trials=40, groups=groups, seed=6)
    result = CliRunner().invoke(figures_app(), ["analyze", str(folder), "--bootstrap", "200", "--seed", "3"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(folder / "transitions.csv")
    assert list(table.columns[:2]) == ["lambda", "d"]  # the factory writes lambda before d
    report = draw_figures(folder, tmp_path / "out", hue="lambda", facet="d", n_boot=200, seed=3)
    figure = report.figures["transition"]
    summary = pd.read_csv(folder / "summary.csv")
    panel_of_row = {}
    for index, row in table.iterrows():
        assert row["n_star_status"] == "crossed" and row["onset_status"] == "ok"
        star = by_gid(figure, f"n_star-{index}")
        assert list(star.get_xdata()) == [row["n_star"]] * 2
        # The panel holding row k's marks draws row k's group (matched by key, not position).
        cells = summary[(summary["d"] == row["d"]) & (summary["lambda"] == row["lambda"])].sort_values("n")
        (p_line,) = [line for line in star.axes.get_lines() if line.get_label() == star.axes.get_label()]
        np.testing.assert_array_equal(p_line.get_ydata(), cells["p_delta_positive"])
        panel_of_row[index] = figure.axes.index(star.axes)
        span = (row["n_min"] / 1.3, row["n_max"] * 1.3)
        band = by_gid(figure, f"n_star_interval-{index}")
        assert band.get_x() == pytest.approx(max(row["n_star_lo"], span[0]), rel=1e-12)
        assert band.get_x() + band.get_width() == pytest.approx(min(row["n_star_hi"], span[1]), rel=1e-12)
        assert list(by_gid(figure, f"n_onset-{index}").get_xdata()) == [row["n_onset"]] * 2
        fit = by_gid(figure, f"onset_fit-{index}")
        u = np.log(fit.get_xdata())
        c = math.log(row["n_onset"])
        logy = row["log_error_at_onset"] + row["slope_before"] * np.minimum(u - c, 0)
        logy += row["slope_after"] * np.maximum(u - c, 0)
        np.testing.assert_allclose(fit.get_ydata(), np.exp(logy), rtol=1e-12)  # H²: drawn as is
        assert fit.get_xdata()[[0, -1]] == pytest.approx([row["fit_n_min"], row["fit_n_max"]], rel=1e-12)
    # Panels go by d (the facet) then λ; the table by λ then d.
    assert sorted(panel_of_row, key=panel_of_row.get) == [0, 2, 1, 3]


@pytest.mark.slow
def test_plot_and_analyze_a_real_small_sweep(tmp_path):
    """End to end on `memgen sweep linear` output."""
    import memgen_cli.cli as cli

    config = tmp_path / "tiny.yaml"
    config.write_text(LINEAR_SWEEP)
    folder = tmp_path / "tiny"
    runner = CliRunner()
    result = runner.invoke(cli.app, ["sweep", "linear", str(config), "--out", str(folder), "--workers", "1"])
    assert result.exit_code == 0, result.output
    # Through the main app, as a user runs them (it registers plot and analyze).
    result = runner.invoke(cli.app, ["plot", str(folder), "--format", "png,pdf,svg", "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli.app, ["analyze", str(folder), "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli.app, ["analyze", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    for figure in FIGURES:
        png = (folder / "figures" / f"{figure}.png").read_bytes()
        width = int.from_bytes(png[16:20], "big")  # the PNG header's width: the print width at DPI
        assert width == round(WIDTHS[figure] * DPI), figure
        assert json.loads((folder / "figures" / f"{figure}.json").read_text())["figure"] == figure
        assert (folder / "figures" / f"{figure}.svg").stat().st_size > 5000
        assert (folder / "figures" / f"{figure}.pdf").read_bytes().startswith(b"%PDF")
    table = pd.read_csv(folder / "transitions.csv")
    assert list(table["d"]) == [4, 8]


def test_a_full_disk_leaves_no_half_figure_and_exits_1(tmp_path, monkeypatch):
    """A figure is written whole or not at all; a write error is one line and exit code 1 (not bad input)."""
    import errno

    from cli_helpers import invoke

    folder = write_linear_results(tmp_path / "res", [4, 8, 16, 32, 64])
    assert invoke("plot", folder).exit_code == 0
    before = (folder / "figures" / "transition.png").read_bytes()

    def full_disk(self, fname, *args, **kwargs):
        open(fname, "wb").write(b"half a figure")  # what a real write gets down before the disk fills
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("matplotlib.figure.Figure.savefig", full_disk)
    result = invoke("plot", folder)
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert (folder / "figures" / "transition.png").read_bytes() == before  # the old figure, whole
    assert not [p.name for p in (folder / "figures").iterdir() if ".tmp-" in p.name]


def test_plot_draws_what_analyze_wrote_without_a_bootstrap_of_its_own(tmp_path, monkeypatch):
    from memgen_cli.report.analysis import memorization, outputs, transitions as analysis
    from memgen_cli.report.analysis.settings import AnalysisSettings

    folder = write_linear_results(tmp_path / "folder", N_GRID[:6], trials=40, seed=4)
    computed, _ = outputs.analyze_folder(folder, settings=AnalysisSettings(bootstrap=100, seed=3))
    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        raise AssertionError("plot ran a bootstrap although the folder's analysis is current")

    monkeypatch.setattr(analysis, "replicate_cells", spy)
    monkeypatch.setattr(memorization, "cell_replicates", spy)
    report = draw_figures(folder, tmp_path / "out", n_boot=100, seed=3)
    assert not calls and len(report.paths) == len(FIGURES)
    drawn = report.figures["transition"]
    assert drawn is not None
    # Other settings, or inputs that changed since, make the stored analysis stale: plot analyses first.
    with pytest.raises(AssertionError, match="ran a bootstrap"):
        draw_figures(folder, tmp_path / "out", n_boot=100, seed=4)
    monkeypatch.undo()
    trials = pd.read_csv(folder / "trials.csv")
    trials.iloc[:-1].to_csv(folder / "trials.csv", index=False)
    assert outputs.read_analysis(outputs.read_results(folder), AnalysisSettings(bootstrap=100, seed=3)) is None
    assert computed.transitions["n_star"].notna().all()


@pytest.mark.parametrize("low, high, expected", [
    (2, 9, ["2", "5"]),  # was 2×10⁰ 3×10⁰ 4×10⁰ …, overprinting; then 2 3 5
    (3, 70, ["5", "10", "20", "50"]),  # 1-2-5 only: no 3, 30
    (15, 35, ["20", "50"]),  # one 1-2-5 tick inside: the view widened to the next (was 15 20 25 30 35)
    (0.85, 1.0, ["0.5", "1"]),  # an H² axis: was 9×10⁻¹, then 0.85 0.9 0.95 1 (issue 37: never 1 beside 0.8)
    (2, 1000, ["10", "100", "1000"]),
    (1e-3, 1, ["0.001", "0.01", "0.1", "1"]),
    (3e3, 2e6, ["$10^{4}$", "$10^{5}$", "$10^{6}$"]),  # one axis never mixes 1000 and 10⁵
    (1e-60, 1e-10, ["$10^{-60}$", "$10^{-52}$", "$10^{-44}$", "$10^{-36}$", "$10^{-28}$", "$10^{-20}$",
                    "$10^{-12}$"]),
])
def test_log_ticks_are_plain_numbers_where_the_range_is_short(low, high, expected):
    from matplotlib.figure import Figure

    from memgen_cli.report.figures.ticks import plain_log_ticks

    try:
        from figure_checks import tick_labels
    except ImportError:
        from tests.figure_checks import tick_labels
    ax = Figure().add_subplot()
    ax.set_yscale("log")
    ax.set_ylim(low, high)
    plain_log_ticks(ax)
    assert tick_labels(ax.yaxis) == expected


@pytest.mark.parametrize("key, stale", [("memgen_version", "0.0.1"), ("analysis_version", 1)])
def test_an_analysis_stored_by_another_version_is_redone(tmp_path, key, stale):
    """analysis.json records memgen's version and the analysis code's: plot, report and load_results(analyze=True)
    redo an analysis another version stored instead of drawing its tables."""
    import json

    from memgen_cli.report.analysis import outputs
    from memgen_cli.report.analysis.settings import AnalysisSettings

    folder = write_linear_results(tmp_path / "folder", N_GRID[:6], trials=40, seed=4)
    settings = AnalysisSettings(bootstrap=100, seed=3)
    outputs.analyze_folder(folder, settings=settings)
    record = json.loads((folder / "analysis.json").read_text())
    assert record["memgen_version"] == outputs.__version__ and record["analysis_version"] == outputs.ANALYSIS_VERSION
    assert outputs.read_analysis(outputs.read_results(folder), settings) is not None
    record[key] = stale
    (folder / "analysis.json").write_text(json.dumps(record))
    assert outputs.read_analysis(outputs.read_results(folder), settings) is None
    outputs.analysis_for(outputs.read_results(folder), settings)  # what plot and report call: redone and rewritten
    assert json.loads((folder / "analysis.json").read_text())[key] != stale
