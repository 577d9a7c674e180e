"""n_onset is local: extending the grid past the transition leaves it, and its interval, where they were (issue 35)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memgen_cli.report.analysis.transitions import find_transitions
from memgen_cli.statistics.estimators import fit_broken_line
from memgen_cli.statistics.onset import DEPARTS_AT_END, MIN_DROP, NO_DEPARTURE, NO_PLATEAU, estimate_onset

ROOT = Path(__file__).resolve().parents[1]


def h2_like(n: np.ndarray, d: float) -> np.ndarray:
    """1 while n <= d, then a fall that slows towards a floor, as the linear model's H² does."""
    return np.where(n <= d, 1.0, 0.35 + 0.65 * (d / n) ** 0.8)


def replicates(v: np.ndarray, sd: float, rng: np.random.Generator, n_boot: int = 400) -> np.ndarray:
    noise = sd * rng.standard_normal((len(v), n_boot))
    noise[v == 0] = 0  # an exact plateau (H² = 1 in every trial) has no spread
    return v[:, None] + noise


def test_extending_the_grid_past_the_transition_moves_the_global_fit_but_not_n_onset():
    rng = np.random.default_rng(0)
    short, long = 2.0 ** np.arange(1, 8), 2.0 ** np.arange(1, 11)  # n to 128 and to 1024, d = 16
    u_short, u_long = np.log(short), np.log(long)
    v_short, v_long = np.log(h2_like(short, 16)), np.log(h2_like(long, 16))
    # The whole-sweep two-segment fit (n_onset before issue 35) moves with the grid's end ...
    moved = math.exp(fit_broken_line(u_short, v_short).u_break) / math.exp(fit_broken_line(u_long, v_long).u_break)
    assert moved > 1.2
    # ... the local one does not: the same cells around the departure give the same break and interval.
    boot = replicates(v_long, 0.005, rng)
    a = estimate_onset(u_short, v_short, boot[: len(short)])
    b = estimate_onset(u_long, v_long, boot)
    assert a.fit == b.fit and a.departure == b.departure == 4  # n = 32, the first cell below 1
    assert a.interval(short) == b.interval(long)
    interval, widened = a.interval(short)
    assert (interval.lo, interval.hi) == (16, 32) and widened  # the grid's gap around the departure
    assert 16 * (1 - 1e-9) <= math.exp(a.fit.u_break) <= 32  # here at the gap's lower end, where the break is allowed


def test_the_cases_without_an_onset_say_why():
    n = 2.0 ** np.arange(1, 8)
    u = np.log(n)
    flat = np.zeros(len(n))
    assert estimate_onset(u, flat, flat[:, None] + np.zeros((1, 50))).status == NO_DEPARTURE
    falling = -0.5 * (u - u[0])  # falls from the smallest n
    assert estimate_onset(u, falling, falling[:, None] + np.zeros((1, 50))).status == NO_PLATEAU
    late = np.where(n < n[-1], 0.0, -0.3)
    assert estimate_onset(u, late, late[:, None] + np.zeros((1, 50))).status == DEPARTS_AT_END


def test_a_significant_but_invisible_fall_does_not_leave_the_plateau():
    """As H² at d = 100: it leaves 1 by 1e-11 right after n = d, with a spread of 1e-12 (significant, invisible),
    and falls by a visible 1% only later. The onset is the visible fall."""
    n = 2.0 ** np.arange(1, 10)
    u = np.log(n)
    v = np.array([0, 0, 0, 0, -1e-11, -1e-5, -0.5 * MIN_DROP, -3 * MIN_DROP, -0.1])  # n = 2 … 512
    boot = v[:, None] + np.where(v == 0, 0, 1e-12)[:, None] * np.random.default_rng(0).standard_normal((len(v), 200))
    onset = estimate_onset(u, v, boot)
    assert onset.status == "" and onset.departure == 7  # n = 256, the first cell more than 1% below the plateau
    interval, _ = onset.interval(n)
    assert (interval.lo, interval.hi) == (128, 256)


def sweep(out: Path, top: int, d: int) -> Path:
    grid = "[" + ",".join(str(2**k) for k in range(1, int(math.log2(top)) + 1)) + "]"
    command = [sys.executable, "-m", "memgen_cli", "sweep", "linear", str(ROOT / "configs" / "linear" / "quick.yaml"),
               "--out", str(out), "--set", f"grid.n={grid}", "--set", f"grid.d=[{d}]", "--executor", "serial"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.slow
@pytest.mark.parametrize("d", [8, 16])
def test_n_onset_of_the_quick_config_is_the_same_with_the_grid_to_128_and_to_1024(tmp_path, d):
    """configs/linear/quick.yaml: before issue 35, d = 16 gave 24.0 [22.9, 25.2] with n to 128 and 14.9 [14.3, 15.4]
    with n to 1024, and d = 8's verdict flipped between 'not aligned' and 'undetermined'."""
    rows = {top: find_transitions(sweep(tmp_path / f"to-{top}", top, d), n_boot=1000, seed=0).iloc[0]
            for top in (128, 1024)}
    short, long = rows[128], rows[1024]
    assert short["onset_status"] == long["onset_status"] == "ok"
    assert max(short["n_onset_lo"], long["n_onset_lo"]) <= min(short["n_onset_hi"], long["n_onset_hi"])  # overlap
    columns = ["n_onset", "n_onset_lo", "n_onset_hi", "slope_after", "fit_n_max", "ratio", "verdict"]
    assert short[columns].tolist() == long[columns].tolist()  # the window ends inside both grids
    assert short["n_onset_lo"] <= d < short["n_onset_hi"]  # H² = 1 exactly while n <= d, and falls after
    assert short["fit_n_max"] == 4 * d  # the plateau and the first two cells off it (2d and 4d)
