"""The memgen command line: a thin Typer layer over the library (runner, report).

Every user error is a MemgenError, printed as one line with exit code 2. Heavy libraries (torch,
diffusers, dask, matplotlib) are imported only inside the commands that need them, so `memgen --help`
stays light. Commands: ``sweep`` (cli/sweep.py), ``locate`` (cli/locate.py), ``plot``, ``analyze`` and ``report``
(cli/report.py), ``cluster`` (cli/cluster.py).
"""

from __future__ import annotations

import typer

from memgen_cli.cli.common import user_errors
from memgen_cli.version import version_text

app = typer.Typer(help="memgen: measure the memorization-to-generalization transition of diffusion models.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version (with the git commit, from a checkout).")) -> None:
    """memgen: measure the memorization-to-generalization transition of diffusion models."""


def _register_commands() -> None:
    from memgen_cli.cli.cluster import cluster_app
    from memgen_cli.cli.locate import locate_app
    from memgen_cli.cli.report import analyze, plot, report
    from memgen_cli.cli.sweep import sweep_app

    app.add_typer(sweep_app, name="sweep")
    app.add_typer(locate_app, name="locate")
    app.command("plot")(user_errors(plot))
    app.command("analyze")(user_errors(analyze))
    app.command("report")(user_errors(report))
    app.add_typer(cluster_app, name="cluster")


_register_commands()
