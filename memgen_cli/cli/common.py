"""What every command shares: one-line errors, and options made from the pydantic models that own their bounds
and defaults (so the help, the default and the check are written once, in the library)."""

from __future__ import annotations

import errno
import functools
from typing import Any

import typer

from memgen_cli.errors import MemgenError, ResultsWriteError


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"memgen: error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn):
    """Turn MemgenError into one line on stderr and exit code 2 (1 when a file could not be written), and a Ctrl-C
    that no command handles itself (while a command loads its libraries, say) into one line and exit code 130."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:  # click would print "Aborted!" and exit 1
            typer.echo("memgen: interrupted", err=True)
            raise typer.Exit(130) from None
        except ResultsWriteError as exc:  # not the user's input (a full disk, say): exit 1
            fail(str(exc), code=1)
        except MemgenError as exc:
            fail(str(exc))
        except OSError as exc:  # a path no check foresaw: a name past the file system's limit is the user's
            if exc.errno != errno.ENAMETOOLONG:
                raise
            fail(f"{exc.filename}: a name in this path is too long for the file system ({exc.strerror})")
    return wrapper


def _bounds(field) -> str:
    """' (1 to 4096)', ' (> 1)' ...: a field's range as its metadata states it."""
    import annotated_types as at  # pydantic's own constraint types

    def shown(value) -> str:
        return str(value) if isinstance(value, int) else f"{value:g}"

    low = high = ""
    for item in field.metadata:
        if isinstance(item, at.Ge):
            low = f">= {shown(item.ge)}"
        elif isinstance(item, at.Gt):
            low = f"> {shown(item.gt)}"
        elif isinstance(item, at.Le):
            high = f"<= {shown(item.le)}"
        elif isinstance(item, at.Lt):
            high = f"< {shown(item.lt)}"
    if low.startswith(">=") and high.startswith("<="):
        return f" ({low[3:]} to {high[3:]})"
    return f" ({', '.join(p for p in (low, high) if p)})" if low or high else ""


def field_option(model: type, name: str, *flags: str, default: Any = ..., help_default: str | None = None,
                 **options: Any) -> Any:
    """A typer.Option for field ``name`` of a pydantic model: its description and range as the help, its default
    (or ``default``, e.g. None when an unset option must leave a config's own value)."""
    field = model.model_fields[name]
    text = (field.description or name).rstrip(".")
    text = text[0].upper() + text[1:] + _bounds(field)
    shown = help_default if help_default is not None else (None if field.default is None else repr(field.default))
    if shown is not None and default is None:
        text += f"; default {shown}"
    return typer.Option(field.default if default is ... else default, *flags, help=text + ".",
                        show_default=default is ..., **options)
