"""`memgen report`: one or several results folders on one self-contained HTML page.

Per folder, what a reader asks first: the run in short (the model, what is swept, what differs from the model's
defaults; config.yaml in full below it), the transition table with its intervals and verdicts, the figures, the
memorization and training-curve tables where they exist, failed tasks and figures not drawn, and the provenance
(manifest.json: versions, commit, times). Nothing is computed here: the estimates are the folder's analysis
(report.analysis.outputs.analysis_for: read back when current, else computed and written into the folder as
`memgen analyze` would), the figures are `memgen plot`'s (report.figures.draw.build_figures,
report.figures.figure_phase.phase_figure), embedded as base64 PNG or SVG, and the tables are written from the CSVs'
own columns (html_tables.py). The page loads nothing from the network and runs no script; its CSS keeps it readable
in a narrow window.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Sequence

from matplotlib.figure import Figure

from memgen_cli import ledger
from memgen_cli.errors import MemgenError
from memgen_cli.report.figures.canvas import ONE_COLUMN, figure_bytes, styled
from memgen_cli.report.caption import RunDescription
from memgen_cli.report.figures.figure_memorization import curve_means
from memgen_cli.report.figures.figure_phase import phase_figure, read_nstar
from memgen_cli.report.figures.draw import build_figures
from memgen_cli.report.page.html_tables import definition_list, esc, frame_table, key_and_full, number, records_table
from memgen_cli.report.reader import read_csv, replaced_nothing_run, symbol, unfinished_run
from memgen_cli.report.analysis.settings import AnalysisSettings, ReportSettings
from memgen_cli.results_format import (CONFIG_FILE, CURVES_FILE, EVALUATE_DIR, FAILED_FILE, MANIFEST_FILE,
                                       NSTAR_FILE, POINTS_FILE, REPORT_FILE, atomic_write_text, make_folder)
from memgen_cli.version import __version__

PAGE_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; margin: 0 auto;
       max-width: 1100px; padding: 1rem 1.2rem 3rem; overflow-wrap: break-word; }
h1 { font-size: 1.45rem; margin: .4rem 0; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 2px solid #ddd; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.path, .meta { color: #555; font-size: .85rem; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; max-width: 100%; margin: .4rem 0 .3rem; }
table { border-collapse: collapse; font-size: .82rem; font-variant-numeric: tabular-nums; }
.tcap { color: #555; font-size: .8rem; margin: .2rem 0 0; }
th, td { border-bottom: 1px solid #e4e4e4; padding: .25rem .55rem; text-align: right; white-space: nowrap;
         vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; } th:first-child, td:first-child, .t { text-align: left; }
table.every th[scope=row] { background: none; font-weight: 500; }
.ci { color: #555; } sup.nref { color: #555; font-size: .72rem; margin-left: .15rem; }
ol.tnotes { color: #444; font-size: .78rem; margin: 0 0 .9rem; padding-left: 2rem; counter-reset: note; }
ol.tnotes li { list-style: none; counter-increment: note; position: relative; }  /* numbered [1], as in cells */
ol.tnotes li::before { content: "[" counter(note) "]"; position: absolute; left: -1.9rem; width: 1.7rem;
                       text-align: right; }
.verdict { padding: 0 .35rem; border-radius: 3px; }
.good { background: #dff1df; } .bad { background: #f8dede; } .unsure { background: #fbf0cf; }
.figs { display: flex; flex-wrap: wrap; gap: 0 1.2rem; align-items: flex-start; }
figure { margin: 1rem 0 1.6rem; max-width: 100%; } .figbox { max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; }  /* drawn width, smaller only in a narrow window */
figcaption { font-size: .82rem; color: #444; margin-top: .3rem; } figcaption b { color: #1b1b1b; }
dl.config { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .4rem 0; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
ul.notes { color: #444; font-size: .85rem; padding-left: 1.2rem; }
pre { overflow-x: auto; background: #f6f6f6; padding: .5rem .7rem; font-size: .78rem; }
details { margin: .3rem 0 .8rem; } summary { cursor: pointer; color: #333; font-size: .88rem; }
nav ol { padding-left: 1.3rem; } .empty { color: #777; font-style: italic; }
@media (max-width: 600px) {
  body { font-size: 14px; padding: .6rem .7rem 2rem; }
  dl.config { grid-template-columns: minmax(0, 1fr); } dd { margin: 0 0 .3rem .8rem; }
  th, td { padding: .2rem .35rem; }
}
"""
NO_MEMORIZED = {"linear": " (the linear model generates a Gaussian, not copies of training points)"}
MAX_VALUES_SHOWN = 12  # a swept parameter's values listed in full up to this many


def write_report(folders: Sequence[Path | str], out: Path | str | None = None,
                 analysis: AnalysisSettings = AnalysisSettings(), settings: ReportSettings = ReportSettings()) -> Path:
    """Write the page (default: <first folder>/report.html) and return its path. The whole page is built before
    anything is written, so a bad folder leaves no partial file. With ``out`` given, nothing is written into the
    folders: an analysis that is not current is computed for the page and not stored (a folder may be read-only)."""
    folders = [Path(folder) for folder in folders]
    if not folders:
        raise MemgenError("give at least one results folder")
    page = report_page(folders, analysis, settings, store_analysis=out is None)
    # A folder name that is not UTF-8 (Python holds its bytes as lone surrogates): shown as U+FFFD, as browsers do.
    page = page.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    target = Path(out) if out is not None else folders[0] / REPORT_FILE
    ledger.claim(target.parent, [target.name], legacy_ok=out is None)
    make_folder(target.parent)
    atomic_write_text(target, page)
    return target


def report_page(folders: Sequence[Path], analysis: AnalysisSettings, settings: ReportSettings,
                store_analysis: bool = True) -> str:
    sections = [folder_section(folder, k, analysis, settings, store_analysis) for k, folder in enumerate(folders)]
    names = ", ".join(folder.name or str(folder) for folder in folders)
    nav = ""
    if len(folders) > 1:
        items = "".join(f"<li><a href='#folder-{k}'>{esc(folder.name or folder)}</a></li>"
                        for k, folder in enumerate(folders))
        nav = f"<nav><ol>{items}</ol></nav>"
    meta = (f"memgen {esc(__version__)} · analysis: bootstrap {analysis.bootstrap}, seed {analysis.seed}, aligned "
            f"when a ratio's 95% CI lies within ×{analysis.align_factor:g} · every figure and table is the "
            "folder's own (memgen plot, memgen analyze)")
    return ("<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>memgen report: {esc(names)}</title><style>{PAGE_CSS}</style></head><body>"
            f"<header><h1>memgen report: {esc(names)}</h1><p class=meta>{meta}</p></header>{nav}"
            + "".join(sections) + "</body></html>\n")


def folder_section(folder: Path, index: int, analysis: AnalysisSettings, settings: ReportSettings,
                   store_analysis: bool = True) -> str:
    if not folder.is_dir():
        raise MemgenError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    body = (locate_body(folder, settings, store_analysis) if (folder / NSTAR_FILE).is_file() else
            sweep_body(folder, analysis, settings, store_analysis))
    return (f"<section id='folder-{index}'><h2>{esc(folder.name or folder)}</h2>"
            f"<p class=path>{esc(folder.resolve())}</p>{body}</section>")


# ----------------------------------------------------------------------------------------------
# A sweep's folder


def sweep_body(folder: Path, analysis: AnalysisSettings, settings: ReportSettings, store_analysis: bool = True) -> str:
    with styled():
        drawn = build_figures(folder, analysis, store_analysis=store_analysis)
        images = {name: figure_html(name, figure, drawn.notes[name], settings)
                  for name, figure in drawn.figures.items()}
    results, found = drawn.data.results, drawn.analysis
    notes = list(results.notes) + list(found.transitions.attrs.get("notes", [])) + list(found.notes)
    group_columns = list(found.transitions.attrs.get("group_columns", []))
    parts = [run_block(drawn.data.description, folder), notes_block(notes),
             "<h3>Transition</h3>" + key_and_full(found.transitions, group_columns,
                                                  "transitions.csv: n* (P(Δ > 0) crosses 0.5), n_onset (the error's "
                                                  "breakpoint), their ratio and the verdicts; 95% bootstrap intervals")]
    if found.memorization is not None:
        parts.append("<h3>Memorization</h3>" + key_and_full(
            found.memorization.groups, list(found.memorization.groups.attrs.get("group_columns", [])),
            "memorization.csv: n_mem (the memorized fraction falls through 0.5), its window, n* and their ratio; "
            "95% intervals over simulations, then samples"))
    parts += extra_tables(found)
    parts.append("<h3>Figures</h3><div class=figs>" + "".join(images.values()) + "</div>")
    if drawn.skipped:
        parts.append(notes_block([f"not drawn: {line}" for line in drawn.skipped]))
    if (folder / CURVES_FILE).is_file():
        parts.append(curves_block(folder))
    if (folder / EVALUATE_DIR).is_dir() and results.trials is not None:
        parts.append(evaluation_block(folder, results.trials))
    parts += [failed_block(folder), provenance_block(folder)]
    return "".join(parts)


def extra_tables(found) -> list[str]:
    """The three criteria (criteria.csv) and the training times (training_times.csv, training_fit.csv), where the
    analysis has them."""
    parts = []
    if found.criteria is not None:
        groups, model = found.criteria.groups, found.transitions.attrs.get("model")
        parts.append("<h3>Three criteria: n* (P(Δ > 0)), n_mem (memorized fraction), n_rep (reproducibility)</h3>"
                     + ("" if "n_mem" in groups.columns else
                        f"<p>n_mem: none here, no memorized fraction{NO_MEMORIZED.get(model, '')}; n* and n_rep "
                        "below.</p>")
                     + key_and_full(groups, list(groups.attrs.get("group_columns", [])),
                                    "criteria.csv: each criterion's n where it crosses 0.5 (n* and its interval "
                                    "as transitions.csv's), their ratios and whether they place the transition "
                                    "at the same n; 95% paired bootstrap intervals"))
    if found.training is not None:
        columns = [c for c in found.training.cells.columns if c in ("group", "n")]
        parts.append("<h3>Training times</h3>" + key_and_full(
            found.training.cells, columns, "training_times.csv: τ_mem (memorized fraction > 0.05), τ_half (> 0.5), "
            "τ_gen (held-out loss plateau) in optimizer steps; 95% intervals over simulations, then samples")
            + key_and_full(found.training.fits, ["group", "time", "points", "status"],
                           "training_fit.csv: τ = a n^β from the n whose time is reached with a finite interval"))
    return parts


def evaluation_block(folder: Path, trials) -> str:
    """`memgen evaluate`'s cells: each one's verdict, its gallery and its ratios beside the references'."""
    from memgen_cli.evaluate.verdict import cell_verdict

    parts = ["<h3>Your samples, cell by cell</h3><p>Each cell's samples nearest to a copy, above their nearest "
             "training images (gallery), and the NN1/NN2 ratios of the samples and of both references; per-sample "
             f"tables in {esc(EVALUATE_DIR)}/&lt;cell id&gt;/neighbours.csv.</p>"]
    for row in trials.to_dict("records"):
        cell = folder / EVALUATE_DIR / str(row["cell_id"])
        verdict, reason = cell_verdict(row)
        keys = ", ".join(f"{k} = {row[k]}" for k in ("series", "step", "n") if k in row)
        parts.append(f"<h4>{esc(keys)}: {esc(verdict)}</h4><p>{esc(reason)}</p>")
        for name in ("gallery", "ratios"):
            image = cell / f"{name}.png"
            if image.is_file():
                data = base64.b64encode(image.read_bytes()).decode("ascii")
                parts.append(f"<figure id='{esc(name)}-{esc(row['cell_id'])}'><div class=figbox><img class=wide "
                             f"alt='{esc(name)}' src='data:image/png;base64,{data}'></div></figure>")
    return "".join(parts)


def curves_block(folder: Path) -> str:
    """The training curves as the figure draws them: at the end of training, then every checkpoint."""
    means = curve_means(read_csv(folder / CURVES_FILE))
    last = means.sort_values("step").groupby("cell").tail(1).sort_values("n")
    return ("<h3>Training curves</h3>"
            + frame_table(last, caption="curves.csv: means over each cell's simulations at its last checkpoint")
            + f"<details><summary>every checkpoint ({len(means)} rows)</summary>{frame_table(means)}</details>")


# ----------------------------------------------------------------------------------------------
# A `memgen locate` folder


def locate_body(folder: Path, settings: ReportSettings, store_analysis: bool = True) -> str:
    read_nstar(folder)  # a damaged nstar.csv: one line naming it, before any drawing
    with styled():
        drawn = phase_figure(folder, store_analysis=store_analysis)
        image = figure_html("phase_diagram", drawn.figure, drawn.notes, settings)
    parts = [run_block(drawn.description, folder),
             "<h3>n* per combination</h3>" + frame_table(read_csv(folder / NSTAR_FILE),
                                                         caption="nstar.csv: n* and its 95% interval per "
                                                                 "combination, the search's status and budget"),
             "<h3>Power law n* = a d^b</h3>" + frame_table(drawn.fits, caption="fitted to the n* with an interval "
                                                                               "(no fit from fewer than 2 values "
                                                                               "of d)"),
             "<h3>Figures</h3><div class=figs>" + image + "</div>"]
    if (folder / POINTS_FILE).is_file():
        points = read_csv(folder / POINTS_FILE)
        parts.append(f"<details><summary>points.csv: P per n, trials pooled ({len(points)} rows)</summary>"
                     f"{frame_table(points)}</details>")
    parts += [failed_block(folder), provenance_block(folder)]
    return "".join(parts)


# ----------------------------------------------------------------------------------------------
# Blocks every folder has


def figure_html(name: str, figure: Figure, notes: Sequence[str], settings: ReportSettings) -> str:
    """The figure at its drawn width (one CSS pixel per pixel at the report's dpi; narrower only in a narrower
    window), its notes once, as text under it (a figure draws no notes: they are said beside it)."""
    fmt = settings.image_format
    data = base64.b64encode(figure_bytes(figure, fmt, settings.dpi)).decode("ascii")
    width, height = figure.get_size_inches() * settings.dpi  # an SVG shown as large as its PNG would be
    mime = "image/png" if fmt == "png" else "image/svg+xml"
    listed = "".join(f"<li>{esc(note)}</li>" for note in notes)
    wide = " class=wide" if figure.get_figwidth() > ONE_COLUMN * 1.1 else ""  # two paper columns
    shown = int(round(width))
    return (f"<figure id='fig-{esc(name)}' style='width: {shown}px'><div class=figbox><img{wide} alt='{esc(name)}' "
            f"width={shown} height={int(round(height))} src='data:{mime};base64,{data}'></div>"
            f"<figcaption><b>{esc(name)}</b> (memgen plot: figures/{esc(name)}.png, "
            f"its parameters in figures/{esc(name)}.json)"
            + (f"<ul class=notes>{listed}</ul>" if listed else "") + "</figcaption></figure>")


def listed_values(values: list) -> str:
    shown = [number(v) for v in values]
    if len(shown) > MAX_VALUES_SHOWN:
        shown = shown[:6] + ["…"] + shown[-3:]
    return ", ".join(shown) + (f" ({len(values)} values)" if len(values) > 1 else "")


def run_block(description: RunDescription, folder: Path) -> str:
    """The run in short: the model, what is swept, what differs from its defaults; config.yaml in full below."""
    items: dict[str, object] = {"in short": description.caption()}
    for name, values in description.swept.items():
        items[f"swept: {symbol(name)}"] = listed_values(values)
    for name, (value, default) in description.differences().items():
        known = name in description.defaults or name in description.settings
        shown = number(default) if default is not None else "unset"
        items[symbol(name)] = f"{number(value)}" + (f" (default {shown})" if known else "")
    if description.repeats is not None:
        items[f"{description.repeats[0]} per cell"] = listed_values(description.repeats[1])
    if description.original_set:
        items["original set sizes"] = listed_values(description.original_set) + " (n_original: N was not used)"
    config = folder / CONFIG_FILE
    text = config.read_text(errors="replace") if config.is_file() else ""
    full = f"<details><summary>{CONFIG_FILE}</summary><pre>{esc(text)}</pre></details>" if text else ""
    return "<h3>The run</h3>" + definition_list(items) + full


def notes_block(notes: Sequence[str]) -> str:
    unique = list(dict.fromkeys(notes))
    return f"<ul class=notes>{''.join(f'<li>{esc(n)}</li>' for n in unique)}</ul>" if unique else ""


def failed_block(folder: Path) -> str:
    """failed.json: the tasks that failed in the last run, each with its one-line error and its log."""
    path = folder / FAILED_FILE
    replaced = replaced_nothing_run(folder)
    heading = "<h3>Failed tasks</h3>" + (f"<p>{esc(replaced)}.</p>" if replaced else "")
    if not path.is_file():
        if unfinished := unfinished_run(folder):
            return f"{heading}<p>not known: {esc(unfinished)}</p>"
        return f"{heading}<p class=empty>none (no failed.json)</p>"
    try:
        failed = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return f"{heading}<p>{esc(path)}: unreadable ({esc(error)})</p>"
    records = failed if isinstance(failed, list) else [failed]
    return (f"{heading}<p>{len(records)} task(s) failed in {'the run before' if replaced else 'the last run'}; "
            "their cells are missing from the tables and figures above (tracebacks in logs/).</p>"
            + records_table([r if isinstance(r, dict) else {"entry": r} for r in records]))


def provenance_block(folder: Path) -> str:
    """manifest.json: memgen's version and commit, the platform, the packages, and every run's command and times."""
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return "<h3>Provenance</h3><p class=empty>no readable manifest.json</p>"
    git = manifest.get("git") or {}
    commit = git.get("commit") or "unknown"
    items = {"memgen": manifest.get("memgen_version", "?"),
             "commit": f"{commit}{' (uncommitted changes)' if git.get('dirty') else ''}",
             "python": manifest.get("python", "?"), "platform": manifest.get("platform", "?"),
             "CPU count": manifest.get("cpu_count", "?"), "created": manifest.get("created", "?")}
    packages = manifest.get("packages") or {}
    listed = ", ".join(f"{name} {version}" for name, version in packages.items())
    runs = [r for r in manifest.get("runs", []) if isinstance(r, dict)]
    return ("<h3>Provenance</h3>" + definition_list(items)
            + (f"<details><summary>packages</summary><p>{esc(listed)}</p></details>" if listed else "")
            + records_table(runs, caption="runs (manifest.json): command line, times, executor", name="run"))

