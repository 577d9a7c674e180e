"""The results folder as a run writes it: the lock, the resolved config, provenance, durable parts and the
final tables. Its file names, column roles, lock and atomic write come from ``memgen_cli.results_format``.

Durability rests on three rules: every file is written to a temporary name and renamed into place
(so a kill leaves either the old file or the new one, never half of one); each finished task is its own
part file with a checksum (so a rerun skips it, and a damaged part is named and recomputed, never used);
--force sets the old results aside until the new run has a part of its own (``replacement``).
Layout: docs/results-format.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pandas as pd

from memgen_cli.config import dump_yaml
from memgen_cli.errors import MemgenError
from memgen_cli.results_format import (CONFIG_FILE, CURVE_PART, CURVES_FILE, FAILED_FILE, FOREIGN_FOLDER, MEMGEN_FILES,
                                       MEMGEN_FOLDER, PARTS_DIR, SUMMARY_FILE, TRIALS_FILE, FolderLock,
                                       ResultsWriteError, atomic_write_csv, atomic_write_text, file_digest,
                                       name_problem, part_file, read_stored_config, recognise, remove_stale_temporaries,
                                       task_log)
from memgen_cli import ledger
from memgen_cli.runner import parts, replacement
from memgen_cli.runner.growth import config_changes
from memgen_cli.runner.manifest import Manifest
from memgen_cli.yaml_files import YamlFileError


class ResultsFolder:
    """One sweep's output folder, held under an exclusive lock while a run writes it."""

    def __init__(self, path: Path, note: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.parts = self.path / PARTS_DIR
        self._lock = FolderLock(self.path)
        self._note = note or (lambda message: None)  # one-line warnings (a damaged part, a restore)
        self.manifest = Manifest(self.path, self._note)
        self._aside: Path | None = None  # --force: the old results, until the new run has a part
        self._new_config: dict | None = None  # --force: the config to put in place at the first part
        self.vouched = True  # config.yaml says these are this config's parts (parts without an identity rely on it)
        self.growth: list[str] = []  # what this run adds to the folder's sweep (grid values, trials)
        self._grown_config: dict | None = None  # a growth's config.yaml: written with the tables it describes

    # -- opening -------------------------------------------------------------------------------
    def open(self, config: dict, force: bool = False, experiment=None, typed_config=None,
             schema: parts.PartSchema | None = None, tasks: list | None = None) -> None:
        """Create or reopen the folder for this config; refuse a different config unless force.

        A folder that is not memgen's (``results_format.recognise``) is refused whatever the flags. The stored
        config.yaml is read as this version spells it (``experiment.read_stored_config``); a config that only
        adds grid values or trials grows the folder's sweep (``runner.growth``); the parts already stored must
        have the identity this run's tasks (``tasks``, ``schema``) expect, whatever config.yaml says.
        """
        if problem := name_problem(self.path):
            raise MemgenError(f"--out {self.path}: {problem}")
        if self.path.exists() and not self.path.is_dir():
            raise MemgenError(f"--out {self.path}: exists and is not a folder")
        if self.path.is_dir() and recognise(self.path) == FOREIGN_FOLDER:
            held = sorted((p.name for p in self.path.iterdir() if not p.name.startswith(".")),
                          key=lambda name: (name in MEMGEN_FILES, name))  # what is not memgen's first
            raise MemgenError(f"--out {self.path}: not a memgen results folder (holds {', '.join(map(repr, held[:3]))}"
                              f"{', ...' if len(held) > 3 else ''}; no manifest.json memgen wrote and no checked "
                              "part); memgen neither writes nor deletes there, whatever the flags: choose another "
                              "--out")
        legacy = self.path.is_dir() and not ledger.has_ledger(self.path) and recognise(self.path) == MEMGEN_FOLDER
        try:
            ledger.make_dirs(self.path)
            locked = self._lock.acquire()
        except OSError as exc:
            raise MemgenError(f"--out {self.path}: cannot write there ({exc.strerror})") from None
        if not locked:
            raise MemgenError(f"--out {self.path}: another memgen run is writing this folder; "
                              "wait for it to finish or choose another --out") from None
        try:
            if self.parts.exists() and not self.parts.is_dir():
                raise MemgenError(f"--out {self.path}: its {PARTS_DIR}/ is not a folder (memgen keeps the finished "
                                  f"work there); move {self.parts} away, or choose another --out")
            if legacy:  # written before the ledger: its known names at the top level and its parts are memgen's
                ledger.adopt(self.path, MEMGEN_FILES, {PARTS_DIR: ("*.csv", "*.checksum.json")})
            replacement.settle(self.path, self._note)
            remove_stale_temporaries(self.path)
            self.manifest.check()
            self.manifest.ensure()
            self._check_config(config, force, experiment, typed_config)
            if not self.replacing and schema is not None and tasks is not None:
                self._check_identities(config, force, schema, tasks)
            if not self.replacing:
                ledger.make_dirs(self.parts)
                if self.growth:  # config.yaml keeps describing the tables until the grown ones are written
                    self._grown_config = config
                else:
                    atomic_write_text(self.path / CONFIG_FILE, dump_yaml(config))
        except BaseException:
            self.close()
            raise

    def _check_config(self, config: dict, force: bool, experiment, typed_config) -> None:
        config_path = self.path / CONFIG_FILE
        if not config_path.exists() and not config_path.is_symlink():
            self.vouched = not any(self.parts.glob("*.csv"))  # parts with no config.yaml: only their identity counts
            return
        try:
            old = read_stored_config(self.path)
        except YamlFileError as exc:
            if not force:
                raise MemgenError(f"--out {self.path}: its {CONFIG_FILE} is damaged ({exc.problem}); use --force "
                                  "to replace the folder's results, or choose another --out") from None
            self._replace(config)
            return
        translated = ""
        if experiment is not None:
            old, translated = experiment.read_stored_config(old)
        if old == config:
            return
        changes = config_changes(old, config, experiment.config_class if experiment is not None else None)
        problem = None
        if changes.only_growth and experiment is not None:
            problem = experiment.growth_problem(experiment.config_class.model_validate(old), typed_config)
            if problem is None:
                self.growth = changes.growth
                return
        if not force:
            why = "; ".join((problem and [problem]) or changes.other[:3] or changes.growth[:3])
            more = len(changes.other) - 3
            raise MemgenError(f"--out {self.path}: holds results of a different config ({why}"
                              f"{f'; and {more} more' if more > 0 else ''}{f'; {translated}' if translated else ''})"
                              "; use --force to replace them or choose another --out")
        self._replace(config)

    def _check_identities(self, config: dict, force: bool, schema: parts.PartSchema, tasks: list) -> None:
        """Parts this run would reuse must have been computed from its inputs (config.yaml may be gone or
        wrong), and with no config.yaml every stored part must be one of its tasks: otherwise the folder holds
        another config's results, refused (or replaced with --force) rather than mixed in or left unexplained."""
        planned = {task.key for task in tasks}
        stray = [] if self.vouched else sorted(p.stem for p in self.parts.glob("*.csv")
                                               if "." not in p.stem and p.stem not in planned)
        for task in tasks:
            recorded = parts.stored_identity(self.path, task.key)
            if recorded is not None and recorded != schema.identity(task) and self.part_path(task.key).exists():
                stray.append(task.key)
                break
        if not stray:
            return
        if not force:
            raise MemgenError(f"--out {self.path}: holds results of a different config ({part_file(stray[0])} was "
                              "computed from other inputs, or belongs to another sweep); use --force to replace "
                              "them or choose another --out")
        self._replace(config)

    def _replace(self, config: dict) -> None:
        # The old results stay in place, readable, until this run has a part of its own.
        self._aside, self._new_config = replacement.set_aside_early(self.path), config
        self.vouched = True

    @property
    def replacing(self) -> bool:
        """True while --force has not yet set the old results aside: they are not this config's."""
        return self._new_config is not None

    def _begin_writing(self) -> None:
        """The new run's first part: set the old results aside and put its config in place."""
        if self._new_config is None:
            return
        replacement.set_aside_rest(self.path, self._aside)
        try:
            ledger.make_dirs(self.parts)
        except OSError as error:
            raise ResultsWriteError(f"{self.parts}: cannot create ({error.strerror})") from None
        atomic_write_text(self.path / CONFIG_FILE, dump_yaml(self._new_config))
        self._new_config = None

    def _has_results(self) -> None:
        """The new run has a part: the old results it replaced are deleted."""
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

    # -- parts and tables ----------------------------------------------------------------------
    def part_path(self, key: str) -> Path:
        return self.path / part_file(key)

    def write_part(self, task, rows: pd.DataFrame, identity: str, kind: str | None = None) -> pd.DataFrame:
        """Store a finished task's rows (``kind``: a sibling part, its curves), their checksum and identity;
        returns the rows as a later read gives them. A curve part is written before its task's trials part,
        whose presence marks the task finished."""
        self._begin_writing()
        frame = parts.write_part(self.path, task, rows, identity, kind)
        if kind is None:
            self._has_results()
        return frame

    def load_parts(self, tasks: list, schema: parts.PartSchema, with_curves: bool = False
                   ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        """The rows (and curve rows) of every task with sound parts, by task key. A part that fails its check is
        named (a note) and left out, so its task runs again; a finished task whose curve part is missing or
        unsound runs again too, so curves.csv never lacks a finished simulation's curve. A part without a
        recorded identity (an older memgen's) is used only when config.yaml vouches for it, and a part without
        a checksum only when its rows are whole and its task's; both then gain what they lacked."""
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
            identified = checked and parts.stored_identity(self.path, task.key) is not None
            if not problem and not identified and not self.vouched:
                problem = f"nothing says which inputs computed it (no identity, and no {CONFIG_FILE})"
            if problem:
                what = "is damaged" if checked else "has no checksum and"
                self._note(f"{self.part_path(task.key)}: {what} ({problem}); not used, its trials run again")
                continue
            if with_curves:
                curve, curve_data, curve_problem = parts.read_part(self.path, task, schema, CURVE_PART)
                if curve_problem:
                    why = ("missing (the run stopped between a simulation's curve and its trials)"
                           if curve_problem == parts.MISSING else f"damaged ({curve_problem})")
                    self._note(f"{self.path / part_file(task.key, CURVE_PART)}: {why}; its simulation runs again")
                    continue
                curves[task.key] = curve
                if parts.stored_identity(self.path, task.key, CURVE_PART) is None:
                    parts.write_checksum(self.path, task.key, curve_data, len(curve), schema.identity(task),
                                         CURVE_PART)
            if not identified:
                parts.write_checksum(self.path, task.key, data, len(frame), schema.identity(task))
                adopted += 1
            frames[task.key] = frame
        if adopted:
            self._note(f"{self.parts}: {adopted} part(s) from an older memgen or a stopped run (no checksum or no "
                       "recorded identity) hold their task's rows; checksums added (with their identities)")
        return frames, curves

    def write_tables(self, trials: pd.DataFrame, summary: pd.DataFrame, curves: pd.DataFrame | None = None) -> bool:
        """Write the assembled tables and record their sha256 in the manifest; nothing while a --force run has
        no part yet (the old tables stay). Returns whether they were written."""
        if self.replacing:
            return False
        written = {TRIALS_FILE: trials, SUMMARY_FILE: summary, **({CURVES_FILE: curves} if curves is not None else {})}
        for name, frame in written.items():
            atomic_write_csv(self.path / name, frame)
        self.manifest.record_tables({name: file_digest(self.path / name) for name in written})
        if self._grown_config is not None:
            atomic_write_text(self.path / CONFIG_FILE, dump_yaml(self._grown_config))
            self._grown_config = None
        return True

    def write_log(self, key: str, text: str) -> str | None:
        """A failed task's whole traceback; returns its path relative to the folder (kept on resume), or None
        while a --force run has no part yet (the folder still holds the old results, untouched)."""
        if self.replacing:
            return None
        relative = task_log(key)
        path = self.path / relative
        try:
            ledger.make_dirs(path.parent)
        except OSError as error:
            raise ResultsWriteError(f"{path.parent}: cannot create ({error.strerror})") from None
        atomic_write_text(path, text)
        return relative

    def remove_log(self, key: str) -> None:
        """A task that now succeeded leaves no stale log behind."""
        ledger.remove_owned(self.path / task_log(key))

    def write_failed(self, failed: list[dict]) -> None:
        if self.replacing:
            return
        path = self.path / FAILED_FILE
        if failed:
            atomic_write_text(path, json.dumps(failed, indent=2))
        else:
            ledger.remove_owned(path)

    def read_failed(self) -> list[dict]:
        """The tasks that failed in the last run; a damaged failed.json is one line."""
        path = self.path / FAILED_FILE
        if not path.exists() or self.replacing:
            return []
        try:
            failed = json.loads(path.read_text())
            if not isinstance(failed, list) or not all(isinstance(f, dict) and isinstance(f.get("task"), str)
                                                       for f in failed):
                raise ValueError("not a list of failed tasks")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise MemgenError(f"{path}: damaged ({getattr(exc, 'strerror', None) or exc}); without it "
                              "--retry-failed cannot know which tasks failed: rerun without --retry-failed")\
                from None
        return failed


def write_tables_locked(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Write tables into a folder outside a run (``memgen locate``'s tables of every round), under the folder's
    lock, and record the sha256 of every one in the manifest as a run's tables are."""
    lock = FolderLock(Path(path))
    if not lock.acquire():
        raise MemgenError(f"--out {path}: another memgen run is writing this folder; wait for it to finish")
    try:
        for name, frame in tables.items():
            atomic_write_csv(Path(path) / name, frame)
        Manifest(Path(path), lambda message: None).record_tables(
            {name: file_digest(Path(path) / name) for name in tables})
    finally:
        lock.release()


def preview(path: Path, config: dict, experiment, typed_config, force: bool = False) -> tuple[str, bool]:
    """What a run of ``config`` into ``path`` would do with the folder, decided as ``ResultsFolder.open`` decides
    it but touching nothing (for --dry-run): (a few words, whether the run would be refused)."""
    path = Path(path)
    if problem := name_problem(path):
        return f"refused: --out {path}: {problem}", True
    if path.exists() and not path.is_dir():
        return f"refused: --out {path}: exists and is not a folder", True
    if not path.is_dir() or not any(path.iterdir()):
        return "a new results folder", False
    if recognise(path) == FOREIGN_FOLDER:
        return f"refused: --out {path}: not a memgen results folder; memgen neither writes nor deletes there", True
    if not (path / CONFIG_FILE).is_file():
        return "resumes the parts already there", False
    try:
        old, _ = experiment.read_stored_config(read_stored_config(path))
    except YamlFileError as exc:
        return ((f"replaces its results (--force; its {CONFIG_FILE} is damaged)", False) if force else
                (f"refused: its {CONFIG_FILE} is damaged ({exc.problem}); --force replaces its results", True))
    if old == config:
        return "resumes it: the same config (finished parts are kept)", False
    changes = config_changes(old, config, experiment.config_class)
    if changes.only_growth and experiment.growth_problem(experiment.config_class.model_validate(old),
                                                         typed_config) is None:
        return f"grows it ({'; '.join(changes.growth[:3])})", False
    if force:
        return "replaces its results (--force)", False
    why = "; ".join(changes.other[:2] or changes.growth[:2])
    return f"refused: it holds results of a different config ({why}); --force replaces them", True
