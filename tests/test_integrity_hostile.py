"""Integrity, fourth pass (issue 34): hostile or damaged input, each case as a user meets it (the CLI on real
files), refused in one line naming the file, exit code 2, no traceback, and nothing written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cli_helpers import assert_one_line_error, invoke

CONFIG = """model: linear
seed: 3
trials: 20
grid: {n: [3, 20], d: [4], lambda: [0.0183], T: [2.0], N: [200]}
"""

# A "billion laughs": nine levels of nine aliases, 9^9 values once expanded, a few hundred bytes on disk.
LAUGHS = "".join(f"{chr(98 + k)}: &{chr(98 + k)} [{', '.join([f'*{chr(97 + k)}'] * 9)}]\n" for k in range(9))
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + LAUGHS


# -- 5. a config path that is a device, a pipe, or huge: refused before a byte is read ---------------------------
@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "huge"])
def test_a_config_that_is_not_a_regular_small_file_is_one_line_at_once(tmp_path, kind):
    import os

    if kind == "/dev/zero":
        path, problem = Path("/dev/zero"), "not a regular file"
    elif kind == "fifo":
        path, problem = tmp_path / "pipe.yaml", "not a regular file"
        os.mkfifo(path)  # reading it would wait for a writer forever
    else:
        path, problem = tmp_path / "huge.yaml", "too large for a config file"
        with path.open("wb") as handle:
            handle.truncate(17 * 2**20)  # sparse: no disk used
    start = time.perf_counter()
    assert_one_line_error(invoke("sweep", "linear", path, "--out", tmp_path / "out"), str(path), problem)
    assert time.perf_counter() - start < 10 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, problem", [(BOMB + "model: linear\n", "values"),
                                           ("a: &a [1, *a]\nmodel: linear\n", "contains it"),
                                           ("[" * 5000 + "]" * 5000 + "\n", "nested too deeply")])
def test_a_config_whose_aliases_never_end_is_one_line(tmp_path, text, problem):
    path = tmp_path / "laughs.yaml"
    path.write_text(text)
    assert_one_line_error(invoke("sweep", "linear", path, "--dry-run"), "laughs.yaml", problem)
    overrides = "[&a [1, 1, 1, 1, 1, 1, 1, 1, 1]" + "".join(
        f", &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")) + "]"
    config = tmp_path / "ok.yaml"
    config.write_text(CONFIG)
    assert_one_line_error(invoke("sweep", "linear", config, "--dry-run", "--set", f"seed={overrides}"), "--set seed",
                          "values")
