"""`--force` without destroying first: the old results of a folder are set aside in a hidden folder and
deleted only once the new run has its first part, so a run killed before that leaves them usable.

Three steps, each ending in a rename, so that a kill at any moment leaves a state the next open settles:
  1. at open, ``set_aside_early``: what the new run's tasks may write into before the driver's first write
     (U-Net image grids) goes to ``.replaced-<time>/``; the old config and results stay readable in place;
  2. at the new run's first write, ``set_aside_rest``: everything else it replaces goes there too, then a
     marker says so (from then on, what the folder holds belongs to the new run);
  3. after its first part (or its tables), ``discard``: renamed ``.discarded-<time>/``, then deleted.
Only what the folder's ledger lists moves or goes (``memgen_cli.ledger``): a user's files stay where they are.
``settle`` (every open) restores an aside the new run never got past, and finishes a discard.
"""

from __future__ import annotations

import datetime as _dt
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from memgen_cli import ledger
from memgen_cli.results_format import (DISCARDED_PREFIX, IMAGES_DIR, PARTS_DIR, REPLACED_FILES, REPLACED_PREFIX,
                                       REPLACING_PREFIX, SET_ASIDE_MARKER, ResultsWriteError)

EARLY_FILES = (IMAGES_DIR,)  # written by tasks (not the driver) from the start of a run


@contextmanager
def _writing(folder: Path) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        raise ResultsWriteError(f"--out {folder}: cannot replace the old results "
                                f"({error.strerror or error}: {error.filename})") from None


def _rename(source: Path, target: Path) -> None:
    """Rename a folder memgen made, its ledger following (the new name first)."""
    ledger.record(target)
    source.rename(target)
    ledger.forget(source)


def has_part(folder: Path) -> bool:
    return any((folder / PARTS_DIR).glob("*.csv"))


def set_aside_early(folder: Path) -> Path:
    """Step 1: a new aside folder holding the early files; returns it."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    moving = folder / f"{REPLACING_PREFIX}{stamp}"
    aside = folder / f"{REPLACED_PREFIX}{stamp}"
    with _writing(folder):
        ledger.record(moving)
        moving.mkdir()
        for name in EARLY_FILES:
            ledger.move_owned(folder / name, moving / name)
        _rename(moving, aside)
    return aside


def set_aside_rest(folder: Path, aside: Path) -> None:
    """Step 2: everything else the new run replaces (what memgen wrote of it: the ledger's), then the marker."""
    with _writing(folder):
        for name in REPLACED_FILES:
            if name not in EARLY_FILES:
                ledger.move_owned(folder / name, aside / name)
        ledger.record(aside / SET_ASIDE_MARKER)
        (aside / SET_ASIDE_MARKER).touch()


def discard(aside: Path) -> None:
    """Step 3: the new run has results of its own; the old ones go (the aside holds only what memgen moved)."""
    gone = aside.with_name(DISCARDED_PREFIX + aside.name.split("-", 1)[1])
    with _writing(aside.parent):
        _rename(aside, gone)
    shutil.rmtree(gone, ignore_errors=True)
    ledger.forget(gone)


def restore(folder: Path, aside: Path) -> None:
    """Put the old results back, removing what the new run wrote in their place (a user's files stay)."""
    with _writing(folder):
        if aside.name.startswith(REPLACED_PREFIX):
            written_by_new_run = REPLACED_FILES if (aside / SET_ASIDE_MARKER).exists() else EARLY_FILES
            for name in written_by_new_run:
                ledger.remove_owned(folder / name)
        for item in sorted(aside.iterdir()):
            if item.name not in (SET_ASIDE_MARKER, ledger.LEDGER_FILE):
                ledger.move_owned(item, folder / item.name)
        ledger.remove_owned(aside)


def settle_aside(folder: Path, aside: Path) -> bool:
    """A run that stopped: its aside is deleted when the new run has a part, else restored (True)."""
    if (aside / SET_ASIDE_MARKER).exists() and has_part(folder):
        discard(aside)
        return False
    restore(folder, aside)
    return True


def settle(folder: Path, note: Callable[[str], None]) -> None:
    """At open, under the lock: finish what a killed --force run left behind. Only the folders the ledger lists
    are memgen's: a user's ``.discarded-x/`` or ``.replacing-x/`` is left alone."""
    listed = ledger.entries(folder)
    for gone in sorted(folder.glob(f"{DISCARDED_PREFIX}*")):
        if gone.name in listed:
            shutil.rmtree(gone, ignore_errors=True)
            ledger.forget(gone)
    asides = sorted(folder.glob(f"{REPLACING_PREFIX}*")) + sorted(folder.glob(f"{REPLACED_PREFIX}*"))
    for aside in asides:
        if aside.name in listed and settle_aside(folder, aside):
            note(f"--out {folder}: a --force run stopped before its first result; the results it was "
                 "replacing are back in place")
