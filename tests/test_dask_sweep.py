"""A linear sweep through a real `dask scheduler` and two `dask worker` processes on 127.0.0.1.

Its CSVs must be byte-identical to a serial run's, also when a worker is killed mid-sweep.
Every process a test starts is ended by its process id in teardown.
"""

from __future__ import annotations

import os
import signal

import pandas as pd
import pytest

import distributed  # noqa: F401  (make test installs the dask extra: a missing one must fail, not skip)

from dask_processes import DaskProcesses
from distributed import Client

from memgen_cli.runner.sweep import load_sweep_config, run_sweep

# 2 cells x 300 trials = 12 tasks of 50 trials, each a fraction of a second.
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
    assert not result.failed and result.tasks_run == 12
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
