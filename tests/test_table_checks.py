"""Every table a command reads is checked against the sha256 recorded when it was written, wherever it lives
(issue 34, cases 2 and 4): a run's tables against manifest.json, a combined folder's against its combined.json,
an analysis's tables against analysis.json. Each case as a user meets it, through the CLI on real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import memgen_cli as mg
from cli_helpers import assert_one_line_error, invoke, sweep
from memgen_cli.errors import MemgenError
from memgen_cli.report.analysis.settings import AnalysisSettings

CONFIG = """model: linear
seed: 7
trials: 40
grid: {n: [3, 20], d: [4], lambda: [0.0183], T: [2.0], N: [200]}
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("checks")
    config = base / "c.yaml"
    config.write_text(CONFIG)
    assert sweep(config, base / "r1").exit_code == 0
    return config, base / "r1"


def copy(finished, tmp_path, name="r") -> Path:
    shutil.copytree(finished[1], tmp_path / name)
    return tmp_path / name


# -- case 2: analyze after `rm trials.csv` went on silently --------------------------------------------------------
@pytest.mark.parametrize("command", ["analyze", "plot", "report"])
def test_a_table_the_manifest_says_was_written_but_is_gone_is_one_line(finished, tmp_path, command):
    folder = copy(finished, tmp_path)
    (folder / "trials.csv").unlink()
    result = invoke(command, folder, "--bootstrap", "100")
    assert_one_line_error(result, "trials.csv: missing", "manifest.json")
    assert not (folder / "criteria.csv").exists() and not (folder / "transitions.csv").exists()


def test_load_results_refuses_the_missing_table_too(finished, tmp_path):
    folder = copy(finished, tmp_path)
    (folder / "trials.csv").unlink()
    with pytest.raises(MemgenError, match="trials.csv: missing"):
        mg.load_results(folder, analyze=True)


# -- case 4: a combined folder's own tables, edited by hand, were analysed ----------------------------------------
def test_a_combined_folders_edited_trials_are_refused(finished, tmp_path):
    config, r1 = finished
    other = tmp_path / "other"
    assert sweep(config, other, "--set", "grid.n=[5,40]").exit_code == 0
    out = tmp_path / "both"
    assert invoke("analyze", r1, other, "--out", out, "--bootstrap", "100").exit_code == 0
    recorded = json.loads((out / "combined.json").read_text())["tables"]
    assert set(recorded) == {"summary.csv", "trials.csv"}
    assert invoke("analyze", out, "--bootstrap", "100").exit_code == 0  # as written: read
    trials = pd.read_csv(out / "trials.csv")
    trials.iloc[::2].to_csv(out / "trials.csv", index=False)  # every other row deleted
    result = invoke("analyze", out, "--bootstrap", "100")
    assert_one_line_error(result, "trials.csv: not the table that was written here", "combined.json")


# -- the analysis's own tables ------------------------------------------------------------------------------------
def test_an_edited_analysis_table_is_not_drawn(finished, tmp_path):
    folder = copy(finished, tmp_path)
    assert invoke("analyze", folder, "--bootstrap", "100").exit_code == 0
    assert mg.load_results(folder).transitions is not None
    written = (folder / "transitions.csv").read_bytes()
    (folder / "transitions.csv").write_bytes(written.replace(b"\n", b"\n", 1)[:-40] + b"\n")
    assert mg.load_results(folder).transitions is None  # not current: never drawn as it is
    again = mg.load_results(folder, analyze=True, settings=AnalysisSettings(bootstrap=100))
    assert again.transitions is not None and (folder / "transitions.csv").read_bytes() == written


# -- case 5: kill -9 during a growth: config, sidecars and report claimed the grown grid ---------------------------
KILL_ON_SECOND_TASK = """import os, signal, sys
from memgen_cli.linear.experiment import LinearExperiment
original, calls = LinearExperiment.run_task, []
def run_task(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9, after the growth's first part
    return original(self, *args, **kwargs)
LinearExperiment.run_task = run_task
from memgen_cli.cli import app
app(sys.argv[1:])
"""


@pytest.mark.slow  # a process killed with SIGKILL, then plot and report
def test_a_growth_killed_is_named_as_unfinished_everywhere(finished, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    config, _ = finished
    folder = copy(finished, tmp_path)
    before = (folder / "config.yaml").read_text()
    root = Path(__file__).resolve().parents[1]
    killed = subprocess.run([sys.executable, "-c", KILL_ON_SECOND_TASK, "sweep", "linear", str(config), "--out",
                             str(folder), "-q", "--executor", "serial", "--set", "grid.n=[3,20,50,100]"],
                            env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (folder / "config.yaml").read_text() == before  # the config of the tables, not of the killed growth
    analyzed = invoke("analyze", folder, "--bootstrap", "100")
    assert analyzed.exit_code == 0 and "did not finish" in analyzed.output, analyzed.output
    plotted = invoke("plot", folder, "--bootstrap", "100")
    assert plotted.exit_code == 0 and "did not finish" in plotted.output, plotted.output
    sidecar = json.loads(next((folder / "figures").glob("*.json")).read_text())
    assert any("did not finish" in note for note in sidecar["folder_notes"])
    assert sidecar["swept"]["n"] == [3, 20]
    assert invoke("report", folder, "--bootstrap", "100").exit_code == 0
    page = (folder / "report.html").read_text()
    assert "did not finish" in page and "none (no failed.json)" not in page
    resumed = sweep(config, folder, "--set", "grid.n=[3,20,50,100]")  # the same command finishes it
    assert resumed.exit_code == 0 and "100" in (folder / "config.yaml").read_text(), resumed.output
    assert "did not finish" not in invoke("analyze", folder, "--bootstrap", "100").output
