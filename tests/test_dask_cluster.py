"""The SLURM job script memgen's dask-jobqueue helper generates (no SLURM needed: nothing is submitted)."""

import os
import time

import pytest

import dask_jobqueue  # noqa: F401  (make test installs the dask extra: a missing one must fail, not skip)

from distributed import Client

from typer.testing import CliRunner

from memgen_cli.cli import app
from memgen_cli.runner.slurm import serve, slurm_cluster
from memgen_cli.errors import MemgenError

pytestmark = pytest.mark.slow  # every test here starts processes (a scheduler, fake SLURM jobs)

LOCAL_SCHEDULER = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}


def job_script_lines(**options) -> list[str]:
    """The job script's lines of a SLURMCluster built by slurm_cluster (nothing is submitted)."""
    cluster = slurm_cluster(scheduler_options=LOCAL_SCHEDULER, **options)
    try:
        return cluster.job_script().splitlines()
    finally:
        cluster.close()


def test_slurm_job_script_books_the_job_and_splits_it_into_single_threaded_workers():
    lines = job_script_lines(cores=8, memory="16GB", walltime="02:00:00", queue="cpu", account="memgen-proj",
                             threads=2, job_extra_directives=["--constraint=skylake", "--qos=long"])
    script = "\n".join(lines)
    for directive in ["#SBATCH -p cpu", "#SBATCH -A memgen-proj", "#SBATCH -n 1", "#SBATCH --cpus-per-task=8",
                      "#SBATCH --mem=15G", "#SBATCH -t 02:00:00", "#SBATCH --constraint=skylake",
                      "#SBATCH --qos=long"]:
        assert directive in lines, (directive, script)
    assert "export MEMGEN_THREADS=2" in lines
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    # 8 cores / 2 threads per task = 4 worker processes of 1 Dask thread each.
    assert "--nworkers 4" in worker and "--nthreads 1" in worker and "--nanny" in worker
    assert "tcp://127.0.0.1:" in worker  # the scheduler started here, which the jobs connect to


def test_gpu_jobs_book_one_gpu_and_run_one_worker_offering_it():
    lines = job_script_lines(cores=8, memory="32GB", queue="gpu", threads=4, gpu=True)
    assert "#SBATCH --gres=gpu:1" in lines and "#SBATCH --cpus-per-task=8" in lines
    assert "export MEMGEN_THREADS=4" in lines
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert "--resources GPU=1" in worker and "--nworkers" not in worker and "--nthreads 1" in worker


def test_threads_must_fit_the_cores():
    with pytest.raises(MemgenError, match="--threads: must be between 1 and --cores=4"):
        slurm_cluster(cores=4, memory="8GB", threads=8)


def test_print_job_script_submits_nothing(monkeypatch):
    monkeypatch.setenv("DASK_JOBQUEUE__SLURM__SCHEDULER_OPTIONS", repr(LOCAL_SCHEDULER))
    argv = ["cluster", "slurm", "--cores", "4", "--memory", "8GB", "--partition", "short", "--print-job-script"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "#SBATCH -p short" in result.output and "--nworkers 4" in result.output


def test_cluster_command_refuses_threads_beyond_cores_on_one_line():
    result = CliRunner().invoke(app, ["cluster", "slurm", "--cores", "2", "--memory", "1GB", "--threads", "4",
                                      "--print-job-script"])
    assert result.exit_code == 2
    assert "--threads: must be between 1 and --cores=2" in result.output
    assert "Traceback" not in result.output


def test_serve_submits_jobs_writes_the_scheduler_file_and_cancels_on_exit(tmp_path, monkeypatch):
    # Fake sbatch/scancel that only log the job ids: nothing runs, no SLURM needed.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "slurm.log"
    # Job id = the fake sbatch's pid: unique even when dask-jobqueue submits jobs concurrently.
    scripts = {"sbatch": 'echo "sbatch $$" >> LOG\necho "Submitted batch job $$"\n',
               "scancel": 'echo "scancel $*" >> LOG\n'}
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body.replace("LOG", str(log)))
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    scheduler_file = tmp_path / "scheduler.json"
    seen = {}

    def until():  # stands in for waiting for Ctrl-C
        deadline = time.monotonic() + 30
        while not log.exists() or log.read_text().count("sbatch") < 2:
            assert time.monotonic() < deadline, "jobs were not submitted"
            time.sleep(0.05)
        with Client(scheduler_file=str(scheduler_file), timeout="10s") as client:
            seen["address"] = client.scheduler.address

    cluster = slurm_cluster(cores=2, memory="1GB", scheduler_options=LOCAL_SCHEDULER)
    serve(cluster, jobs=2, scheduler_file=scheduler_file, until=until)
    assert seen["address"].startswith("tcp://127.0.0.1:")  # memgen sweep --scheduler-file would connect
    words = [line.split() for line in log.read_text().splitlines()]
    submitted = {w[1] for w in words if w[0] == "sbatch"}
    cancelled = {job for w in words if w[0] == "scancel" for job in w[1:]}
    assert len(submitted) == 2 and cancelled == submitted  # both jobs cancelled on exit
    assert not scheduler_file.exists()
