"""`memgen sweep <model> CONFIG`: run a YAML-configured sweep into a results folder.

One command per registered model (runner.registry), made by one factory; its options are shared with
`memgen locate` (``run_options``) and their bounds come from the library's models.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from memgen_cli.cli.common import field_option, fail, user_errors
from memgen_cli.cli.help_words import ReadableCommand, ReadableGroup
from memgen_cli.errors import MemgenError, ResultsWriteError
from memgen_cli.runner.options import ExecutionOptions
from memgen_cli.runner.registry import EXPERIMENTS, experiment_summary

sweep_app = typer.Typer(help="Run a YAML-configured sweep and write tidy CSVs.", no_args_is_help=True,
                        cls=ReadableGroup)


class ExecutorName(str, Enum):
    local = "local"
    serial = "serial"
    dask = "dask"


def config_argument(help_text: str = "YAML config file (see configs/).") -> typer.Argument:
    return typer.Argument(..., help=help_text)


def out_option(default_text: str) -> typer.Option:
    return typer.Option(None, "--out", "-o", help=f"Results folder (default: {default_text}).")


def workers_option() -> typer.Option:
    return field_option(ExecutionOptions, "workers", "--workers", "-w", default=None)


def set_option(examples: tuple[str, ...]) -> typer.Option:
    shown = " or ".join(examples[:2]) if examples else "key=value"
    return typer.Option([], "--set", metavar="KEY=VALUE",
                        help=f"Override a config field, e.g. {shown} (repeatable; values are YAML; ~key removes "
                             "a key).")


def dry_run_option() -> typer.Option:
    return typer.Option(False, "--dry-run", help="Print the resolved config and the work, then exit.")


def quiet_option() -> typer.Option:
    return typer.Option(False, "--quiet", "-q", help="No progress bar or lines (for scripts).")


def force_option() -> typer.Option:
    return typer.Option(False, "--force", help="Replace results of a different config in the output folder.")


def checked_workers(workers: Optional[int]) -> Optional[int]:
    """--workers through its model: one line naming it when out of range."""
    from memgen_cli.config import validate_options

    return validate_options(ExecutionOptions, {"workers": workers}, {"workers": "--workers"}).workers


def default_results_dir(model: str, config: Path, prefix: str = "") -> Path:
    """results/[<prefix>]<model>-<config name>: configs/linear/quick.yaml and configs/unet/quick.yaml stay apart."""
    name = config.stem if config.stem.startswith(f"{model}-") else f"{model}-{config.stem}"
    return Path("results") / f"{prefix}{name}"


def interrupted(out: Path, what: str) -> None:
    typer.echo(f"memgen: interrupted; finished {what} kept in {out}/parts. Rerun the same command to resume.",
               err=True)
    raise typer.Exit(130)


def write_failed(out: Path, error: ResultsWriteError) -> None:  # not the user's input: exit 1, a rerun resumes
    fail(f"{error}; free space (or fix the folder) and rerun the same command: finished work is kept", code=1)


def _run_sweep_command(model: str, config: Path, out: Optional[Path], workers: Optional[int], set_: List[str],
                       dry_run: bool, quiet: bool, force: bool, executor: ExecutorName, scheduler: Optional[str],
                       scheduler_file: Optional[Path], retry_failed: bool) -> None:
    from memgen_cli.config import config_to_dict, dump_yaml
    from memgen_cli.runner.plan import planned_trials, work_counts
    from memgen_cli.runner.registry import experiment_class, get_experiment, missing_libraries
    from memgen_cli.runner.configs import load_sweep_config

    workers = checked_workers(workers)
    cfg = load_sweep_config(config, set_, model=model)
    out = out if out is not None else default_results_dir(model, config)
    if dry_run:
        from memgen_cli.runner.results_folder import preview

        from memgen_cli.runner.growth import config_for_folder

        experiment = experiment_class(model)()
        cfg = config_for_folder(experiment, cfg, out)  # what a growth of the folder records, shown
        typer.echo(dump_yaml(config_to_dict(cfg)).rstrip())
        cells, trials, tasks = work_counts(experiment, cfg)
        total = planned_trials(experiment, cfg)
        each = f"{trials} trials" if total == cells * trials else f"{trials} trials (more in some)"
        typer.echo(f"# {cells} cells x {each} = {total} trials in {tasks} tasks; output: {out}")
        what, refused = preview(out, config_to_dict(cfg), experiment, cfg, force)
        typer.echo(f"# the folder: {what}")
        if missing := missing_libraries(model):
            typer.echo(f"# to run it, install what it needs ({', '.join(missing)} missing): "
                       f"pip install 'memgen[{model}]'")
        if refused:
            raise typer.Exit(2)
        return
    if executor is not ExecutorName.dask and (scheduler or scheduler_file):
        raise MemgenError("--scheduler/--scheduler-file: only with --executor dask")
    get_experiment(model)  # a missing extra is one line, before any progress bar
    if executor is not ExecutorName.dask:  # local workers share this machine's memory
        from memgen_cli.runner.limits import check_footprint
        from memgen_cli.runner.worker import available_cpus

        check_footprint(experiment_class(model)(), cfg, str(config), work=False,
                        workers=1 if executor is ExecutorName.serial else (workers or available_cpus()))
    options = {k: v for k, v in {"scheduler": scheduler, "scheduler_file": scheduler_file}.items() if v}
    try:
        result = _run_with_progress(model, cfg, out, quiet, executor=executor.value, workers=workers,
                                    executor_options=options, force=force, retry_failed=retry_failed, argv=sys.argv)
    except KeyboardInterrupt:
        interrupted(out, "work is")
    except ResultsWriteError as error:
        write_failed(out, error)
    if result.failed:
        report_failures(out, result)
    if result.missing:
        typer.echo(f"memgen: {len(result.missing)} task(s) of the sweep have not run (e.g. "
                   f"{result.missing[0].describe()}): --retry-failed reruns only failed tasks; rerun without it to "
                   "finish the sweep. The tables hold the finished tasks only.", err=True)
        raise typer.Exit(1)
    if not quiet:
        typer.echo(f"wrote {out}/trials.csv ({len(result.trials)} trials) and {out}/summary.csv "
                   f"({len(result.summary)} cells); {result.tasks_skipped} task(s) were already done.", err=True)


def report_failures(out: Path, result) -> None:
    """The failed tasks on stderr, and where they are kept: failed.json, or nowhere when a --force run finished
    none (it wrote nothing; the folder keeps the results it was to replace, failed.json included). Exit code 1."""
    if result.replaced_nothing:
        typer.echo(f"memgen: {len(result.failed)} task(s) failed and none finished, so this --force run wrote nothing "
                   f"(no failed.json, no logs): {out} keeps the results it was to replace:", err=True)
    else:
        typer.echo(f"memgen: {len(result.failed)} task(s) failed (listed in {out}/failed.json):", err=True)
    for item in result.failed:
        log = f" (traceback: {out / item['log']})" if item.get("log") else ""
        typer.echo(f"  cell {item['cell']} {item['params']}: {item['error']}{log}", err=True)
    typer.echo("fix what failed and rerun the same command." if result.replaced_nothing else
               "rerun with --retry-failed to run only those.", err=True)
    raise typer.Exit(1)


def _run_with_progress(model: str, cfg, out: Path, quiet: bool, **kwargs):
    """run_sweep with failures and warnings on stderr, and a progress bar unless quiet."""
    from rich.console import Console

    from memgen_cli.runner.sweep import run_sweep

    console = Console(stderr=True)
    kwargs["on_failure"] = lambda message: console.print(f"[red]task failed:[/red] {message}", markup=True,
                                                         highlight=False)
    kwargs["on_note"] = lambda message: console.print(f"memgen: warning: {message}", markup=False, highlight=False,
                                                      soft_wrap=True)
    if quiet:
        return run_sweep(cfg, out, **kwargs)
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    with Progress(TextColumn(f"[bold]{model}[/bold] {out}"), BarColumn(), MofNCompleteColumn(), TextColumn("trials"),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console) as bar:
        job = None

        def progress(done: int, total: int) -> None:
            nonlocal job
            if job is None:  # the bar appears once the work is known, not as "0/?"
                job = bar.add_task("sweep", total=total)
            bar.update(job, completed=done, total=total)

        return run_sweep(cfg, out, progress=progress, **kwargs)


def _make_sweep_command(model: str):
    description, examples = experiment_summary(model)

    @user_errors
    def command(
        config: Path = config_argument(),
        out: Optional[Path] = out_option("results/<model>-<config file name>"),
        workers: Optional[int] = workers_option(),
        set_: List[str] = set_option(examples),
        dry_run: bool = dry_run_option(),
        quiet: bool = quiet_option(),
        force: bool = force_option(),
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

    command.__doc__ = f"{description}\n\nExamples: memgen sweep {model} CONFIG " + \
        " ".join(f"--set {e}" for e in examples[:2]) + " --dry-run"
    return command


for _model in EXPERIMENTS:
    sweep_app.command(_model, cls=ReadableCommand)(_make_sweep_command(_model))
