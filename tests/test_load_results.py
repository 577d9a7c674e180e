"""Results from Python (memgen_cli.load_results) on every model's folder, and plot/analyze over several folders."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import memgen_cli as mg
from cli_helpers import assert_one_line_error, invoke
from memgen_cli.errors import MemgenError
from results_factory import write_linear_results, write_unet_summary

LINEAR = """model: linear
seed: 1
trials: 20
grid: {n: [4, 16, 64], d: [8], N: [300]}
options: {original_sets: 2}
"""
LOCATE = """model: linear
seed: 3
grid: {n: [2, 120], d: [8], N: [400]}
options: {original_sets: 4}
locate: {rel_width: 0.4, batch: 8, scan: 5, max_trials: 120}
"""


@pytest.fixture
def linear_config(tmp_path) -> Path:
    path = tmp_path / "linear.yaml"
    path.write_text(LINEAR)
    return path


def test_load_results_of_a_linear_sweep(linear_config, tmp_path):
    out = tmp_path / "out"
    assert invoke("sweep", "linear", linear_config, "--out", out, "-q", "--executor", "serial").exit_code == 0
    loaded = mg.load_results(out)
    assert loaded.model == "linear" and loaded.config["trials"] == 20
    assert len(loaded.trials) == 60 and list(loaded.summary["n"]) == [4, 16, 64]
    assert loaded.transitions is None and loaded.memorization is None and loaded.curves is None
    analysed = mg.load_results(out, analyze=True)  # computed and written, as `memgen plot` would
    assert (out / "analysis.json").is_file() and len(analysed.transitions) == 1
    assert mg.load_results(out).transitions.equals(analysed.transitions)  # read back: current for its tables


def test_load_results_of_unet_and_locate_folders(tmp_path):
    unet = write_unet_summary(tmp_path / "unet", [10, 100, 1000, 10000])
    loaded = mg.load_results(unet)
    assert loaded.model == "unet" and loaded.trials is None and len(loaded.summary) == 4
    locate = tmp_path / "locate.yaml"
    locate.write_text(LOCATE)
    out = tmp_path / "located"
    assert invoke("locate", "linear", locate, "--out", out, "--executor", "serial", "-q").exit_code == 0
    located = mg.load_results(out, analyze=True)
    assert located.model == "linear" and located.nstar is not None and located.nstar["d"].tolist() == [8]
    assert located.transitions is None  # a locate folder's estimates are its nstar.csv


def test_load_results_refuses_what_plot_refuses(tmp_path):
    with pytest.raises(MemgenError, match="no such folder"):
        mg.load_results(tmp_path / "absent")


@pytest.mark.slow  # two folders analysed and drawn end to end
def test_plot_and_analyze_read_two_folders_as_one_sweep(tmp_path):
    n_values = [4, 8, 16, 32, 64, 128]
    a = write_linear_results(tmp_path / "a", n_values, groups=[{"d": 16}], trials=40, seed=1)
    b = write_linear_results(tmp_path / "b", n_values, groups=[{"d": 64}], trials=40, seed=2)
    both = tmp_path / "both"
    done = invoke("analyze", a, b, "--out", both, "--bootstrap", "100")
    assert done.exit_code == 0, done.output
    table = pd.read_csv(both / "transitions.csv")
    assert sorted(table["d"]) == [16, 64]
    summary = pd.read_csv(both / "summary.csv")
    assert list(summary["cell"]) == list(range(12)) and len(pd.read_csv(both / "trials.csv")) == 12 * 40
    sources = json.loads((both / "combined.json").read_text())["sources"]
    assert [s["folder"] for s in sources] == [str(a), str(b)]
    drawn = invoke("plot", a, b, "--out", both, "--bootstrap", "100")
    assert drawn.exit_code == 0, drawn.output
    assert (both / "figures" / "transition.png").is_file()


def test_two_folders_that_share_a_cell_or_a_model_name_clash(tmp_path):
    a = write_linear_results(tmp_path / "a", [4, 8, 16, 32], groups=[{"d": 16}], trials=10, seed=1)
    assert_one_line_error(invoke("analyze", a, a, "--out", tmp_path / "x"), "the cell n = ", "is also in",
                          "counted twice")
    unet = write_unet_summary(tmp_path / "unet", [10, 100, 1000])
    assert_one_line_error(invoke("analyze", a, unet, "--out", tmp_path / "y"), "different models")
    assert_one_line_error(invoke("analyze", a, unet), "several folders need --out")
