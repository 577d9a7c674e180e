"""`memgen locate linear|unet CONFIG`: search n* (where P(Δ > 0) first crosses 0.5) for every combination."""

from __future__ import annotations

import math
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from memgen_cli.cli.common import fail, user_errors
from memgen_cli.errors import MemgenError

locate_app = typer.Typer(help="Find n* directly: a sequential search per combination of the other grid values.",
                         no_args_is_help=True)


class LocalExecutor(str, Enum):
    local = "local"
    serial = "serial"


def _check_options(rel_width: Optional[float], batch: Optional[int], max_trials: Optional[int]) -> list[str]:
    """The options as --set overrides of the locate: section, after one-line checks of their ranges."""
    overrides = []
    if rel_width is not None:
        if not (math.isfinite(rel_width) and 0 < rel_width <= 10):
            raise MemgenError(f"--rel-width: must be a number in (0, 10] (got {rel_width:g})")
        overrides.append(f"locate.rel_width={rel_width!r}")
    if batch is not None:
        if not 1 <= batch <= 100_000:
            raise MemgenError(f"--batch: must be an integer from 1 to 100000 (got {batch})")
        overrides.append(f"locate.batch={batch}")
    if max_trials is not None:
        if not 1 <= max_trials <= 10_000_000:
            raise MemgenError(f"--max-trials: must be an integer from 1 to 10000000 (got {max_trials})")
        overrides.append(f"locate.max_trials={max_trials}")
    return overrides


def _run_locate_command(model: str, config: Path, out: Optional[Path], workers: Optional[int], set_: List[str],
                        rel_width: Optional[float], batch: Optional[int], max_trials: Optional[int],
                        dry_run: bool, quiet: bool, force: bool, executor: LocalExecutor) -> None:
    from memgen_cli.locate.setup import describe, load_locate_config
    from memgen_cli.results_format import ResultsWriteError
    from memgen_cli.config import dump_yaml

    if workers is not None and not 1 <= workers <= 4096:
        raise MemgenError(f"--workers: must be an integer from 1 to 4096 (got {workers})")
    setup = load_locate_config(config, [*set_, *_check_options(rel_width, batch, max_trials)], model=model)
    name = config.stem if config.stem.startswith(f"{model}-") else f"{model}-{config.stem}"
    out = out if out is not None else Path("results") / f"locate-{name}"
    if dry_run:
        shown = {**setup.stored, "locate": setup.settings.model_dump()}
        typer.echo(dump_yaml(shown).rstrip())
        typer.echo(describe(setup) + f"; output: {out}")
        return
    from memgen_cli.locate.run import NSTAR_FILE, run_locate

    def report(round_index: int, trials: int, decisions: list) -> None:
        if quiet:
            return
        open_ = sum(1 for d in decisions if d is not None and d.status == "searching")
        waiting = sum(1 for d in decisions if d is None)
        typer.echo(f"round {round_index}: {trials} trials so far; of {len(decisions)} combination(s) {open_} "
                   f"searching, {len(decisions) - open_ - waiting} done, {waiting} not started", err=True)

    def note(message: str) -> None:
        typer.echo(f"memgen: warning: {message}", err=True)

    try:
        result = run_locate(setup, out, executor=executor.value, workers=workers, force=force, argv=sys.argv,
                            on_round=report, on_note=note)
    except KeyboardInterrupt:
        typer.echo(f"memgen: interrupted; finished batches are kept in {out}/parts. "
                   "Rerun the same command to resume (the search replays its decisions).", err=True)
        raise typer.Exit(130) from None
    except ResultsWriteError as error:
        fail(f"{error}; free space (or fix the folder) and rerun the same command: finished work is kept", code=1)
    if not quiet:
        columns = [c for c in ("d", "lambda", "T", "N", "covariance") if c in result.nstar.columns
                   and result.nstar[c].nunique() > 1]
        for row in result.nstar.itertuples(index=False):
            where = ", ".join(f"{c}={getattr(row, c)}" for c in columns) or "n*"
            interval = f"[{row.n_star_lo:.4g}, {row.n_star_hi:.4g}]" if math.isfinite(row.n_star) else ""
            typer.echo(f"{where}: {row.n_star:.4g} {interval} {row.status} ({row.trials} trials) {row.note}".rstrip())
        typer.echo(f"wrote {out}/{NSTAR_FILE} and {out}/points.csv ({len(result.trials)} trials in "
                   f"{result.rounds} rounds)")


def _make_locate_command(model: str):
    @user_errors
    def command(
        config: Path = typer.Argument(..., help="YAML config: a sweep config whose grid.n is the search range "
                                                "[n_min, n_max] (or the sizes to scan), plus an optional "
                                                "locate: section."),
        out: Optional[Path] = typer.Option(None, "--out", "-o",
                                           help="Results folder (default: results/locate-<model>-<config name>)."),
        rel_width: Optional[float] = typer.Option(None, "--rel-width", metavar="FLOAT (0,10]",
                                                  help="Stop when the 95% interval of n* lies within n* x/÷ "
                                                       "(1 + this), e.g. 0.1 for ±10% (default: the config's, "
                                                       "else 0.1)."),
        batch: Optional[int] = typer.Option(None, "--batch", metavar="INTEGER 1..100000",
                                            help="Trials (simulations) per batch at a point (default 20)."),
        max_trials: Optional[int] = typer.Option(None, "--max-trials", metavar="INTEGER 1..10^7",
                                                 help="Trial budget per combination (default 3000)."),
        workers: Optional[int] = typer.Option(None, "--workers", "-w", metavar="INTEGER 1..4096",
                                              help="Worker processes (default: the number of CPU cores)."),
        set_: List[str] = typer.Option([], "--set", metavar="KEY=VALUE",
                                       help="Override a config field, e.g. grid.d=[8,32] or locate.batch=30 "
                                            "(repeatable; values are YAML)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and settings, then exit."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines (for scripts)."),
        force: bool = typer.Option(False, "--force", help="Replace results of a different config in the folder."),
        executor: Optional[LocalExecutor] = typer.Option(None, "--executor",
                                                         help="Where batches run: local processes or serial (this "
                                                              "process; it keeps the original sets between rounds). "
                                                              "Default: serial for linear, local for unet."),
    ) -> None:
        if executor is None:
            executor = LocalExecutor.serial if model == "linear" else LocalExecutor.local
        _run_locate_command(model, config, out, workers, set_, rel_width, batch, max_trials, dry_run, quiet, force,
                            executor)

    command.__doc__ = {"linear": "Search n* of the linear one-step denoiser for every (d, lambda, T, N, ...).",
                       "unet": "Search n* of the U-Net DDPM (simulations as the unit) for every combination."}[model]
    return command


locate_app.command("linear")(_make_locate_command("linear"))
locate_app.command("unet")(_make_locate_command("unet"))
