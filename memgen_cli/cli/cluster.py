"""`memgen cluster slurm`: Dask workers as SLURM jobs, for `memgen sweep --executor dask --scheduler-file`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import List, Optional

import typer

from memgen_cli.cli.common import user_errors
from memgen_cli.cli.help_words import ReadableCommand, ReadableGroup
from memgen_cli.errors import MemgenError

cluster_app = typer.Typer(help="Start Dask workers on a batch system (needs the dask extra).", no_args_is_help=True,
                          cls=ReadableGroup)


@cluster_app.command("slurm", cls=ReadableCommand)
@user_errors
def slurm(
    cores: int = typer.Option(..., "--cores", min=1, help="CPUs per SLURM job."),
    memory: str = typer.Option(..., "--memory", help="Memory per job, e.g. 16GB."),
    walltime: str = typer.Option("01:00:00", "--walltime", help="Job time limit, HH:MM:SS."),
    queue: Optional[str] = typer.Option(None, "--queue", "--partition", help="SLURM partition (#SBATCH -p)."),
    account: Optional[str] = typer.Option(None, "--account", help="SLURM account (#SBATCH -A)."),
    threads: int = typer.Option(1, "--threads", min=1, help="BLAS/torch threads per memgen task (<= --cores)."),
    job_extra: List[str] = typer.Option([], "--job-extra", metavar="DIRECTIVE",
                                        help="Extra #SBATCH directive, e.g. --job-extra=--constraint=skylake "
                                             "(repeatable)."),
    interface: Optional[str] = typer.Option(None, "--interface",
                                            help="Network interface of the workers and scheduler, e.g. ib0."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="SLURM jobs to submit."),
    gpu: bool = typer.Option(False, "--gpu", help="Each job books one GPU (--gres=gpu:1) and runs one worker "
                                                  "offering it as resource GPU=1 (for U-Net sweeps with "
                                                  "device: cuda); more GPUs: more --jobs."),
    scheduler_file: Path = typer.Option(Path("memgen-scheduler.json"), "--scheduler-file",
                                        help="Where to write the scheduler file that sweeps connect to."),
    print_job_script: bool = typer.Option(False, "--print-job-script",
                                          help="Print the job script and exit; submit nothing."),
) -> None:
    """Start a Dask scheduler here (run it on the login node, e.g. in tmux), submit --jobs SLURM jobs of
    --cores CPUs each running --cores // --threads single-threaded Dask workers, write --scheduler-file
    and wait; Ctrl-C cancels the jobs. Then: memgen sweep ... --executor dask --scheduler-file FILE."""
    if importlib.util.find_spec("dask_jobqueue") is None:
        raise MemgenError("cluster slurm: needs the dask extra (pip install 'memgen[dask]')")
    from memgen_cli.runner.slurm import serve, slurm_cluster

    extra = {"interface": interface} if interface else {}
    cluster = slurm_cluster(cores=cores, memory=memory, walltime=walltime, queue=queue, account=account,
                            threads=threads, job_extra_directives=job_extra, gpu=gpu, **extra)
    if print_job_script:
        typer.echo(cluster.job_script())
        cluster.close()
        return
    serve(cluster, jobs, scheduler_file)
