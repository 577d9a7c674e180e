"""The CLI: bad input gives one clear line and exit code 2; good input writes the results folder."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from memgen_cli import version
from memgen_cli.cli import app

from cli_helpers import assert_one_line_error, invoke  # tests/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]



BAD_OVERRIDES = [
    (["--set", "grid.bogus=[1]"], "grid.bogus", "unknown field"),
    (["--set", "colour=red"], "colour", "unknown field"),
    (["--set", "trials=many"], "trials", "must be integer"),
    (["--set", "grid.n=[1, 4]"], "grid.n[0]", ">= 2"),
    (["--set", "grid.d=[0]"], "grid.d[0]", ">= 1"),
    (["--set", "grid.N=[1]"], "grid.N[0]", ">= 2"),
    (["--set", "grid.lambda=[0]"], "grid.lambda[0]", "must be > 0"),
    (["--set", "grid.T=[-1]"], "grid.T[0]", "must be > 0"),
    (["--set", "data.sigma=0"], "data.sigma", "must be > 0"),
    (["--set", "trials=0"], "trials", ">= 1"),
    (["--set", "grid.n=[]"], "grid.n", "must not be empty"),
    (["--set", "options.bandwidth=silverman"], "options.bandwidth", "must be one of 'paper'"),
    (["--set", "options.covariance=BB"], "options.covariance", "'BBt'"),
    (["--set", "options.original=sometimes"], "options.original", "'fixed'"),
    (["--set", "options.ridge=-1"], "options.ridge", ">= 0"),
    (["--set", "grid.n={start: 2, stop: 10}"], "grid.n", "num"),
    (["--set", "grid.d=[4.5]"], "grid.d[0]", "integer"),
    (["--set", "model=unet"], "model", "memgen sweep unet"),
    (["--set", "justakey"], "--set", "key=value"),
]


@pytest.mark.parametrize("extra,field,problem", BAD_OVERRIDES)
def test_bad_config_values_are_one_line_errors(small_config, tmp_path, extra, field, problem):
    out = tmp_path / "out"
    result = invoke("sweep", "linear", small_config, "--out", out, *extra)
    assert_one_line_error(result, field, problem)
    assert not out.exists()  # nothing half-written


def test_a_misspelt_section_in_set_blames_set_not_the_file(small_config, tmp_path):
    """Issue 37: `--set grdi.n=[2]` named the config file as the culprit; the misspelling is the option's."""
    line = assert_one_line_error(invoke("sweep", "linear", small_config, "--out", tmp_path / "out",
                                        "--set", "grdi.n=[2]"), "grdi", "unknown field")
    assert "--set: grdi: unknown field (did you mean 'grid'?)" in line and str(small_config) not in line


def test_bad_files_are_one_line_errors(tmp_path):
    assert_one_line_error(invoke("sweep", "linear", tmp_path / "missing.yaml"), "missing.yaml", "no such")
    broken = tmp_path / "broken.yaml"
    broken.write_text("grid: {n: [2, 4\n")
    assert_one_line_error(invoke("sweep", "linear", broken), "broken.yaml", "not valid YAML")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    assert_one_line_error(invoke("sweep", "linear", scalar), "scalar.yaml", "mapping")
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(b"\xff\xfe\x00binary")
    assert_one_line_error(invoke("sweep", "linear", garbage), "garbage.yaml", "cannot read")
    assert_one_line_error(invoke("sweep", "linear", tmp_path), "is a folder")


def test_unreadable_file_is_a_one_line_error(tmp_path, monkeypatch):
    # chmod 000 does not stop root (CI runs as root), so the permission error is raised directly.
    secret = tmp_path / "secret.yaml"
    secret.write_text("trials: 3\n")

    opened = Path.open

    def denied(self, *args, **kwargs):
        if self.name == "secret.yaml":
            raise PermissionError(13, "Permission denied", str(self))
        return opened(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    assert_one_line_error(invoke("sweep", "linear", secret), "secret.yaml", "cannot read", "Permission denied")


def test_unwritable_output_folder(small_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(invoke("sweep", "linear", small_config, "--out", blocker / "sub", "-q"), "--out",
                          "cannot write")
    assert_one_line_error(invoke("sweep", "linear", small_config, "--out", blocker, "-q"), "not a folder")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x")
    assert_one_line_error(invoke("sweep", "linear", small_config, "--out", foreign, "-q"), "not a memgen")


def test_dry_run_prints_resolved_config_and_writes_nothing(small_config, tmp_path):
    result = invoke("sweep", "linear", small_config, "--set", "grid.d=[8,32]", "--set", "trials=50",
                    "--set", "grid.n={start: 2, stop: 64, num: 6}", "--dry-run")
    assert result.exit_code == 0, result.output
    body = "\n".join(line for line in result.output.splitlines() if not line.startswith("#"))
    resolved = yaml.safe_load(body)
    assert resolved["grid"]["d"] == [8, 32] and resolved["trials"] == 50
    assert resolved["grid"]["n"] == [2, 4, 8, 16, 32, 64]
    assert resolved["options"]["bandwidth"] == "paper"
    assert "12 cells x 50 trials = 600 trials" in result.output
    assert not (tmp_path / "results").exists()


@pytest.mark.slow  # starts processes
def test_sweep_writes_results_folder_and_resumes(small_config, tmp_path):
    out = tmp_path / "res"
    first = invoke("sweep", "linear", small_config, "--out", out, "--workers", 1, "-q")
    assert first.exit_code == 0, first.output
    for name in ("config.yaml", "manifest.json", "trials.csv", "summary.csv"):
        assert (out / name).exists()
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 24 and list(trials["trial"][:12]) == list(range(12))
    again = invoke("sweep", "linear", small_config, "--out", out, "-q")
    assert again.exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "trials.csv"), trials)
    refused = invoke("sweep", "linear", small_config, "--out", out, "--set", "trials=5", "-q")
    assert_one_line_error(refused, "different config", "trials was 12, now 5", "--force")
    forced = invoke("sweep", "linear", small_config, "--out", out, "--set", "trials=5", "-q", "--force")
    assert forced.exit_code == 0 and len(pd.read_csv(out / "trials.csv")) == 10


def test_default_output_folder_named_after_config(small_config, tmp_path):
    result = invoke("sweep", "linear", small_config, "-q", "--executor", "serial")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "linear-small" / "summary.csv").exists()


@pytest.mark.slow  # starts processes
def test_real_subprocess_and_light_help(small_config, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    code = ("import sys, runpy; sys.argv=['memgen','--help']; "
            "from memgen_cli.cli import app\n"
            "try:\n app()\nexcept SystemExit: pass\n"
            "print('HEAVY', [m for m in ('torch','diffusers','dask','distributed','matplotlib') if m in sys.modules])")
    helped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert "sweep" in helped.stdout and "HEAVY []" in helped.stdout
    out = tmp_path / "sub"
    done = subprocess.run([sys.executable, "-m", "memgen_cli", "sweep", "linear", str(small_config), "--out", str(out),
                           "--quiet", "--workers", "2"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(out / "summary.csv")) == 2
    bad = subprocess.run([sys.executable, "-m", "memgen_cli", "sweep", "linear", str(small_config), "--set",
                          "grid.n=[1]"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "grid.n[0]" in bad.stderr


@pytest.mark.slow  # starts processes
def test_shell_completion_completes_commands():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "_MEMGEN_COMPLETE": "complete_bash", "COMP_WORDS": "memgen sweep l",
           "COMP_CWORD": "2"}
    code = "from memgen_cli.cli import app; app(prog_name='memgen')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split() == ["linear"], done.stderr
    shown = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="memgen")
    assert shown.exit_code == 0 and "_MEMGEN_COMPLETE=complete_bash" in shown.output
    zsh = CliRunner().invoke(app, ["--show-completion", "zsh"], prog_name="memgen")  # the shell named, not $SHELL's
    assert zsh.exit_code == 0 and zsh.output.startswith("#compdef memgen") and "complete_zsh" in zsh.output


@pytest.mark.slow  # starts processes
def test_version_names_the_git_commit_of_a_checkout(monkeypatch):
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith(f"memgen {version.__version__}")
    if head:  # CI and development run from a checkout
        assert f"(git {head[:12]}" in result.output
    # An installed copy (no checkout of memgen around it) prints the version alone.
    monkeypatch.setattr(version, "_git", lambda *args: subprocess.CompletedProcess(args, 128, "", "not a repo"))
    assert invoke("--version").output.strip() == f"memgen {version.__version__}"


@pytest.mark.parametrize("command", [[], ["plot"], ["analyze"], ["report"], ["sweep"], ["sweep", "linear"],
                                     ["sweep", "closedform"], ["locate", "linear"], ["cluster", "slurm"]])
def test_help_names_values_in_words(command):
    """Issue 37: Typer's Python types (`<bool>`, `<list[Path]>`, `<str>`) and `{results_dirs}` were shown as
    placeholders; the help says INTEGER, NUMBER, TEXT, PATH, a choice as [a|b], nothing for a flag."""
    result = invoke(*command, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for placeholder in ("<bool>", "<str>", "<int>", "<float>", "<path>", "<list[", "{results_dirs}", "{config}"):
        assert placeholder not in result.output, (placeholder, result.output)
    usage = result.output.split("Usage:")[1].splitlines()[0]
    if command in (["plot"], ["analyze"], ["report"]):
        assert usage.split()[-1] == "RESULTS_DIR..." and "PATH" in result.output
    if command in (["sweep", "linear"], ["locate", "linear"]):
        assert usage.split()[-1] == "CONFIG" and "INTEGER" in result.output and "KEY=VALUE" in result.output


def test_dry_run_says_what_the_real_run_would_do_with_the_folder(tmp_path):
    """Issue 37: a dry run into a folder the real run would refuse said nothing and exited 0."""
    config = Path(__file__).resolve().parents[1] / "configs" / "linear" / "quick.yaml"
    small = ["--set", "trials=4", "--set", "grid.n=[2,4]"]
    out = tmp_path / "r"
    assert invoke("sweep", "linear", str(config), *small, "--out", str(out), "--quiet").exit_code == 0
    same = invoke("sweep", "linear", str(config), *small, "--out", str(out), "--dry-run")
    assert same.exit_code == 0 and "# the folder: resumes it" in same.output
    grown = invoke("sweep", "linear", str(config), "--set", "trials=4", "--set", "grid.n=[2,4,8]", "--out", str(out),
                   "--dry-run")
    assert grown.exit_code == 0 and "# the folder: grows it (grid.n: + [8])" in grown.output
    other = invoke("sweep", "linear", str(config), *small, "--set", "grid.d=[4]", "--out", str(out), "--dry-run")
    assert other.exit_code == 2 and "# the folder: refused: it holds results of a different config" in other.output
    forced = invoke("sweep", "linear", str(config), *small, "--set", "grid.d=[4]", "--out", str(out), "--dry-run",
                    "--force")
    assert forced.exit_code == 0 and "replaces its results (--force)" in forced.output
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    foreign = invoke("sweep", "linear", str(config), "--out", str(tmp_path / "mine"), "--dry-run")
    assert foreign.exit_code == 2 and "not a memgen results folder" in foreign.output
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]  # a dry run touches nothing
