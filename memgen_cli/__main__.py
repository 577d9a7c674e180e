"""`memgen` (the console script) and `python -m memgen_cli`: the command line, started so that a Ctrl-C while its
libraries load (typer, rich: a few tenths of a second before any command runs) ends in one line and exit code 130,
as a Ctrl-C inside a command does, instead of a traceback through the import machinery."""

import sys

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C


def main() -> None:
    try:
        from memgen_cli.cli import app
    except KeyboardInterrupt:
        sys.stderr.write("memgen: interrupted\n")
        sys.exit(INTERRUPTED)
    app(prog_name="memgen")


if __name__ == "__main__":
    main()
