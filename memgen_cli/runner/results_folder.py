"""The results folder as a run writes it: the lock, the resolved config, provenance, durable parts and the
final tables. Its file names, column roles, lock and atomic write come from ``memgen_cli.results_format``.

Durability rests on two rules: every file is written to a temporary name and renamed into place
(so a kill leaves either the old file or the new one, never half of one), and each finished task is
its own part file (so a rerun skips it). Layout: docs/results-format.md.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from memgen_cli.errors import MemgenError
from memgen_cli.results_format import (CONFIG_FILE, FAILED_FILE, IMAGES_DIR, MANIFEST_FILE, PARTS_DIR,
                                       READER_FILES, RESULT_FILES, SUMMARY_FILE, SWEEP_FILES, TRIALS_FILE, FolderLock,
                                       atomic_write_csv, atomic_write_text, task_log)
from memgen_cli.runner.config import dump_yaml
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

    def __init__(self, path: Path):
        self.path = Path(path)
        self.parts = self.path / PARTS_DIR
        self._lock = FolderLock(self.path)

    # -- opening -------------------------------------------------------------------------------
    def open(self, config: dict, force: bool = False) -> None:
        """Create or reopen the folder for this config; refuse a different config unless force."""
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
        config_path = self.path / CONFIG_FILE
        if config_path.exists():
            old = yaml.safe_load(config_path.read_text())
            if old != config:
                if not force:
                    self.close()
                    raise MemgenError(f"--out {self.path}: holds results of a different config "
                                      f"({_first_difference(old, config)}); use --force to replace them "
                                      "or choose another --out")
                self._clear_results()
        atomic_write_text(config_path, dump_yaml(config))

    def _clear_results(self) -> None:
        for name in RESULT_FILES:
            path = self.path / name
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        self.parts.mkdir()

    def close(self) -> None:
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
        return self.parts / f"{key}.csv"

    def has_part(self, key: str) -> bool:
        return self.part_path(key).exists()

    def write_part(self, key: str, rows: pd.DataFrame) -> None:
        atomic_write_csv(self.part_path(key), rows)

    def read_part(self, key: str) -> pd.DataFrame:
        return pd.read_csv(self.part_path(key))

    def write_tables(self, trials: pd.DataFrame, summary: pd.DataFrame) -> None:
        atomic_write_csv(self.path / TRIALS_FILE, trials)
        atomic_write_csv(self.path / SUMMARY_FILE, summary)

    def write_log(self, key: str, text: str) -> str:
        """A failed task's whole traceback; returns its path relative to the folder (kept on resume)."""
        relative = task_log(key)
        path = self.path / relative
        path.parent.mkdir(exist_ok=True)
        atomic_write_text(path, text)
        return relative

    def remove_log(self, key: str) -> None:
        """A task that now succeeded leaves no stale log behind."""
        (self.path / task_log(key)).unlink(missing_ok=True)

    def write_failed(self, failed: list[dict]) -> None:
        path = self.path / FAILED_FILE
        if failed:
            atomic_write_text(path, json.dumps(failed, indent=2))
        else:
            path.unlink(missing_ok=True)

    def read_failed(self) -> list[dict]:
        path = self.path / FAILED_FILE
        return json.loads(path.read_text()) if path.exists() else []
