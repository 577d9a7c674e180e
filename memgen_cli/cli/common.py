"""What every command shares: one-line errors."""

from __future__ import annotations

import functools

import typer

from memgen_cli.errors import MemgenError


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"memgen: error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn):
    """Turn MemgenError into one line on stderr and exit code 2."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MemgenError as exc:
            fail(str(exc))
    return wrapper
