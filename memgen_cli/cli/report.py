"""`memgen plot`, `memgen analyze` and `memgen report`: thin commands over memgen_cli.report (analyze computes and
writes the tables, plot draws them, report puts a folder on one page), with one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from memgen_cli.cli.common import field_option
from memgen_cli.report.analysis.settings import AnalysisSettings, ReportSettings

FLAGS = {"align_factor": "--align-factor", "bootstrap": "--bootstrap", "seed": "--seed", "x": "--x"}
REPORT_FLAGS = {"dpi": "--dpi", "image_format": "--image-format"}

ResultsDirs = Annotated[
    list[Path], typer.Argument(help="Results folder(s) written by `memgen sweep`; several folders of one model are "
                                    "read as one sweep (their cells must differ) and need --out.",
                               show_default=False)
]


def align_factor_option():
    return field_option(AnalysisSettings, "align_factor", FLAGS["align_factor"])


def bootstrap_option():
    return field_option(AnalysisSettings, "bootstrap", FLAGS["bootstrap"])


def seed_option():
    return field_option(AnalysisSettings, "seed", FLAGS["seed"], metavar="INTEGER>=0")


def check_folders(folders: list[Path], out: Path | None) -> None:
    """The folders and --out as given, refused in one line before pandas or matplotlib load: a folder that is
    missing or not a folder, a name past the file system's limit."""
    from memgen_cli.errors import MemgenError
    from memgen_cli.results_format import name_problem

    for folder in folders:
        if problem := name_problem(folder):
            raise MemgenError(f"{folder}: {problem}")
        if not folder.exists():
            raise MemgenError(f"{folder}: no such folder")
        if not folder.is_dir():
            raise MemgenError(f"{folder}: not a folder (give the results folder a sweep wrote)")
    if out is not None and (problem := name_problem(out)):
        raise MemgenError(f"--out {out}: {problem}")


def settings_from(**options) -> AnalysisSettings:
    """The options through their model: one line naming the option when one is out of range."""
    from memgen_cli.config import validate_options

    return validate_options(AnalysisSettings, options, FLAGS)


def print_power_laws(console, fits) -> None:
    """A locate folder's fitted n* = a d^b, one line per hue value (a row without a fit is left out: the phase
    diagram's notes say why)."""
    for fit in fits.itertuples(index=False):
        where = "" if len(fits) == 1 else f" for {fits.columns[0]} = {fit[0]}"
        if fit.b == fit.b:  # not NaN: fitted
            console.print(f"n* = {fit.a:.3g} d^{fit.b:.3f} (b in [{fit.b_lo:.3f}, {fit.b_hi:.3f}], "
                          f"{fit.points} points){where}", highlight=False)


def plot(
    results_dirs: ResultsDirs,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for the figures (default: RESULTS_DIR/figures); "
                                                              "with several folders, the folder their combined "
                                                              "tables and figures go to.", show_default=False)] = None,
    format: Annotated[str, typer.Option("--format", help="Comma-separated image formats, any of png, pdf, "
                                                         "svg.")] = "png",
    x: str = field_option(AnalysisSettings, "x", "--x"),
    hue: Annotated[Optional[str], typer.Option("--hue", help="Swept column that picks a line's colour (default: "
                                                             "what varies besides x and the facet).",
                                               show_default=False)] = None,
    facet: Annotated[Optional[str], typer.Option("--facet", help="Swept column that picks the panel (default: the "
                                                                 "one with the fewest values, when two or more vary "
                                                                 "besides x).", show_default=False)] = None,
    align_factor: float = align_factor_option(),
    bootstrap: int = bootstrap_option(),
    seed: int = seed_option(),
) -> None:
    """Draw the paper's figures from a results folder: P(Δ > 0), mean H², Ê_OG/Ê_TG and the transition.

    The estimates drawn are `memgen analyze`'s tables for these settings, computed first when the folder has no
    current analysis (and written into it, unless --out puts the figures elsewhere: then nothing goes there).
    A `memgen locate` folder (it holds nstar.csv) gets its phase diagram: n* against d, and n*/d."""
    check_folders(results_dirs, out)
    from rich.console import Console
    from rich.markup import escape

    from memgen_cli.results_format import NSTAR_FILE

    from memgen_cli.report.analysis.load import folder_to_read

    settings = settings_from(align_factor=align_factor, bootstrap=bootstrap, seed=seed, x=x)
    console = Console()
    results_dir = folder_to_read(results_dirs, out, "plot")
    if len(results_dirs) > 1:
        out = None  # the combined folder is --out: its figures go to its figures/
    if (results_dir / NSTAR_FILE).is_file():
        from memgen_cli.report.figures.figure_phase import phase_diagram

        paths, fits, notes = phase_diagram(results_dir, out, format, hue)
        for line in notes:
            console.print(f"[dim]phase_diagram: {escape(line)}[/]", highlight=False)
        print_power_laws(console, fits)
        console.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)
        return
    from memgen_cli.report.figures.draw import draw_figures  # matplotlib loads only for this command

    report = draw_figures(results_dir, out, format, x, hue, facet, settings.align_factor, settings.bootstrap,
                          settings.seed)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    for line in report.skipped:
        console.print(f"skipped {line}", highlight=False)
    for name, lines in report.figure_notes.items():
        for line in lines:
            console.print(f"[dim]{name}: {escape(line)}[/]", highlight=False)
    folders = sorted({str(path.parent) for path in report.paths})
    names = ", ".join(dict.fromkeys(path.stem for path in report.paths))
    formats = ", ".join(dict.fromkeys(path.suffix.lstrip(".") for path in report.paths))
    console.print(f"wrote {len(report.paths)} files ({names}; {formats}) to {', '.join(folders)}, each with its "
                  "parameters in <figure>.json", highlight=False)


def analyze(
    results_dirs: ResultsDirs,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for the tables (default: RESULTS_DIR); with "
                                                              "several folders, the folder their combined tables "
                                                              "go to.", show_default=False)] = None,
    align_factor: float = align_factor_option(),
    bootstrap: int = bootstrap_option(),
    seed: int = seed_option(),
) -> None:
    """Find n_star (P(Δ > 0) crosses 0.5) and n_onset (error starts to fall fast) per group.

    Prints a table and writes transitions.csv (U-Net folders: also memorization.csv; with reproducibility pairs,
    criteria.csv; with curves.csv, training_times.csv and training_fit.csv) and analysis.json (docs/analysis.md
    explains every column). A `memgen locate` folder (it holds nstar.csv) gets its power laws n* = a d^b instead
    (nstar_fits.csv), which `memgen plot` draws."""
    check_folders(results_dirs, out)
    from rich.console import Console
    from rich.markup import escape

    from memgen_cli.cli.console_tables import print_table
    from memgen_cli.cli.tables import (criteria_console_table, memorization_console_table, training_console_table,
                                       transitions_console_table)
    from memgen_cli.report.analysis.outputs import analyze_folder
    from memgen_cli.results_format import NSTAR_FILE

    from memgen_cli.report.analysis.load import folder_to_read

    settings = settings_from(align_factor=align_factor, bootstrap=bootstrap, seed=seed)
    results_dir = folder_to_read(results_dirs, out, "analyze")
    console = Console()
    if (results_dir / NSTAR_FILE).is_file():  # a `memgen locate` folder: its analysis is the power laws of n*(d)
        from memgen_cli.report.analysis.nstar_fits import analyze_locate_folder, fit_notes

        fits, paths = analyze_locate_folder(results_dir, out)
        for note in fit_notes(fits.fits, fits.hue):
            console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        print_power_laws(console, fits.fits)
        console.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)
        return
    analysis, paths = analyze_folder(results_dir, out, settings)
    for note in analysis.transitions.attrs.get("notes", []) + analysis.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    print_table(console, transitions_console_table(analysis.transitions, align_factor))
    if analysis.memorization is not None:
        print_table(console, memorization_console_table(analysis.memorization.groups, align_factor))
    if analysis.criteria is not None:
        print_table(console, criteria_console_table(analysis.criteria.groups, align_factor))
    if analysis.training is not None:
        print_table(console, training_console_table(analysis.training.cells, analysis.training.fits))
    console.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)


def report(
    results_dirs: Annotated[list[Path], typer.Argument(help="Results folders written by `memgen sweep` or `memgen "
                                                           "locate`, one section each.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", help="The page to write (default: "
                                                              "FIRST_RESULTS_DIR/report.html).",
                                                show_default=False)] = None,
    dpi: int = field_option(ReportSettings, "dpi", REPORT_FLAGS["dpi"]),
    image_format: str = field_option(ReportSettings, "image_format", REPORT_FLAGS["image_format"]),
    align_factor: float = align_factor_option(),
    bootstrap: int = bootstrap_option(),
    seed: int = seed_option(),
) -> None:
    """One self-contained HTML page of results folders: the run, transitions, figures, tables, failures, provenance.

    The page embeds its figures and needs no network: send it as one file. Its estimates are the folders' analyses
    for these settings, computed and written first where a folder has no current one (with --out, computed and
    not written: nothing goes into the folders)."""
    check_folders(results_dirs, out)
    from rich.console import Console

    from memgen_cli.config import validate_options
    from memgen_cli.report.page.html_report import write_report  # matplotlib loads only for this command

    settings = settings_from(align_factor=align_factor, bootstrap=bootstrap, seed=seed)
    page = validate_options(ReportSettings, {"dpi": dpi, "image_format": image_format}, REPORT_FLAGS)
    path = write_report(results_dirs, out, settings, page)
    Console().print(f"wrote {path}", highlight=False)
