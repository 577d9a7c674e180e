"""The linear-model sweep: its config (with the paper's defaults), its cells and the work of one task."""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Annotated, List, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from memgen_cli.runner.config import IntGrid, PositiveGrid
from memgen_cli.kde import BANDWIDTH_RULES, KDEReference
from memgen_cli.linear.model import COVARIANCE_CONVENTIONS, original_reference, run_linear_trial
from memgen_cli.runner.seeding import derived_seed

PAPER_LAMBDA = math.exp(-4.0)


class LinearGrid(BaseModel):
    """Swept parameters; each is a list, a scalar or a range {start, stop, num, spacing}."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    n: IntGrid(2) = Field(default=[2, 4, 8, 16, 32, 64], description="training-set size")
    d: IntGrid(1) = Field(default=[16], description="dimension")
    lambda_: PositiveGrid() = Field(default=[PAPER_LAMBDA], alias="lambda", description="noise scale λ")
    T: PositiveGrid() = Field(default=[2.0], description="diffusion time")
    N: IntGrid(2) = Field(default=[10_000], description="original-set size")
    # Options may be swept too (e.g. covariance: [BBt, BtB]): a grid entry sweeps, options.<name> sets one
    # value, and giving both is an error (LinearConfig).
    covariance: Optional[List[Literal[COVARIANCE_CONVENTIONS]]] = Field(default=None, min_length=1)  # type: ignore
    bandwidth: Optional[List[Literal[BANDWIDTH_RULES]]] = Field(default=None, min_length=1)  # type: ignore
    ridge: Optional[List[Annotated[float, Field(ge=0, allow_inf_nan=False)]]] = Field(default=None, min_length=1)


class GaussianData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mu: float = Field(default=10.0, allow_inf_nan=False, description="mean of every coordinate")
    sigma: float = Field(default=1.0, gt=0, allow_inf_nan=False, description="std of every coordinate")


class LinearOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bandwidth: Literal[BANDWIDTH_RULES] = "paper"  # type: ignore[valid-type]
    covariance: Literal[COVARIANCE_CONVENTIONS] = "BBt"  # type: ignore[valid-type]
    ridge: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    original: Literal["fixed", "redraw"] = "fixed"


SWEEPABLE_OPTIONS = ("covariance", "bandwidth", "ridge")  # settable in options, or swept in grid


class LinearConfig(BaseModel):
    """A linear-model sweep. Defaults are the paper's settings (Figs. 2-3, d = 16)."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["linear"] = "linear"
    seed: int = Field(default=0, ge=0)
    trials: int = Field(default=300, ge=1)
    grid: LinearGrid = LinearGrid()
    data: GaussianData = GaussianData()
    options: LinearOptions = LinearOptions()

    @model_validator(mode="after")
    def _one_place_per_setting(self) -> "LinearConfig":
        for name in SWEEPABLE_OPTIONS:
            if getattr(self.grid, name) is not None and name in self.options.model_fields_set:
                raise ValueError(f"grid.{name} and options.{name}: both given; a grid entry sweeps several "
                                 f"values, an option sets one: keep one of them")
        return self

    @model_serializer(mode="wrap")
    def _without_swept_options(self, handler):
        # The resolved config (config.yaml) names each setting once, so it validates again as it is.
        data = handler(self)
        for name in SWEEPABLE_OPTIONS:
            if getattr(self.grid, name) is not None:
                data["options"].pop(name, None)
        return data


@lru_cache(maxsize=4)
def _fixed_original(seed: int, N: int, d: int, sigma: float, bandwidth: str) -> KDEReference:
    # One original set per (seed, N, d, sigma): shared by the cells that differ only in n, λ or T,
    # and built once per worker process.
    rng = np.random.default_rng(seed)
    return original_reference(sigma * rng.standard_normal((N, d)), bandwidth, sigma)


def original_seed(root_seed: int, cell: dict) -> int:
    """Seed of a cell's fixed original set: depends on what defines that set's distribution, not on n."""
    return derived_seed(root_seed, "original", cell["d"], cell["N"], cell["mu"], cell["sigma"])


class LinearExperiment:
    model = "linear"
    config_class = LinearConfig
    trials_per_task = 50
    binary_metrics = ("delta_positive",)
    mean_metrics = ("H2", "log_one_minus_H2", "log_E_TG", "log_E_OG", "log_abs_delta")

    def cells(self, config: LinearConfig) -> list[dict]:
        g, o = config.grid, config.options
        covariances = g.covariance or [o.covariance]
        bandwidths = g.bandwidth or [o.bandwidth]
        ridges = g.ridge or [o.ridge]
        cells = []
        for d, N, T, lam, cov, bw, ridge, n in itertools.product(g.d, g.N, g.T, g.lambda_, covariances, bandwidths,
                                                                  ridges, g.n):
            cells.append({"n": n, "d": d, "lambda": lam, "T": T, "N": N, "mu": config.data.mu,
                          "sigma": config.data.sigma, "bandwidth": bw, "covariance": cov, "ridge": ridge,
                          "original": o.original})
        return cells

    def trial_count(self, config: LinearConfig) -> int:
        return config.trials

    def check(self, config: LinearConfig) -> None:
        """Cross-field checks: none beyond the field ranges for the linear model."""

    def run_task(self, config: LinearConfig, cell: dict, trials: list[tuple[int, int]]) -> list[dict]:
        fixed = None
        if cell["original"] == "fixed":
            fixed = _fixed_original(original_seed(config.seed, cell), cell["N"], cell["d"], cell["sigma"],
                                    cell["bandwidth"])
        rows = []
        for _trial, seed in trials:
            rng = np.random.default_rng(seed)
            rows.append(run_linear_trial(rng, cell["n"], cell["d"], cell["lambda"], cell["T"], cell["N"],
                                         mu=cell["mu"], sigma=cell["sigma"], bandwidth=cell["bandwidth"],
                                         covariance=cell["covariance"], ridge=cell["ridge"], original=fixed))
        return rows
