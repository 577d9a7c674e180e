"""The SLURM job script memgen's dask-jobqueue helper generates (no SLURM needed: nothing is submitted)."""

import pytest

pytest.importorskip("dask_jobqueue")

from memgen_cli.cluster import main, slurm_cluster
from memgen_cli.errors import MemgenError

LOCAL_SCHEDULER = {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}


def test_slurm_job_script_books_the_job_and_splits_it_into_single_threaded_workers():
    cluster = slurm_cluster(cores=8, memory="16GB", walltime="02:00:00", queue="cpu", account="memgen-proj",
                            threads=2, job_extra_directives=["--constraint=skylake", "--qos=long"],
                            scheduler_options=LOCAL_SCHEDULER)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    for directive in ["#SBATCH -p cpu", "#SBATCH -A memgen-proj", "#SBATCH -n 1", "#SBATCH --cpus-per-task=8",
                      "#SBATCH --mem=15G", "#SBATCH -t 02:00:00", "#SBATCH --constraint=skylake",
                      "#SBATCH --qos=long"]:
        assert directive in lines, (directive, script)
    assert "export MEMGEN_THREADS=2" in lines
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    # 8 cores / 2 threads per task = 4 worker processes of 1 Dask thread each.
    assert "--nworkers 4" in worker and "--nthreads 1" in worker and "--nanny" in worker
    assert "tcp://127.0.0.1:" in worker  # the scheduler started here, which the jobs connect to


def test_threads_must_fit_the_cores():
    with pytest.raises(MemgenError, match="--threads: must be between 1 and --cores=4"):
        slurm_cluster(cores=4, memory="8GB", threads=8)


def test_print_job_script_submits_nothing(capsys, monkeypatch):
    monkeypatch.setenv("DASK_JOBQUEUE__SLURM__SCHEDULER_OPTIONS", repr(LOCAL_SCHEDULER))
    argv = ["slurm", "--cores", "4", "--memory", "8GB", "--partition", "short", "--print-job-script"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "#SBATCH -p short" in out and "--nworkers 4" in out
