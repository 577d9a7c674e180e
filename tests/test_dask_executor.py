"""DaskExecutor against a real `dask scheduler` and `dask worker` processes on 127.0.0.1.

Every process a test starts is ended by its process id in teardown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

import distributed  # noqa: F401  (make test installs the dask extra: a missing one must fail, not skip)

import dask_tasks  # tests/ is on sys.path here; the workers get it through PYTHONPATH
from dask_processes import ROOT, DaskProcesses
from distributed import Client

from memgen_cli.errors import MemgenError
from memgen_cli.runner.executors import EXECUTORS, SerialExecutor, make_executor
from memgen_cli.runner.worker import TaskFailure

pytestmark = pytest.mark.slow  # every test here starts processes (a Dask cluster, workers)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # MEMGEN_THREADS: what whoever starts the workers says each task may use (see DaskExecutor).
    procs = DaskProcesses(tmp_path_factory.mktemp("dask"), worker_env={"MEMGEN_THREADS": "2"})
    yield procs
    procs.stop()


@pytest.fixture
def fresh_cluster(tmp_path):
    """For tests that kill a worker: a cluster of their own."""
    procs = DaskProcesses(tmp_path)
    yield procs
    procs.stop()


TASKS = [{"seed": s, "n": 30} for s in range(10)]


@contextlib.contextmanager
def connected(cluster, **options):
    """A Dask executor on the test cluster, closed however the test ends."""
    ex = make_executor("dask", scheduler_file=str(cluster.scheduler_file), **options)
    try:
        yield ex
    finally:
        ex.close()


def serial(fn, tasks):
    return dict(SerialExecutor().run(fn, tasks))


def test_results_match_a_serial_run(cluster):
    with connected(cluster) as ex:
        got = list(ex.run(dask_tasks.cell, TASKS))
    assert sorted(i for i, _ in got) == list(range(len(TASKS)))  # each task exactly once
    assert dict(got) == serial(dask_tasks.cell, TASKS)  # bit-identical floats


def test_scheduler_address_and_two_runs_on_one_executor(cluster):
    with Client(scheduler_file=str(cluster.scheduler_file)) as c:
        address = c.scheduler.address
    ex = make_executor("dask", scheduler=address)
    try:
        assert ex.workers == 2
        first = dict(ex.run(dask_tasks.cell, TASKS[:3]))
        again = dict(ex.run(dask_tasks.cell, TASKS[:3]))  # e.g. --retry-failed in the same process
    finally:
        ex.close()
    assert first == again == serial(dask_tasks.cell, TASKS[:3])


def test_a_raising_task_is_a_failure_and_the_others_complete(cluster):
    with connected(cluster) as ex:
        got = dict(ex.run(dask_tasks.sometimes_fails, TASKS))
    assert got[3] == TaskFailure("ValueError: bad cell seed=3")  # not retried away, not hidden
    assert "in sometimes_fails" in got[3].traceback  # the whole traceback travels back from the worker
    assert got[3].traceback.rstrip().endswith("ValueError: bad cell seed=3")
    expected = serial(dask_tasks.cell, TASKS)
    assert {i: r for i, r in got.items() if i != 3} == {i: r for i, r in expected.items() if i != 3}


def test_each_task_caps_worker_threads(cluster):
    with connected(cluster) as ex:
        default = dict(ex.run(dask_tasks.threads_seen, [{}] * 4))
        ex.threads = 1  # as --threads 1 would
        explicit = dict(ex.run(dask_tasks.threads_seen, [{}] * 4))
    # Not Dask's or the environment's default: the limit is memgen's own, set by each task.
    assert all(r == {"memgen": "2", "env": "2", "blas": [2]} for r in default.values()), default
    assert all(r == {"memgen": "1", "env": "1", "blas": [1]} for r in explicit.values()), explicit


def test_an_interrupted_run_cancels_its_queued_tasks(cluster):
    with connected(cluster) as ex:
        run = ex.run(dask_tasks.slow_cell, [{"seed": s, "n": 5, "sleep": 0.2} for s in range(20)])
        next(run)
        run.close()  # what Ctrl-C in the driver does to the loop over results
        deadline = time.monotonic() + 10
        while ex.client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
            assert time.monotonic() < deadline, "the cluster kept the interrupted run's tasks"
            time.sleep(0.05)


def test_killed_worker_mid_cell_is_retried_elsewhere(fresh_cluster):
    tasks = [{"seed": s, "n": 30, "sleep": 0.4} for s in range(10)]
    ex = make_executor("dask", scheduler_file=str(fresh_cluster.scheduler_file))
    got = []
    killed = None
    try:
        for i, result in ex.run(dask_tasks.slow_cell, tasks):
            got.append((i, result))
            if killed is None:
                # Kill a worker that is running a cell right now.
                busy = {a: keys for a, keys in ex.client.processing().items() if keys}
                assert busy, "no worker busy: the kill would not be mid-cell"
                addr = next(iter(busy))
                killed = fresh_cluster.worker_pids(ex.client)[addr]
                os.kill(killed, signal.SIGKILL)
    finally:
        ex.close()
    assert sorted(i for i, _ in got) == list(range(len(tasks)))  # nothing lost, nothing duplicated
    assert not any(isinstance(r, TaskFailure) for _, r in got)
    strip = {i: {k: v for k, v in r.items() if k != "pid"} for i, r in got}
    assert strip == serial(dask_tasks.cell, tasks)
    # Results fetched after the kill all come from the survivor: the killed worker's cells were rerun.
    assert all(r["pid"] != killed for _, r in got[1:])


def test_a_cell_that_keeps_killing_workers_is_a_reported_failure(tmp_path):
    # allowed-failures=0: the first worker death running a cell gives that cell up (KilledWorker).
    procs = DaskProcesses(tmp_path, scheduler_env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    tasks = [{"seed": s, "n": 30, "sleep": 0.4} for s in range(6)]
    try:
        ex = make_executor("dask", scheduler_file=str(procs.scheduler_file))
        got = []
        try:
            for i, result in ex.run(dask_tasks.slow_cell, tasks):
                if not got:
                    busy = [a for a, keys in ex.client.processing().items() if keys]
                    os.kill(procs.worker_pids(ex.client)[busy[0]], signal.SIGKILL)
                got.append((i, result))
        finally:
            ex.close()
    finally:
        procs.stop()
    assert sorted(i for i, _ in got) == list(range(len(tasks)))  # every task answered once, no hang
    failures = [r for _, r in got if isinstance(r, TaskFailure)]
    assert failures and all(f.error.startswith("KilledWorker: ") and "\n" not in f.error for f in failures)


@pytest.mark.parametrize("where", ["scheduler", "worker"])
def test_task_code_missing_on_the_cluster_is_a_memgen_error(tmp_path, where):
    # Without this check a worker that cannot unpickle a task dies (and its nanny restarts it, forever).
    memgen_only = {"PYTHONPATH": str(ROOT)}  # memgen_cli importable, the tests' dask_tasks not
    procs = DaskProcesses(tmp_path, workers=1, worker_env=memgen_only,
                          scheduler_env=memgen_only if where == "scheduler" else None)
    try:
        ex = make_executor("dask", scheduler_file=str(procs.scheduler_file))
        try:
            with pytest.raises(MemgenError, match=rf"{where}.* cannot import .*dask_tasks.*install memgen"):
                list(ex.run(dask_tasks.cell, TASKS))
        finally:
            ex.close()
    finally:
        procs.stop()


def test_missing_scheduler_file_is_a_memgen_error(tmp_path):
    with pytest.raises(MemgenError, match="--scheduler-file: .*no such file"):
        make_executor("dask", scheduler_file=str(tmp_path / "nope.json"))


def test_both_addresses_is_a_memgen_error(tmp_path):
    with pytest.raises(MemgenError, match="not both"):
        make_executor("dask", scheduler="tcp://127.0.0.1:1", scheduler_file=str(tmp_path / "s.json"))


def test_unreachable_scheduler_is_a_memgen_error():
    import dask

    with (dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
          pytest.raises(MemgenError, match="--scheduler: cannot connect to tcp://127.0.0.1:9")):
        make_executor("dask", scheduler="tcp://127.0.0.1:9")


def test_dask_is_not_imported_with_memgen_cli():
    code = "import sys, memgen_cli.runner.executors; print('distributed' in sys.modules or 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_extra_is_a_one_line_memgen_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    with pytest.raises(MemgenError, match=r"--executor dask: needs the dask extra"):
        EXECUTORS["dask"](workers=1)


def test_no_address_starts_a_local_cluster():
    ex = make_executor("dask", workers=2)
    try:
        assert ex.client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert [w["nthreads"] for w in ex.client.scheduler_info()["workers"].values()] == [1, 1]
        got = dict(ex.run(dask_tasks.cell, TASKS))
    finally:
        ex.close()
    assert got == serial(dask_tasks.cell, TASKS)


def test_local_workers_send_back_the_whole_traceback():
    ex = make_executor("local", workers=1)
    try:
        got = dict(ex.run(dask_tasks.sometimes_fails, TASKS[:5]))
    finally:
        ex.close()
    assert got[3] == TaskFailure("ValueError: bad cell seed=3")
    assert "in sometimes_fails" in got[3].traceback and "Traceback (most recent call last)" in got[3].traceback


def test_a_task_can_map_its_own_work_over_the_workers(cluster):
    """evaluate's training-set shards go through this: a task on a worker maps over the cluster (seceding while it
    waits), and outside a Dask worker there is no such map."""
    from memgen_cli.experiment import worker_map

    with connected(cluster) as ex:
        found = dict(ex.run(dask_tasks.uses_the_worker_map, [{"n": 5}] * 2))
    assert all(r == {"workers": r["workers"], "squares": [0, 1, 4, 9, 16]} and r["workers"] >= 2
               for r in found.values()), found
    assert worker_map() is None
