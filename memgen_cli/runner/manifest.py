"""manifest.json: provenance (versions, commit, platform) and the history of every run on a results folder.

Each run appends an entry when it starts (command line, executor, what it had to do) and completes it when it
stops: its status (finished, failed, incomplete, interrupted), its end time and the sha256 of the tables it
wrote, which `plot` and `analyze` check the tables against. A run killed before it could say so keeps no end:
the next run marks it "killed". A damaged manifest is never silently replaced: it is kept beside, named in a
warning, and the new history records where.
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

from memgen_cli import ledger
from memgen_cli.results_format import MANIFEST_FILE, atomic_write_text, read_manifest
from memgen_cli.version import __version__, git_state

_PACKAGES = ("numpy", "scipy", "pandas", "pydantic", "typer", "rich", "pyyaml", "threadpoolctl", "filelock",
             "matplotlib", "torch", "diffusers", "dask", "distributed")
KILLED = "killed (no end was recorded)"


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


class Manifest:
    """The manifest of one folder, read and written under the folder's lock."""

    def __init__(self, folder: Path, note: Callable[[str], None]):
        self.path = Path(folder) / MANIFEST_FILE
        self._note = note
        self._damaged_copy: str | None = None

    def check(self) -> None:
        """At open: a damaged manifest is moved aside (never lost) with a warning; runs that never recorded an
        end are marked killed."""
        if not self.path.exists():
            return
        manifest = read_manifest(self.path.parent)
        if manifest is None:
            stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
            kept = self.path.with_name(f"{MANIFEST_FILE}.damaged-{stamp}")
            ledger.record(kept)
            os.replace(self.path, kept)
            self._damaged_copy = kept.name
            self._note(f"{self.path}: damaged (not a manifest memgen wrote); kept as {kept.name}, and a new run "
                       "history starts")
            return
        killed = [run for run in manifest["runs"] if run.get("status") is None and run.get("end") is None]
        if killed:
            for run in killed:
                run["status"] = KILLED
            self._write(manifest)

    def ensure(self) -> None:
        """A manifest before anything else is written: what marks the folder as memgen's from the start."""
        if read_manifest(self.path.parent) is None:
            self._write(self.read())

    def read(self) -> dict:
        manifest = read_manifest(self.path.parent)
        if manifest is None:
            manifest = {"created": now(), **environment_provenance(), "runs": []}
            if self._damaged_copy:
                manifest["damaged_manifest_kept_as"] = self._damaged_copy
        return manifest

    def _write(self, manifest: dict) -> None:
        atomic_write_text(self.path, json.dumps(manifest, indent=2))

    def record_run(self, run: dict) -> int:
        """Append a run entry (command line, executor, start time); returns its index."""
        manifest = self.read()
        manifest.update(environment_provenance())
        manifest["runs"].append(run)
        self._write(manifest)
        return len(manifest["runs"]) - 1

    def update_run(self, index: int, **fields) -> None:
        manifest = self.read()
        manifest["runs"][index].update(fields)
        self._write(manifest)

    def record_tables(self, digests: dict[str, str | None]) -> None:
        """The sha256 of the tables just written: what readers check the folder's tables against."""
        manifest = self.read()
        manifest["tables"] = {name: digest for name, digest in digests.items() if digest is not None}
        self._write(manifest)
