"""The results folder's format, owned here and imported by the side that writes it (``runner``) and the
side that reads it (``report``): file names, the roles of the CSV columns, the lock and the atomic write.

docs/results-format.md describes the same layout for people.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from memgen_cli import ledger
from memgen_cli.errors import MemgenError, ResultsWriteError

if TYPE_CHECKING:
    import pandas as pd

# -- file names ---------------------------------------------------------------------------------
CONFIG_FILE = "config.yaml"  # the resolved config
MANIFEST_FILE = "manifest.json"  # provenance and one entry per run
PARTS_DIR = "parts"  # one durable CSV per finished task
TRIALS_FILE = "trials.csv"  # one row per trial, assembled from the parts
SUMMARY_FILE = "summary.csv"  # one row per cell
FAILED_FILE = "failed.json"  # the tasks that failed in the last run
LOGS_DIR = "logs"  # <task>.log: the whole traceback of a failed task
LOCK_FILE = ".lock"  # flock()ed while a run writes the folder
FIGURES_DIR = "figures"  # `memgen plot`'s default output
TRANSITIONS_FILE = "transitions.csv"  # `memgen analyze`'s output
IMAGES_DIR = "images"  # U-Net image grids (a relative output.image_dir lies inside the folder)
EVALUATE_DIR = "evaluate"  # `memgen evaluate`: per cell, its per-sample tables and figures (<cell id>/)
CURVES_FILE = "curves.csv"  # U-Net with evaluation.every: one row per simulation and training checkpoint
MEMORIZATION_FILE = "memorization.csv"  # `memgen analyze` on U-Net results: n_mem, its window, n*/n_mem
NSTAR_FILE = "nstar.csv"  # `memgen locate`: one row per combination: n* and its interval, status, trials used
POINTS_FILE = "points.csv"  # `memgen locate`: per combination and n, trials pooled over batches, P, Wilson interval
FITS_FILE = "nstar_fits.csv"  # `memgen analyze` on a locate folder: the fitted power laws n* = a d^b

ANALYSIS_FILE = "analysis.json"  # `memgen analyze`: its settings and the tables it read, so plot knows it is current
MEMORIZATION_CELLS_FILE = "memorization_cells.csv"  # `memgen analyze` on U-Net results: the fraction per cell
CRITERIA_FILE = "criteria.csv"  # `memgen analyze` with reproducibility pairs: n*, n_mem, n_rep, ratios, verdict
CRITERIA_CELLS_FILE = "criteria_cells.csv"  # ... and each criterion per cell with its interval (for the figure)
TRAINING_TIMES_FILE = "training_times.csv"  # `memgen analyze` with curves.csv: tau_mem, tau_half, tau_gen per cell
TRAINING_FIT_FILE = "training_fit.csv"  # ... and tau = a n^beta per group
COMBINED_FILE = "combined.json"  # `plot`/`analyze` over several folders: the sources of the combined tables
REPORT_FILE = "report.html"  # `memgen report`: the folder on one self-contained page

SWEEP_FILES = (CONFIG_FILE, MANIFEST_FILE, PARTS_DIR, TRIALS_FILE, SUMMARY_FILE, FAILED_FILE, LOGS_DIR, LOCK_FILE,
               CURVES_FILE, EVALUATE_DIR)  # what a sweep writes
RESULT_FILES = (PARTS_DIR, TRIALS_FILE, SUMMARY_FILE, FAILED_FILE, LOGS_DIR, CURVES_FILE,
                EVALUATE_DIR)  # a run's results
LOCATE_FILES = (NSTAR_FILE, POINTS_FILE)  # what `memgen locate` adds to a sweep's files
READER_FILES = (FIGURES_DIR, TRANSITIONS_FILE, MEMORIZATION_FILE, MEMORIZATION_CELLS_FILE, ANALYSIS_FILE,
                FITS_FILE, COMBINED_FILE, REPORT_FILE, CRITERIA_FILE, CRITERIA_CELLS_FILE, TRAINING_TIMES_FILE,
                TRAINING_FIT_FILE)  # written later by plot, analyze and report
MEMGEN_FILES = SWEEP_FILES + LOCATE_FILES + READER_FILES + (IMAGES_DIR,)  # every name memgen writes in a folder
# what --force replaces: everything but the run history (manifest.json) and the lock
REPLACED_FILES = (CONFIG_FILE,) + RESULT_FILES + LOCATE_FILES + READER_FILES + (IMAGES_DIR,)

# --force sets the old results aside in .replaced-<time>/ and deletes them once the new run has its first
# part (.replacing-: being set aside; .discarded-: being deleted; the marker: every item was set aside).
REPLACING_PREFIX, REPLACED_PREFIX, DISCARDED_PREFIX = ".replacing-", ".replaced-", ".discarded-"
SET_ASIDE_MARKER = ".all-set-aside"
# A manifest run's field, true for a --force run that stopped before its first part: it wrote nothing, so the tables,
# config.yaml and failed.json are still those of the run before it.
REPLACED_NOTHING = "replaced_nothing"

# -- column roles -------------------------------------------------------------------------------
# trials.csv: IDENTIFIERS, then the cell's parameters, then TRIAL_COLUMNS, then the metrics.
# summary.csv: IDENTIFIERS, then the cell's parameters, then COUNT_COLUMN, then metric summaries.
IDENTIFIERS = ("model", "cell", "cell_id")
TRIAL_COLUMNS = ("trial", "seed")  # which trial of the cell, and the seed of its generator
COUNT_COLUMN = "trials"  # summary.csv: trials (U-Net: simulations) of the cell
SET_COUNT_COLUMN = "original_sets"  # summary.csv: how many original sets the cell's trials used
SUMMARY_PREFIXES = ("p_", "mean_", "se_", "count_")
STEP_COLUMN = "step"  # curves.csv: the optimizer step of a checkpoint, after TRIAL_COLUMNS
CURVE_PART = "curves"  # the kind of a task's curve part (parts/<task>.curves.csv), beside its trials part


def part_file(task_key: str, kind: str | None = None) -> str:
    """A finished task's rows, relative to the results folder; ``kind`` names a sibling part (its curves)."""
    return f"{PARTS_DIR}/{task_key}{'.' + kind if kind else ''}.csv"


def part_checksum_file(task_key: str, kind: str | None = None) -> str:
    """The part's checksum: {"sha256": hex digest of the part's bytes, "rows": its number of rows}."""
    return f"{PARTS_DIR}/{task_key}{'.' + kind if kind else ''}.checksum.json"


def part_dtypes(cell: dict) -> dict[str, str]:
    """How a part's columns must parse: identifiers and trial columns as written, the cell's parameters by
    their type. A seed is a 63-bit integer: read as a float it would lose its last digits, and a cell_id of
    digits only would lose its leading zeros."""
    dtypes = dict(zip(IDENTIFIERS, ("str", "int64", "str"))) | dict.fromkeys(TRIAL_COLUMNS, "int64")
    for name, value in cell.items():
        if isinstance(value, bool):
            dtypes[name] = "bool"
        elif isinstance(value, int):
            dtypes[name] = "int64"
        elif isinstance(value, str):
            dtypes[name] = "str"
    return dtypes


def parse_part(data: bytes, cell: dict, kind: str | None = None) -> pd.DataFrame:
    """A part's rows from its bytes; raises (pandas' errors, ValueError, UnicodeDecodeError) on a damaged one."""
    import pandas as pd  # here, like every pandas use of this module: the CLI's checks need none of it

    dtypes = part_dtypes(cell) | ({STEP_COLUMN: "int64"} if kind == CURVE_PART else {})
    return pd.read_csv(io.BytesIO(data), dtype=dtypes)


def figure_file(name: str, fmt: str) -> str:
    """A figure of `memgen plot` in one format, relative to its figures folder: <name>.<fmt>."""
    return f"{name}.{fmt}"


def figure_sidecar(name: str) -> str:
    """Beside each figure: <name>.json, every parameter of the run it shows and how it was drawn (the figure's
    own caption names only what varies or differs from the model's defaults)."""
    return f"{name}.json"


def task_log(task_key: str) -> str:
    """Where a failed task's traceback goes, relative to the results folder."""
    return f"{LOGS_DIR}/{task_key}.log"


def proportion_columns(metric: str) -> tuple[str, str, str]:
    """summary.csv columns of a binary metric: the fraction of trials where it is 1 and its Wilson bounds."""
    return f"p_{metric}", f"p_{metric}_lo", f"p_{metric}_hi"


def count_column(metric: str) -> str:
    """summary.csv: how many trials have a finite value of a metric (its proportion or mean is over those)."""
    return f"count_{metric}"


def between_set_column(metric: str) -> str:
    """summary.csv: the standard deviation of a binary metric's fraction between original sets."""
    return f"p_{metric}_between_sd"


def mean_columns(metric: str) -> tuple[str, str, str]:
    """summary.csv columns of a real metric: mean and standard error over finite values, and their count."""
    return f"mean_{metric}", f"se_{metric}", count_column(metric)


def trial_parameters(trials: pd.DataFrame) -> list[str]:
    """trials.csv's parameter columns: those between the identifiers and the trial columns."""
    columns = list(trials.columns)
    return [c for c in columns[: columns.index(TRIAL_COLUMNS[0])] if c not in IDENTIFIERS]


def summary_parameters(summary: pd.DataFrame) -> list[str]:
    """summary.csv's parameter columns: every column that is not an identifier, the count or a summary.

    Written by role rather than by position so that a summary.csv made by hand (or by an older memgen)
    without identifiers still reads.
    """
    return [c for c in summary.columns
            if c not in IDENTIFIERS and c not in (COUNT_COLUMN, SET_COUNT_COLUMN)
            and not str(c).startswith(SUMMARY_PREFIXES)]


def name_problem(path: Path | str) -> str | None:
    """Why ``path`` cannot name a file here (None: it can), found before anything touches it: a name past the file
    system's limit (NAME_MAX, usually 255 bytes) or a path past PATH_MAX fails every call with ENAMETOOLONG."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if _exists(p)), Path("."))
    limits = {}
    for name, default in (("PC_NAME_MAX", 255), ("PC_PATH_MAX", 4096)):
        try:
            limits[name] = os.pathconf(existing, name)
        except (OSError, ValueError):
            limits[name] = default
    for part in path.parts:
        if len(os.fsencode(part)) > limits["PC_NAME_MAX"]:
            return (f"the name {part[:24]}... is {len(os.fsencode(part))} bytes, over the file system's limit of "
                    f"{limits['PC_NAME_MAX']}")
    if len(os.fsencode(str(path.absolute()))) >= limits["PC_PATH_MAX"]:
        return f"the path is over the file system's limit of {limits['PC_PATH_MAX']} bytes"
    return None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, among others
        return False


def make_folder(path: Path) -> Path:
    """Create a folder (and its parents) for output, or one MemgenError line saying why it cannot be."""
    try:
        ledger.make_dirs(path)
    except FileExistsError:
        raise MemgenError(f"{path}: exists and is not a folder") from None
    except OSError as error:
        raise MemgenError(f"{path}: cannot create the folder ({error.strerror or error})") from None
    if not path.is_dir():
        raise MemgenError(f"{path}: exists and is not a folder")
    return path



# -- atomic writes ------------------------------------------------------------------------------
def _write_file(tmp: Path, data: bytes) -> None:
    """The one place where a file's bytes reach the disk (tests inject a full disk here)."""
    with open(tmp, "wb") as handle:
        handle.write(data)


def _write_problem(path: Path, error: OSError, size: int | None) -> str:
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT) and size is not None:
        reason += f"; {_human_size(size)} needed"
    return f"{path}: cannot write ({reason})"


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    return f"{size / 1024:.0f} KB" if size < 1024 ** 2 else f"{size / 1024 ** 2:.1f} MB"


def atomic_write(path: Path, write: Callable[[Path], None], size: int | None = None) -> None:
    """Call ``write(tmp)`` then rename tmp onto path: readers, and a rerun after kill -9, see the old
    file or the new one, whole. The temporary name starts with '.' so that folder listings skip it, and it
    is removed whatever happens, so a full disk is not kept full by a half-written copy. An OSError
    becomes a ResultsWriteError naming ``path`` (and ``size``, the bytes needed, when known)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        ledger.record_names(path.parent, (path.name, tmp.name))  # before the file: memgen wrote it
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as error:
        raise ResultsWriteError(_write_problem(path, error, size)) from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the write's own error is the one to report


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: _write_file(tmp, data), size=len(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def csv_bytes(frame: pd.DataFrame) -> bytes:
    # pandas writes float64 in shortest round-trip form: a CSV read back holds the same numbers.
    return frame.to_csv(index=False).encode("utf-8")


def atomic_write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_bytes(path, csv_bytes(frame))


# -- recognising a results folder ---------------------------------------------------------------
MEMGEN_FOLDER, EMPTY_FOLDER, FOREIGN_FOLDER = "memgen", "empty", "foreign"


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest.json when it is one memgen wrote (a mapping with its version and a list of runs);
    None when it is absent, unreadable or of another shape."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST_FILE).read_text())
    except (OSError, ValueError):  # absent, binary, not JSON
        return None
    if isinstance(manifest, dict) and isinstance(manifest.get("runs"), list) and \
            isinstance(manifest.get("memgen_version"), str) and all(isinstance(r, dict) for r in manifest["runs"]):
        return manifest
    return None


def read_stored_config(folder: Path) -> dict | None:
    """The folder's config.yaml as a mapping; None when there is none. A damaged one (unreadable, binary, huge,
    not a mapping, aliases that would expand it without end) is a ``YamlFileError`` naming it."""
    from memgen_cli.yaml_files import read_yaml_mapping  # PyYAML only where a config is read

    path = Path(folder) / CONFIG_FILE
    if not path.exists() and not path.is_symlink():
        return None
    return read_yaml_mapping(path)


def has_checked_part(folder: Path) -> bool:
    """Some part in parts/ matches its checksum: memgen wrote it."""
    for sidecar in sorted((Path(folder) / PARTS_DIR).glob("*.checksum.json")):
        try:
            digest = json.loads(sidecar.read_text())["sha256"]
            data = sidecar.with_name(sidecar.name.replace(".checksum.json", ".csv")).read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if hashlib.sha256(data).hexdigest() == digest:
            return True
    return False


def recognise(folder: Path) -> str:
    """What a folder is, by one rule used everywhere: MEMGEN_FOLDER when it holds a manifest memgen wrote, or,
    with the manifest damaged or gone, a part that passes its checksum; EMPTY_FOLDER when it holds nothing
    but hidden files; FOREIGN_FOLDER otherwise (memgen neither writes into it nor deletes from it)."""
    folder = Path(folder)
    if not any(not p.name.startswith(".") for p in folder.iterdir()):
        return EMPTY_FOLDER
    if read_manifest(folder) is not None or has_checked_part(folder):
        return MEMGEN_FOLDER
    return FOREIGN_FOLDER


def file_digest(path: Path) -> str | None:
    """sha256 of a file's bytes; None when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


# -- the lock -----------------------------------------------------------------------------------
class FolderLock:
    """An exclusive lock on ``<folder>/.lock`` held while a run writes the folder (filelock: flock on POSIX,
    msvcrt on Windows).

    The file stays after a run; only the lock says whether a writer is alive, so a killed run never leaves a
    stale lock behind.
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_FILE
        self._lock = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        from filelock import FileLock, Timeout

        if not self.path.exists():
            ledger.record(self.path)
        lock = FileLock(str(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return False
        self._lock = lock
        return True

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def is_locked(folder: Path) -> bool:
    """True while a run holds the folder's lock (for readers: results may be partial). The probe takes the lock
    for an instant and lets it go, as the writer's own check does."""
    lock = Path(folder) / LOCK_FILE
    if not lock.is_file():
        return False
    probe = FolderLock(Path(folder))
    try:
        if not probe.acquire():
            return True
    except OSError:
        return False  # an unreadable lock file: nobody can be holding it through memgen
    probe.release()
    return False


def remove_stale_temporaries(folder: Path) -> int:
    """Remove the temporary files of writes a killed run left (``.<name>.tmp-<pid>``, see ``atomic_write``), in
    the folder and its parts/, when the folder's ledger lists them. Call it under the folder's lock: no live
    writer of this folder exists then."""
    removed = 0
    for where in (folder, folder / PARTS_DIR):
        listed = ledger.entries(where)
        for path in where.glob(".*.tmp-*") if where.is_dir() else ():
            if path.name not in listed:
                continue  # a user's file that only looks like memgen's temporary
            try:
                path.unlink()
                removed += 1
            except OSError:
                pass
    return removed


# The ledger's view of a folder an older memgen wrote (no ledger yet): its own names and parts.
ledger.LEGACY_FOLDER = ledger.LegacyFolder(lambda folder: recognise(folder) == MEMGEN_FOLDER, MEMGEN_FILES,
                                           {PARTS_DIR: ("*.csv", "*.checksum.json")})
