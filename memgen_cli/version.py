"""The package version, in a module of its own so that any module can import it without a cycle, and the
git state of the checkout memgen runs from (for `memgen --version` and each results folder's manifest)."""

from __future__ import annotations

import subprocess
from pathlib import Path

__version__ = "0.1.0"


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(Path(__file__).resolve().parent), *args], capture_output=True,
                          text=True, timeout=5)


def git_state() -> dict:
    """{"commit": sha, "dirty": bool} when memgen runs from a git checkout of itself, else both None.

    The checkout must be memgen's own: an installed copy inside some other repository reports nothing.
    """
    unknown = {"commit": None, "dirty": None}
    try:
        top = _git("rev-parse", "--show-toplevel")
        package_root = Path(__file__).resolve().parent.parent
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != package_root:
            return unknown
        commit = _git("rev-parse", "HEAD")
        if commit.returncode != 0:
            return unknown
        status = _git("status", "--porcelain", "--untracked-files=no")
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return unknown


def version_text() -> str:
    """'memgen 0.1.0' and, from a checkout, '(git 1a2b3c4d5e6f, uncommitted changes)'."""
    state = git_state()
    if state["commit"] is None:
        return f"memgen {__version__}"
    dirty = ", uncommitted changes" if state["dirty"] else ""
    return f"memgen {__version__} (git {state['commit'][:12]}{dirty})"
