"""U-Net parameters from one source: the sweep config's sections and the typed parameters of one cell.

numpy and pydantic only (no torch, no diffusers), so a config and its cells are checked without the extra.
Defaults live in the section models and nowhere else: here, and the data section (``ImageData``) beside the
code that draws the images, in ``data``. A cell is one value of each grid axis plus the other sections
(``SimulationParams``); in results it is flat (``SimulationParams.to_cell``): one scalar per parameter,
because cells become CSV columns and are hashed into cell ids.
"""

from __future__ import annotations

import itertools
import math
from functools import partial
from typing import Annotated, ClassVar, Literal, Optional

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_serializer,
                      model_validator)

from memgen_cli.config import (IntGrid, Integer, Real, each_value_once, expand_grid_values, left_out_at_defaults)
from memgen_cli.imaging import cells as image_cells
from memgen_cli.imaging.data import ImageData, image_channels
from memgen_cli.imaging.evaluation import ImageEvaluation
from memgen_cli.imaging.grids import ImageOutput
from memgen_cli.imaging.schedules import ImageSampling, Schedule

from .models import PRESETS, side_error

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
THREADS = 1  # torch/BLAS threads of a simulation: one, so workers x threads <= cores at any --workers
MAX_TOGETHER = 32  # simulations trained at once: a GPU's memory holds 32 paper-preset models and their Adam state

PresetName = Literal[tuple(PRESETS)]  # type: ignore[valid-type]
Device = Literal[DEVICES]  # type: ignore[valid-type]


PresetGrid = Annotated[list[PresetName], BeforeValidator(partial(expand_grid_values, integer=False)),
                       Field(min_length=1), AfterValidator(each_value_once)]


class UnetGrid(BaseModel):
    """Swept parameters; each is a list, a scalar or a range {start, stop, num, spacing}."""

    model_config = ConfigDict(extra="forbid")
    n: IntGrid(2) = Field(default=[10, 100], description="training-set size")
    side: IntGrid(1) = Field(default=[8], description="image side s (d = s^2)")
    N: IntGrid(2) = Field(default=[10_000], description="original-set size (digits: ignored, the rest)")
    preset: PresetGrid = Field(default=["tiny"], description="U-Net preset: tiny, small, paper")
    steps: IntGrid(2) = Field(default=[10], description="diffusion steps")
    epochs: IntGrid(1) | None = Field(default=None, description="training budget in epochs (paper 20)")
    train_steps: IntGrid(1) | None = Field(default=None, description="training budget in optimizer steps")


class CellGrid(BaseModel):
    """One value of each grid axis (the bounds of ``UnetGrid``'s values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    n: int = Field(ge=2)  # the nearest-neighbour test needs two training images
    side: int = Field(ge=1)
    N: int = Field(ge=2)
    preset: PresetName
    steps: int = Field(ge=2)
    epochs: Optional[int] = Field(default=None, ge=1)
    train_steps: Optional[int] = Field(default=None, ge=1)


class UnetTraining(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schedule: Schedule = "logsnr_linear"
    lr: Real = Field(default=2e-4, gt=0, allow_inf_nan=False)
    batch_size: Integer = Field(default=128, ge=1)


class UnetCompute(BaseModel):
    """How simulations run on their device: the numbers depend on these, the cells do not (not in cell ids)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    precision: Literal[PRECISIONS] = Field(  # type: ignore[valid-type]
        default="auto", description="training arithmetic: auto is bf16 autocast on CUDA and float32 on CPU; "
                                    "on CUDA float32 products use TF32")
    compile: bool = Field(default=False, description="torch.compile the forward pass of one-simulation training "
                                                     "on CUDA; ignored on CPU")
    together: Integer | None = Field(default=None, ge=1, le=MAX_TOGETHER,
                                     description="simulations of a cell trained at once, one vmapped step for all "
                                                 f"(default: all of a cell's, up to {MAX_TOGETHER}, with device "
                                                 "cuda; 1 otherwise, where it is no faster)")


class UnetConfig(image_cells.ImageConfig):
    """A U-Net DDPM sweep. Defaults: the paper's data and optimiser, a tiny CPU-sized network."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["unet"] = "unet"
    seed: Integer = Field(default=0, ge=0)
    simulations: Integer = Field(default=10, ge=1, description="independent repeats per cell, each its own seed")
    device: Device = "auto"
    threads: Integer = Field(default=THREADS, ge=1, description="torch and BLAS threads of each simulation, whatever "
                                                             "the executor or --workers: the numbers depend on it")
    grid: UnetGrid = UnetGrid()
    data: ImageData = ImageData()
    training: UnetTraining = UnetTraining()
    sampling: ImageSampling = ImageSampling()
    evaluation: ImageEvaluation = ImageEvaluation()
    output: ImageOutput = ImageOutput()
    compute: UnetCompute = UnetCompute()
    reproducibility: bool = Field(default=False, description="also train a partner on a disjoint training set and "
                                                              "sample it from the same noise (a second training per "
                                                              "simulation; imaging.pairs)")

    def simulations_together(self) -> int:
        """Simulations per task, trained at once: compute.together, else all of a cell's (up to MAX_TOGETHER)
        on device cuda and 1 elsewhere (on CPU a group measured no faster: docs/benchmarks.md)."""
        if self.compute.together is not None:
            return min(self.compute.together, self.simulations)
        return min(self.simulations, MAX_TOGETHER) if self.device == "cuda" else 1

    @model_serializer(mode="wrap")
    def _threads_when_set(self, handler):
        # Fields added after folders were written stay out of config.yaml at their defaults: those folders resume.
        return left_out_at_defaults(handler(self), {"threads": THREADS, "compute": UnetCompute().model_dump(),
                                                    "reproducibility": False})


# A cell's sections in column order (imaging.cells: which data fields each family puts in its cell).
CELLS = image_cells.FlatCells({"grid": CellGrid, "data": ImageData, "training": UnetTraining,
                               "sampling": ImageSampling, "evaluation": ImageEvaluation})


class SimulationParams(image_cells.ImageCellParams):
    """Everything one simulation reads, laid out as the config: errors name the config path (grid.side)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    flat_cells: ClassVar[image_cells.FlatCells] = CELLS
    grid: CellGrid
    data: ImageData = ImageData()
    training: UnetTraining = UnetTraining()
    sampling: ImageSampling = ImageSampling()
    evaluation: ImageEvaluation = ImageEvaluation()

    @property
    def channels(self) -> int:
        return image_channels(self.data)

    @property
    def train_step_count(self) -> int:
        """Optimizer steps of the budget: train_steps, or the paper's epochs (``epochs_budget``)."""
        g = self.grid
        return g.train_steps if g.train_steps is not None else epochs_budget(g.epochs, g.n, self.training.batch_size)[0]

    @property
    def train_batch_size(self) -> int:
        """Images per optimizer step: batch_size with a train_steps budget (full-size batches whatever n: see
        diffusion._batch_indices), the epochs budget's min(batch_size, n) otherwise."""
        g, size = self.grid, self.training.batch_size
        return size if g.train_steps is not None else epochs_budget(g.epochs, g.n, size)[1]

    @model_validator(mode="after")
    def _rules_across_fields(self) -> SimulationParams:
        g = self.grid
        if (g.epochs is None) == (g.train_steps is None):
            raise ValueError("grid.epochs: give exactly one training budget, grid.epochs or grid.train_steps")
        why = side_error(g.preset, g.side)
        if why:
            raise ValueError(f"grid.side: {why}")
        if why := self.shared_problem():
            raise ValueError(why)
        return self


def epochs_budget(epochs: int, n: int, batch_size: int) -> tuple[int, int]:
    """(optimizer steps, batch size) of ``epochs`` passes over n images as a data loader gives them: batches of
    min(batch_size, n) (the paper's protocol: at n = 10, batch 128 and 20 epochs, 20 steps of 10 images)."""
    batch = min(batch_size, n)
    return math.ceil(epochs * n / batch), batch




def config_cells(config: UnetConfig) -> list[dict]:
    """The flat cell of every grid point, in sweep order (n fastest). Both or no budgets give cells that
    ``SimulationParams`` refuses, so the one-budget rule is checked in one place."""
    g = config.grid
    shared = config.model_dump(include=set(CELLS.sections) - {"grid"})
    budgets = list(itertools.product([None] if g.epochs is None else g.epochs,
                                     [None] if g.train_steps is None else g.train_steps))
    return [CELLS.flat({"grid": {"n": n, "side": side, "N": N, "preset": preset, "steps": steps, "epochs": epochs,
                                "train_steps": train_steps}, **shared})
            for side, N, preset, steps, (epochs, train_steps), n in itertools.product(g.side, g.N, g.preset,
                                                                                      g.steps, budgets, g.n)]
