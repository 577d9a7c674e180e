"""Where a run keeps its finished tasks: one interface (``ResultStore``), two stores.

``MemoryStore`` keeps rows in memory only (``run_sweep`` without ``out``, notebooks, ``memgen locate``'s rounds
without a folder). ``FolderStore`` keeps them in a results folder (``results_folder.ResultsFolder``): checksummed
parts a rerun reuses, the manifest's run record, failed.json and task logs, the tables written atomically. The
run (``sweep._SweepRun``) asks the store and never which store it has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import pandas as pd

from memgen_cli.results_format import CURVE_PART, REPLACED_NOTHING, ResultsWriteError
from memgen_cli.runner.manifest import now
from memgen_cli.runner.parts import PartSchema
from memgen_cli.runner.results_folder import ResultsFolder

Frames = dict[str, pd.DataFrame]  # by task key


class ResultStore(Protocol):
    """What a run needs of the place its results go, in the order it asks."""

    replaced_nothing: bool  # a --force run that finished no task: nothing of it written, the old results kept

    def open(self, stored_config: dict, *, force: bool, experiment, typed_config, tasks: list) -> None:
        """Take the store for this run (a folder: lock it; refuse, resume, grow or replace what it holds)."""

    def finished(self, tasks: list, with_curves: bool) -> tuple[Frames, Frames]:
        """The rows (and curve rows) of the tasks already done and sound, reused as they are."""

    def retry_scope(self, todo: list) -> list:
        """With --retry-failed: which of the unfinished tasks run now."""

    def begin(self, record: dict) -> None:
        """The run starts: what it is and how much work it has (``record``)."""

    def keep(self, task, rows: pd.DataFrame, curves: pd.DataFrame | None
             ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """A finished task's rows (and curve rows, None when the experiment has none) kept; returns them as a
        later run reading the store would get them."""

    def log_failure(self, key: str, text: str) -> tuple[str, Path] | None:
        """A failed task's traceback kept: (what failed.json records, where a user reads it), or None."""

    def record_failures(self, failed: list[dict]) -> None:
        """The run's failed tasks (failed.json's entries), replacing the last run's."""

    def interrupted(self, failed: int) -> None:
        """The run stopped before its tables (Ctrl-C, a full disk)."""

    def commit(self, trials: pd.DataFrame, summary: pd.DataFrame, curves: pd.DataFrame | None, status: str,
               failed: int, missing: int) -> None:
        """The assembled tables (curves None when the run has none) kept, and the run's end: ``status``, how many
        tasks failed and how many have no result."""

    def close(self) -> None:
        """Release the store, whatever happened."""


class MemoryStore:
    """Today's rows, in memory: nothing before the run, nothing kept after it."""

    replaced_nothing = False

    def open(self, stored_config: dict, *, force: bool, experiment, typed_config, tasks: list) -> None:
        pass

    def finished(self, tasks: list, with_curves: bool) -> tuple[Frames, Frames]:
        return {}, {}

    def retry_scope(self, todo: list) -> list:
        return todo  # no earlier run failed here: every task runs

    def begin(self, record: dict) -> None:
        pass

    def keep(self, task, rows, curves):
        return rows, curves

    def log_failure(self, key: str, text: str) -> None:
        return None

    def record_failures(self, failed: list[dict]) -> None:
        pass

    def interrupted(self, failed: int) -> None:
        pass

    def commit(self, trials, summary, curves, status: str, failed: int, missing: int) -> None:
        pass

    def close(self) -> None:
        pass


class FolderStore:
    """A results folder (``ResultsFolder``) as a run's store: parts reused, the run recorded in its manifest."""

    def __init__(self, path: Path, schema: PartSchema, note: Callable[[str], None]):
        self.folder = ResultsFolder(path, note=note)
        self.schema, self._note = schema, note
        self._run_index: int | None = None  # the manifest's record of this run, once it began

    def open(self, stored_config: dict, *, force: bool, experiment, typed_config, tasks: list) -> None:
        self.folder.open(stored_config, force=force, experiment=experiment, typed_config=typed_config,
                         schema=self.schema, tasks=tasks)

    def finished(self, tasks: list, with_curves: bool) -> tuple[Frames, Frames]:
        return self.folder.load_parts(tasks, self.schema, with_curves)

    def retry_scope(self, todo: list) -> list:
        # The tasks failed.json names, and those whose part is there but damaged (they failed a check).
        redo = {f["task"] for f in self.folder.read_failed()} | {
            t.key for t in todo if self.folder.part_path(t.key).exists()}
        return [t for t in todo if t.key in redo]

    def begin(self, record: dict) -> None:
        growth = self.folder.growth
        self._run_index = self.folder.manifest.record_run({**record, **({"grown": growth} if growth else {})})
        if growth:
            self._note(f"growing the folder's sweep: {'; '.join(growth)} (stored tasks are kept)")

    def keep(self, task, rows, curves):
        identity = self.schema.identity(task)
        curve_frame = None
        if curves is not None:  # before the trials part: that one marks the task finished
            curve_frame = self.folder.write_part(task, curves, identity, CURVE_PART)
        frame = self.folder.write_part(task, rows, identity)  # as a rerun will read it back
        self.folder.remove_log(task.key)
        return frame, curve_frame

    def log_failure(self, key: str, text: str) -> tuple[str, Path] | None:
        log = self.folder.write_log(key, text)
        return (log, self.folder.path / log) if log else None

    def record_failures(self, failed: list[dict]) -> None:
        self.folder.write_failed(failed)

    def interrupted(self, failed: int) -> None:
        if self._run_index is None:
            return
        try:
            self.folder.manifest.update_run(self._run_index, end=now(), status="interrupted", failed_tasks=failed,
                                            **self._replaced_mark())
        except ResultsWriteError:
            pass  # what stopped the run (a full disk, Ctrl-C) is the one to report

    def commit(self, trials, summary, curves, status: str, failed: int, missing: int) -> None:
        if self.folder.replacing:
            self._note(f"--out {self.folder.path}: the --force run finished no task, so nothing of it was written "
                       "and the results it was to replace are kept")
        if self.folder.write_tables(trials, summary, curves) or self.folder.replacing:
            # Only now is the run finished (or failed): a run whose tables could not be written is not. A --force
            # run that finished no task wrote none, and its entry says so (not "killed" at the next open).
            self.folder.manifest.update_run(self._run_index, end=now(), status=status, failed_tasks=failed,
                                            missing_tasks=missing, **self._replaced_mark())

    @property
    def replaced_nothing(self) -> bool:
        return self.folder.replacing

    def _replaced_mark(self) -> dict:
        """The manifest's mark of a --force run that stopped before its first part: the folder holds the old results."""
        return {REPLACED_NOTHING: True} if self.folder.replacing else {}

    def close(self) -> None:
        self.folder.close()


def store_for(out: Path | None, schema: PartSchema, note: Callable[[str], None]) -> ResultStore:
    """A folder's store with ``out``, else one in memory."""
    return FolderStore(out, schema, note) if out is not None else MemoryStore()
