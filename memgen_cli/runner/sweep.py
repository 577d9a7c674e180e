"""The sweep layer: config -> cells -> seeded tasks (``plan``) -> executor -> a store (``store``: durable parts in
a results folder, or memory) -> trials and summary tables.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from memgen_cli.config import config_to_dict
from memgen_cli.results_format import IDENTIFIERS, STEP_COLUMN, TRIAL_COLUMNS, trial_parameters
from memgen_cli.runner.executors import make_executor
from memgen_cli.runner.growth import config_for_folder
from memgen_cli.runner.configs import load_sweep_config
from memgen_cli.runner.parts import PartSchema
from memgen_cli.runner.plan import execute_task, plan_tasks
from memgen_cli.runner.registry import get_experiment
from memgen_cli.runner.manifest import now
from memgen_cli.runner.store import ResultStore, store_for
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
    replaced_nothing: bool = False  # a --force run that finished no task: nothing written, the old results kept


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

    Four steps on a ``_SweepRun``: open its store and choose the work (``choose_work``), run it (``run_tasks``),
    store each result as it comes (``_store``), assemble the tables (``assemble``). The store
    (``runner.store``) is a results folder with ``out``, else memory; the steps never ask which.
    """
    if out is not None and tasks is None and stored_config is None:  # a folder's own sweep, maybe grown
        config = config_for_folder(get_experiment(config.model), config, out)
    run = _SweepRun(config, out, tasks, on_note, on_failure, progress)
    # Connect to a cluster before the folder is created or touched: an unreachable one leaves nothing behind.
    runner = make_executor(executor, workers, **(executor_options or {}))
    try:
        run.store.open(run.config_dict if stored_config is None else stored_config, force=force,
                       experiment=run.experiment, typed_config=config, tasks=run.tasks)
    except BaseException:
        runner.close()
        raise
    try:
        run.choose_work(retry_failed, {"argv": argv or sys.argv, "start": now(), "executor": executor,
                                       "workers": workers})
        status = "interrupted"
        try:
            run.run_tasks(runner)
            status = "failed" if run.failed else ("incomplete" if run.missing() else "finished")
        finally:
            runner.close()
            if status == "interrupted":
                run.store.interrupted(len(run.failed))
        return run.assemble(status, retry_failed)
    finally:
        runner.close()  # idempotent; here for a failure before the tasks ran (reading parts, the manifest)
        run.store.close()


class _SweepRun:
    """One invocation of ``run_sweep``: its plan, its store (a results folder, or memory), and the rows so far."""

    def __init__(self, config, out: Path | None, tasks: list | None, on_note, on_failure, progress):
        self.config, self.on_note, self.on_failure, self.progress = config, on_note, on_failure, progress
        self.experiment = get_experiment(config.model)
        self.config_dict = config_to_dict(config)
        self.tasks = plan_tasks(self.experiment, config) if tasks is None else tasks
        # An experiment may resolve (and check) paths in what its tasks see, not in the stored config, e.g. the
        # U-Net's image folder relative to the results folder: before anything is created.
        self.task_config = self.experiment.task_config(self.config_dict, out)
        self.with_curves = self.experiment.has_curves(config)
        self.notes: list[str] = []
        self.store: ResultStore = store_for(out, part_schema(self.experiment, config), self.note)
        self.frames: dict[str, pd.DataFrame] = {}
        self.curve_frames: dict[str, pd.DataFrame] = {}
        self.failed: list[dict] = []
        self.todo: list = []
        self.done = self.total = 0

    def note(self, message: str) -> None:
        self.notes.append(message)
        if self.on_note:
            self.on_note(message)

    def choose_work(self, retry_failed: bool, record: dict) -> None:
        """The tasks to run now: those without a sound part (every part is checked; a damaged one is named and its
        task runs again), or with --retry-failed only the failed ones; the run recorded in the store."""
        self.frames, self.curve_frames = self.store.finished(self.tasks, self.with_curves)
        todo = [t for t in self.tasks if t.key not in self.frames]
        self.todo = self.store.retry_scope(todo) if retry_failed else todo
        self.done = sum(len(self.frames[t.key]) for t in self.tasks if t.key in self.frames)
        self.total = self.done + sum(len(t.trials) for t in self.todo)  # the work in scope: finished, and to run now
        self.store.begin({**record, "tasks_to_run": len(self.todo), "tasks_already_done": len(self.frames)})
        if self.progress:
            self.progress(self.done, self.total)

    def run_tasks(self, runner) -> None:
        """Every chosen task through the executor, each result stored as it comes back."""
        payloads = [(self.config.model, self.task_config, t) for t in self.todo]
        # e.g. {"GPU": 1} for U-Net tasks on CUDA: a Dask scheduler sends them to GPU workers only
        resources = self.experiment.task_resources(self.config)
        for i, result in (runner.run(execute_task, payloads, resources=resources) if self.todo else []):
            self._store(self.todo[i], result)

    def _store(self, task, result) -> None:
        """A finished task's rows (and curve rows) kept by the store, or its failure recorded."""
        if isinstance(result, TaskFailure):
            self.failed.append(_failure(task, result, self.store, self.on_failure))
            return
        # TaskRows: curves None unless the experiment has them
        curves = pd.DataFrame(result.curves or []) if self.with_curves else None
        self.frames[task.key], curve_frame = self.store.keep(task, pd.DataFrame(result), curves)
        if curve_frame is not None:
            self.curve_frames[task.key] = curve_frame
        self.done += len(task.trials)
        if self.progress:
            self.progress(self.done, self.total)

    def missing(self) -> list:
        failed = {f["task"] for f in self.failed}
        return [t for t in self.tasks if t.key not in self.frames and t.key not in failed]

    def assemble(self, status: str, retry_failed: bool) -> SweepResult:
        """trials.csv, summary.csv (and curves.csv) from every finished task's rows, kept by the store."""
        failed, missing = self.failed, self.missing()
        if not retry_failed or not failed:  # a --retry-failed run that failed again keeps the list it retried
            self.store.record_failures(failed)
        done = [t for t in self.tasks if t.key in self.frames]
        trials, summary = tables_from_rows(self.experiment, [self.frames[t.key] for t in done],
                                           self.experiment.columns(self.config))
        curves = curves_table([self.curve_frames[t.key] for t in done]) if self.with_curves else None
        for line in nonfinite_notes(self.experiment, trials):
            self.note(line)
        self.store.commit(trials, summary, curves, status, len(failed), len(missing))
        return SweepResult(trials, summary, failed, tasks_run=len(self.todo),
                           tasks_skipped=len(self.tasks) - len(self.todo), notes=self.notes, curves=curves,
                           missing=missing, replaced_nothing=self.store.replaced_nothing)


def _failure(task, result: TaskFailure, store: ResultStore, on_failure) -> dict:
    """failed.json's entry of a failed task, its traceback kept by the store (when it can be yet)."""
    entry = {"task": task.key, "cell": task.cell_index, "params": task.row_cell, "error": result.error}
    where = ""
    if logged := store.log_failure(task.key, result.traceback or result.error + "\n"):
        entry["log"], shown = logged
        where = f" (traceback: {shown})"
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


