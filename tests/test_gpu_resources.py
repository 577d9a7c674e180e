"""U-Net tasks on CUDA ask a Dask cluster for a GPU (resources={"GPU": 1}); workers started with
``--resources GPU=1`` are the only ones that take them. Runs on CPU: the resource is a label the scheduler
matches, whatever the worker has."""

from __future__ import annotations

import distributed  # noqa: F401  (make test installs the dask extra)
import pytest

import dask_tasks
from dask_processes import DaskProcesses
from distributed import Client

from memgen_cli.linear.experiment import LinearExperiment
from memgen_cli.runner import sweep as sweep_mod
from memgen_cli.runner.executors import SerialExecutor, make_executor
from memgen_cli.runner.sweep import load_sweep_config, run_sweep
from memgen_cli.unet.params import UnetConfig



def test_unet_tasks_ask_for_a_gpu_only_on_cuda():
    from memgen_cli.unet.experiment import UnetExperiment

    experiment = UnetExperiment()
    assert experiment.task_resources(UnetConfig(device="cuda")) == {"GPU": 1}
    assert experiment.task_resources(UnetConfig(device="cpu")) is None
    assert experiment.task_resources(UnetConfig(device="auto")) is None


@pytest.mark.slow  # starts a Dask cluster
def test_tasks_with_a_gpu_resource_run_only_on_gpu_workers(tmp_path):
    procs = DaskProcesses(tmp_path, workers=2, worker_args=[["--resources", "GPU=1"], []])
    try:
        with Client(scheduler_file=str(procs.scheduler_file)) as client:
            pids = procs.worker_pids(client)
            gpu_pid = next(pid for address, pid in pids.items()
                           if client.scheduler_info()["workers"][address]["resources"].get("GPU") == 1)
        ex = make_executor("dask", scheduler_file=procs.scheduler_file)
        try:
            tasks = [{"seed": s, "n": 3} for s in range(6)]
            got = dict(ex.run(dask_tasks.resources_held, tasks, resources={"GPU": 1}))
            plain = dict(ex.run(dask_tasks.resources_held, tasks))
        finally:
            ex.close()
    finally:
        procs.stop()
    assert all(r["resources"] == {"GPU": 1} and r["pid"] == gpu_pid for r in got.values())
    assert all(not r["resources"] for r in plain.values())


def test_the_sweep_passes_the_experiments_resources_to_its_executor(small_config, monkeypatch):
    seen = []

    class Recording(SerialExecutor):
        def run(self, fn, tasks, resources=None):
            seen.append(resources)
            return super().run(fn, tasks)

    monkeypatch.setattr(sweep_mod, "make_executor", lambda *a, **k: Recording())
    monkeypatch.setattr(LinearExperiment, "task_resources", lambda self, config: {"GPU": 1}, raising=False)
    run_sweep(load_sweep_config(small_config, ["trials=2"]), executor="serial")
    assert seen == [{"GPU": 1}]
