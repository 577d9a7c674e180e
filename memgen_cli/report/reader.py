"""Read a results folder for `memgen plot` and `memgen analyze`; never recompute a sweep.

The folder layout is the contract in docs/results-format.md. Everything a user can get wrong here
(wrong folder, truncated CSV, missing column, an option naming a column that is not there) raises
``MemgenError`` with one line that names the file or option first.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Hashable, Sequence

import numpy as np
import pandas as pd

from memgen_cli.errors import MemgenError
from memgen_cli.results_format import (COMBINED_FILE, CONFIG_FILE, FAILED_FILE, LOCK_FILE, MANIFEST_FILE,
                                       MEMGEN_FOLDER, PARTS_DIR, REPLACED_NOTHING, SET_COUNT_COLUMN, SUMMARY_FILE,
                                       TRIALS_FILE,
                                       file_digest, is_locked, proportion_columns, read_manifest, recognise,
                                       summary_parameters)
from memgen_cli.runner.registry import EXPERIMENTS, experiment_class

# P(Delta > 0); other binary metrics (U-Net) may exist and are ignored
PRIMARY_P_COLUMNS = proportion_columns("delta_positive")
PRIMARY_P = PRIMARY_P_COLUMNS[0]

# How parameter names are printed on figures and tables.
PARAMETER_SYMBOLS = {"lambda": "λ", "mu": "μ", "sigma": "σ", "eps": "ε", "alpha": "α"}


@dataclass(frozen=True)
class Results:
    """One results folder as read from disk."""

    folder: Path
    summary: pd.DataFrame
    trials: pd.DataFrame | None  # None when trials.csv is absent (plot does not need it)
    parameters: tuple[str, ...]  # parameter columns of summary.csv, in file order
    swept: tuple[str, ...]  # parameters that take more than one value
    model: str  # "linear", "unet" or "unknown"
    notes: tuple[str, ...]  # things the user should know (e.g. a sweep is still writing)
    cluster_column: str | None = None  # trials sharing a random input (the model's Experiment.cluster_column)
    analytic_memorizer: str | None = None  # the model's Experiment.analytic_memorizer (the linear model's)


def read_results(folder: Path | str, want_trials: bool = True) -> Results:
    """Read summary.csv (required) and trials.csv (optional) of a results folder."""
    folder = Path(folder)
    if not folder.exists():
        raise MemgenError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise MemgenError(f"{folder}: not a folder (give the results folder a sweep wrote)")
    summary_path = folder / SUMMARY_FILE
    if not summary_path.is_file():
        if recognise(folder) == MEMGEN_FOLDER:
            parts = len(list((folder / PARTS_DIR).glob("*.csv")))
            raise MemgenError(f"{folder}: a memgen results folder whose sweep has written no {SUMMARY_FILE} yet "
                              f"({parts} part(s) stored): rerun its `memgen sweep` command to finish it")
        raise MemgenError(f"{folder}: not a memgen results folder (no {SUMMARY_FILE})")
    notes: list[str] = list(folder_record_notes(folder))
    summary = read_csv(summary_path)
    if summary.empty:
        raise MemgenError(f"{summary_path}: no rows (the sweep finished no cell yet)")
    parameters = summary_parameters(summary)
    if is_locked(folder):
        notes.append(f"{folder}: a sweep is writing this folder (holds {LOCK_FILE}); results may be partial")
    trials = None
    trials_path = folder / TRIALS_FILE
    if want_trials and trials_path.is_file():
        trials = read_csv(trials_path)
    if trials is not None and (found := not_finite_note(trials, model_name(summary))):
        notes.append(found)
    if one_original_set(summary):
        notes.append("P(Δ>0) and its intervals are conditional on one original set per (d, N) "
                     "(options.original_sets = 1, or a folder from before that option): they leave out the "
                     "spread between original sets (docs/analysis.md, 'Several original sets')")
    model = model_name(summary)
    return Results(
        folder=folder,
        summary=summary,
        trials=trials,
        parameters=tuple(parameters),
        swept=tuple(swept_columns(summary, parameters)),
        model=model,
        notes=tuple(notes),
        cluster_column=experiment_class(model).cluster_column if model in EXPERIMENTS else None,
        analytic_memorizer=experiment_class(model).analytic_memorizer if model in EXPERIMENTS else None,
    )


def not_finite_note(trials: pd.DataFrame, model: str) -> str | None:
    """A note naming the trials (simulations) whose metrics are NaN (a diverged network, say): summary.csv counts
    them out of each mean, and a reader should know how many and where."""
    if model not in EXPERIMENTS or trials.empty:
        return None
    experiment = experiment_class(model)
    metrics = [m for m in (*experiment.binary_metrics, *experiment.mean_metrics)[:1] if m in trials.columns]
    if not metrics:
        return None
    values = pd.to_numeric(trials[metrics[0]], errors="coerce")
    bad = trials[values.isna()]
    if bad.empty:
        return None
    cells = ", ".join(f"n = {n}" for n in sorted(bad["n"].unique())[:4]) if "n" in bad.columns else ""
    return (f"{len(bad)} of {len(trials)} trials have no finite {metrics[0]} (NaN: a diverged model or a failed "
            f"metric{f'; at {cells}' if cells else ''}); each cell's summary leaves them out and counts the rest")


def folder_record_notes(folder: Path) -> list[str]:
    """Check the tables against what the folder's own records say, before anything reads them: the sha256 the
    last run recorded in manifest.json (a table cut short, edited or copied from another run is refused), the
    last run's status, and the tasks in failed.json. Folders without records (hand-made, older memgen) pass."""
    manifest = read_manifest(folder) or {}
    check_recorded_tables(folder, manifest)
    notes = []
    runs = manifest.get("runs") or []
    status = runs[-1].get("status") if runs and isinstance(runs[-1], dict) else None
    replaced = replaced_nothing_run(folder, manifest)
    if unfinished := unfinished_run(folder, manifest):
        notes.append(unfinished)
    elif replaced:
        notes.append(replaced)
    elif status not in (None, "finished"):
        notes.append(f"{folder}: its last run ended {status!r}: the tables hold only the tasks finished by then")
    try:
        failed = json.loads((folder / FAILED_FILE).read_text()) if (folder / FAILED_FILE).is_file() else []
    except (OSError, ValueError):
        failed = ["?"]
    if failed:
        notes.append(f"{folder}: {len(failed)} task(s) failed in {'the run before' if replaced else 'the last run'} "
                     f"({FAILED_FILE}): their cells are missing or have fewer trials")
    return notes


def replaced_nothing_run(folder: Path, manifest: dict | None = None) -> str | None:
    """The sentence saying the folder's last run was a --force run that stopped before its first part, so that it
    wrote nothing (the folder holds the results it was to replace), or None."""
    manifest = read_manifest(folder) if manifest is None else manifest
    runs = (manifest or {}).get("runs") or []
    last = runs[-1] if runs and isinstance(runs[-1], dict) else None
    if last is None or last.get(REPLACED_NOTHING) is not True:
        return None
    failed = last.get("failed_tasks")
    return (f"{folder}: its last run (--force, started {last.get('start', '?')}) ended {last.get('status')!r} "
            f"{f'with {failed} failed task(s) and ' if failed else ''}no finished task, so it replaced nothing: "
            f"the tables, {CONFIG_FILE} and {FAILED_FILE} are those of the run before it")


def unfinished_run(folder: Path, manifest: dict | None = None) -> str | None:
    """The sentence saying the folder's last run did not finish (no status and no end recorded, and no run holds
    the lock: killed before the next run could mark it so), or None."""
    manifest = read_manifest(folder) if manifest is None else manifest
    runs = (manifest or {}).get("runs") or []
    last = runs[-1] if runs and isinstance(runs[-1], dict) else None
    if last is None or last.get("status") is not None or last.get("end") is not None or is_locked(folder):
        return None
    grown = last.get("grown")
    what = f", growing the sweep ({'; '.join(map(str, grown))})" if isinstance(grown, list) and grown else ""
    return (f"{folder}: its last run (started {last.get('start', '?')}{what}) did not finish: it was killed, and no "
            f"end was recorded; the tables and {CONFIG_FILE} are those of the run before it. Rerun its command to "
            "finish it")


def recorded_tables(folder: Path, manifest: dict) -> tuple[str, dict[str, str]]:
    """The sha256 recorded for the folder's tables when they were written, and where: manifest.json (a run's or
    a locate's tables) or combined.json (the tables `plot`/`analyze` combined from several folders)."""
    for record, tables in ((MANIFEST_FILE, manifest.get("tables")), (COMBINED_FILE, _combined_tables(folder))):
        if isinstance(tables, dict) and tables:
            return record, {str(k): v for k, v in tables.items() if isinstance(v, str)}
    return "", {}


def _combined_tables(folder: Path) -> dict | None:
    try:
        record = json.loads((folder / COMBINED_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record.get("tables") if isinstance(record, dict) else None


def check_recorded_tables(folder: Path, manifest: dict) -> None:
    """Every table whose sha256 was recorded when it was written must be there, byte for byte: a table that is
    missing, cut, edited or copied from another run is one line, before anything reads it."""
    record, recorded = recorded_tables(folder, manifest)
    remedy = ("rerun the sweep's command to assemble it again from the checked parts" if record == MANIFEST_FILE
              else "rerun the command that combined the folders (with --out) to write it again")
    for name, digest in recorded.items():
        path = folder / name
        if not path.is_file():
            raise MemgenError(f"{path}: missing, but {record} records that it was written (sha256 {digest[:12]}...); "
                              f"{remedy}")
        if file_digest(path) != digest:
            written = "the last run wrote" if record == MANIFEST_FILE else "that was written here"
            raise MemgenError(f"{path}: not the table {written} (its sha256 differs from the one in {record}): it "
                              f"was cut, edited or replaced since; {remedy}")


def one_original_set(summary: pd.DataFrame) -> bool:
    """A linear sweep with fixed original sets whose summary has no set count: it used one set."""
    if "original" not in summary.columns or SET_COUNT_COLUMN in summary.columns:
        return False
    return bool((summary["original"].astype(str) == "fixed").any())


def read_csv(path: Path) -> pd.DataFrame:
    """pandas.read_csv with its failures turned into one line naming the file."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise MemgenError(f"{path}: empty file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MemgenError(f"{path}: not a readable CSV ({first_line})") from None
    except OSError as error:
        raise MemgenError(f"{path}: cannot read ({error.strerror or error})") from None


def swept_columns(summary: pd.DataFrame, parameters: Sequence[str]) -> list[str]:
    """Parameters that take more than one value across the cells."""
    return [column for column in parameters if summary[column].nunique(dropna=False) > 1]


def model_name(summary: pd.DataFrame) -> str:
    if "model" not in summary.columns:
        return "unknown"
    values = summary["model"].dropna().astype(str).unique()
    return values[0] if len(values) == 1 else "unknown"


def require_columns(frame: pd.DataFrame, columns: Sequence[str], file_label: str) -> None:
    """One-line error naming the first missing column."""
    for column in columns:
        if column not in frame.columns:
            raise MemgenError(f"{file_label}: missing column '{column}'")


def numeric_column(frame: pd.DataFrame, column: str, file_label: str) -> np.ndarray:
    """A column as float64; a column of text is an error naming it."""
    require_columns(frame, [column], file_label)
    values = frame[column]
    if values.dtype == bool:
        return values.to_numpy(dtype=float)
    if not pd.api.types.is_numeric_dtype(values):
        converted = pd.to_numeric(values, errors="coerce")
        bad = values[converted.isna() & values.notna()]
        if len(bad):
            raise MemgenError(f"{file_label}: column '{column}' is not numeric (found {str(bad.iloc[0])!r})")
        values = converted
    return values.to_numpy(dtype=float)


def check_parameter_option(results: Results, option: str, column: str | None) -> None:
    """An option such as --hue must name a parameter column of summary.csv."""
    if column is None or column in results.parameters:
        return
    listed = ", ".join(results.parameters) or "none"
    raise MemgenError(
        f"{option}: '{column}' is not a parameter column of {SUMMARY_FILE} (parameters: {listed})"
    )


def symbol(parameter: str) -> str:
    return PARAMETER_SYMBOLS.get(parameter, parameter)


def format_value(value: object) -> str:
    """Short, readable parameter value: 16, 0.0183, 1e+04, BBt."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "–"
        if float(value).is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.3g}"
    return str(value)


def group_label(parameters: Sequence[str], values: Sequence[Hashable]) -> str:
    """'d = 16, λ = 0.0183'; 'all cells' when nothing but x varies."""
    if not parameters:
        return "all cells"
    return ", ".join(f"{symbol(p)} = {format_value(v)}" for p, v in zip(parameters, values))


def sort_key(value: object) -> tuple:
    """Orders mixed-type group values (numbers before text, NaN last) without raising."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return (0, float("inf") if math.isnan(float(value)) else float(value), "")
    return (1, 0.0, str(value))
