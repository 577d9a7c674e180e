"""The results folder: a lock, the resolved config, provenance, durable parts and the final tables.

Durability rests on two rules: every file is written to a temporary name and renamed into place
(so a kill leaves either the old file or the new one, never half of one), and each finished task is
its own part file (so a rerun skips it). Layout: docs/results-format.md.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from memgen_cli.version import __version__
from memgen_cli.runner.config import dump_yaml
from memgen_cli.errors import MemgenError

MEMGEN_FILES = ("config.yaml", "manifest.json", "trials.csv", "summary.csv", "failed.json", "parts", ".lock")
_PACKAGES = ("numpy", "scipy", "pandas", "pydantic", "typer", "rich", "pyyaml", "threadpoolctl", "matplotlib",
             "torch", "diffusers", "dask", "distributed")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def atomic_write_text(path: Path, text: str) -> None:
    """Write text so that readers (and a rerun after kill -9) see the old file or the new one, whole."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_csv(path: Path, frame: pd.DataFrame) -> None:
    # pandas writes float64 in shortest round-trip form: a CSV read back holds the same numbers.
    atomic_write_text(path, frame.to_csv(index=False))


def _git_state() -> dict:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=5)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def environment_provenance() -> dict:
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"memgen_version": __version__, "git": _git_state(), "packages": packages,
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
        self.parts = self.path / "parts"
        self._lock_fh = None

    # -- opening -------------------------------------------------------------------------------
    def open(self, config: dict, force: bool = False) -> None:
        """Create or reopen the folder for this config; refuse a different config unless force."""
        if self.path.exists() and not self.path.is_dir():
            raise MemgenError(f"--out {self.path}: exists and is not a folder")
        if self.path.is_dir():
            foreign = [p.name for p in self.path.iterdir() if p.name not in MEMGEN_FILES and p.name != "figures"
                       and not p.name.startswith(".")]
            if foreign and not (self.path / "config.yaml").exists():
                raise MemgenError(f"--out {self.path}: folder exists and is not a memgen results folder "
                                  f"(holds {foreign[0]!r}); choose another --out")
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
            self._lock_fh = open(self.path / ".lock", "a+")
        except OSError as exc:
            raise MemgenError(f"--out {self.path}: cannot write there ({exc.strerror})") from None
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.close()
            self._lock_fh = None
            raise MemgenError(f"--out {self.path}: another memgen run is writing this folder; "
                              "wait for it to finish or choose another --out") from None
        config_path = self.path / "config.yaml"
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
        shutil.rmtree(self.parts, ignore_errors=True)
        self.parts.mkdir()
        for name in ("trials.csv", "summary.csv", "failed.json"):
            (self.path / name).unlink(missing_ok=True)

    def close(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    # -- provenance ----------------------------------------------------------------------------
    def _read_manifest(self) -> dict:
        path = self.path / "manifest.json"
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
        atomic_write_text(self.path / "manifest.json", json.dumps(manifest, indent=2))
        return len(manifest["runs"]) - 1

    def update_run(self, index: int, **fields) -> None:
        manifest = self._read_manifest()
        manifest["runs"][index].update(fields)
        atomic_write_text(self.path / "manifest.json", json.dumps(manifest, indent=2))

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
        atomic_write_csv(self.path / "trials.csv", trials)
        atomic_write_csv(self.path / "summary.csv", summary)

    def write_failed(self, failed: list[dict]) -> None:
        path = self.path / "failed.json"
        if failed:
            atomic_write_text(path, json.dumps(failed, indent=2))
        else:
            path.unlink(missing_ok=True)

    def read_failed(self) -> list[dict]:
        path = self.path / "failed.json"
        return json.loads(path.read_text()) if path.exists() else []
