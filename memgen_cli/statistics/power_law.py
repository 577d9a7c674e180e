"""The phase diagram's power law n* = a d^b, fitted to located n* values and their intervals (pure math)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

Z95 = float(norm.ppf(0.975))


@dataclass(frozen=True)
class PowerLaw:
    a: float
    b: float
    b_lo: float
    b_hi: float
    points: int


def fit_power_law(d: np.ndarray, n_star: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> PowerLaw | None:
    """n* = a d^b by weighted least squares in log-log (weights from each n*'s interval, taken as a 95%
    normal interval in log n*), with a 95% t interval for b whose residual scale is at least 1."""
    d, y = np.log(np.asarray(d, float)), np.log(np.asarray(n_star, float))
    se = (np.log(np.asarray(hi, float)) - np.log(np.asarray(lo, float))) / (2 * Z95)
    ok = np.isfinite(d) & np.isfinite(y) & np.isfinite(se) & (se > 0)
    d, y, se = d[ok], y[ok], se[ok]
    if len(np.unique(d)) < 2:
        return None
    design = np.column_stack([np.ones_like(d), d])
    w = 1 / se**2
    info = design.T @ (design * w[:, None])
    coef = np.linalg.solve(info, design.T @ (w * y))
    dof = len(d) - 2
    resid = (y - design @ coef) / se
    scale2 = max(float(resid @ resid) / dof, 1.0) if dof > 0 else 1.0
    se_b = math.sqrt(np.linalg.inv(info)[1, 1] * scale2)
    q = float(student_t.ppf(0.975, dof)) if dof > 0 else Z95
    return PowerLaw(float(math.exp(coef[0])), float(coef[1]), float(coef[1] - q * se_b), float(coef[1] + q * se_b),
                    int(len(d)))
