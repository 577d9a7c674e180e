"""A linear sweep through a real `dask scheduler` and two `dask worker` processes on 127.0.0.1.

Its CSVs must be byte-identical to a serial run's, also when a worker is killed mid-sweep.
Every process a test starts is ended by its process id in teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import distributed  # noqa: F401  (make test installs the dask extra: a missing one must fail, not skip)

from dask_processes import DaskProcesses
from distributed import Client

from memgen_cli.runner.sweep import load_sweep_config, run_sweep

ROOT = Path(__file__).resolve().parents[1]

# 2 cells x 300 trials over 10 original sets = 20 tasks of 30 trials, each a fraction of a second.
SWEEP = "model: linear\nseed: 5\ntrials: 300\ngrid: {n: [4, 30], d: [24], N: [2000]}\n"


def csv_bytes(folder):
    return (folder / "trials.csv").read_bytes(), (folder / "summary.csv").read_bytes()


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serial")
    (tmp / "sweep.yaml").write_text(SWEEP)
    config = load_sweep_config(tmp / "sweep.yaml")
    run_sweep(config, tmp / "out", executor="serial")
    return config, tmp / "out"


@pytest.fixture
def cluster(tmp_path):
    procs = DaskProcesses(tmp_path / "cluster")
    yield procs
    procs.stop()


@pytest.mark.slow
def test_sweep_through_a_dask_cluster_writes_the_serial_csvs(serial_run, cluster, tmp_path):
    config, serial_out = serial_run
    result = run_sweep(config, tmp_path / "out", executor="dask",
                       executor_options={"scheduler_file": cluster.scheduler_file})
    assert not result.failed and result.tasks_run == 20
    assert csv_bytes(tmp_path / "out") == csv_bytes(serial_out)


@pytest.mark.slow
def test_sweep_survives_a_worker_killed_mid_sweep(serial_run, cluster, tmp_path):
    config, serial_out = serial_run
    killed = {}
    with Client(scheduler_file=str(cluster.scheduler_file)) as watcher:

        def kill_a_busy_worker(done, total):
            if killed or done == 0:
                return
            busy = [addr for addr, keys in watcher.processing().items() if keys]
            assert busy and done < total, "the kill should land mid-sweep, on a worker running a cell"
            killed["pid"] = cluster.worker_pids(watcher)[busy[0]]
            os.kill(killed["pid"], signal.SIGKILL)

        result = run_sweep(config, tmp_path / "out", executor="dask", progress=kill_a_busy_worker,
                           executor_options={"scheduler_file": cluster.scheduler_file})
        assert len(watcher.scheduler_info()["workers"]) == 1  # the kill happened, the survivor did the rest
    assert killed and not result.failed
    trials = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert len(trials) == 600 and not trials.duplicated(["cell", "trial"]).any()  # nothing lost or doubled
    assert csv_bytes(tmp_path / "out") == csv_bytes(serial_out)


@pytest.mark.parametrize("scheduler,message", [
    (["--scheduler-file", "garbage.json"], "--scheduler-file: garbage.json: not a Dask scheduler file (not JSON;"),
    (["--scheduler-file", "empty.json"], "--scheduler-file: empty.json: not a Dask scheduler file (names no "
                                         "scheduler address;"),
    (["--scheduler-file", "closed.json"], "--scheduler-file: cannot connect to the scheduler in closed.json "
                                          "(tcp://127.0.0.1:1): "),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler: cannot connect to tcp://127.0.0.1:1: "),
])
@pytest.mark.slow  # starts processes
def test_a_cluster_out_of_reach_is_one_line_and_creates_nothing(tmp_path, scheduler, message):
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    (tmp_path / "garbage.json").write_text("garbage")
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "closed.json").write_text('{"address": "tcp://127.0.0.1:1"}')  # port 1: nobody listens
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    result = subprocess.run([sys.executable, "-m", "memgen_cli", "sweep", "linear", "sweep.yaml", "--quiet",
                             "--executor", "dask", *scheduler, "--out", "out"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    line, = result.stderr.splitlines()
    assert line.startswith(f"memgen: error: {message}"), line
    assert not (tmp_path / "out").exists()
