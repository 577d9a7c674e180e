"""What each make target installs (issue 26): the demo needs no torch; the tests install every extra."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
              pytest.mark.slow]  # starts processes (make)


def planned_commands(target: str, tmp_path: Path) -> str:
    """The commands `make <target>` would run on a fresh machine (a virtual environment that does not exist)."""
    env = {**os.environ, "TORCH": "torch==2.13.0"}
    done = subprocess.run(["make", "-n", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def installs(commands: str) -> list[str]:
    return [line for line in commands.splitlines() if "pip install" in line]


def test_make_demo_installs_no_torch_and_no_extra(tmp_path):
    lines = installs(planned_commands("demo", tmp_path))
    assert lines and all("torch" not in line and "[" not in line for line in lines), lines


def test_make_test_installs_torch_and_every_extra(tmp_path):
    lines = installs(planned_commands("test", tmp_path))
    assert any("torch==2.13.0" in line for line in lines), lines
    assert any('".[unet,dask,dev]"' in line for line in lines), lines
