"""Processes a sweep starts end with it: kill -9 of the driver leaves no worker or resource tracker behind.

Every process a test starts is ended by its process id in teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
# 3 cells x 1000 trials = 60 tasks of 50 trials: long enough that the kill lands mid-sweep.
LONG_SWEEP = "model: linear\ntrials: 1000\ngrid: {n: [4, 30, 60], d: [24], N: [1500]}\n"

pytestmark = [pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table in /proc"),
              pytest.mark.slow]  # every test here starts processes


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name, in parentheses, may hold spaces
    return int(fields[1]), fields[0]


def descendants(pid: int) -> dict[int, str]:
    """Every living process below ``pid``: {pid: command line}."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
    found, todo = {}, list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        todo.extend(children.get(child, []))
    return found


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] not in ("Z", "X")  # a zombie has exited; its reaper is not ours


def test_kill_minus_9_of_the_driver_ends_its_workers_and_resource_tracker(tmp_path):
    config = tmp_path / "long.yaml"
    config.write_text(LONG_SWEEP)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "memgen_cli", "sweep", "linear", str(config), "--quiet", "--workers", "2",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    started: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list((out / "parts").glob("*.csv")):
            assert proc.poll() is None, "the sweep ended before it was killed"
            time.sleep(0.05)
        started = descendants(proc.pid)  # before the kill: afterwards they are no longer its children
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert not (out / "trials.csv").exists(), "the kill should land mid-sweep"
        workers = [p for p, cmdline in started.items() if "multiprocessing.spawn" in cmdline]
        trackers = [p for p, cmdline in started.items() if "resource_tracker" in cmdline]
        assert len(workers) == 2 and len(trackers) == 1, started
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(p) for p in started):
            time.sleep(0.1)
        assert not [started[p] for p in started if alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in started:  # a failed test leaves nothing running either
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
