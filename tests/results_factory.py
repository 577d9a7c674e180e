"""Synthetic results folders, written exactly per docs/results-format.md, with known answers.

P(Delta > 0) is a logistic curve in log n that crosses 0.5 at ``n_star``; each trial is a Bernoulli
draw from it. The mean H² is 1 up to ``n_break`` and falls as (n / n_break)^slope beyond it, with
multiplicative per-trial noise. For the linear model E_TG and E_OG are infinite while n <= d.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def wilson_interval(successes: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = successes / count
    denominator = 1 + Z95**2 / count
    centre = (p + Z95**2 / (2 * count)) / denominator
    half = Z95 * np.sqrt(p * (1 - p) / count + Z95**2 / (4 * count**2)) / denominator
    return centre - half, centre + half


def log_one_minus(h2):
    with np.errstate(divide="ignore"):
        return np.log1p(-np.asarray(h2, dtype=float))


def logistic_p(n_star: float, steepness: float = 3.0) -> Callable[[float, dict], float]:
    def p(n: float, params: dict) -> float:
        return 0.0 if n <= 0 else 1.0 / (1.0 + np.exp(-steepness * (np.log(n) - np.log(n_star))))

    return p


def broken_h2(n_break: float, slope: float = -1.5) -> Callable[[float, dict], float]:
    return lambda n, params: 1.0 if n <= n_break else float((n / n_break) ** slope)


def write_linear_results(
    folder: Path,
    n_values: Sequence[float],
    groups: Sequence[dict] = ({"d": 16},),
    trials: int = 200,
    p_of: Callable | None = None,
    h2_of: Callable | None = None,
    seed: int = 0,
) -> Path:
    """A linear-model results folder: trials.csv and summary.csv for every (group, n) cell."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    fixed = {
        "lambda": float(np.exp(-4)),
        "T": 2.0,
        "N": 10000,
        "mu": 10.0,
        "sigma": 1.0,
        "bandwidth": "paper",
        "covariance": "BBt",
        "ridge": 0.0,
    }
    trial_rows, summary_rows = [], []
    cell = 0
    for group in groups:
        for n in n_values:
            params = {**fixed, **group, "n": int(n)}
            p_of_cell = p_of or logistic_p(2.5 * params.get("d", 16))
            h2_of_cell = h2_of or broken_h2(params.get("d", 16))
            cell_id = hashlib.sha256(repr(sorted(params.items())).encode()).hexdigest()[:12]
            positive = rng.random(trials) < p_of_cell(n, params)
            h2 = np.clip(h2_of_cell(n, params) * np.exp(0.05 * rng.standard_normal(trials)), 0, 1)
            singular = n <= params.get("d", 16)
            log_e_og = (
                np.full(trials, np.inf)
                if singular
                else -3 - 0.8 * np.log(n) + 0.05 * rng.standard_normal(trials)
            )
            log_e_tg = (
                np.full(trials, np.inf)
                if singular
                else -3.5 - 0.2 * np.log(n) + 0.05 * rng.standard_normal(trials)
            )
            for t in range(trials):
                trial_rows.append(
                    {
                        "model": "linear",
                        "cell": cell,
                        "cell_id": cell_id,
                        **params,
                        "trial": t,
                        "seed": 1000 * cell + t,
                        "log_E_TG": log_e_tg[t],
                        "log_E_OG": log_e_og[t],
                        "delta_sign": 1 if positive[t] else -1,
                        "log_abs_delta": -5.0,
                        "delta_positive": int(positive[t]),
                        "H2": h2[t],
                        "log_one_minus_H2": log_one_minus(h2[t]),
                        "rank_G": min(int(n) - 1, params.get("d", 16)),
                        "eps_n": 0.1,
                        "eps_N": 0.05,
                    }
                )
            summary = {"model": "linear", "cell": cell, "cell_id": cell_id, **params, "trials": trials}
            lo, hi = wilson_interval(np.array(positive.sum(), dtype=float), np.array(trials, dtype=float))
            summary.update(
                p_delta_positive=positive.mean(), p_delta_positive_lo=float(lo), p_delta_positive_hi=float(hi)
            )
            for name, values in (
                ("H2", h2),
                ("log_one_minus_H2", log_one_minus(h2)),
                ("log_E_TG", log_e_tg),
                ("log_E_OG", log_e_og),
            ):
                finite = values[np.isfinite(values)]
                summary[f"mean_{name}"] = finite.mean() if len(finite) else np.inf
                summary[f"se_{name}"] = finite.std() / np.sqrt(len(finite)) if len(finite) else np.nan
                summary[f"count_{name}"] = len(finite)
            summary_rows.append(summary)
            cell += 1
    pd.DataFrame(trial_rows).to_csv(folder / "trials.csv", index=False)
    pd.DataFrame(summary_rows).to_csv(folder / "summary.csv", index=False)
    return folder


def two_group_linear_results(folder: Path, n_values: Sequence[float], trials: int, seed: int) -> Path:
    """The linear folder the analysis and plotting tests share: two groups, d = 16 and d = 64 (P crosses 0.5 at
    n = 2.5 d; H² starts falling as n^-1.5 at n = d)."""
    return write_linear_results(folder, n_values, groups=[{"d": 16}, {"d": 64}], trials=trials, seed=seed)


def merge_results(folder: Path, *parts: Path) -> Path:
    """One folder holding the cells of several: summary.csv and trials.csv concatenated, cells renumbered."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("summary.csv", "trials.csv"):
        frames, offset = [], 0
        for part in parts:
            frame = pd.read_csv(part / name)
            frames.append(frame.assign(cell=frame["cell"] + offset))
            offset += int(pd.read_csv(part / "summary.csv")["cell"].max()) + 1
        pd.concat(frames, ignore_index=True).to_csv(folder / name, index=False)
    return folder


def write_unet_summary(
    folder: Path,
    n_values: Sequence[float],
    n_star: float = 100.0,
    n_break: float = 100.0,
    trials: int = 40,
    seed: int = 1,
) -> Path:
    """A U-Net-style results folder (summary.csv only): plain mean_E_OG/E_TG and two binary metrics."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for cell, n in enumerate(n_values):
        p = logistic_p(n_star)(n, {})
        successes = rng.binomial(trials, p)
        lo, hi = wilson_interval(np.array(successes, float), np.array(trials, float))
        e_og = 2.0 if n <= n_break else 2.0 * (n / n_break) ** -1.2
        rows.append(
            {
                "model": "unet",
                "cell": cell,
                "cell_id": f"{cell:012x}",
                "n": int(n),
                "d": 256,
                "N": 100000,
                "epochs": 20,
                "trials": trials,
                "p_delta_positive": successes / trials,
                "p_delta_positive_lo": float(lo),
                "p_delta_positive_hi": float(hi),
                "p_delta_positive_exact": successes / trials,
                "p_delta_positive_exact_lo": float(lo),
                "p_delta_positive_exact_hi": float(hi),
                "mean_E_OG": e_og,
                "se_E_OG": 0.02 * e_og,
                "count_E_OG": trials,
                "mean_E_TG": 1.5 + 0.1 * np.log(n),
                "se_E_TG": 0.01,
                "count_E_TG": trials,
            }
        )
    pd.DataFrame(rows).to_csv(folder / "summary.csv", index=False)
    return folder
