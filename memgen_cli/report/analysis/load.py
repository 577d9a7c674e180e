"""Results folders from Python: ``load_results`` (one folder's tables as pandas DataFrames) and
``combine_folders`` (several folders of one model read as one sweep, for `plot` and `analyze` over them).

    import memgen_cli as mg
    r = mg.load_results("results/linear-quick")
    r.model, r.summary[["n", "p_delta_positive"]], r.transitions
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from memgen_cli import ledger
from memgen_cli.errors import MemgenError
from memgen_cli.report.caption import read_config
from memgen_cli.report.analysis.outputs import Analysis, analysis_for, read_analysis_tables
from memgen_cli.report.reader import read_csv, read_results
from memgen_cli.report.analysis.settings import AnalysisSettings
from memgen_cli.results_format import (COMBINED_FILE, CURVES_FILE, IDENTIFIERS, NSTAR_FILE, READER_FILES, SUMMARY_FILE,
                                       TRIALS_FILE, atomic_write_csv, atomic_write_text, file_digest, make_folder)


@dataclass
class FolderResults:
    """One results folder: its model, resolved config and tables. ``transitions`` and ``memorization`` are the
    folder's analysis (`memgen analyze`) when it is current for its tables, else None (``analyze=True`` computes
    it); ``curves`` is None unless the sweep followed training."""

    folder: Path
    model: str
    config: dict
    summary: pd.DataFrame
    trials: pd.DataFrame | None
    transitions: pd.DataFrame | None = None
    memorization: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    nstar: pd.DataFrame | None = None  # a `memgen locate` folder: n* per combination (nstar.csv)
    notes: list[str] = field(default_factory=list)


def load_results(path: str | Path, analyze: bool = False, settings: AnalysisSettings | None = None) -> FolderResults:
    """A results folder's config and tables, checked as `plot` and `analyze` check them; with ``analyze`` its
    analysis too (computed and written into the folder when missing or stale, as `memgen plot` does)."""
    results = read_results(path)
    config = read_config(results.folder) or {}
    analysis: Analysis | None
    if analyze and (results.folder / NSTAR_FILE).is_file():
        analysis = None  # a locate folder's estimates are its nstar.csv
    elif analyze:
        analysis = analysis_for(results, settings or AnalysisSettings())
    else:
        analysis = read_analysis_tables(results)
    def table(name: str) -> pd.DataFrame | None:
        return read_csv(results.folder / name) if (results.folder / name).is_file() else None

    return FolderResults(results.folder, results.model, config if isinstance(config, dict) else {}, results.summary,
                         results.trials, analysis.transitions if analysis else None,
                         analysis.memorization.groups if analysis and analysis.memorization is not None else None,
                         table(CURVES_FILE), table(NSTAR_FILE), list(results.notes))


def combine_folders(folders: list[Path], out: Path) -> Path:
    """Write one results folder at ``out`` holding the cells of several folders of one model (renumbered), so
    that `plot` and `analyze` treat them as one sweep; refused in one line when models differ or a cell (same
    parameters) is in two folders. ``out`` gets summary.csv, trials.csv and combined.json (the sources and the
    sha256 of the tables read)."""
    read = [read_results(folder) for folder in folders]
    models = sorted({r.model for r in read})
    if len(models) > 1:
        raise MemgenError(f"{', '.join(map(str, folders))}: folders of different models ({', '.join(models)}); "
                          "combine folders of one model")
    _, _, id_col = IDENTIFIERS
    seen: dict[str, Path] = {}
    for results in read:
        for row in results.summary.to_dict("records"):
            cell = str(row[id_col])
            if cell in seen:
                named = ", ".join(f"{k} = {row[k]}" for k in (results.swept or results.parameters))
                raise MemgenError(f"{results.folder}: the cell {named} is also in {seen[cell]} (the same parameters "
                                  "in two folders would be counted twice); combine folders whose cells differ")
            seen[cell] = results.folder
    summaries, trials, offset = [], [], 0
    for results in read:
        renumber = {old: offset + k for k, old in enumerate(results.summary["cell"])}
        summaries.append(results.summary.assign(cell=results.summary["cell"].map(renumber)))
        if results.trials is not None:
            trials.append(results.trials.assign(cell=results.trials["cell"].map(renumber)))
        offset += len(renumber)
    if trials and len(trials) != len(read):
        raise MemgenError(f"{out}: some folders have no {TRIALS_FILE}; combine folders that all have one")
    if (out / SUMMARY_FILE).exists() and not (out / COMBINED_FILE).exists():
        raise MemgenError(f"--out {out}: holds a results folder of its own; choose an empty or new --out")
    # every name the combined folder gets, now and from plot and analyze: a user's file of one of these names is
    # refused before anything is written (a combined folder of an older memgen, with no ledger, is memgen's)
    ledger.claim(out, (SUMMARY_FILE, TRIALS_FILE, COMBINED_FILE, *READER_FILES),
                 legacy_ok=(out / COMBINED_FILE).is_file())
    make_folder(out)
    atomic_write_csv(out / SUMMARY_FILE, pd.concat(summaries, ignore_index=True))
    if trials:
        atomic_write_csv(out / TRIALS_FILE, pd.concat(trials, ignore_index=True))
    record = {"sources": [{"folder": str(r.folder), SUMMARY_FILE: file_digest(r.folder / SUMMARY_FILE),
                           TRIALS_FILE: file_digest(r.folder / TRIALS_FILE)} for r in read],
              # this folder's own tables, as written: what every reader checks them against
              "tables": {name: file_digest(out / name) for name in (SUMMARY_FILE, TRIALS_FILE)
                         if name != TRIALS_FILE or trials}}
    atomic_write_text(out / COMBINED_FILE, json.dumps(record, indent=2) + "\n")
    return out


def folder_to_read(folders: list[Path], out: Path | None, command: str) -> Path:
    """The folder a command reads: the one given, or several combined into --out."""
    if len(folders) == 1:
        return folders[0]
    if out is None:
        raise MemgenError(f"{command}: several folders need --out, the folder their combined tables go to")
    return combine_folders(folders, out)
