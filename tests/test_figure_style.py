"""Issue 37: one figure style in every figure memgen draws. Each figure builder is run on a small folder of its kind
(linear with two groups and with one, U-Net-shaped with memorization and curves, image criteria, training times, a
locate folder's phase diagram) and checked without pixels (figure_checks.assert_one_style): captions of at most two
lines, legends off the panels, references as lines (no more fills than model curves), 1-2-5 log ticks on axes that
say "(log scale)", titles unbroken inside brackets, no column names in any text, P(Δ > 0) in one colour."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from figure_checks import (assert_one_style, assert_p_colour, caption_text, legend_colours, legend_labels, rgb,
                           texts_outside)
from results_factory import two_group_linear_results, write_linear_results
from test_criteria_analysis import image_folder, training_folder
from test_unet_memorization import FALLING, RISING, write_unet_folder
from memgen_cli.imaging.grids import LABEL_WIDTH, image_grid, write_labelled_grid
from memgen_cli.report.figures.canvas import caption_lines
from memgen_cli.report.figures.figure_phase import phase_figure
from memgen_cli.report.figures.figure_transition import fit_problem
from memgen_cli.report.figures.draw import draw_figures
from memgen_cli.report.figures.style import P_COLOUR, reference_colour, wrap_words

N_GRID = np.unique(np.geomspace(4, 1000, 8).astype(int))
REFERENCES = {"generalizer_delta_positive": 1, "memorizer_delta_positive": 0,
              "generalizer_memorized_fraction": 0.0, "memorizer_memorized_fraction": 1.0}
# Figures that draw no P(Δ > 0) against n (training_curves draws it against steps, one colour per n).
WITHOUT_P_LINE = ("hellinger", "memorized_fraction", "training_curves", "training_times")


def folders(root) -> dict[str, tuple]:
    """Small folders of every kind the figures are drawn for: name -> (folder, single group)."""
    rng = np.random.default_rng(7)
    training, _ = training_folder(root / "training", rng)
    return {
        "linear, two groups": (two_group_linear_results(root / "linear2", N_GRID, trials=30, seed=1), False),
        "linear, one group": (write_linear_results(root / "linear1", N_GRID, groups=[{"d": 16, "N": 2000}],
                                                   trials=30, seed=2), True),
        "unet memorization": (write_unet_folder(root / "unet", FALLING, RISING, curves=True), True),
        "image criteria": (image_folder(root / "criteria", rng, references=REFERENCES), True),
        "training times": (training, True),
    }


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    root = tmp_path_factory.mktemp("style")
    return {kind: (draw_figures(folder, root / "out" / kind.replace(" ", "-"), n_boot=100), single, folder)
            for kind, (folder, single) in folders(root).items()}


@pytest.mark.slow  # five kinds of folder analysed and every figure drawn (the module's fixture)
def test_every_figure_of_every_kind_has_the_one_style(drawn):
    names = set()
    for kind, (report, single, _) in drawn.items():
        for name, figure in report.figures.items():
            names.add(name)
            assert_one_style(figure, f"{kind}: {name}")
            assert texts_outside(figure) == [], (kind, name)
            if single and name not in WITHOUT_P_LINE:
                assert_p_colour(figure, f"{kind}: {name}")
    assert {"p_delta_positive", "hellinger", "errors_vs_p", "transition", "memorized_fraction", "memorization_vs_p",
            "training_curves", "criteria", "training_times"} <= names


@pytest.mark.slow  # five kinds of folder analysed and every figure drawn (the module's fixture)
def test_references_are_lines_in_their_groups_colours_named_so_in_the_legend(drawn):
    report, _, _ = drawn["image criteria"]
    for name in ("p_delta_positive", "errors_vs_p", "memorization_vs_p"):
        figure = report.figures[name]
        lines = [line for ax in figure.axes for line in ax.get_lines() if line.get_gid() in ("generalizer",
                                                                                             "memorizer")]
        assert {line.get_gid() for line in lines} == {"generalizer", "memorizer"}, name
        handles = {text.get_text(): handle for legend in figure.findobj(lambda a: hasattr(a, "legend_handles"))
                   for handle, text in zip(legend.legend_handles, legend.get_texts())}
        shown = {rgb(line.get_color()) for line in lines}
        assert any(label.startswith("ideal generalizer") for label in handles), name
        assert shown <= {rgb(reference_colour(c)) for c in ("tab:blue", "tab:red")}, name  # not grey
    # P of the generalizer is 1 and of the memorizer 0 in every cell: the legend says where they lie.
    assert "ideal generalizer (at 1)" in legend_labels(report.figures["p_delta_positive"])
    assert "ideal memorizer (at 0)" in legend_labels(report.figures["p_delta_positive"])


@pytest.mark.slow  # five kinds of folder analysed and every figure drawn (the module's fixture)
def test_notes_go_to_the_sidecar_not_under_the_panels(drawn):
    report, _, folder = drawn["linear, two groups"]
    out = report.sidecars[0].parent
    for name, figure in report.figures.items():
        sidecar = json.loads((out / f"{name}.json").read_text())
        assert sidecar["notes"] == report.figure_notes[name]
        for note in report.figure_notes[name]:
            assert note not in caption_text(figure)
    assert any("not drawn" in note for note in report.figure_notes["errors_vs_p"])  # n <= d


@pytest.mark.slow  # five kinds of folder analysed and every figure drawn (the module's fixture)
def test_the_single_group_p_line_and_the_criteria_p_line_share_one_colour(drawn):
    colours = set()
    for report, single, _ in drawn.values():
        for name, figure in report.figures.items():
            if single and name not in WITHOUT_P_LINE:
                colours |= {rgb(line.get_color()) for ax in figure.axes for line in ax.get_lines()
                            if line.get_gid() == "P(Δ > 0)"}
    assert colours == {rgb(P_COLOUR)}


def test_hellinger_error_bars_are_said_hidden_when_every_bar_is_within_its_marker(tmp_path):
    folder = write_linear_results(tmp_path / "lin", N_GRID, groups=[{"d": 16}], trials=30, seed=3)
    summary = pd.read_csv(folder / "summary.csv")
    labels = {}
    for se, name in ((0.0, "none"), (0.3, "large")):
        summary["se_H2"] = se * summary["mean_H2"]
        summary.to_csv(folder / "summary.csv", index=False)
        labels[name] = legend_labels(draw_figures(folder, tmp_path / name, n_boot=100).figures["hellinger"])
    assert "± 1 standard error: every bar within its marker" in labels["none"]
    assert "± 1 standard error" in labels["large"]


def test_a_fit_that_misses_its_points_is_not_drawn():
    x = np.array([2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
    row = pd.Series({"n_onset": 8.0, "log_error_at_onset": 0.0, "slope_before": 0.0, "slope_after": -1.0,
                     "fit_n_min": 2.0, "fit_n_max": 64.0})
    on_the_line = np.where(x <= 8, 0.0, -np.log(x / 8))
    assert fit_problem(row, x, on_the_line) is None
    above = on_the_line.copy()
    above[0] = -0.5  # the fit runs 65% above the data at n = 2
    assert "misses the point at n = 2" in fit_problem(row, x, above)
    assert "point(s) in its window" in fit_problem({**row, "fit_n_max": 4.0}, x, on_the_line)


def test_phase_diagram_marks_unconverged_points_open_and_writes_its_exponent(tmp_path):
    d = np.array([4, 8, 16, 32])
    rows = [{"d": int(k), "n_star": 1.5 * k ** 1.1, "n_star_lo": 1.4 * k ** 1.1, "n_star_hi": 1.6 * k ** 1.1,
             "status": "converged" if k != 8 else "budget exhausted"} for k in d]
    pd.DataFrame(rows).to_csv(tmp_path / "nstar.csv", index=False)
    drawn = phase_figure(tmp_path)
    assert_one_style(drawn.figure, "phase_diagram")
    open_markers = [line for ax in drawn.figure.axes for line in ax.get_lines()
                    if line.get_marker() == "o" and line.get_markerfacecolor() == "white" and len(line.get_xdata())]
    assert {float(x) for line in open_markers for x in line.get_xdata()} >= {8.0}
    labels = legend_labels(drawn.figure)
    assert any("d^{\\,1.10}" in label for label in labels) and not any("d^b" in label for label in labels)
    assert "open: budget exhausted (interval wider than requested)" in labels


def test_titles_break_between_words_outside_brackets():
    line = "n* = 26.1 [19, 34] (grid-limited) · n_rep > 768 · n_mem = 13.2 [<n_min, 18.4]"
    for width in (10, 16, 24, 40):
        for piece in wrap_words(line, width):
            assert piece.count("[") == piece.count("]"), (width, piece)
            assert not piece.endswith((">", "=")) and not piece.startswith((">", "=")), (width, piece)


def test_a_long_caption_is_shortened_to_two_lines():
    long = "Closed-form model: " + ", ".join(f"parameter_{k} = {k}" for k in range(20)) + "; swept: n"
    assert len(caption_lines([long, "Closed-form model: +20 more; swept: n"], 3.4)) == 1
    cut = caption_lines([long], 3.4)
    assert len(cut) == 2 and cut[-1].endswith("…")


def test_sample_grids_name_their_rows_and_keep_their_tiles(tmp_path):
    from matplotlib.image import imread

    rng = np.random.default_rng(0)
    pixels = image_grid(rng.random((4, 8, 8)), rng.random((9, 8, 8)))
    write_labelled_grid(tmp_path / "grid.png", pixels)
    png = np.round(imread(tmp_path / "grid.png")[..., 0] * 255)
    assert png.shape == (pixels.shape[0], pixels.shape[1] + LABEL_WIDTH)
    assert np.abs(png[:, LABEL_WIDTH:] - pixels).max() <= 1  # the tiles as image_grid made them
    half = pixels.shape[0] // 2
    for rows in (png[:half, :LABEL_WIDTH], png[half:, :LABEL_WIDTH]):  # a name written beside each row
        assert (rows < 128).sum() > 20


def test_log_axis_labels_say_log_scale_once():
    from memgen_cli.report.figures.canvas import finish

    figure = Figure()
    ax = figure.add_subplot()
    ax.plot([1, 10], [1, 100])
    ax.set_xscale("log")
    ax.set_xlabel("training-set size n")
    ax.set_ylabel("P")
    finish(finish(figure))
    assert ax.get_xlabel() == "training-set size n (log scale)" and ax.get_ylabel() == "P"


@pytest.mark.slow  # five kinds of folder analysed and every figure drawn (the module's fixture)
def test_legend_colours_of_groups_match_their_lines(drawn):
    report, _, _ = drawn["linear, two groups"]
    colours = legend_colours(report.figures["p_delta_positive"])
    assert colours["d = 16"] != colours["d = 64"]


def test_a_legend_lists_only_what_is_drawn(tmp_path):
    """Issue 37: the closed-form Fig. 4 listed an n* line that was not drawn (P never rose to 0.5)."""
    never = {n: [0, 0, 0, 0] for n in RISING}
    report = draw_figures(write_unet_folder(tmp_path / "flat", FALLING, never), tmp_path / "out", n_boot=100)
    labels = legend_labels(report.figures["memorization_vs_p"])
    assert any(label.startswith("n_mem") for label in labels)
    assert not any(label.startswith("n*") for label in labels), labels
    assert not any(label.startswith("n*") for label in legend_labels(report.figures["transition"]))
