"""Typer commands `memgen plot` and `memgen analyze`.

Registered by memgen_cli.cli as ``app.command("plot")(plot)`` and ``app.command("analyze")(analyze)``.
Bad input raises MemgenError; the main app prints it on one line and exits with code 2.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from memgen_cli.errors import MemgenError

MIN_BOOTSTRAP = 100  # fewer replicates make the 2.5/97.5 percentiles meaningless
# More buy nothing (at 10^4 the 2.5% percentile is the 2.5 ± 0.16% quantile) and cost memory and time in
# proportion (about 16 kB and 0.1 ms per replicate for a 12-cell group): docs/analysis.md.
MAX_BOOTSTRAP = 10_000

ResultsDir = Annotated[
    Path,
    typer.Argument(help="Results folder written by `memgen sweep` (holds summary.csv).", show_default=False),
]
AlignFactor = Annotated[
    float,
    typer.Option(
        "--align-factor",
        help="n_star and n_onset count as aligned when their ratio lies within [1/F, F]; F must be > 1.",
    ),
]
Bootstrap = Annotated[
    int,
    typer.Option(
        "--bootstrap",
        help=f"Bootstrap replicates (trials resampled within each cell) for the intervals; "
        f"{MIN_BOOTSTRAP} to {MAX_BOOTSTRAP}.",
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed",
        help="Seed of the bootstrap, an integer >= 0 (each group's generator derives from it and the group's "
        "parameters: same seed, same intervals, whatever other groups the folder holds).",
        metavar="INTEGER>=0",
    ),
]


def check_analysis_options(align_factor: float, bootstrap: int, seed: int) -> None:
    # Checked here rather than with Typer's min/max, whose refusal is a multi-line usage box.
    if not (math.isfinite(align_factor) and align_factor > 1):
        raise MemgenError(f"--align-factor: must be a number > 1 (got {align_factor:g})")
    if bootstrap < MIN_BOOTSTRAP:
        raise MemgenError(f"--bootstrap: must be >= {MIN_BOOTSTRAP} (got {bootstrap})")
    if bootstrap > MAX_BOOTSTRAP:
        raise MemgenError(f"--bootstrap: must be <= {MAX_BOOTSTRAP} (got {bootstrap}); more replicates do not "
                          "sharpen a 95% interval and cost memory and time in proportion")
    if seed < 0:
        raise MemgenError(f"--seed: must be >= 0 (got {seed})")


def plot(
    results_dir: ResultsDir,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out", help="Folder for the figures (default: RESULTS_DIR/figures).", show_default=False
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", help="Comma-separated image formats, any of png, pdf, svg.")
    ] = "png",
    x: Annotated[str, typer.Option("--x", help="Parameter column on the (log) x axis.")] = "n",
    hue: Annotated[
        Optional[str],
        typer.Option(
            "--hue",
            help="Swept column that picks a line's colour (default: what varies besides x and the facet).",
            show_default=False,
        ),
    ] = None,
    facet: Annotated[
        Optional[str],
        typer.Option(
            "--facet",
            help="Swept column that picks the panel (default: the one with the fewest values, "
            "when two or more vary besides x).",
            show_default=False,
        ),
    ] = None,
    align_factor: AlignFactor = 2.0,
    bootstrap: Bootstrap = 1000,
    seed: Seed = 0,
) -> None:
    """Draw the paper's figures from a results folder: P(Δ > 0), mean H², Ê_OG/Ê_TG and the transition.

    A `memgen locate` folder (it holds nstar.csv) gets its phase diagram: n* against d, and n*/d."""
    from memgen_cli.report.figures import draw_figures  # matplotlib loads only for this command

    check_analysis_options(align_factor, bootstrap, seed)
    if (results_dir / "nstar.csv").is_file():
        from memgen_cli.report.figure_phase import phase_diagram

        paths, fits, notes = phase_diagram(results_dir, out, format, hue)
        for line in notes:
            Console().print(f"[dim]phase_diagram: {escape(line)}[/]", highlight=False)
        for fit in fits.itertuples(index=False):
            Console().print(f"n* = {fit.a:.3g} d^{fit.b:.3f} (b in [{fit.b_lo:.3f}, {fit.b_hi:.3f}], "
                            f"{fit.points} points){'' if len(fits) == 1 else f' for {fits.columns[0]} = {fit[0]}'}",
                            highlight=False)
        Console().print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)
        return
    report = draw_figures(results_dir, out, format, x, hue, facet, align_factor, bootstrap, seed)
    console = Console()
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
    console.print(
        f"wrote {len(report.paths)} files ({names}; {formats}) to {', '.join(folders)}", highlight=False
    )


def analyze(
    results_dir: ResultsDir,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="Folder for transitions.csv (default: RESULTS_DIR).", show_default=False),
    ] = None,
    align_factor: AlignFactor = 2.0,
    bootstrap: Bootstrap = 1000,
    seed: Seed = 0,
) -> None:
    """Find n_star (P(Δ > 0) crosses 0.5) and n_onset (error starts to fall fast) per group.

    Prints a table and writes transitions.csv (docs/analysis.md explains every column).
    """
    from memgen_cli.report.analysis import find_transitions, write_transitions

    check_analysis_options(align_factor, bootstrap, seed)
    if (results_dir / "nstar.csv").is_file():  # its summary.csv has one row per batch, not per n
        raise MemgenError(f"{results_dir}: a `memgen locate` folder; its n* and intervals are in nstar.csv "
                          "(and P per n in points.csv); `memgen plot` draws its phase diagram")
    table = find_transitions(results_dir, align_factor=align_factor, n_boot=bootstrap, seed=seed)
    path = write_transitions(table, out if out is not None else results_dir)
    console = Console()
    for note in table.attrs.get("notes", []):
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    console.print(transitions_rich_table(table, align_factor))
    console.print(f"wrote {path}", highlight=False)
    from memgen_cli.cli.memorization import analyze_memorization  # U-Net folders: memorization.csv

    analyze_memorization(results_dir, out, align_factor, bootstrap, seed, console)


# ----------------------------------------------------------------------------------------------
# The printed table


def fmt_n(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "∞"
    if value == 0:
        return "0"
    return f"{value:.0f}" if 100 <= abs(value) < 1e6 else f"{value:.3g}"


def fmt_slope(value: float) -> str:
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def fmt_interval(lo: float, hi: float, n_min: float) -> str:
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return ""
    low = f"<{fmt_n(n_min)}" if lo == 0 else fmt_n(lo)
    return f"[{low}, {fmt_n(hi)}]"


def transitions_rich_table(table: pd.DataFrame, align_factor: float) -> Table:
    """n*, n_onset, slopes, ratio and verdict per group; the CSV holds every column."""
    rich_table = Table(
        title=f"Memorization → generalization transition (aligned: n*/n_onset within ×{align_factor:g})",
        caption="slopes: d log y / d log n before → after n_onset. transitions.csv holds every column.",
    )
    for column, justify in (
        ("group", "left"),
        ("n* [95% CI]", "right"),
        ("n_onset [95% CI]", "right"),
        ("slopes", "right"),
        ("n*/n_onset", "right"),
        ("verdict", "left"),
        ("P(Δ>0) at max n", "right"),
    ):
        rich_table.add_column(column, justify=justify)
    for row in table.to_dict("records"):
        star = (
            f"{fmt_n(row['n_star'])} {fmt_interval(row['n_star_lo'], row['n_star_hi'], row['n_min'])}"
            if row["n_star_status"] == "crossed"
            else row["n_star_status"]
        )
        onset = (
            f"{fmt_n(row['n_onset'])} {fmt_interval(row['n_onset_lo'], row['n_onset_hi'], row['n_min'])}"
            if np.isfinite(row["n_onset"])
            else row["onset_status"]
        )
        if np.isfinite(row["n_onset"]) and row["onset_status"] != "ok":
            onset += " (no faster decay after it)"
        slopes = (
            f"{fmt_slope(row['slope_before'])} → {fmt_slope(row['slope_after'])}"
            if np.isfinite(row["slope_before"])
            else "–"
        )
        ratio = (
            f"{row['ratio']:.3g} {fmt_interval(row['ratio_lo'], row['ratio_hi'], 0)}"
            if np.isfinite(row["ratio"])
            else "–"
        )
        colour = {"aligned": "green", "not aligned": "red"}.get(row["verdict"], "yellow")
        verdict = f"[{colour}]{row['verdict']}[/]" + (
            "" if row["verdict"] != "undetermined" else f" ({escape(row['verdict_reason'])})"
        )
        far = (
            f"{row['p_at_n_max']:.2f} [{row['p_at_n_max_lo']:.2f}, {row['p_at_n_max_hi']:.2f}]"
            if np.isfinite(row["p_at_n_max"])
            else "–"
        )
        if np.isfinite(row["p_at_n_max"]) and row["n_last_p"] != row["n_max"]:
            far += f" at n={fmt_n(row['n_last_p'])}"  # the largest n had no finite P (a note says so)
        rich_table.add_row(
            *(escape(str(cell)) for cell in (row["group"], star, onset, slopes, ratio)), verdict, escape(far)
        )
    return rich_table
