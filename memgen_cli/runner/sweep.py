"""The sweep layer: config -> cells -> seeded tasks (``plan``) -> executor -> durable parts -> trials and
summary tables.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from memgen_cli.config import config_to_dict
from memgen_cli.results_format import (CURVE_PART, IDENTIFIERS, STEP_COLUMN, TRIAL_COLUMNS, ResultsWriteError,
                                       trial_parameters)
from memgen_cli.runner.executors import make_executor
from memgen_cli.runner.configs import load_sweep_config
from memgen_cli.runner.parts import PartSchema
from memgen_cli.runner.plan import execute_task, plan_tasks
from memgen_cli.runner.registry import get_experiment
from memgen_cli.runner.manifest import now
from memgen_cli.runner.results_folder import ResultsFolder
from memgen_cli.seeding import stable_hash
from memgen_cli.runner.worker import TaskFailure
from memgen_cli.statistics.summary import summarize_trials


@dataclass
class SweepResult:
    trials: pd.DataFrame
    summary: pd.DataFrame
    failed: list[dict] = field(default_factory=list)
    tasks_run: int = 0
    tasks_skipped: int = 0
    notes: list[str] = field(default_factory=list)  # warnings: damaged parts recomputed, old results restored
    curves: pd.DataFrame | None = None  # curves.csv (U-Net with evaluation.every); None when the config has none
    missing: list = field(default_factory=list)  # planned tasks with no part (--retry-failed runs only failed ones)


def curves_table(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """curves.csv: every finished simulation's checkpoints, by cell, trial and step (whatever the run order)."""
    if not frames:
        return pd.DataFrame()
    curves = pd.concat(frames, ignore_index=True)
    return curves.sort_values(["cell", TRIAL_COLUMNS[0], STEP_COLUMN], kind="stable").reset_index(drop=True)


def tables_from_rows(experiment, frames: list[pd.DataFrame],
                     columns: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not frames:
        return pd.DataFrame(), pd.DataFrame()
    trials = pd.concat(frames, ignore_index=True).sort_values(["cell", TRIAL_COLUMNS[0]], kind="stable")
    trials = trials.reset_index(drop=True)
    # A metric is summarised where the trials have it or the config's ``columns`` name it: one added after some
    # parts were stored (the references) then reads as missing (NaN, count 0); an optional one the config turns
    # off (a reproducibility pair) is left out.
    binary, means = ([m for m in metrics if m in trials.columns or m in columns]
                     for metrics in (experiment.binary_metrics, experiment.mean_metrics))
    summary = summarize_trials(trials, list(IDENTIFIERS) + trial_parameters(trials), tuple(binary), tuple(means),
                               cluster=experiment.cluster_column)
    return trials, summary


def part_schema(experiment, config) -> PartSchema:
    """What this config's stored parts must hold: the experiment's columns and the hash of its task inputs."""
    return PartSchema(config.model, experiment.columns(config), experiment.added_columns,
                      stable_hash(experiment.task_inputs(config)))


def run_sweep(config, out: Path | None = None, *, executor: str = "local", workers: int | None = None,
              executor_options: dict | None = None, force: bool = False, retry_failed: bool = False,
              progress: Callable[[int, int], None] | None = None,
              on_failure: Callable[[str], None] | None = None, argv: list[str] | None = None,
              on_note: Callable[[str], None] | None = None, tasks: list | None = None,
              stored_config: dict | None = None) -> SweepResult:
    """Run a sweep and return its tables; with ``out`` also write (and resume, or grow) a results folder.

    progress(done_trials, total_trials) is called as tasks finish; on_failure(message) when one fails;
    on_note(message) for a one-line warning (a damaged part, not used and recomputed). The tables hold the
    same data whatever the executor, worker count or interruptions. A file that cannot be written (disk
    full) raises ResultsWriteError naming it; finished parts stay for a rerun.

    ``tasks`` (planned elsewhere, e.g. by ``memgen locate``'s rounds) replaces the config's own plan, and
    ``stored_config`` what config.yaml holds (by default the config itself).
    """
    experiment = get_experiment(config.model)
    config_dict = config_to_dict(config)
    tasks = plan_tasks(experiment, config) if tasks is None else tasks
    # An experiment may resolve (and check) paths in what its tasks see, not in the stored config, e.g. the
    # U-Net's image folder relative to the results folder: before anything is created.
    task_config = experiment.task_config(config_dict, out)
    schema = part_schema(experiment, config)
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        if on_note:
            on_note(message)

    folder = ResultsFolder(out, note=note) if out is not None else None
    frames: dict[str, pd.DataFrame] = {}
    with_curves = experiment.has_curves(config)
    curve_frames: dict[str, pd.DataFrame] = {}
    failed: list[dict] = []
    # Connect to a cluster before the folder is created or touched: an unreachable one leaves nothing behind.
    runner = make_executor(executor, workers, **(executor_options or {}))
    try:
        if folder is not None:
            folder.open(config_dict if stored_config is None else stored_config, force=force, experiment=experiment,
                        typed_config=config, schema=schema, tasks=tasks)
    except BaseException:
        runner.close()
        raise
    try:
        if folder is not None:  # every part is checked; a damaged one is named and its task runs again
            frames, curve_frames = folder.load_parts(tasks, schema, with_curves)
        todo = [t for t in tasks if t.key not in frames]
        if retry_failed and folder is not None:
            redo = {f["task"] for f in folder.read_failed()} | {t.key for t in todo if folder.part_path(t.key).exists()}
            todo = [t for t in todo if t.key in redo]
        done = sum(len(frames[t.key]) for t in tasks if t.key in frames)
        total = done + sum(len(t.trials) for t in todo)  # the work in scope: finished, and to run now
        run_index = None
        if folder is not None:
            run_index = folder.manifest.record_run({
                "argv": argv or sys.argv, "start": now(), "executor": executor, "workers": workers,
                "tasks_to_run": len(todo), "tasks_already_done": len(frames),
                **({"grown": folder.growth} if folder.growth else {})})
            if folder.growth:
                note(f"growing the folder's sweep: {'; '.join(folder.growth)} (stored tasks are kept)")
        if progress:
            progress(done, total)
        status = "interrupted"
        try:
            payloads = [(config.model, task_config, t) for t in todo]
            # e.g. {"GPU": 1} for U-Net tasks on CUDA: a Dask scheduler sends them to GPU workers only
            resources = experiment.task_resources(config)
            for i, result in (runner.run(execute_task, payloads, resources=resources) if todo else []):
                task = todo[i]
                if isinstance(result, TaskFailure):
                    failed.append(_failure(task, result, folder, on_failure))
                    continue
                rows = pd.DataFrame(result)
                curves = result.curves  # TaskRows: None unless the experiment has curves
                if folder is not None:
                    identity = schema.identity(task)
                    if with_curves:  # before the trials part: that one marks the task finished
                        curve_frames[task.key] = folder.write_part(task, pd.DataFrame(curves or []), identity,
                                                                   CURVE_PART)
                    frames[task.key] = folder.write_part(task, rows, identity)  # as a rerun will read it back
                    folder.remove_log(task.key)
                else:
                    frames[task.key] = rows
                    if with_curves:
                        curve_frames[task.key] = pd.DataFrame(curves or [])
                done += len(task.trials)
                if progress:
                    progress(done, total)
            missing = [t for t in tasks if t.key not in frames and t.key not in {f["task"] for f in failed}]
            status = "failed" if failed else ("incomplete" if missing else "finished")
        finally:
            runner.close()
            if folder is not None and run_index is not None and status == "interrupted":
                try:
                    folder.manifest.update_run(run_index, end=now(), status=status, failed_tasks=len(failed))
                except ResultsWriteError:
                    pass  # what stopped the run (a full disk, Ctrl-C) is the one to report
        if folder is not None and folder.replacing:
            note(f"--out {folder.path}: the --force run finished no task, so nothing of it was written and the "
                 "results it was to replace are kept")
        if folder is not None and (not retry_failed or not failed):
            folder.write_failed(failed)
        trials, summary = tables_from_rows(experiment, [frames[t.key] for t in tasks if t.key in frames],
                                           experiment.columns(config))
        curves = curves_table([curve_frames[t.key] for t in tasks if t.key in frames]) if with_curves else None
        for line in nonfinite_notes(experiment, trials):
            note(line)
        if folder is not None and folder.write_tables(trials, summary, curves):
            # Only now is the run finished (or failed): a run whose tables could not be written is not.
            folder.manifest.update_run(run_index, end=now(), status=status, failed_tasks=len(failed),
                                       missing_tasks=len(missing))
        return SweepResult(trials, summary, failed, tasks_run=len(todo), tasks_skipped=len(tasks) - len(todo),
                           notes=notes, curves=curves, missing=missing)
    finally:
        runner.close()  # idempotent; here for a failure before the tasks ran (reading parts, the manifest)
        if folder is not None:
            folder.close()


def _failure(task, result: TaskFailure, folder: ResultsFolder | None, on_failure) -> dict:
    """failed.json's entry of a failed task, its traceback logged in the folder (when it can be yet)."""
    entry = {"task": task.key, "cell": task.cell_index, "params": task.row_cell, "error": result.error}
    where = ""
    if folder is not None and (log := folder.write_log(task.key, result.traceback or result.error + "\n")):
        entry["log"] = log
        where = f" (traceback: {folder.path / log})"
    if on_failure:
        on_failure(f"{task.describe()} failed: {result.error}{where}")
    return entry


def nonfinite_notes(experiment, trials: pd.DataFrame) -> list[str]:
    """Trials whose 0/1 outcomes are NaN (a diverged training, non-finite samples): said, never counted as 0.
    Columns added later (the references) are left out: a part stored before them lacks them, which is not a
    failed outcome."""
    later = experiment.added_columns
    outcome = [m for m in experiment.binary_metrics if m in trials.columns and m not in later]
    if trials.empty or not outcome:
        return []
    bad = trials[trials[outcome].isna().any(axis=1)]
    if bad.empty:
        return []
    cells = ", ".join(str(c) for c in bad["cell"].unique()[:5])
    return [f"{len(bad)} trial(s) have no finite outcome (NaN: e.g. a diverged training), in cell(s) {cells}: left "
            "out of the counts and proportions of summary.csv (its count_ columns)"]


def sweep_dataframe(config_path: str | Path, overrides: list[str] = (), **kwargs) -> pd.DataFrame:
    """Notebook helper: run a config file's sweep in memory and return trials.csv's rows."""
    config = load_sweep_config(Path(config_path), overrides)
    kwargs.setdefault("executor", "serial")
    return run_sweep(config, **kwargs).trials


