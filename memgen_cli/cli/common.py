"""What every command shares: one-line errors."""

from __future__ import annotations

import functools

import typer

from memgen_cli.errors import MemgenError
from memgen_cli.results_format import ResultsWriteError


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"memgen: error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn):
    """Turn MemgenError into one line on stderr and exit code 2 (1 when a file could not be written)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ResultsWriteError as exc:  # not the user's input (a full disk, say): exit 1
            fail(str(exc), code=1)
        except MemgenError as exc:
            fail(str(exc))
    return wrapper
