"""`memgen sweep linear|unet CONFIG`: run a YAML-configured sweep into a results folder."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from memgen_cli.cli.common import fail, user_errors
from memgen_cli.errors import MemgenError

sweep_app = typer.Typer(help="Run a YAML-configured sweep and write tidy CSVs.", no_args_is_help=True)


class ExecutorName(str, Enum):
    local = "local"
    serial = "serial"
    dask = "dask"


def default_results_dir(model: str, config: Path) -> Path:
    """results/<model>-<config name>: configs/linear/quick.yaml and configs/unet/quick.yaml stay apart."""
    name = config.stem if config.stem.startswith(f"{model}-") else f"{model}-{config.stem}"
    return Path("results") / name


def work_counts(experiment, config) -> tuple[int, int, int]:
    """(cells, trials per cell, tasks), cut as runner.plan.plan_tasks cuts them but without a seed per trial:
    a dry run answers at once whatever the size (load_sweep_config has refused sweeps over the limits)."""
    count = experiment.trial_count(config)
    cells = experiment.cells(config)
    blocks_of = getattr(experiment, "trial_blocks", lambda config, cell: [(0, count, ())])
    from memgen_cli.runner.plan import task_size

    per_task = task_size(experiment, config)
    tasks = sum(-(-(end - first) // per_task) for cell in cells for first, end, _ in blocks_of(config, cell))
    return len(cells), count, tasks


def _run_sweep_command(model: str, config: Path, out: Optional[Path], workers: Optional[int], set_: List[str],
                       dry_run: bool, quiet: bool, force: bool, executor: ExecutorName, scheduler: Optional[str],
                       scheduler_file: Optional[Path], retry_failed: bool) -> None:
    from rich.console import Console

    from memgen_cli.results_format import ResultsWriteError
    from memgen_cli.config import config_to_dict, dump_yaml
    from memgen_cli.runner.plan import get_experiment
    from memgen_cli.runner.sweep import load_sweep_config, run_sweep

    cfg = load_sweep_config(config, set_, model=model)
    out = out if out is not None else default_results_dir(model, config)
    experiment = get_experiment(model)
    if dry_run:
        typer.echo(dump_yaml(config_to_dict(cfg)).rstrip())
        cells, trials, tasks = work_counts(experiment, cfg)
        typer.echo(f"# {cells} cells x {trials} trials = {cells * trials} trials in {tasks} tasks; output: {out}")
        return
    if executor is not ExecutorName.dask and (scheduler or scheduler_file):
        raise MemgenError("--scheduler/--scheduler-file: only with --executor dask")
    options = {k: v for k, v in {"scheduler": scheduler, "scheduler_file": scheduler_file}.items() if v}
    console = Console(stderr=True)

    def report_failure(message: str) -> None:
        console.print(f"[red]task failed:[/red] {message}", markup=True, highlight=False)

    def report_note(message: str) -> None:
        console.print(f"memgen: warning: {message}", markup=False, highlight=False, soft_wrap=True)

    try:
        if quiet:
            result = run_sweep(cfg, out, executor=executor.value, workers=workers, executor_options=options,
                               force=force, retry_failed=retry_failed, on_failure=report_failure, argv=sys.argv,
                               on_note=report_note)
        else:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            with Progress(TextColumn(f"[bold]{model}[/bold] {out}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("trials"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                          console=console) as bar:
                job = bar.add_task("sweep", total=None)
                result = run_sweep(cfg, out, executor=executor.value, workers=workers, executor_options=options,
                                   force=force, retry_failed=retry_failed, on_failure=report_failure,
                                   argv=sys.argv, on_note=report_note,
                                   progress=lambda done, total: bar.update(job, completed=done, total=total))
    except KeyboardInterrupt:
        typer.echo(f"memgen: interrupted; finished work is kept in {out}/parts. "
                   "Rerun the same command to resume.", err=True)
        raise typer.Exit(130) from None
    except ResultsWriteError as error:  # not the user's input: exit 1, and a rerun resumes
        fail(f"{error}; free space (or fix the folder) and rerun the same command: finished work is kept",
             code=1)
    if result.failed:
        typer.echo(f"memgen: {len(result.failed)} task(s) failed (listed in {out}/failed.json):", err=True)
        for item in result.failed:
            log = f" (traceback: {out / item['log']})" if item.get("log") else ""
            typer.echo(f"  cell {item['cell']} {item['params']}: {item['error']}{log}", err=True)
        typer.echo("rerun with --retry-failed to run only those.", err=True)
        raise typer.Exit(1)
    if not quiet:
        console.print(f"wrote {out}/trials.csv ({len(result.trials)} trials) and {out}/summary.csv "
                      f"({len(result.summary)} cells); {result.tasks_skipped} task(s) were already done.")


def _make_sweep_command(model: str):
    @user_errors
    def command(
        config: Path = typer.Argument(..., help="YAML config file (see configs/)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="Results folder (default: results/<model>-<config file name>)."),
        workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, max=4096,
                                              help="Worker processes (default: the number of CPU cores)."),
        set_: List[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                       help="Override a config field, e.g. grid.d=[8,32] or trials=50 "
                                            "(repeatable; values are YAML)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and the work, then exit."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar (for scripts)."),
        force: bool = typer.Option(False, "--force",
                                   help="Replace results of a different config in the output folder."),
        executor: ExecutorName = typer.Option(ExecutorName.local, "--executor",
                                              help="Where tasks run: local processes, serial (this process), "
                                                   "or a Dask cluster."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                                help="Dask scheduler address, e.g. tcp://HOST:8786 "
                                                     "(with --executor dask; none starts a LocalCluster)."),
        scheduler_file: Optional[Path] = typer.Option(None, "--scheduler-file",
                                                      help="Dask scheduler file (with --executor dask)."),
        retry_failed: bool = typer.Option(False, "--retry-failed",
                                          help="Rerun only the tasks that failed in the last run."),
    ) -> None:
        _run_sweep_command(model, config, out, workers, set_, dry_run, quiet, force, executor, scheduler,
                           scheduler_file, retry_failed)

    command.__doc__ = {"linear": "Sweep the exact linear one-step denoiser over n, d, lambda, T, N.",
                       "unet": "Sweep a small U-Net DDPM trained on synthetic or real images."}[model]
    return command


sweep_app.command("linear")(_make_sweep_command("linear"))
sweep_app.command("unet")(_make_sweep_command("unet"))
