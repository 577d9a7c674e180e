"""memgen touches only what it wrote (issue 34, cases 1, 3 and 7): each case as a user meets it, through the CLI on
real files. The rule (docs/results-format.md, Integrity): memgen lists every path it creates in the folder's
.memgen-ledger before creating it, and moves or deletes only what a ledger lists."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli_helpers import invoke, sweep

CONFIG = """model: linear
seed: 5
trials: 40
grid: {n: [3, 20], d: [4], lambda: [0.0183], T: [2.0], N: [200]}
"""
OTHER = ("--set", "grid.n=[4,30]")  # another config: --force replaces the results


@pytest.fixture(scope="module")
def plotted(tmp_path_factory) -> tuple[Path, Path]:
    """A finished sweep with its analysis and figures: `memgen sweep`, then `memgen plot`."""
    base = tmp_path_factory.mktemp("ledger")
    config = base / "c.yaml"
    config.write_text(CONFIG)
    assert sweep(config, base / "r1").exit_code == 0
    result = invoke("plot", base / "r1", "--bootstrap", "100")
    assert result.exit_code == 0, result.output
    return config, base / "r1"


def user_files(folder: Path) -> dict[str, str]:
    """A user's own files, inside memgen's folders and beside them."""
    mine = {"figures/my_plot.txt": "mine 1", "logs/my_notes.log": "mine 2", "images/my_image.png": "mine 3",
            "notes.txt": "mine 4"}
    for name, text in mine.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(text)
    return mine


def assert_kept(folder: Path, mine: dict[str, str]) -> None:
    for name, text in mine.items():
        assert (folder / name).read_text() == text, name


# -- case 1: --force deleted a user's files inside figures/, logs/, images/ ------------------------------------
def test_force_keeps_a_users_files_inside_memgens_folders(plotted, tmp_path):
    config, r1 = plotted
    r2 = tmp_path / "r2"
    shutil.copytree(r1, r2, symlinks=True)  # cp -a r1 r2
    mine = user_files(r2)
    result = sweep(config, r2, *OTHER, "--force")
    assert result.exit_code == 0, result.output
    assert_kept(r2, mine)
    assert not list((r2 / "figures").glob("*.png"))  # memgen's own figures (the old config's) are gone
    assert not [p for p in r2.iterdir() if p.name.startswith((".replac", ".discard"))]
    restored = sweep(config, r2, "--force")  # and back: the user's files still there
    assert restored.exit_code == 0 and (r2 / "summary.csv").is_file()
    assert_kept(r2, mine)


@pytest.mark.parametrize("copied", ["manifest", "part"])
def test_force_in_a_project_folder_with_a_copied_manifest_or_part_keeps_its_files(plotted, tmp_path, copied):
    config, r1 = plotted
    project = tmp_path / "project"
    project.mkdir()
    mine = user_files(project)
    if copied == "manifest":  # a run's record kept with the project
        shutil.copy(r1 / "manifest.json", project / "manifest.json")
        shutil.copy(r1 / "config.yaml", project / "config.yaml")
    else:
        part = sorted((r1 / "parts").glob("*.checksum.json"))[0]
        (project / "parts").mkdir()
        shutil.copy(part, project / "parts" / part.name)
        shutil.copy(part.with_name(part.name.replace(".checksum.json", ".csv")), project / "parts")
    result = sweep(config, project, *OTHER, "--force")
    assert result.exit_code == 0, result.output
    assert_kept(project, mine)


# -- case 3: plot/analyze --out DIR overwrote a user's tables and figures -----------------------------------------
@pytest.mark.parametrize("command", ["plot", "analyze"])
def test_combining_into_a_folder_of_a_users_files_is_refused(plotted, tmp_path, command):
    config, r1 = plotted
    other = tmp_path / "other"
    assert sweep(config, other, "--set", "grid.n=[5,40]").exit_code == 0
    out = tmp_path / "DIR"
    (out / "figures").mkdir(parents=True)
    mine = {"transitions.csv": "a,b\n1,2\n", "analysis.json": "{}\n", "figures/p_delta_positive.png": "mine"}
    for name, text in mine.items():
        (out / name).write_text(text)
    result = invoke(command, r1, other, "--out", out, "--bootstrap", "100")
    assert result.exit_code == 2 and "memgen did not write it" in result.output, result.output
    assert_kept(out, mine)
    assert not (out / "summary.csv").exists()


def test_analyze_out_refuses_a_users_table_of_the_same_name(plotted, tmp_path):
    _, r1 = plotted
    out = tmp_path / "tables"
    out.mkdir()
    (out / "transitions.csv").write_text("mine\n")
    result = invoke("analyze", r1, "--out", out, "--bootstrap", "100")
    assert result.exit_code == 2 and "memgen did not write it" in result.output, result.output
    assert (out / "transitions.csv").read_text() == "mine\n"
    again = tmp_path / "fresh"
    assert invoke("analyze", r1, "--out", again, "--bootstrap", "100").exit_code == 0
    assert invoke("analyze", r1, "--out", again, "--bootstrap", "100").exit_code == 0  # its own files: replaced


# -- case 7: memgen's temporary-name patterns matched a user's folders --------------------------------------------
def test_a_users_folders_named_like_memgens_temporaries_are_left_alone(plotted, tmp_path):
    config, _ = plotted
    out = tmp_path / "hidden"
    for name in (".discarded-old", ".replacing-x"):
        (out / name).mkdir(parents=True)
        (out / name / "keep.txt").write_text(name)
    (out / ".replacing-x" / "config.yaml").write_text("mine: true\n")
    (out / ".trials.csv.tmp-1").write_text("mine")
    result = sweep(config, out)
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    for name in (".discarded-old", ".replacing-x"):
        assert (out / name / "keep.txt").read_text() == name
    assert (out / ".replacing-x" / "config.yaml").read_text() == "mine: true\n"
    assert (out / ".trials.csv.tmp-1").read_text() == "mine"
    assert "seed: 5" in (out / "config.yaml").read_text()


# -- folders written before the ledger ----------------------------------------------------------------------------
def test_an_older_folder_without_a_ledger_still_resumes_and_is_replaced(plotted, tmp_path):
    config, r1 = plotted
    old = tmp_path / "old"
    shutil.copytree(r1, old)
    for ledger in old.rglob(".memgen-ledger"):
        ledger.unlink()
    mine = user_files(old)
    assert sweep(config, old).exit_code == 0
    assert json.loads((old / "manifest.json").read_text())["runs"][-1]["tasks_to_run"] == 0
    assert invoke("plot", old, "--bootstrap", "100").exit_code == 0  # its own figures: replaced
    result = sweep(config, old, *OTHER, "--force")
    assert result.exit_code == 0, result.output
    assert_kept(old, mine)
    assert "n: [4, 30]" in (old / "config.yaml").read_text() or "- 30" in (old / "config.yaml").read_text()


@pytest.mark.slow  # a sweep, analyze and report end to end
def test_an_older_folder_read_twice_keeps_its_own_files(tmp_path):
    """A folder from before the ledger: analyze starts its ledger, and report then replaces the report.html the
    older memgen wrote (it was refused as a user's file, since the ledger analyze began did not list it)."""
    from memgen_cli.ledger import LEDGER_FILE

    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "r"
    assert sweep(config, out).exit_code == 0
    assert invoke("report", out).exit_code == 0
    for ledger in out.rglob(LEDGER_FILE):  # as an older memgen left it
        ledger.unlink()
    assert invoke("analyze", out).exit_code == 0
    result = invoke("report", out)
    assert result.exit_code == 0, result.output
    (out / "mine.txt").write_text("mine")
    assert invoke("report", out).exit_code == 0 and (out / "mine.txt").read_text() == "mine"
