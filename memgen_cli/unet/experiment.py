"""The U-Net sweep: its config, its cells and the work of one task (one simulation), for ``memgen_cli.sweep``.

Imported only by ``memgen sweep unet``; torch is imported when a task runs or the config is checked.
"""

from __future__ import annotations

import itertools
import math
import os
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from memgen_cli.runner.config import IntGrid, expand_grid_values
from ..errors import MemgenError
from .data import FAMILIES
from .simulation import BINARY_METRICS, MEAN_METRICS

StrGrid = Annotated[list[str], BeforeValidator(partial(expand_grid_values, integer=False)), Field(min_length=1)]


class UnetGrid(BaseModel):
    """Swept parameters; each is a list, a scalar or a range {start, stop, num, spacing}."""

    model_config = ConfigDict(extra="forbid")
    n: IntGrid(2) = Field(default=[10, 100], description="training-set size")
    side: IntGrid(1) = Field(default=[8], description="image side s (d = s^2)")
    N: IntGrid(2) = Field(default=[10_000], description="original-set size (digits: ignored, the rest)")
    preset: StrGrid = Field(default=["tiny"], description="U-Net preset: tiny, small, paper")
    steps: IntGrid(2) = Field(default=[10], description="diffusion steps")
    epochs: IntGrid(1) | None = Field(default=None, description="training budget in epochs (paper 20)")
    train_steps: IntGrid(1) | None = Field(default=None, description="training budget in optimizer steps")


class UnetData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    family: Literal[FAMILIES] = "gaussian"  # type: ignore[valid-type]
    mu: float = Field(default=0.5, allow_inf_nan=False, description="gaussian pixel mean ([0, 1] units)")
    sigma: float = Field(default=0.1, gt=0, allow_inf_nan=False, description="gaussian pixel std")
    gmm_means: list[float] = Field(default=[0.3, 0.7], min_length=1)
    gmm_sigmas: list[Annotated[float, Field(gt=0)]] | None = None  # default: sigma for every component
    gmm_weights: list[Annotated[float, Field(ge=0)]] | None = None  # default: equal


class UnetTraining(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedule: str = "logsnr_linear"
    lr: float = Field(default=2e-4, gt=0, allow_inf_nan=False)
    batch_size: int = Field(default=128, ge=1)


class UnetSampling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sampler: str = "ddpm"
    sample_steps: int | None = Field(default=None, ge=1)
    generated: int = Field(default=10, ge=1, description="images generated per simulation (paper 10)")


class UnetEvaluation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    eval_train: int | None = Field(default=None, ge=2, description="training subset (paper 10/100); all")
    eval_original: int | None = Field(default=None, ge=2, description="original subset (paper 10/100); all")
    grid_points: int = Field(default=16, ge=1)
    kde_max_points: int = Field(default=2000, ge=2)
    bootstrap: int = Field(default=1000, ge=1)


class UnetOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_dir: str | None = Field(default=None, description="folder for one PNG grid per cell (generated "
                                                               "images over their nearest training images); "
                                                               "a relative path lies inside the results folder")


class UnetConfig(BaseModel):
    """A U-Net DDPM sweep. Defaults: the paper's data and optimiser, a tiny CPU-sized network."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["unet"] = "unet"
    seed: int = Field(default=0, ge=0)
    simulations: int = Field(default=10, ge=1, description="independent repeats per cell, each its own seed")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    grid: UnetGrid = UnetGrid()
    data: UnetData = UnetData()
    training: UnetTraining = UnetTraining()
    sampling: UnetSampling = UnetSampling()
    evaluation: UnetEvaluation = UnetEvaluation()
    output: UnetOutput = UnetOutput()


# simulation parameter -> where it lives in the config (for error messages)
CONFIG_PATHS = {**{k: f"grid.{k}" for k in ("n", "side", "N", "preset", "steps", "epochs", "train_steps")},
                "data": "data.family", "mu": "data.mu", "sigma": "data.sigma", "gmm_means": "data.gmm_means",
                "gmm_sigmas": "data.gmm_sigmas", "gmm_weights": "data.gmm_weights",
                **{k: f"training.{k}" for k in ("schedule", "lr", "batch_size")},
                **{k: f"sampling.{k}" for k in ("sampler", "sample_steps", "generated")},
                **{k: f"evaluation.{k}" for k in ("eval_train", "eval_original", "grid_points", "kde_max_points",
                                                  "bootstrap")},
                "device": "device"}
_LIST_PARAMS = ("gmm_means", "gmm_sigmas", "gmm_weights")


def _list_to_cell(values) -> str | None:
    # Cells are flat scalars (they become CSV columns and are hashed into cell ids): lists as "0.3,0.7".
    return None if values is None else ",".join(repr(float(v)) for v in values)


def simulation_params(cell: dict) -> dict:
    """The ``run_simulation`` parameters of a cell (undoing the list encoding)."""
    params = dict(cell)
    for key in _LIST_PARAMS:
        if key in params:
            raw = params[key]
            missing = raw is None or (isinstance(raw, float) and math.isnan(raw))  # NaN: an empty CSV cell
            params[key] = None if missing else [float(v) for v in str(raw).split(",")]
    return params


def threads_for_this_worker() -> int:
    """Torch threads: what the executor granted this worker (MEMGEN_THREADS), else every core."""
    return int(os.environ.get("MEMGEN_THREADS") or os.cpu_count() or 1)


class UnetExperiment:
    model = "unet"
    config_class = UnetConfig
    trials_per_task = 1  # one simulation per task: a killed sweep never retrains a finished simulation
    binary_metrics = BINARY_METRICS
    mean_metrics = MEAN_METRICS

    def cells(self, config: UnetConfig) -> list[dict]:
        g, d, t, s, e = config.grid, config.data, config.training, config.sampling, config.evaluation
        budgets = ([("epochs", v) for v in g.epochs] if g.epochs is not None
                   else [("train_steps", v) for v in (g.train_steps or [])])
        data = {"data": d.family}
        if d.family == "gaussian":
            data.update(mu=d.mu, sigma=d.sigma)
        elif d.family == "gmm":
            data.update(sigma=d.sigma, gmm_means=_list_to_cell(d.gmm_means), gmm_sigmas=_list_to_cell(d.gmm_sigmas),
                        gmm_weights=_list_to_cell(d.gmm_weights))
        cells = []
        for side, N, preset, steps, (budget_key, budget), n in itertools.product(g.side, g.N, g.preset, g.steps,
                                                                                  budgets, g.n):
            cell = {"n": n, "side": side, "N": N, "preset": preset, "steps": steps, "epochs": None,
                    "train_steps": None, **data, "schedule": t.schedule, "lr": t.lr, "batch_size": t.batch_size,
                    "sampler": s.sampler, "sample_steps": s.sample_steps, "generated": s.generated,
                    "eval_train": e.eval_train, "eval_original": e.eval_original, "grid_points": e.grid_points,
                    "kde_max_points": e.kde_max_points, "bootstrap": e.bootstrap}
            cell[budget_key] = budget
            cells.append(cell)
        return cells

    def task_config(self, config: dict, out: Path | None) -> dict:
        """What tasks see: a relative output.image_dir resolved inside the results folder."""
        image_dir = config["output"]["image_dir"]
        if not image_dir or Path(image_dir).is_absolute():
            return config
        base = Path(out).resolve() if out is not None else Path.cwd()
        return {**config, "output": {**config["output"], "image_dir": str(base / image_dir)}}

    def trial_count(self, config: UnetConfig) -> int:
        return config.simulations

    def check(self, config: UnetConfig) -> None:
        """Every cell's parameters and the device, before any training; errors name the config field."""
        from .diffusion import resolve_device
        from .simulation import validate_params

        if (config.grid.epochs is None) == (config.grid.train_steps is None):
            raise MemgenError("grid.train_steps: give exactly one training budget, grid.epochs or grid.train_steps")
        try:
            resolve_device(config.device)
            for cell in self.cells(config):
                validate_params(simulation_params(cell))
        except MemgenError as exc:
            field, sep, rest = str(exc).partition(": ")
            raise MemgenError(f"{CONFIG_PATHS.get(field, field)}: {rest}" if sep else str(exc)) from None

    def run_task(self, config: UnetConfig, cell: dict, trials: list[tuple[int, int]]) -> list[dict]:
        from .simulation import simulate

        rows = []
        for trial, seed in trials:
            result = simulate(simulation_params(cell), seed, device=config.device,
                              threads=threads_for_this_worker())
            if config.output.image_dir and trial == 0:
                from memgen_cli.runner.seeding import cell_id
                from .images import image_grid, write_png_gray

                write_png_gray(Path(config.output.image_dir) / f"cell-{cell_id(self.model, cell)}.png",
                               image_grid(result.generated, result.train))
            rows.append(result.row)
        return rows
