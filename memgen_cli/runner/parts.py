"""The durable store of a results folder: one CSV part per finished task, each with a checksum sidecar, and the
checks a part must pass before its rows are used.

A task's trials part (``parts/<task>.csv``) marks it finished; a task of an experiment with curves also has a
curve part (``parts/<task>.curves.csv``), written first. Both are checked the same way: the bytes against the
checksum, then the rows against the task (identifiers, parameters, trials and seeds) and, for a trials part,
the columns against the experiment's schema. A part that fails is never used: its task runs again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from memgen_cli.seeding import stable_hash
from memgen_cli.results_format import (CURVE_PART, IDENTIFIERS, STEP_COLUMN, TRIAL_COLUMNS, atomic_write_bytes,
                                       atomic_write_text, csv_bytes, parse_part, part_checksum_file, part_file)

MISSING = "missing"


@dataclass(frozen=True)
class PartSchema:
    """What a task's rows must hold: its model, and the experiment's metric columns in order. ``added`` names
    columns added in a later version of the experiment: a part written before them may lack them. ``inputs``
    is the hash of the settings beyond the cell that change a task's numbers (``Experiment.task_inputs``)."""

    model: str
    columns: tuple[str, ...]
    added: tuple[str, ...] = ()
    inputs: str = ""

    def identity(self, task) -> str:
        """What determines a task's rows: the model, the cell (and its labels), the trials and their seeds, and
        the inputs beyond the cell. Stored beside each part and checked against the run's; the cell's index in
        the sweep is not part of it (growing a sweep renumbers cells, not what they compute)."""
        return stable_hash(self.model, task.row_cell, [list(t) for t in task.trials], self.inputs)[:32]


def write_part(folder: Path, task, rows: pd.DataFrame, identity: str, kind: str | None = None) -> pd.DataFrame:
    """Store a task's rows and then their checksum and identity; returns the rows as a later read gives them."""
    data = csv_bytes(rows)
    atomic_write_bytes(folder / part_file(task.key, kind), data)
    write_checksum(folder, task.key, data, len(rows), identity, kind)
    return parse_part(data, task.row_cell, kind)


def write_checksum(folder: Path, key: str, data: bytes, rows: int, identity: str, kind: str | None = None) -> None:
    checksum = {"sha256": hashlib.sha256(data).hexdigest(), "rows": rows, "inputs": identity}
    atomic_write_text(folder / part_checksum_file(key, kind), json.dumps(checksum) + "\n")


def stored_identity(folder: Path, key: str, kind: str | None = None) -> str | None:
    """The identity a part's sidecar records; None when it records none (an older memgen) or is unreadable."""
    try:
        value = json.loads((folder / part_checksum_file(key, kind)).read_text()).get("inputs")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def has_checksum(folder: Path, task, kind: str | None = None) -> bool:
    return (folder / part_checksum_file(task.key, kind)).exists()


def read_part(folder: Path, task, schema: PartSchema, kind: str | None = None,
              checked: bool = True) -> tuple[pd.DataFrame | None, bytes | None, str]:
    """(rows, bytes, problem): problem is "" for a sound part, MISSING when there is none, else what is wrong.

    A sound part's bytes match its checksum, its identity (when recorded) is the task's, and its rows are its
    task's. ``checked=False`` reads a part that has no checksum (from an older memgen, or a run stopped between
    the part and its checksum): its rows must then pass every other check, and be exactly what memgen writes
    (a row cut by a kill, or integers read as floats, fail that). The rows come back with the task's ``cell``
    index (a grown sweep renumbers its cells)."""
    path = folder / part_file(task.key, kind)
    if not path.exists():
        return None, None, MISSING
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, None, f"cannot be read ({error.strerror})"
    rows = None
    if checked:
        try:
            checksum = json.loads((folder / part_checksum_file(task.key, kind)).read_text())
            sha256, rows = checksum["sha256"], checksum["rows"]
        except (OSError, ValueError, KeyError, TypeError):
            return None, data, f"its checksum file {part_checksum_file(task.key, kind)} is missing or unreadable"
        if hashlib.sha256(data).hexdigest() != sha256:
            return None, data, "its bytes do not match its checksum"
        recorded = checksum.get("inputs")
        if recorded is not None and recorded != schema.identity(task):
            return None, data, "it was computed from other inputs than this run's (another config wrote it)"
    try:
        frame = parse_part(data, task.row_cell, kind)
    except Exception as error:  # pandas' parser errors, ValueError, UnicodeDecodeError: all mean damaged
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return None, data, f"is not a readable CSV ({first_line})"
    if rows is not None and len(frame) != rows:
        return None, data, f"holds {len(frame)} rows, its checksum says {rows}"
    if not checked and csv_bytes(frame) != data:
        return None, data, "its rows are not whole (a row cut short, or a value of another type)"
    problem = curve_mismatch(frame, task, schema) if kind == CURVE_PART else rows_mismatch(frame, task, schema)
    if problem:
        return None, data, problem
    frame[IDENTIFIERS[1]] = task.cell_index
    return frame, data, ""


def rows_mismatch(frame: pd.DataFrame, task, schema: PartSchema) -> str:
    """What makes a trials part's rows not its task's ('' when nothing): the leading columns, the experiment's
    columns, the number of trials, the trial numbers and seeds, the identifiers."""
    leading = [*IDENTIFIERS, *task.row_cell, *TRIAL_COLUMNS]
    found = list(frame.columns)
    if found[:len(leading)] != leading:
        return "its leading columns are not the identifiers, the cell's parameters and the trial columns"
    metrics = found[len(leading):]
    missing = [c for c in schema.columns if c not in metrics and c not in schema.added]
    if missing:
        return f"lacks the column {missing[0]!r}"
    if metrics != [c for c in schema.columns if c in metrics]:
        extra = [c for c in metrics if c not in schema.columns]
        return f"has the unexpected column {extra[0]!r}" if extra else "its columns are out of order"
    if len(frame) != len(task.trials):
        return f"holds {len(frame)} rows, its task has {len(task.trials)} trials"
    trial_col, seed_col = TRIAL_COLUMNS
    if frame[trial_col].tolist() != [t for t, _ in task.trials] or \
            frame[seed_col].tolist() != [s for _, s in task.trials]:
        return "its trial numbers or seeds are not its task's"
    return _identifiers_mismatch(frame, task, schema.model)


def curve_mismatch(frame: pd.DataFrame, task, schema: PartSchema) -> str:
    """As ``rows_mismatch`` for a curve part: several rows per trial (one per checkpoint), every trial there."""
    leading = [*IDENTIFIERS, *task.row_cell, *TRIAL_COLUMNS, STEP_COLUMN]
    if list(frame.columns[:len(leading)]) != leading:
        return "its leading columns are not the identifiers, the cell's parameters, the trial columns and step"
    trial_col, seed_col = TRIAL_COLUMNS
    if set(zip(frame[trial_col], frame[seed_col])) != set(task.trials):
        return "its trials and seeds are not its task's"
    return _identifiers_mismatch(frame, task, schema.model)


def _identifiers_mismatch(frame: pd.DataFrame, task, model: str) -> str:
    model_col, _, id_col = IDENTIFIERS
    if (frame[model_col] != model).any() or (frame[id_col] != task.cell_id).any():
        return "its identifiers (model, cell_id) are not its task's"
    return ""
