"""Results-folder integrity: damaged parts are named and recomputed, a full disk is one line and a clean
resume, and --force keeps the old results until the new run has a part of its own."""

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from cli_helpers import invoke, sweep
from memgen_cli import ledger, results_format
from memgen_cli.runner import replacement
from memgen_cli.config import config_to_dict
from memgen_cli.runner.plan import execute_task, plan_tasks
from memgen_cli.runner.registry import get_experiment
from memgen_cli.runner.results_folder import ResultsFolder
from memgen_cli.runner.sweep import load_sweep_config, part_schema

ROOT = Path(__file__).resolve().parents[1]
# Two cells of 60 trials: parts of 50 and 10 rows. redraw keeps one block of trials per cell.
CONFIG = """model: linear
seed: 3
trials: 60
grid: {n: [3, 20], d: [4], lambda: [0.0183], T: [2.0], N: [200]}
options: {original: redraw}
"""


def table_bytes(folder: Path) -> tuple[bytes, bytes]:
    return (folder / "trials.csv").read_bytes(), (folder / "summary.csv").read_bytes()


def last_run(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["runs"][-1]


def lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, Path]:
    """(config, results folder) of an undamaged run, shared by the tests that compare with it."""
    base = tmp_path_factory.mktemp("clean")
    config = base / "integrity.yaml"
    config.write_text(CONFIG)
    result = sweep(config, base / "results")
    assert result.exit_code == 0, result.output
    return config, base / "results"


def first_part(folder: Path) -> Path:
    return sorted((folder / "parts").glob("*.csv"))[0]  # a part of 50 rows


# -- 1. damaged parts ---------------------------------------------------------------------------------
def cut_mid_line(data: bytes) -> bytes:
    return data[:data.rindex(b"\n", 0, len(data) - 1) + 40]


def drop_last_line(data: bytes) -> bytes:
    return data[:data.rindex(b"\n", 0, len(data) - 1) + 1]


def duplicate_row(data: bytes) -> bytes:
    rows = data.splitlines(keepends=True)
    return b"".join(rows[:5] + [rows[4]] + rows[5:])


def change_field(data: bytes, new_value) -> bytes:
    rows = data.splitlines(keepends=True)
    header = rows[0].decode().rstrip("\n").split(",")
    fields = rows[7].decode().rstrip("\n").split(",")
    column = header.index("H2")
    fields[column] = new_value(fields[column])
    rows[7] = (",".join(fields) + "\n").encode()
    return b"".join(rows)


DAMAGE = {
    "cut mid-line": cut_mid_line,
    "dropped last line": drop_last_line,
    "duplicated row": duplicate_row,
    "changed value": lambda data: change_field(data, lambda v: v[:-1] + ("1" if v[-1] != "1" else "2")),
    "NaN injected": lambda data: change_field(data, lambda v: "nan"),
    "zero bytes": lambda data: b"",
    "random bytes": lambda data: bytes(random.Random(0).randrange(256) for _ in range(len(data))),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_part_is_named_and_recomputed(clean, tmp_path, damage):
    config, reference = clean
    out = tmp_path / "damaged"
    shutil.copytree(reference, out)
    part = first_part(out)
    part.write_bytes(DAMAGE[damage](part.read_bytes()))
    for name in ("trials.csv", "summary.csv"):
        (out / name).unlink()
    result = sweep(config, out)
    assert result.exit_code == 0, result.output
    warnings = [line for line in lines(result) if line.startswith("memgen: warning:")]
    assert len(warnings) == 1 and part.name in warnings[0] and "damaged" in warnings[0], result.output
    assert last_run(out)["tasks_to_run"] == 1  # only the damaged part's task ran again
    assert part.read_bytes() == first_part(reference).read_bytes()
    assert table_bytes(out) == table_bytes(reference)


def test_trials_keep_integer_columns_integer(clean):
    trials = (clean[1] / "trials.csv").read_text().splitlines()
    header, row = trials[0].split(","), trials[1].split(",")
    for column in ("cell", "n", "d", "N", "trial", "seed"):
        assert row[header.index(column)].isdigit(), (column, row[header.index(column)])
    assert int(row[header.index("seed")]) > 2 ** 53  # the 63-bit seed, every digit kept


def test_a_part_without_checksum_is_kept_when_its_rows_check_out(clean, tmp_path):
    config, reference = clean
    out = tmp_path / "legacy"
    shutil.copytree(reference, out)
    checksums = sorted((out / "parts").glob("*.checksum.json"))
    for checksum in checksums:
        checksum.unlink()
    result = sweep(config, out)
    assert result.exit_code == 0, result.output
    assert "checksums added" in result.output and "damaged" not in result.output
    assert last_run(out)["tasks_to_run"] == 0  # nothing recomputed (a U-Net simulation is expensive)
    for checksum in checksums:
        assert checksum.read_bytes() == (reference / "parts" / checksum.name).read_bytes()
    assert table_bytes(out) == table_bytes(reference)


@pytest.mark.parametrize("damage", ["dropped last line", "duplicated row"])
def test_a_part_without_checksum_and_the_wrong_rows_is_recomputed(clean, tmp_path, damage):
    config, reference = clean
    out = tmp_path / "legacy"
    shutil.copytree(reference, out)
    for checksum in (out / "parts").glob("*.checksum.json"):
        checksum.unlink()
    part = first_part(out)
    part.write_bytes(DAMAGE[damage](part.read_bytes()))
    result = sweep(config, out)
    assert result.exit_code == 0, result.output
    named = [line for line in lines(result) if part.name in line]
    assert len(named) == 1 and "has no checksum" in named[0] and "rows" in named[0], result.output
    assert last_run(out)["tasks_to_run"] == 1
    assert table_bytes(out) == table_bytes(reference)


# -- 2. a full disk -----------------------------------------------------------------------------------
FULL_DISK_TARGETS = {
    "config.yaml": lambda tmp: tmp.name.startswith(".config.yaml"),
    "manifest.json": lambda tmp: tmp.name.startswith(".manifest.json"),
    "part": lambda tmp: tmp.parent.name == "parts" and ".csv.tmp-" in tmp.name,
    "checksum": lambda tmp: ".checksum.json.tmp-" in tmp.name,
    "trials.csv": lambda tmp: tmp.name.startswith(".trials.csv"),
    "summary.csv": lambda tmp: tmp.name.startswith(".summary.csv"),
}


def fill_the_disk_at(monkeypatch, target) -> None:
    """From the first write that matches ``target`` on, every write finds the disk full, half-way through."""
    real_write = results_format._write_file
    full = []

    def write(tmp: Path, data: bytes) -> None:
        if full or target(tmp):
            full.append(tmp)
            real_write(tmp, data[:len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(tmp, data)

    monkeypatch.setattr(results_format, "_write_file", write)


@pytest.mark.parametrize("target", list(FULL_DISK_TARGETS))
def test_a_full_disk_is_one_line_and_a_rerun_finishes(clean, tmp_path, monkeypatch, target):
    config, reference = clean
    out = tmp_path / "full"
    with monkeypatch.context() as patch:
        fill_the_disk_at(patch, FULL_DISK_TARGETS[target])
        result = sweep(config, out)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(lines(result)) == 1, result.output
    line = lines(result)[0]
    assert line.startswith("memgen: error:") and "No space left on device" in line and "needed" in line
    named = {"part": ".csv", "checksum": ".checksum.json"}.get(target, target)
    assert named in line.split(": cannot write")[0], line
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    if (out / "manifest.json").exists():  # a run whose tables were not written is not recorded as finished
        runs = json.loads((out / "manifest.json").read_text())["runs"]
        assert not runs or runs[-1].get("status") != "finished"
    rerun = sweep(config, out)
    assert rerun.exit_code == 0, rerun.output
    assert table_bytes(out) == table_bytes(reference)
    assert json.loads((out / "manifest.json").read_text())["runs"][-1]["status"] == "finished"


# -- 3. --force replaces only once the new run has a part ---------------------------------------------
def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in ("manifest.json", ".lock", ".memgen-ledger")}


def old_results_with_figures(clean, tmp_path) -> tuple[Path, Path, dict]:
    config, reference = clean
    out = tmp_path / "old"
    shutil.copytree(reference, out)
    for command in (["analyze", str(out), "--bootstrap", "100"], ["plot", str(out), "--bootstrap", "100"]):
        done = invoke(*command)
        assert done.exit_code == 0, done.output
    assert (out / "transitions.csv").exists() and any((out / "figures").iterdir())
    return config, out, snapshot(out)


@pytest.mark.slow  # starts processes
def test_force_killed_before_its_first_part_leaves_the_old_results(clean, tmp_path):
    config, out, before = old_results_with_figures(clean, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    heavy = ["--set", "grid.d=[64]", "--set", "grid.N=[20000]", "--set", "trials=50"]
    proc = subprocess.Popen([sys.executable, "-m", "memgen_cli", "sweep", "linear", str(config), "--out", str(out),
                             "-q", "--workers", "1", "--force", *heavy], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(out.glob(".replaced-*")) and proc.poll() is None:
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker, once the --force run has begun
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(out) == before  # config, parts, tables, figures and transitions as they were
    for command in (["analyze", str(out), "--bootstrap", "100", "--out", str(tmp_path / "a")],
                    ["plot", str(out), "--bootstrap", "100", "--out", str(tmp_path / "p")]):
        done = invoke(*command)
        assert done.exit_code == 0, done.output
    resumed = sweep(config, out)
    assert resumed.exit_code == 0, resumed.output
    assert last_run(out)["tasks_to_run"] == 0 and not list(out.glob(".re*"))
    assert snapshot(out) == before


def test_a_finished_force_run_leaves_nothing_of_the_old_results(clean, tmp_path):
    config, out, _ = old_results_with_figures(clean, tmp_path)
    forced = sweep(config, out, "--set", "trials=55", "--force")
    assert forced.exit_code == 0, forced.output
    assert not (out / "figures").exists() and not (out / "transitions.csv").exists()
    assert not [p for p in out.iterdir() if p.name.startswith((".replac", ".discard"))]
    assert {p.name.split("-")[-1] for p in (out / "parts").glob("*.csv")} == {"000049.csv", "000054.csv"}


def open_force_run(config: Path, out: Path) -> tuple[ResultsFolder, list]:
    new = load_sweep_config(config, ["trials=55"])
    folder = ResultsFolder(out)
    folder.open(config_to_dict(new), force=True)
    return folder, plan_tasks(get_experiment("linear"), new)


def test_force_killed_after_a_failure_but_before_its_first_part_is_undone(clean, tmp_path):
    config, out, before = old_results_with_figures(clean, tmp_path)
    folder, tasks = open_force_run(config, out)
    assert folder.write_log(tasks[0].key, "Traceback: boom\n") is None  # a failure is no result: nothing written
    assert snapshot(out) == before  # the old results stay in place until the new run has a part
    folder._lock.release()  # killed here: no close()
    resumed = sweep(config, out)
    assert resumed.exit_code == 0, resumed.output
    assert "results it was replacing are back" in resumed.output
    assert last_run(out)["tasks_to_run"] == 0 and snapshot(out) == before
    assert not (out / "logs").exists() and not list(out.glob(".re*"))


def test_force_killed_after_its_first_part_keeps_the_new_results(clean, tmp_path, monkeypatch):
    config, out, _ = old_results_with_figures(clean, tmp_path)
    monkeypatch.setattr(replacement, "discard", lambda aside: None)  # killed before the old results went
    folder, tasks = open_force_run(config, out)
    new = load_sweep_config(config, ["trials=55"])
    rows = execute_task(("linear", config_to_dict(new), tasks[0]))
    folder.write_part(tasks[0], pd.DataFrame(rows), part_schema(get_experiment("linear"), new).identity(tasks[0]))
    folder._lock.release()  # killed here
    monkeypatch.undo()
    resumed = sweep(config, out, "--set", "trials=55")  # the new config is in place: no --force needed
    assert resumed.exit_code == 0, resumed.output
    assert last_run(out)["tasks_already_done"] == 1
    assert not list(out.glob(".re*")) and not list(out.glob(".discard*"))
    assert not (out / "figures").exists() and not (out / "transitions.csv").exists()


def test_force_stopped_by_a_full_disk_at_its_first_part_puts_the_old_results_back(clean, tmp_path, monkeypatch):
    config, out, before = old_results_with_figures(clean, tmp_path)
    with monkeypatch.context() as patch:
        fill_the_disk_at(patch, FULL_DISK_TARGETS["part"])
        forced = sweep(config, out, "--set", "trials=55", "--force")
    assert forced.exit_code == 1 and len(lines(forced)) == 1, forced.output
    assert snapshot(out) == before and not list(out.glob(".re*"))
    resumed = sweep(config, out)
    assert resumed.exit_code == 0 and last_run(out)["tasks_to_run"] == 0, resumed.output


@pytest.mark.parametrize("moved", [("parts",), ("config.yaml", "parts", "trials.csv")])
def test_force_killed_while_setting_the_old_results_aside_is_undone(clean, tmp_path, moved):
    config, out, before = old_results_with_figures(clean, tmp_path)
    folder, _ = open_force_run(config, out)
    (aside,) = out.glob(".replaced-*")
    for name in moved:  # killed half-way through set_aside_rest, before its marker
        ledger.move_owned(out / name, aside / name)
    ledger.make_dirs(out / "parts")
    folder._lock.release()
    resumed = sweep(config, out)
    assert resumed.exit_code == 0 and "back in place" in resumed.output, resumed.output
    assert last_run(out)["tasks_to_run"] == 0 and snapshot(out) == before and not list(out.glob(".re*"))


def test_finished_unet_simulations_without_checksums_are_not_trained_again(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    config = tmp_path / "tiny.yaml"
    config.write_text("model: unet\nseed: 5\nsimulations: 2\ndevice: cpu\n"
                      "grid: {n: [4, 12], side: [8], N: [300], train_steps: [3]}\n"
                      "training: {lr: 1.0e-3, batch_size: 8}\nsampling: {generated: 4}\n"
                      "evaluation: {eval_original: 40}\n")
    out = tmp_path / "unet"
    command = ["sweep", "unet", str(config), "--out", str(out), "-q", "--executor", "serial"]
    assert invoke(*command).exit_code == 0
    before = table_bytes(out)
    checksums = {p: p.read_bytes() for p in (out / "parts").glob("*.checksum.json")}
    assert len(checksums) == 4
    for path in checksums:
        path.unlink()
    again = invoke(*command)
    assert again.exit_code == 0 and "checksums added" in again.output, again.output
    assert last_run(out)["tasks_to_run"] == 0
    assert {p: p.read_bytes() for p in checksums} == checksums and table_bytes(out) == before
