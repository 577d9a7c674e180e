"""What the CLI tests share: invoking `memgen` in-process and checking a one-line error."""

from typer.testing import CliRunner

from memgen_cli.cli import app

runner = CliRunner()


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def assert_one_line_error(result, *fragments):
    """Exit code 2, no traceback, one line holding every fragment; returns the line."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def sweep(config, out, *extra, model="linear"):
    """`memgen sweep <model> CONFIG --out OUT -q --executor serial [extra...]` in-process (no worker processes)."""
    return invoke("sweep", model, config, "--out", out, "-q", "--executor", "serial", *extra)
