"""Dask workers from a SLURM batch system, through dask-jobqueue (part of the ``dask`` extra).

    memgen cluster slurm --cores 8 --memory 16GB --walltime 02:00:00 \\
        --queue cpu --account myproject --threads 2 --jobs 4 --scheduler-file memgen-scheduler.json

starts a Dask scheduler in this process (run it on the login node, e.g. inside tmux), submits 4
SLURM jobs of 8 cores, each running 8 // 2 = 4 single-threaded Dask workers whose memgen tasks use
2 BLAS/torch threads each, writes the scheduler file, and waits; Ctrl-C cancels the jobs. Then, from
anywhere that can reach the scheduler:

    memgen sweep linear config.yaml --executor dask --scheduler-file memgen-scheduler.json

Like dask_executor, this module is imported only when used (the command is in memgen_cli/cli/cluster.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from dask_jobqueue import SLURMCluster

from memgen_cli.errors import MemgenError


def slurm_cluster(*, cores: int, memory: str, walltime: str = "01:00:00", queue: str | None = None,
                  account: str | None = None, threads: int = 1, job_extra_directives: Sequence[str] = (),
                  gpu: bool = False, **options: Any) -> SLURMCluster:
    """A SLURMCluster whose jobs each book ``cores`` CPUs and ``memory``, split into ``cores // threads``
    single-threaded Dask workers; memgen tasks on them use ``threads`` BLAS/torch threads (MEMGEN_THREADS).

    gpu: each job books one GPU (``--gres=gpu:1``; SLURM sets CUDA_VISIBLE_DEVICES to it) and runs one
    worker that offers it as the resource GPU=1, which U-Net tasks on ``device: cuda`` ask for. One worker
    per GPU: several worker processes of one job would all use its first GPU. More GPUs: more jobs.

    ``options`` go to SLURMCluster as they are (``scheduler_options``, ``interface``, ``log_directory``,
    ``job_script_prologue``, ``python``...). No job is submitted until ``cluster.scale(jobs=N)``.
    """
    if cores < 1:
        raise MemgenError(f"--cores: must be >= 1 (got {cores})")
    if not 1 <= threads <= cores:
        raise MemgenError(f"--threads: must be between 1 and --cores={cores} (got {threads})")
    workers = 1 if gpu else cores // threads
    if gpu:
        job_extra_directives = [*job_extra_directives, "--gres=gpu:1"]
        options["worker_extra_args"] = [*options.get("worker_extra_args", []), "--resources", "GPU=1"]
    # Parallelism comes from worker processes (one Dask thread each); BLAS inside a task gets `threads`.
    # DaskExecutor reads MEMGEN_THREADS on the worker when the driver does not set threads itself.
    prologue = [f"export MEMGEN_THREADS={threads}", *options.pop("job_script_prologue", [])]
    return SLURMCluster(cores=workers, processes=workers, job_cpu=cores, memory=memory, walltime=walltime,
                        queue=queue, account=account, job_extra_directives=list(job_extra_directives),
                        job_script_prologue=prologue, **options)


def _wait_for_ctrl_c() -> None:
    try:
        while True:
            time.sleep(60)
    except KeyboardInterrupt:
        pass


def serve(cluster: SLURMCluster, jobs: int, scheduler_file: str | os.PathLike,
          until: Callable[[], None] = _wait_for_ctrl_c) -> None:
    """Write the scheduler file for `memgen sweep --scheduler-file`, submit ``jobs`` jobs, wait ``until()``
    returns (Ctrl-C), then cancel the jobs and remove the file."""
    from distributed import Client

    try:
        with Client(cluster) as client:
            client.write_scheduler_file(os.fspath(scheduler_file))
            cluster.scale(jobs=jobs)
            print(f"scheduler {cluster.scheduler_address}, file {scheduler_file}; {jobs} job(s) submitted. "
                  "Ctrl-C stops the scheduler and cancels the jobs.", flush=True)
            until()
    finally:
        cluster.close()  # scancels the jobs
        if os.path.exists(scheduler_file):
            os.remove(scheduler_file)
