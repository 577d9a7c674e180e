"""The memgen command line: a thin Typer layer over the library (runner, report).

Every user error is a MemgenError, printed as one line with exit code 2. Heavy libraries (torch,
diffusers, dask, matplotlib) are imported only inside the commands that need them, so `memgen --help`
stays light. Commands: ``sweep`` (cli/sweep.py), ``locate`` (cli/locate.py), ``plot``, ``analyze`` and ``report``
(cli/report.py), ``evaluate`` (cli/evaluate.py), ``cluster`` (cli/cluster.py).
"""

from __future__ import annotations

import io
import sys
from enum import Enum
from typing import Optional

import typer
from typer.completion import completion_init, get_completion_script, install

from memgen_cli.cli.common import user_errors
from memgen_cli.cli.help_words import ReadableCommand, ReadableGroup
from memgen_cli.version import version_text

# Typer's own completion options detect the shell and ignore a shell named after them (`--show-completion zsh`
# printed bash's script): these take the shell as their value.
app = typer.Typer(help="memgen: measure the memorization-to-generalization transition of diffusion models.",
                  cls=ReadableGroup, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
completion_init()  # shell completion itself (the _MEMGEN_COMPLETE variable the scripts set)


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


def _show_completion(shell: Optional[Shell]) -> None:
    if shell is not None:
        typer.echo(get_completion_script(prog_name="memgen", complete_var="_MEMGEN_COMPLETE", shell=shell.value))
        raise typer.Exit()


def _install_completion(shell: Optional[Shell]) -> None:
    if shell is not None:
        shell_name, path = install(shell=shell.value, prog_name="memgen", complete_var="_MEMGEN_COMPLETE")
        typer.echo(f"{shell_name} completion installed in {path}; it takes effect in a new terminal")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version (with the git commit, from a checkout)."),
         show_completion: Optional[Shell] = typer.Option(None, "--show-completion", metavar="SHELL", is_eager=True,
                                                         callback=_show_completion, show_default=False,
                                                         help="Print the completion script for SHELL."),
         install_completion: Optional[Shell] = typer.Option(None, "--install-completion", metavar="SHELL",
                                                            is_eager=True, callback=_install_completion,
                                                            show_default=False,
                                                            help="Install completion for SHELL.")) -> None:
    """memgen: measure the memorization-to-generalization transition of diffusion models."""
    _print_any_name()


def _print_any_name() -> None:
    """A path whose name is not UTF-8 (Python holds its bytes as lone surrogates) is printed as its bytes, as ls
    prints it, not a UnicodeEncodeError: a UTF-8 locale other than C.UTF-8 makes the standard streams strict."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="surrogateescape")


def _register_commands() -> None:
    from memgen_cli.cli.cluster import cluster_app
    from memgen_cli.cli.evaluate import evaluate
    from memgen_cli.cli.locate import locate_app
    from memgen_cli.cli.report import analyze, plot, report
    from memgen_cli.cli.sweep import sweep_app

    app.add_typer(sweep_app, name="sweep")
    app.add_typer(locate_app, name="locate")
    app.command("plot", cls=ReadableCommand)(user_errors(plot))
    app.command("analyze", cls=ReadableCommand)(user_errors(analyze))
    app.command("report", cls=ReadableCommand)(user_errors(report))
    app.command("evaluate", cls=ReadableCommand)(user_errors(evaluate))
    app.add_typer(cluster_app, name="cluster")


_register_commands()
