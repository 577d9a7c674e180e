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
import hashlib
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
from memgen_cli.results_format import (CONFIG_FILE, CURVE_PART, CURVES_FILE, FAILED_FILE, IDENTIFIERS, IMAGES_DIR,
                                       MANIFEST_FILE, PARTS_DIR, READER_FILES, STEP_COLUMN, SUMMARY_FILE, SWEEP_FILES,
                                       TRIAL_COLUMNS, TRIALS_FILE, FolderLock, ResultsWriteError, atomic_write_bytes,
                                       atomic_write_csv, atomic_write_text, csv_bytes, parse_part,
                                       part_checksum_file, part_file, task_log)
from memgen_cli.runner import replacement
from memgen_cli.config import dump_yaml
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
            known = SWEEP_FILES + READER_FILES + (IMAGES_DIR,)
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

    def write_part(self, task, rows: pd.DataFrame) -> pd.DataFrame:
        """Store a finished task's rows and their checksum; returns the rows as a later read gives them."""
        self._begin_writing()
        data = csv_bytes(rows)
        atomic_write_bytes(self.part_path(task.key), data)
        self._write_checksum(task.key, data, len(rows))
        self._has_results()
        return parse_part(data, task.cell)

    def _write_checksum(self, key: str, data: bytes, rows: int, kind: str | None = None) -> None:
        checksum = {"sha256": hashlib.sha256(data).hexdigest(), "rows": rows}
        atomic_write_text(self.path / part_checksum_file(key, kind), json.dumps(checksum) + "\n")

    # A task's curve part (U-Net, evaluation.every: its simulations' rows at every checkpoint) is written
    # before its trials part, whose presence marks the task finished; a finished task whose curve part is
    # missing or fails its check runs again, so curves.csv never lacks a finished simulation's curve.
    def write_curve_part(self, task, rows: pd.DataFrame) -> pd.DataFrame:
        """Store a task's curve rows and their checksum; returns them as a later read gives them."""
        self._begin_writing()
        data = csv_bytes(rows)
        atomic_write_bytes(self.path / part_file(task.key, CURVE_PART), data)
        self._write_checksum(task.key, data, len(rows), CURVE_PART)
        return parse_part(data, task.cell, CURVE_PART)

    def load_curve_parts(self, tasks: list, frames: dict[str, pd.DataFrame], model: str) -> dict[str, pd.DataFrame]:
        """The curve rows of every finished task (a key of ``frames``); a task whose curve part is missing or
        unsound is named (a note) and taken out of ``frames``, so that it runs again."""
        curves: dict[str, pd.DataFrame] = {}
        for task in tasks:
            if task.key not in frames:
                continue
            frame, problem = self._read_curve_part(task, model)
            if problem:
                self._note(f"{self.path / part_file(task.key, CURVE_PART)}: {problem}; its simulation runs again")
                del frames[task.key]
            else:
                curves[task.key] = frame
        return curves

    def _read_curve_part(self, task, model: str) -> tuple[pd.DataFrame | None, str]:
        path, checksum_path = self.path / part_file(task.key, CURVE_PART), self.path / part_checksum_file(
            task.key, CURVE_PART)
        if not path.exists() or not checksum_path.exists():
            return None, "missing (the run stopped between a simulation's curve and its trials)"
        try:
            checksum = json.loads(checksum_path.read_text())
            sha256, rows = checksum["sha256"], checksum["rows"]
            data = path.read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return None, "damaged (it or its checksum is unreadable)"
        if hashlib.sha256(data).hexdigest() != sha256:
            return None, "damaged (its bytes do not match its checksum)"
        try:
            frame = parse_part(data, task.cell, CURVE_PART)
        except Exception as error:  # pandas' parser errors, ValueError, UnicodeDecodeError: all mean damaged
            return None, f"damaged (not a readable CSV: {type(error).__name__})"
        leading = [*IDENTIFIERS, *task.cell, *TRIAL_COLUMNS, STEP_COLUMN]
        if len(frame) != rows or list(frame.columns[:len(leading)]) != leading:
            return None, "damaged (its rows or columns are not those its checksum and task say)"
        trial_col, seed_col = TRIAL_COLUMNS
        if set(zip(frame[trial_col], frame[seed_col])) != set(task.trials) or \
                (frame[IDENTIFIERS[0]] != model).any() or (frame[IDENTIFIERS[2]] != task.cell_id).any():
            return None, "damaged (its trials, seeds or identifiers are not its task's)"
        return frame, ""

    def load_parts(self, tasks: list, model: str, metrics: tuple[str, ...]) -> dict[str, pd.DataFrame]:
        """The rows of every task with a sound part, by task key. A part that fails its check is named (a
        note) and left out, so its task runs again. A part without a checksum (an older memgen's, or one whose
        run stopped before its checksum) is kept only with its task's trials, seeds and identifiers and the
        columns of a checked part (or, with none, the cell's parameters and the metrics); it then gains one."""
        if self.replacing:
            return {}
        frames: dict[str, pd.DataFrame] = {}
        unchecked = []
        for task in tasks:
            if not self.part_path(task.key).exists():
                continue
            if not (self.path / part_checksum_file(task.key)).exists():
                unchecked.append(task)
                continue
            frame, problem = self._read_checked_part(task, model)
            if problem:
                self._note(f"{self.part_path(task.key)}: damaged ({problem}); not used, its trials run again")
            else:
                frames[task.key] = frame
        known_columns = {tuple(frame.columns) for frame in frames.values()} or None
        adopted = 0
        for task in unchecked:
            data, frame, problem = self._read_part(task, model, known_columns, metrics)
            if problem:
                self._note(f"{self.part_path(task.key)}: has no checksum and {problem}; not used, its trials "
                           "run again")
                continue
            self._write_checksum(task.key, data, len(frame))
            frames[task.key] = frame
            adopted += 1
        if adopted:
            self._note(f"{self.parts}: {adopted} part(s) without a checksum (from an older memgen, or a run "
                       "stopped before writing it) hold their task's rows; checksums added")
        return frames

    def _read_checked_part(self, task, model: str) -> tuple[pd.DataFrame | None, str]:
        try:
            checksum = json.loads((self.path / part_checksum_file(task.key)).read_text())
            sha256, rows = checksum["sha256"], checksum["rows"]
        except (OSError, ValueError, KeyError, TypeError):
            return None, f"its checksum file {part_checksum_file(task.key)} is unreadable"
        data, frame, problem = self._read_part(task, model)
        if data is not None and hashlib.sha256(data).hexdigest() != sha256:
            return None, "its bytes do not match its checksum"
        if not problem and len(frame) != rows:
            problem = f"holds {len(frame)} rows, its checksum says {rows}"
        return frame, problem

    def _read_part(self, task, model: str, known_columns: set | None = None, metrics: tuple[str, ...] = ()):
        """(bytes, rows, problem): the part read with the dtypes of its columns, checked against its task."""
        try:
            data = self.part_path(task.key).read_bytes()
        except OSError as error:
            return None, None, f"cannot be read ({error.strerror})"
        try:
            frame = parse_part(data, task.cell)
        except Exception as error:  # pandas' parser errors, ValueError, UnicodeDecodeError: all mean damaged
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            return data, None, f"is not a readable CSV ({first_line})"
        return data, frame, _task_mismatch(frame, task, model, known_columns, metrics)

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


def _task_mismatch(frame: pd.DataFrame, task, model: str, known_columns: set | None,
                   metrics: tuple[str, ...]) -> str:
    """What makes a part's rows not its task's ('' when nothing): the trials and seeds, the identifiers and
    the columns (those of a checked part, else the leading ones and the experiment's metrics)."""
    leading = [*IDENTIFIERS, *task.cell, *TRIAL_COLUMNS]
    found = list(frame.columns)
    if found[:len(leading)] != leading or (known_columns is not None and tuple(found) not in known_columns):
        return "its columns are not those of the other parts"
    missing = [m for m in metrics if m not in found]
    if missing:
        return f"lacks the metric column {missing[0]!r}"
    if len(frame) != len(task.trials):
        return f"holds {len(frame)} rows, its task has {len(task.trials)} trials"
    trial_col, seed_col = TRIAL_COLUMNS
    if frame[trial_col].tolist() != [t for t, _ in task.trials] or \
            frame[seed_col].tolist() != [s for _, s in task.trials]:
        return "its trial numbers or seeds are not its task's"
    model_col, cell_col, id_col = IDENTIFIERS
    if (frame[model_col] != model).any() or (frame[cell_col] != task.cell_index).any() or \
            (frame[id_col] != task.cell_id).any():
        return "its identifiers (model, cell, cell_id) are not its task's"
    return ""
