"""Where the linear model's numbers work in float64: a config is refused outside, before any trial runs.

A trial multiplies and divides variances (eps² (eps² + Σ_G) in the Gaussian-KDE overlap, σ²/σ_X² in the fit,
σ_X² B Bᵀ), so each variance it holds stays within [VAR_LO, VAR_HI]: products and ratios of two of them are
then normal and finite, with room for the sums over n, N and d. Kernels may not be so narrow against the data
that the log-densities lose every digit to rounding, nor the ridge so large that B's variances underflow.
Inside, every number a trial writes is finite (tests run the edges); outside, trials end in underflow,
division by zero, overflow or NaN. The data mean mu is never used in the arithmetic (trials run centred at
mu), so any finite mu works.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from memgen_cli.kde import kde_bandwidth
from memgen_cli.linear.model import noise_variance

VAR_LO, VAR_HI = 1e-100, 1e100  # every variance of a trial (σ², eps², λ(1 - e^(-2T))) lies in between
T_MAX = -math.log(np.finfo(float).tiny) / 2  # 354.19: beyond it e^(-2T) underflows
ROUNDING = float(np.finfo(float).eps)  # the log-densities' terms are about d σ²/eps², rounded to this
GENERATED_LO = 1e-300  # B's and the generated distribution's variances: normal floats (ridge)


def _variance_problem(field: str, value: float, what: str, log_variance: float) -> str | None:
    """A variance outside [VAR_LO, VAR_HI], said as: the field, its value, which variance and how far off."""
    if math.log(VAR_LO) <= log_variance <= math.log(VAR_HI):
        return None
    shown = f"{math.exp(log_variance):.3g}" if abs(log_variance) < 700 else f"10^{log_variance / math.log(10):.0f}"
    side, bound = ("small", f"below {VAR_LO:g}") if log_variance < 0 else ("large", f"above {VAR_HI:g}")
    return (f"{field}: {value:g} is too {side}: {what} = {shown} is {bound}, where products and ratios of "
            "variances leave float64's range")


def _kernel_problem(sigma: float, d: int, rule: str, m: int, field: str) -> str | None:
    eps2 = kde_bandwidth(rule, m, d, sigma) ** 2
    problem = _variance_problem("data.sigma", sigma, f"the kernel variance eps² ({rule} bandwidth, d = {d}, "
                                f"{m} points)", math.log(eps2) if eps2 > 0 else -math.inf)
    if problem or sigma**2 / eps2 <= 1 / (ROUNDING * d):
        return problem
    return (f"{field}: the {rule} bandwidth at sigma = {sigma:g}, d = {d}, {m} points gives kernels so narrow "
            f"against the data (σ²/eps² = {sigma**2 / eps2:.3g}) that the log-densities lose every digit to "
            f"rounding; σ²/eps² must be <= 1/(float64 eps · d) = {1 / (ROUNDING * d):.3g}")


def domain_problem(sigma: float, ds: Iterable[int], ns: Iterable[int], Ns: Iterable[int], rules: Iterable[str],
                   lambdas: Iterable[float], Ts: Iterable[float], ridges: Iterable[tuple[str, float]]) -> str | None:
    """The first reason these settings leave float64's working range, naming the field; None when they fit.

    ridges: (field, value) pairs (grid.ridge or options.ridge).
    """
    problem = _variance_problem("data.sigma", sigma, "σ²", 2 * math.log(sigma))
    if problem:
        return problem
    ns, Ns = sorted(set(ns)), sorted(set(Ns))
    for d in sorted(set(ds)):
        for rule in sorted(set(rules)):
            # eps falls as m grows: the smallest and largest sets bound every kernel
            for m, field in ((ns[0], "grid.n"), (ns[-1], "grid.n"), (Ns[0], "grid.N"), (Ns[-1], "grid.N")):
                problem = _kernel_problem(sigma, d, rule, m, "data.sigma" if rule == "mixing" else field)
                if problem:
                    return problem
    Ts = sorted(set(Ts))
    if Ts[-1] > T_MAX:
        return (f"grid.T: {Ts[-1]:g} is too large: e^(-2T) underflows float64 beyond T = "
                f"{math.floor(T_MAX * 100) / 100}, and the forward step would erase the data")
    for lam in sorted(set(lambdas)):
        for T in Ts:
            noise = noise_variance(T, lam)
            problem = _variance_problem("grid.lambda", lam, f"the forward step's noise variance λ (1 - e^(-2T)) at "
                                        f"T = {T:g}", math.log(noise) if noise > 0 else -math.inf)
            if problem:
                return problem
            for field, ridge in ridges:
                # With ridge >> xᵀx, B's singular values are about σ_X σ √n / ridge: they and σ_X² times their
                # squares must stay normal floats.
                sd_x = math.sqrt(math.exp(-2 * T) * sigma**2 + noise)
                ridge_max = sd_x * min(1.0, sd_x) * sigma * math.sqrt(ns[0] / GENERATED_LO)
                if ridge > ridge_max:
                    return (f"{field}: {ridge:g} is too large: it shrinks the denoiser until the generated "
                            f"variances underflow float64 (at lambda = {lam:g}, T = {T:g}, n = {ns[0]}, ridge "
                            f"must be <= {ridge_max:.3g})")
    return None
