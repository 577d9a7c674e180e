"""What `memgen analyze` computes and writes, and what `memgen plot` reads back instead of computing again.

An analysis of a results folder is its tables (transitions.csv; for folders with a memorized fraction,
memorization.csv and memorization_cells.csv; with reproducibility pairs, criteria.csv and criteria_cells.csv; with
curves.csv, training_times.csv and training_fit.csv) and ``analysis.json``: the settings it used and the sha256 of
the summary.csv and trials.csv (and curves.csv) it read. ``analysis_for`` returns the stored analysis when it is
current (made by this memgen and analysis version, same settings, same inputs, every table there), else
computes it and writes it into the folder, as `memgen analyze` would; so a plot of an analysed folder runs no bootstrap.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from memgen_cli import ledger
from memgen_cli.errors import MemgenError
from memgen_cli.report.analysis.transitions import transitions_table
from memgen_cli.report.analysis.criteria import CriteriaTable, criteria_table
from memgen_cli.report.analysis.memorization import MemorizationTable, has_memorization, memorization_table
from memgen_cli.report.reader import Results, read_csv, read_results
from memgen_cli.report.analysis.settings import AnalysisSettings
from memgen_cli.report.analysis.training import TrainingTable, training_table
from memgen_cli.version import __version__
from memgen_cli.results_format import (ANALYSIS_FILE, CRITERIA_CELLS_FILE, CRITERIA_FILE, CURVES_FILE,
                                       MEMORIZATION_CELLS_FILE, MEMORIZATION_FILE, NSTAR_FILE, SUMMARY_FILE,
                                       TRAINING_FIT_FILE, TRAINING_TIMES_FILE, TRANSITIONS_FILE, TRIALS_FILE,
                                       atomic_write_csv, atomic_write_text, file_digest, make_folder)


# The analysis code's own version: raised whenever a change moves a number, a status or a column of its tables, so
# that `plot`, `report` and ``load_results(analyze=True)`` redo an analysis stored by an older memgen instead of
# drawing stale tables. (2: whether the metric discriminates decides n*'s status first; 3: criteria.csv's and
# memorization.csv's n* are transitions.csv's, interval and all; 4: n_onset is where the error first visibly leaves
# its plateau, fitted locally, with an interval no narrower than the grid there; 5: the n*/n_onset and n*/n_mem
# verdicts read the ratio's whole interval, as criteria.csv's do, not its point; 6: criteria.csv's n_mem is
# memorization.csv's, interval and all.)
ANALYSIS_VERSION = 6


def versions() -> dict:
    return {"memgen_version": __version__, "analysis_version": ANALYSIS_VERSION}


@dataclass
class Analysis:
    """A folder's analysis: the transitions table (and the memorization tables where there is a fraction)."""

    settings: AnalysisSettings
    transitions: pd.DataFrame
    memorization: MemorizationTable | None = None
    notes: list[str] = field(default_factory=list)  # what could not be analysed, and why
    criteria: CriteriaTable | None = None  # with reproducibility pairs: the three criteria (report.analysis.criteria)
    training: TrainingTable | None = None  # with curves.csv: the training times (report.analysis.training)


def analyze_results(results: Results, settings: AnalysisSettings) -> Analysis:
    """Compute the analysis of a folder already read (nothing is written)."""
    if (results.folder / NSTAR_FILE).is_file():  # its summary.csv has one row per batch, not per n
        raise MemgenError(f"{results.folder}: a `memgen locate` folder; its n* and intervals are in {NSTAR_FILE} "
                          "(and P per n in points.csv), its analysis is the power laws of n*(d) "
                          "(report.analysis.nstar_fits.analyze_locate_folder, as `memgen analyze` runs it)")
    s = settings
    transitions = transitions_table(results, s.align_factor, s.bootstrap, s.seed, s.x)
    analysis = Analysis(settings, transitions)
    if has_memorization(results):
        if results.trials is None or "memorized_fraction" not in results.trials.columns:
            analysis.notes.append(f"no {MEMORIZATION_FILE}: its intervals resample simulations, and {results.folder} "
                                  f"has no {TRIALS_FILE} with a memorized_fraction column")
        else:
            analysis.memorization = memorization_table(results, s.align_factor, s.bootstrap, s.seed, s.x,
                                                       transitions)
    analysis.criteria = criteria_table(results, s.align_factor, s.bootstrap, s.seed, s.x, transitions,
                                       analysis.memorization.groups if analysis.memorization is not None else None)
    if (results.folder / CURVES_FILE).is_file():
        analysis.training = training_table(results, read_csv(results.folder / CURVES_FILE), s.bootstrap, s.seed, s.x)
        analysis.notes += analysis.training.notes
    return analysis


def _extra_tables(analysis: Analysis) -> list[tuple[str, pd.DataFrame]]:
    """The criteria and training tables an analysis has, by file name."""
    found = []
    if analysis.criteria is not None:
        found += [(CRITERIA_FILE, analysis.criteria.groups), (CRITERIA_CELLS_FILE, analysis.criteria.cells)]
    if analysis.training is not None:
        found += [(TRAINING_TIMES_FILE, analysis.training.cells), (TRAINING_FIT_FILE, analysis.training.fits)]
    return found


def _fingerprint(folder: Path) -> dict[str, str | None]:
    """sha256 of the tables an analysis reads (None: absent)."""
    prints = {}
    for name in (SUMMARY_FILE, TRIALS_FILE):
        path = folder / name
        prints[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    if (folder / CURVES_FILE).is_file():  # the training tables read it
        prints[CURVES_FILE] = hashlib.sha256((folder / CURVES_FILE).read_bytes()).hexdigest()
    return prints


def write_analysis(analysis: Analysis, results: Results, out_dir: Path | str) -> list[Path]:
    """Write the tables, then analysis.json (last: it vouches for the tables beside it); returns the paths."""
    names = [TRANSITIONS_FILE, *((MEMORIZATION_FILE, MEMORIZATION_CELLS_FILE) if analysis.memorization is not None
                                 else ()), *(name for name, _ in _extra_tables(analysis)), ANALYSIS_FILE]
    ledger.claim(Path(out_dir), names, legacy_ok=Path(out_dir) == results.folder)
    out = make_folder(Path(out_dir))
    paths = [out / TRANSITIONS_FILE]
    atomic_write_csv(paths[0], analysis.transitions)
    tables = [TRANSITIONS_FILE]
    if analysis.memorization is not None:
        for name, frame in ((MEMORIZATION_FILE, analysis.memorization.groups),
                            (MEMORIZATION_CELLS_FILE, analysis.memorization.cells)):
            atomic_write_csv(out / name, frame)
            paths.append(out / name)
            tables.append(name)
    for name, frame in _extra_tables(analysis):
        atomic_write_csv(out / name, frame)
        paths.append(out / name)
        tables.append(name)
    record = {**versions(), "settings": analysis.settings.model_dump(), "inputs": _fingerprint(results.folder),
              "tables": tables, "table_sha256": {name: file_digest(out / name) for name in tables},
              "group_columns": list(analysis.transitions.attrs.get("group_columns", [])),
              "memorization_group_columns": (list(analysis.memorization.groups.attrs.get("group_columns", []))
                                             if analysis.memorization is not None else []),
              "criteria_group_columns": (list(analysis.criteria.groups.attrs.get("group_columns", []))
                                         if analysis.criteria is not None else []),
              "notes": list(analysis.transitions.attrs.get("notes", [])) + analysis.notes}
    atomic_write_text(out / ANALYSIS_FILE, json.dumps(record, indent=2) + "\n")
    return paths


def read_analysis(results: Results, settings: AnalysisSettings | None) -> Analysis | None:
    """The folder's stored analysis when it is current for its inputs and these settings (None: whatever
    settings it was made with), else None."""
    folder = results.folder
    try:
        record = json.loads((folder / ANALYSIS_FILE).read_text())
        settings = AnalysisSettings.model_validate(record["settings"]) if settings is None else settings
        current = (all(record.get(key) == value for key, value in versions().items())
                   and record["settings"] == settings.model_dump() and record["inputs"] == _fingerprint(folder)
                   and all((folder / name).is_file() for name in record["tables"])
                   and all(file_digest(folder / name) == digest
                           for name, digest in record.get("table_sha256", {}).items()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not current:
        return None
    try:
        transitions = read_csv(folder / TRANSITIONS_FILE)
        memorization = None
        if MEMORIZATION_FILE in record["tables"]:
            groups = read_csv(folder / MEMORIZATION_FILE)
            groups.attrs["group_columns"] = record["memorization_group_columns"]
            memorization = MemorizationTable(groups, read_csv(folder / MEMORIZATION_CELLS_FILE))
        criteria = training = None
        if CRITERIA_FILE in record["tables"]:
            groups = read_csv(folder / CRITERIA_FILE)
            groups.attrs["group_columns"] = record.get("criteria_group_columns", [])
            criteria = CriteriaTable(groups, read_csv(folder / CRITERIA_CELLS_FILE))
        if TRAINING_TIMES_FILE in record["tables"]:
            training = TrainingTable(read_csv(folder / TRAINING_TIMES_FILE), read_csv(folder / TRAINING_FIT_FILE), [])
    except MemgenError:
        return None  # a damaged table: computed again
    transitions.attrs.update(group_columns=record["group_columns"], model=results.model, notes=record["notes"])
    return Analysis(settings, transitions, memorization, criteria=criteria, training=training)


def read_analysis_tables(results: Results) -> Analysis | None:
    """The folder's stored analysis when it is current for its tables, with whatever settings made it."""
    return read_analysis(results, None)


def analysis_for(results: Results, settings: AnalysisSettings, store: bool = True) -> Analysis:
    """The current analysis of a folder: read back when stored for these settings and inputs, else computed and
    written into the folder (as `memgen analyze` writes it); with ``store`` False, computed and kept in memory (a
    plot whose --out is elsewhere writes nothing into the results folder, which may be read-only)."""
    stored = read_analysis(results, settings)
    if stored is not None:
        return stored
    analysis = analyze_results(results, settings)
    if store:
        write_analysis(analysis, results, results.folder)
    return analysis


def analyze_folder(folder: Path | str, out: Path | str | None = None,
                   settings: AnalysisSettings = AnalysisSettings()) -> tuple[Analysis, list[Path]]:
    """`memgen analyze`: read a folder, compute its analysis and write it (into ``out``, default the folder)."""
    results = read_results(folder)
    analysis = analyze_results(results, settings)
    return analysis, write_analysis(analysis, results, out if out is not None else results.folder)
