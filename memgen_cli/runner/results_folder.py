"""The results folder as a run writes it: the lock, the resolved config, provenance, durable parts and the
final tables. Its file names, column roles, lock and atomic write come from ``memgen_cli.results_format``.

Durability rests on three rules: every file is written to a temporary name and renamed into place
(so a kill leaves either the old file or the new one, never half of one); each finished task is its own
part file with a checksum (so a rerun skips it, and a damaged part is named and recomputed, never used);
--force sets the old results aside until the new run has a part of its own (``replacement``).
Layout: docs/results-format.md.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Callable

import pandas as pd
import yaml

from memgen_cli.errors import MemgenError
from memgen_cli.config import dump_yaml
from memgen_cli.results_format import (CONFIG_FILE, CURVE_PART, CURVES_FILE, FAILED_FILE, MANIFEST_FILE,
                                       MEMGEN_FILES, PARTS_DIR, SUMMARY_FILE, TRIALS_FILE, FolderLock,
                                       ResultsWriteError, atomic_write_csv, atomic_write_text, part_file, task_log)
from memgen_cli.runner import parts, replacement
from memgen_cli.version import __version__, git_state

_PACKAGES = ("numpy", "scipy", "pandas", "pydantic", "typer", "rich", "pyyaml", "threadpoolctl", "matplotlib",
             "torch", "diffusers", "dask", "distributed")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def environment_provenance() -> dict:
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"memgen_version": __version__, "git": git_state(), "packages": packages,
            "python": sys.version.split()[0], "platform": platform.platform(), "cpu_count": os.cpu_count()}


def _first_difference(old: object, new: object, where: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else str(key))
    return f"{where or 'config'} was {old!r}, now {new!r}"


class ResultsFolder:
    """One sweep's output folder, held under an exclusive lock while a run writes it."""

    def __init__(self, path: Path, note: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.parts = self.path / PARTS_DIR
        self._lock = FolderLock(self.path)
        self._note = note or (lambda message: None)  # one-line warnings (a damaged part, a restore)
        self._aside: Path | None = None  # --force: the old results, until the new run has a part
        self._new_config: dict | None = None  # --force: the config to put in place at the first write

    # -- opening -------------------------------------------------------------------------------
    def open(self, config: dict, force: bool = False,
             read_stored: Callable[[dict], tuple[dict, str]] | None = None) -> None:
        """Create or reopen the folder for this config; refuse a different config unless force.

        ``read_stored`` lets an experiment read a config.yaml written by an older memgen: it returns the
        config as this version spells it (a new option at the value the old run used) and a note for the
        user, or "" when nothing needed translating.
        """
        if self.path.exists() and not self.path.is_dir():
            raise MemgenError(f"--out {self.path}: exists and is not a folder")
        if self.path.is_dir():
            known = MEMGEN_FILES
            foreign = [p.name for p in self.path.iterdir() if p.name not in known and not p.name.startswith(".")]
            if foreign and not (self.path / CONFIG_FILE).exists():
                raise MemgenError(f"--out {self.path}: folder exists and is not a memgen results folder "
                                  f"(holds {foreign[0]!r}); choose another --out")
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
            locked = self._lock.acquire()
        except OSError as exc:
            raise MemgenError(f"--out {self.path}: cannot write there ({exc.strerror})") from None
        if not locked:
            raise MemgenError(f"--out {self.path}: another memgen run is writing this folder; "
                              "wait for it to finish or choose another --out") from None
        try:
            replacement.settle(self.path, self._note)
            self.parts.mkdir(exist_ok=True)
            config_path = self.path / CONFIG_FILE
            if config_path.exists():
                old, translated = yaml.safe_load(config_path.read_text()), ""
                if read_stored is not None and isinstance(old, dict):
                    old, translated = read_stored(old)
                if old != config:
                    if not force:
                        why = _first_difference(old, config) + (f"; {translated}" if translated else "")
                        raise MemgenError(f"--out {self.path}: holds results of a different config ({why}); "
                                          "use --force to replace them or choose another --out")
                    # The old results stay in place, readable, until this run writes something.
                    self._aside, self._new_config = replacement.set_aside_early(self.path), config
                    return
            atomic_write_text(config_path, dump_yaml(config))
        except BaseException:
            self.close()
            raise

    @property
    def replacing(self) -> bool:
        """True while --force has not yet set the old results aside: they are not this config's."""
        return self._new_config is not None

    def _begin_writing(self) -> None:
        """The new run's first write: set the old results aside and put its config in place."""
        if self._new_config is None:
            return
        replacement.set_aside_rest(self.path, self._aside)
        try:
            self.parts.mkdir()
        except OSError as error:
            raise ResultsWriteError(f"{self.parts}: cannot create ({error.strerror})") from None
        atomic_write_text(self.path / CONFIG_FILE, dump_yaml(self._new_config))
        self._new_config = None

    def _has_results(self) -> None:
        """The new run has a part (or its tables): the old results it replaced are deleted."""
        if self._aside is not None and self._new_config is None:
            replacement.discard(self._aside)
            self._aside = None

    def close(self) -> None:
        """Release the lock; a --force run stopped before its first part puts the old results back."""
        try:
            if self._aside is not None:
                replacement.settle_aside(self.path, self._aside)
        except MemgenError:
            pass  # the next open settles it
        finally:
            self._aside = self._new_config = None
            self._lock.release()

    # -- provenance ----------------------------------------------------------------------------
    def _read_manifest(self) -> dict:
        path = self.path / MANIFEST_FILE
        if path.exists():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass
        return {"created": now(), **environment_provenance(), "runs": []}

    def record_run(self, run: dict) -> int:
        """Append a run entry (command line, executor, start time); returns its index."""
        manifest = self._read_manifest()
        manifest.update(environment_provenance())
        manifest["runs"].append(run)
        atomic_write_text(self.path / MANIFEST_FILE, json.dumps(manifest, indent=2))
        return len(manifest["runs"]) - 1

    def update_run(self, index: int, **fields) -> None:
        manifest = self._read_manifest()
        manifest["runs"][index].update(fields)
        atomic_write_text(self.path / MANIFEST_FILE, json.dumps(manifest, indent=2))

    # -- parts and tables ----------------------------------------------------------------------
    def part_path(self, key: str) -> Path:
        return self.path / part_file(key)

    def write_part(self, task, rows: pd.DataFrame, kind: str | None = None) -> pd.DataFrame:
        """Store a finished task's rows (``kind``: a sibling part, its curves) and their checksum; returns the
        rows as a later read gives them. A curve part is written before its task's trials part, whose
        presence marks the task finished."""
        self._begin_writing()
        frame = parts.write_part(self.path, task, rows, kind)
        if kind is None:
            self._has_results()
        return frame

    def load_parts(self, tasks: list, schema: parts.PartSchema, with_curves: bool = False
                   ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        """The rows (and curve rows) of every task with sound parts, by task key. A part that fails its check is
        named (a note) and left out, so its task runs again; a finished task whose curve part is missing or
        unsound runs again too, so curves.csv never lacks a finished simulation's curve. A trials part without
        a checksum is used only when its rows pass every other check, and then gains one."""
        frames: dict[str, pd.DataFrame] = {}
        curves: dict[str, pd.DataFrame] = {}
        if self.replacing:
            return frames, curves
        adopted = 0
        for task in tasks:
            checked = parts.has_checksum(self.path, task)
            frame, data, problem = parts.read_part(self.path, task, schema, checked=checked)
            if problem == parts.MISSING:
                continue
            if problem:
                what = "is damaged" if checked else "has no checksum and"
                self._note(f"{self.part_path(task.key)}: {what} ({problem}); not used, its trials run again")
                continue
            if with_curves:
                curve, _, curve_problem = parts.read_part(self.path, task, schema, CURVE_PART)
                if curve_problem:
                    why = ("missing (the run stopped between a simulation's curve and its trials)"
                           if curve_problem == parts.MISSING else f"damaged ({curve_problem})")
                    self._note(f"{self.path / part_file(task.key, CURVE_PART)}: {why}; its simulation runs again")
                    continue
                curves[task.key] = curve
            if not checked:
                parts.write_checksum(self.path, task.key, data, len(frame))
                adopted += 1
            frames[task.key] = frame
        if adopted:
            self._note(f"{self.parts}: {adopted} part(s) without a checksum (from an older memgen, or a run "
                       "stopped before writing it) hold their task's rows; checksums added")
        return frames, curves

    def write_tables(self, trials: pd.DataFrame, summary: pd.DataFrame, curves: pd.DataFrame | None = None) -> None:
        self._begin_writing()
        atomic_write_csv(self.path / TRIALS_FILE, trials)
        atomic_write_csv(self.path / SUMMARY_FILE, summary)
        if curves is not None:
            atomic_write_csv(self.path / CURVES_FILE, curves)
        self._has_results()

    def write_log(self, key: str, text: str) -> str:
        """A failed task's whole traceback; returns its path relative to the folder (kept on resume)."""
        self._begin_writing()
        relative = task_log(key)
        path = self.path / relative
        try:
            path.parent.mkdir(exist_ok=True)
        except OSError as error:
            raise ResultsWriteError(f"{path.parent}: cannot create ({error.strerror})") from None
        atomic_write_text(path, text)
        return relative

    def remove_log(self, key: str) -> None:
        """A task that now succeeded leaves no stale log behind."""
        (self.path / task_log(key)).unlink(missing_ok=True)

    def write_failed(self, failed: list[dict]) -> None:
        self._begin_writing()
        path = self.path / FAILED_FILE
        if failed:
            atomic_write_text(path, json.dumps(failed, indent=2))
        else:
            path.unlink(missing_ok=True)

    def read_failed(self) -> list[dict]:
        path = self.path / FAILED_FILE
        return json.loads(path.read_text()) if path.exists() and not self.replacing else []

