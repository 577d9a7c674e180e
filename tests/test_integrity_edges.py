"""Integrity at the edges (issue 23): each case a hostile probe found, reproduced, and what happens now.

Numbers refer to the issue's list of silent data loss or wrong data; the rest are its "ugly but safe" cases."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import assert_one_line_error, invoke, sweep
from memgen_cli import ledger
from memgen_cli.linear.experiment import LinearExperiment
from memgen_cli.results_format import EMPTY_FOLDER, FOREIGN_FOLDER, MEMGEN_FOLDER, recognise

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """model: linear
seed: 3
trials: 100
grid: {n: [3, 20], d: [4], lambda: [0.0183], T: [2.0], N: [200]}
options: {original_sets: 2}
"""


def tables(folder: Path) -> tuple[bytes, bytes]:
    return (folder / "trials.csv").read_bytes(), (folder / "summary.csv").read_bytes()


def runs(folder: Path) -> list[dict]:
    return json.loads((folder / "manifest.json").read_text())["runs"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("finished")
    config = base / "edges.yaml"
    config.write_text(CONFIG)
    result = sweep(config, base / "results")
    assert result.exit_code == 0, result.output
    return config, base / "results"


def copy_of(finished, tmp_path, name: str = "copy") -> tuple[Path, Path]:
    config, reference = finished
    shutil.copytree(reference, tmp_path / name)
    return config, tmp_path / name


def everything(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("manifest.json", ".lock", ".memgen-ledger")}


# -- 1. --force whose every task fails keeps the old results ---------------------------------------------------
def test_force_that_finishes_no_task_keeps_the_old_results(finished, tmp_path, monkeypatch):
    config, out = copy_of(finished, tmp_path)
    before = everything(out)

    def fails(self, config, cell, trials, batched=True):
        raise RuntimeError("this config's tasks all fail")

    monkeypatch.setattr(LinearExperiment, "run_task", fails)
    result = sweep(config, out, "--set", "trials=50", "--force")
    assert result.exit_code == 1
    assert "finished no task" in result.output and "kept" in result.output
    assert everything(out) == before and not list(out.glob(".re*"))
    assert "trials: 100" in (out / "config.yaml").read_text()


# -- 2. one rule for a memgen folder; a foreign one is refused whatever the flags ------------------------------
def a_users_project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    for name in ("logs", "images", "figures"):
        (folder / name).mkdir(parents=True)
        (folder / name / "keep.txt").write_text("mine")
    (folder / "config.yaml").write_text("model: linear\ntrials: 5\n")
    (folder / "notes.txt").write_text("my notes")
    return folder


@pytest.mark.parametrize("flags", [(), ("--force",), ("--force", "--retry-failed")])
def test_a_foreign_folder_is_refused_and_left_untouched(finished, tmp_path, flags):
    config, _ = finished
    folder = a_users_project(tmp_path)
    before = everything(folder)
    assert recognise(folder) == FOREIGN_FOLDER
    line = assert_one_line_error(sweep(config, folder, *flags), "not a memgen results folder", "notes.txt")
    assert "whatever the flags" in line
    assert everything(folder) == before and not (folder / "parts").exists() and not (folder / ".lock").exists()


def test_the_rule_recognises_finished_half_finished_and_damaged_folders(finished, tmp_path):
    config, out = copy_of(finished, tmp_path, "finished")
    assert recognise(out) == MEMGEN_FOLDER
    (tmp_path / "empty").mkdir()
    assert recognise(tmp_path / "empty") == EMPTY_FOLDER
    _, half = copy_of(finished, tmp_path, "half")  # killed before its tables: manifest and parts only
    for name in ("trials.csv", "summary.csv", "config.yaml"):
        (half / name).unlink()
    assert recognise(half) == MEMGEN_FOLDER
    _, damaged = copy_of(finished, tmp_path, "damaged")
    (damaged / "manifest.json").write_bytes(b"\x00\xff not json")
    assert recognise(damaged) == MEMGEN_FOLDER  # its checked parts say so
    (damaged / "manifest.json").write_text("[]")
    for sidecar in (damaged / "parts").glob("*.checksum.json"):
        sidecar.write_text('{"sha256": "0", "rows": 1}')
    assert recognise(damaged) == FOREIGN_FOLDER  # no manifest and no part that checks out: not ours


def test_force_sets_aside_only_what_memgen_wrote(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    (out / "notes.txt").write_text("the user's")
    result = sweep(config, out, "--set", "trials=50", "--force")
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == "the user's"


# -- 3. --retry-failed after a kill says what never ran -----------------------------------------------------------
def test_retry_failed_after_a_kill_is_not_a_finished_run(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    parts = sorted((out / "parts").glob("*.csv"))
    for part in parts[:2]:  # never ran: no part, and no entry in failed.json
        part.unlink()
        part.with_name(part.name.replace(".csv", ".checksum.json")).unlink()
    result = sweep(config, out, "--retry-failed")
    assert result.exit_code == 1
    assert "2 task(s) of the sweep have not run" in result.output and "rerun without it" in result.output
    assert runs(out)[-1]["status"] == "incomplete" and runs(out)[-1]["missing_tasks"] == 2
    assert sweep(config, out).exit_code == 0  # the plain command finishes it
    assert tables(out) == tables(finished[1])


# -- 4. parts carry their inputs: a folder without config.yaml is not reused by another config ------------------
def test_a_folder_without_its_config_is_not_reused_by_a_different_config(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    (out / "config.yaml").unlink()
    before = everything(out)
    assert_one_line_error(sweep(config, out, "--set", "options.original_sets=1"), "different config",
                          "other inputs")
    assert everything(out) == before
    resumed = sweep(config, out)  # the config that wrote the parts reuses them all
    assert resumed.exit_code == 0, resumed.output
    assert runs(out)[-1]["tasks_to_run"] == 0 and tables(out) == tables(finished[1])


# -- 5. a part whose columns are not the experiment's schema is recomputed ---------------------------------------
def rewrite_part(part: Path, frame: pd.DataFrame, identity: bool = True) -> None:
    data = frame.to_csv(index=False).encode()
    part.write_bytes(data)
    sidecar = part.with_name(part.name.replace(".csv", ".checksum.json"))
    record = json.loads(sidecar.read_text())
    record.update(sha256=hashlib.sha256(data).hexdigest(), rows=len(frame))
    sidecar.write_text(json.dumps(record if identity else {"sha256": record["sha256"], "rows": record["rows"]}))


@pytest.mark.parametrize("column", ["original_set", "H2"])
def test_a_checked_part_missing_a_column_is_recomputed(finished, tmp_path, column):
    config, out = copy_of(finished, tmp_path)
    part = sorted((out / "parts").glob("*.csv"))[0]
    rewrite_part(part, pd.read_csv(part).drop(columns=[column]))
    result = sweep(config, out)
    assert result.exit_code == 0, result.output
    assert f"lacks the column {column!r}" in result.output and runs(out)[-1]["tasks_to_run"] == 1
    assert tables(out) == tables(finished[1])


# -- 6. a part without checksum is adopted only when every row is whole ------------------------------------------
def test_a_legacy_part_cut_mid_row_is_recomputed(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    part = sorted((out / "parts").glob("*.csv"))[0]
    data = part.read_bytes()
    part.write_bytes(data[:data.rindex(b"\n", 0, len(data) - 1) + 25])  # the last row cut after 24 bytes
    part.with_name(part.name.replace(".csv", ".checksum.json")).unlink()
    result = sweep(config, out)
    assert result.exit_code == 0, result.output
    assert "has no checksum" in result.output and "not used" in result.output
    assert runs(out)[-1]["tasks_to_run"] == 1
    assert tables(out) == tables(finished[1])  # integer columns stay integers


def test_a_legacy_part_that_reads_back_differently_is_recomputed(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    part = sorted((out / "parts").glob("*.csv"))[0]
    frame = pd.read_csv(part)
    frame.loc[len(frame) - 1, "H2"] = np.nan  # the last row's values lost: integers would read as floats
    frame.to_csv(part, index=False, float_format="%.6g")
    part.with_name(part.name.replace(".csv", ".checksum.json")).unlink()
    result = sweep(config, out)
    assert result.exit_code == 0, result.output
    assert "not whole" in result.output and runs(out)[-1]["tasks_to_run"] == 1
    assert tables(out) == tables(finished[1])


# -- 7. a NaN outcome is NaN, left out of the counts, and said ---------------------------------------------------
def test_non_finite_samples_give_nan_metrics_not_zeros():
    from memgen_cli.imaging.data import DataSplit
    from memgen_cli.imaging.evaluation import BINARY_METRICS, EVALUATION_COLUMNS, ImageEvaluation, evaluate

    rng = np.random.default_rng(0)
    split = DataSplit(rng.normal(0.5, 0.1, (6, 4, 4)), rng.normal(0.5, 0.1, (20, 4, 4)), 0.1)
    generated = np.full((3, 4, 4), np.nan)
    row = evaluate(generated, split, ImageEvaluation(), rng)
    assert list(row) == list(EVALUATION_COLUMNS)
    assert all(np.isnan(row[m]) for m in (*BINARY_METRICS, "memorized_fraction", "E_OG", "Delta_exact"))


def test_summary_leaves_nan_outcomes_out_and_counts_them():
    from memgen_cli.runner.sweep import nonfinite_notes
    from memgen_cli.statistics.summary import summarize_trials

    trials = pd.DataFrame({"cell": [0, 0, 0, 0], "n": [4] * 4, "trial": range(4),
                           "delta_positive": [1.0, np.nan, np.nan, 0.0],
                           "memorized_fraction": [0.5, np.nan, np.nan, 1]})
    summary = summarize_trials(trials, ["cell", "n"], ("delta_positive",), ("memorized_fraction",))
    row = summary.iloc[0]
    assert row["trials"] == 4 and row["count_delta_positive"] == 2 and row["p_delta_positive"] == 0.5
    assert row["count_memorized_fraction"] == 2 and row["mean_memorized_fraction"] == 0.75

    class Model:  # the two members nonfinite_notes reads (Experiment's defaults otherwise)
        binary_metrics = ("delta_positive",)
        added_columns = ()

    note, = nonfinite_notes(Model(), trials)
    assert note.startswith("2 trial(s) have no finite outcome")


# -- 8. a damaged manifest is kept aside, said, and recorded ---------------------------------------------------------
@pytest.mark.parametrize("damage", [b"\x00\xff binary", b"[]", b"{}", b'{"runs": "x"}'])
def test_a_damaged_manifest_is_kept_and_a_new_history_records_it(finished, tmp_path, damage):
    config, out = copy_of(finished, tmp_path)
    (out / "manifest.json").write_bytes(damage)
    result = sweep(config, out)
    assert result.exit_code == 0, result.output
    kept, = out.glob("manifest.json.damaged-*")
    assert kept.read_bytes() == damage and "kept as" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["damaged_manifest_kept_as"] == kept.name and len(manifest["runs"]) == 1


# -- 9. plot and analyze check the tables against the folder's records ---------------------------------------------
def cut_trials_mid_row(folder: Path) -> None:
    data = (folder / "trials.csv").read_bytes()
    (folder / "trials.csv").write_bytes(data[:len(data) - 30])


def drop_a_cell(folder: Path) -> None:
    summary = pd.read_csv(folder / "summary.csv")
    summary.iloc[1:].to_csv(folder / "summary.csv", index=False)


def halve_the_trials(folder: Path) -> None:
    trials = pd.read_csv(folder / "trials.csv")
    trials.iloc[::2].to_csv(folder / "trials.csv", index=False)


@pytest.mark.parametrize("damage", [cut_trials_mid_row, drop_a_cell, halve_the_trials, "other seed"])
@pytest.mark.parametrize("command", ["analyze", "plot"])
def test_changed_tables_are_refused_by_plot_and_analyze(finished, tmp_path, damage, command):
    config, out = copy_of(finished, tmp_path)
    if damage == "other seed":
        other = tmp_path / "other"
        assert sweep(config, other, "--set", "seed=4").exit_code == 0
        shutil.copy(other / "trials.csv", out / "trials.csv")
    else:
        damage(out)
    result = invoke(command, out, "--bootstrap", "100")
    assert_one_line_error(result, "not the table the last run wrote", "rerun the sweep's command")


def test_analyze_says_which_tasks_failed_and_what_a_half_finished_folder_is(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    (out / "failed.json").write_text(json.dumps([{"task": "x", "cell": 0, "params": {}, "error": "boom"}]))
    result = invoke("analyze", out, "--bootstrap", "100")
    assert result.exit_code == 0 and "1 task(s) failed in the last run" in " ".join(result.output.split())
    for name in ("summary.csv", "trials.csv"):
        (out / name).unlink()
    line = assert_one_line_error(invoke("analyze", out), "has written no summary.csv yet")
    assert "not a memgen results folder" not in line


# -- ugly but safe ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_linear_csvs_are_byte_identical_for_any_workers_and_resume(tmp_path):
    config = tmp_path / "d100.yaml"
    config.write_text("model: linear\nseed: 1\ntrials: 40\ngrid: {n: [60, 150], d: [100], N: [600]}\n"
                      "options: {original_sets: 2}\n")
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        result = invoke("sweep", "linear", config, "--out", out, "-q", "--workers", workers)
        assert result.exit_code == 0, result.output
        outputs[workers] = tables(out)
    assert outputs["1"] == outputs["2"]
    resumed = tmp_path / "resumed"  # half of it with 2 workers, the rest in this process
    shutil.copytree(tmp_path / "w2", resumed)
    for part in sorted((resumed / "parts").glob("*.csv"))[::2]:
        part.unlink()
    assert sweep(config, resumed).exit_code == 0 and tables(resumed) == outputs["1"]


@pytest.mark.parametrize("model, override, field", [
    ("linear", "grid.d=[10000000]", "grid.N"), ("linear", "grid.N=[1000000000]", "grid.N"),
    ("linear", "grid.n=[100000000]", "grid.n"), ("unet", "grid.steps=[1000000000]", "grid.steps"),
    ("unet", "sampling.generated=1000000000", "sampling.generated"), ("unet", "grid.N=[1000000000]", "grid.N"),
    ("unet", "grid.n=[1000000000]", "grid.n"), ("unet", "grid.side=[100000]", "grid.side"),
    ("unet", "grid.train_steps=[1000000000000]", "grid.train_steps"), ("closedform", "grid.N=[1000000000]", "grid.N"),
    ("closedform", "grid.side=[100000]", "grid.side"), ("closedform", "grid.n=[100000000]", "grid.n")])
def test_absurd_sizes_are_refused_before_any_work(tmp_path, model, override, field):
    config = ROOT / "configs" / model / "quick.yaml"
    line = assert_one_line_error(invoke("sweep", model, config, "--set", override, "--dry-run"),
                                 f"{field}:", "MEMGEN_MAX_")
    assert "memory" in line or "floating-point operations" in line


def test_the_size_limits_can_be_raised(tmp_path):
    config = ROOT / "configs" / "linear" / "quick.yaml"
    result = invoke("sweep", "linear", config, "--set", "grid.N=[100000000]", "--dry-run",
                    env={"MEMGEN_MAX_MEMORY": str(10**13), "MEMGEN_MAX_WORK": str(10**30)})
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("content", [b"\x00\xff\xfe binary", b"grid: [unclosed", "a directory"])
@pytest.mark.parametrize("force", [False, True])
def test_a_damaged_config_yaml_is_one_line_and_force_replaces_it(finished, tmp_path, content, force):
    config, out = copy_of(finished, tmp_path)
    (out / "config.yaml").unlink()
    if content == "a directory":
        (out / "config.yaml").mkdir()
    else:
        (out / "config.yaml").write_bytes(content)
    result = sweep(config, out, *(["--force"] if force else []))
    if not force:
        assert_one_line_error(result, "config.yaml is damaged", "--force")
        return
    assert result.exit_code == 0, result.output
    assert (out / "config.yaml").is_file() and tables(out) == tables(finished[1])
    assert sweep(config, out).exit_code == 0  # not stuck


def test_a_damaged_failed_json_with_retry_failed_is_one_line(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    (out / "failed.json").write_text('{"not": "a list"}')
    assert_one_line_error(sweep(config, out, "--retry-failed"), "failed.json: damaged", "without --retry-failed")


@pytest.mark.parametrize("stop, problem", [(".inf", "finite"), ("1e300", "2^53")])
def test_infinite_and_huge_ranges_are_one_line(tmp_path, stop, problem):
    config = tmp_path / "range.yaml"
    config.write_text(f"model: linear\ngrid: {{n: {{start: 2, stop: {stop}, num: 3}}}}\n")
    assert_one_line_error(invoke("sweep", "linear", config, "--dry-run"), "grid.n", problem)


def test_stale_temporary_files_of_a_killed_run_are_removed(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    for stale in (out / ".trials.csv.tmp-4242", out / "parts" / ".abc-000000-000049.csv.tmp-4242"):
        ledger.record(stale)  # as atomic_write does, before the file
        stale.write_bytes(b"half a write")
    assert sweep(config, out).exit_code == 0
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_a_killed_runs_entry_is_marked_killed(finished, tmp_path):
    config, out = copy_of(finished, tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["runs"].append({"argv": ["memgen"], "start": "2026-01-01T00:00:00+00:00"})  # no end, no status
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert sweep(config, out).exit_code == 0
    assert runs(out)[-2]["status"].startswith("killed") and runs(out)[-1]["status"] == "finished"


def test_an_unknown_model_is_named_as_such(tmp_path):
    config = tmp_path / "foo.yaml"
    config.write_text("model: foo\n")
    line = assert_one_line_error(invoke("sweep", "linear", config), "unknown model 'foo'")
    assert "memgen sweep foo" not in line


def test_transitions_name_the_grid_sizes_as_they_are(finished, tmp_path):
    _, out = copy_of(finished, tmp_path)
    assert invoke("analyze", out, "--bootstrap", "100").exit_code == 0
    row = pd.read_csv(out / "transitions.csv").iloc[0]
    assert row["n_min"] == 3 and row["n_max"] == 20  # not exp(log 20) = 19.999999999999996


@pytest.mark.slow  # starts processes
def test_the_package_imports_without_fcntl(tmp_path):
    blocked = ("import sys\nclass NoFcntl:\n    def find_spec(self, name, path=None, target=None):\n"
               "        if name == 'fcntl':\n"
               "            raise ModuleNotFoundError('No module named fcntl', name=name)\n"
               "sys.meta_path.insert(0, NoFcntl())\nsys.modules.pop('fcntl', None)\n"
               "import memgen_cli.results_format, memgen_cli.runner.results_folder, memgen_cli.report.reader\n"
               "import memgen_cli.cli\nprint('ok')\n")
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


@pytest.mark.slow
def test_ctrl_c_with_two_workers_is_one_line(tmp_path):
    config = tmp_path / "slow.yaml"
    config.write_text("model: linear\ntrials: 400\ngrid: {n: [30, 60, 90, 120], d: [64], N: [20000]}\n")
    proc = subprocess.Popen([sys.executable, "-m", "memgen_cli", "sweep", "linear", str(config), "--out",
                             str(tmp_path / "out"), "-q", "--workers", "2"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((tmp_path / "out" / "parts").glob("*.csv")):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert [line for line in stderr.splitlines() if line.strip()] == [
        line for line in stderr.splitlines() if line.startswith("memgen: interrupted")]
