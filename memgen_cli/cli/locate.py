"""`memgen locate <model> CONFIG`: search n* (where P(Δ > 0) first crosses 0.5) for every combination."""

from __future__ import annotations

import math
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from memgen_cli.cli.common import field_option, user_errors
from memgen_cli.cli.help_words import ReadableCommand, ReadableGroup
from memgen_cli.cli.sweep import (checked_workers, config_argument, default_results_dir, dry_run_option,
                                  force_option, interrupted, out_option, quiet_option, set_option, workers_option,
                                  write_failed)
from memgen_cli.errors import ResultsWriteError
from memgen_cli.locate.settings import LocateSettings
from memgen_cli.runner.registry import EXPERIMENTS, experiment_summary

locate_app = typer.Typer(help="Find n* directly: a sequential search per combination of the other grid values.",
                         no_args_is_help=True, cls=ReadableGroup)

OPTION_FLAGS = {"rel_width": "--rel-width", "batch": "--batch", "max_trials": "--max-trials"}


class LocalExecutor(str, Enum):
    local = "local"
    serial = "serial"


def settings_overrides(given: dict[str, object]) -> list[str]:
    """The options given, checked by LocateSettings (one line naming the option), as --set locate.X overrides."""
    from memgen_cli.config import validate_options

    given = {k: v for k, v in given.items() if v is not None}
    validate_options(LocateSettings, given, OPTION_FLAGS)
    return [f"locate.{k}={v!r}" for k, v in given.items()]


def _run_locate_command(model: str, config: Path, out: Optional[Path], workers: Optional[int], set_: List[str],
                        options: dict[str, object], dry_run: bool, quiet: bool, force: bool,
                        executor: LocalExecutor) -> None:
    from memgen_cli.config import dump_yaml
    from memgen_cli.locate.setup import describe, load_locate_config

    workers = checked_workers(workers)
    setup = load_locate_config(config, [*set_, *settings_overrides(options)], model=model)
    out = out if out is not None else default_results_dir(model, config, prefix="locate-")
    if dry_run:
        shown = {**setup.stored, "locate": setup.settings.model_dump()}
        typer.echo(dump_yaml(shown).rstrip())
        typer.echo(describe(setup) + f"; output: {out}")
        return
    from memgen_cli.locate.run import run_locate
    from memgen_cli.results_format import NSTAR_FILE, POINTS_FILE

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
        interrupted(out, "batches are")
    except ResultsWriteError as error:
        write_failed(out, error)
    if not quiet:
        columns = [c for c in ("d", "lambda", "T", "N", "covariance") if c in result.nstar.columns
                   and result.nstar[c].nunique() > 1]
        for row in result.nstar.to_dict("records"):
            where = ", ".join(f"{c}={row[c]}" for c in columns) or "n*"
            interval = f"[{row['n_star_lo']:.4g}, {row['n_star_hi']:.4g}]" if math.isfinite(row["n_star"]) else ""
            typer.echo(f"{where}: {row['n_star']:.4g} {interval} {row['status']} ({row['trials']} trials) "
                       f"{row['note']}".rstrip())
        typer.echo(f"wrote {out}/{NSTAR_FILE} and {out}/{POINTS_FILE} ({len(result.trials)} trials in "
                   f"{result.rounds} rounds)")


def _make_locate_command(model: str):
    _, examples = experiment_summary(model)

    @user_errors
    def command(
        config: Path = config_argument("YAML config: a sweep config whose grid.n is the search range "
                                       "\\[n_min, n_max] (or the sizes to scan), plus an optional locate: section."),
        out: Optional[Path] = out_option("results/locate-<model>-<config name>"),
        rel_width: Optional[float] = field_option(LocateSettings, "rel_width", "--rel-width", default=None,
                                                  help_default="the config's, else 0.1"),
        batch: Optional[int] = field_option(LocateSettings, "batch", "--batch", default=None),
        max_trials: Optional[int] = field_option(LocateSettings, "max_trials", "--max-trials", default=None),
        workers: Optional[int] = workers_option(),
        set_: List[str] = set_option((*examples[:1], "locate.batch=30")),
        dry_run: bool = dry_run_option(),
        quiet: bool = quiet_option(),
        force: bool = force_option(),
        executor: Optional[LocalExecutor] = typer.Option(None, "--executor",
                                                         help="Where batches run: local processes or serial (this "
                                                              "process; it keeps the original sets between rounds). "
                                                              "Default: serial for the linear model, local otherwise."),
    ) -> None:
        if executor is None:
            from memgen_cli.runner.registry import experiment_class

            executor = LocalExecutor.serial if experiment_class(model).locate_in_process else LocalExecutor.local
        options = {"rel_width": rel_width, "batch": batch, "max_trials": max_trials}
        _run_locate_command(model, config, out, workers, set_, options, dry_run, quiet, force, executor)

    command.__doc__ = f"Search n* of the {model} model for every combination of the other grid values."
    return command


for _model in EXPERIMENTS:
    locate_app.command(_model, cls=ReadableCommand)(_make_locate_command(_model))
