"""The closed-form model's parameters: its sweep config's sections and the typed parameters of one cell.

pydantic and numpy only. The data, sampling, evaluation and output sections are the U-Net's (``memgen_cli.imaging``),
so the two models draw, sample and evaluate alike; what is its own is the smoothing (a grid axis), the schedule
(a sampling field here: nothing is trained) and ``draws``. A cell is flat in results (``imaging.cells.FlatCells``).
"""

from __future__ import annotations

import itertools
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from memgen_cli.closedform.denoiser import DEFAULT_DRAWS
from memgen_cli.config import IntGrid, Integer, PositiveGrid, left_out_at_defaults
from memgen_cli.imaging import cells as image_cells
from memgen_cli.imaging.data import DRAWN_FAMILIES, ImageData
from memgen_cli.imaging.evaluation import ImageEvaluation
from memgen_cli.imaging.grids import ImageOutput
from memgen_cli.imaging.schedules import ODE_SAMPLERS, ImageSampling, Schedule, X0Sampler

THREADS = 1  # BLAS threads of a simulation: one, so workers x threads <= cores at any --workers
MAX_DRAWS = 1000  # σ-CFDM's perturbations per sample: each costs one denoiser evaluation per step


class ClosedFormGrid(BaseModel):
    """Swept parameters; each is a list, a scalar or a range {start, stop, num, spacing}."""

    model_config = ConfigDict(extra="forbid")
    n: IntGrid(2) = Field(default=[10, 100, 1000], description="training-set size")
    side: IntGrid(1) = Field(default=[8], description="image side s (d = s^2)")
    N: IntGrid(2) = Field(default=[10_000], description="original-set size (digits: ignored, the rest)")
    steps: IntGrid(2) = Field(default=[10], description="diffusion steps")
    smoothing: PositiveGrid(zero=True) = Field(default=[0.0], description="σ of σ-CFDM in [0, 1] pixel units "
                                                                           "(0: the exact empirical optimum)")


class CellGrid(BaseModel):
    """One value of each grid axis (the bounds of ``ClosedFormGrid``'s values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    n: int = Field(ge=2)  # the nearest-neighbour test needs two training images
    side: int = Field(ge=1)
    N: int = Field(ge=2)
    steps: int = Field(ge=2)
    smoothing: float = Field(ge=0, allow_inf_nan=False)


class ClosedFormSampling(ImageSampling):
    """The image experiments' sampling section, plus the schedule (the U-Net's is a training field), the
    smoothing's perturbations per generated image, and a third sampler: "euler", the σ-CFDM reference's Euler
    steps on the probability-flow ODE (imaging.schedules; grid.steps is its S, the schedule does not apply)."""

    sampler: X0Sampler = "ddpm"  # the field keeps its place (and "ddpm" its default): cells and ids unchanged
    schedule: Schedule = "logsnr_linear"
    draws: Integer = Field(default=DEFAULT_DRAWS, ge=1, le=MAX_DRAWS,
                           description="σ-CFDM perturbations per generated image, fixed along its trajectory "
                                       "(the reference code's 2); unused at smoothing 0")


class ClosedFormConfig(image_cells.ImageConfig):
    """A closed-form diffusion sweep: no training, so CPU-sized at the paper's scale."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["closedform"] = "closedform"
    seed: Integer = Field(default=0, ge=0)
    simulations: Integer = Field(default=10, ge=1, description="independent repeats per cell, each its own seed")
    threads: Integer = Field(default=THREADS, ge=1, description="BLAS threads of each simulation, whatever the "
                                                                "executor or --workers: the numbers may depend on it")
    grid: ClosedFormGrid = ClosedFormGrid()
    data: ImageData = ImageData()
    sampling: ClosedFormSampling = ClosedFormSampling()
    evaluation: ImageEvaluation = ImageEvaluation()
    output: ImageOutput = ImageOutput()
    reproducibility: bool = Field(default=False, description="also sample a partner model on a disjoint training "
                                                              "set from the same noise (imaging.pairs)")
    # Which original images a simulation draws (issue 36). all: the whole set of N, from the simulation's own
    # generator after its training set (as always). evaluated: gaussian and gmm only, the evaluated subset alone from
    # a stream of its own (imaging.data.sample_split_evaluated): every metric has the same distribution and the
    # Fig. 4 preset runs several times faster, but the draws differ, so it is part of a task's identity; "all", the
    # default, stays out of config.yaml and folders written before the field resume as they were made.
    originals: Literal["all", "evaluated"] = Field(
        default="all", description="original images drawn: all N, or (gaussian, gmm) only the evaluated subset, "
                                   "from a stream of its own")

    @model_serializer(mode="wrap")
    def _reproducibility_when_set(self, handler):
        # At their defaults they stay out of config.yaml and out of the task inputs: folders from before them resume.
        return left_out_at_defaults(handler(self), {"reproducibility": False, "originals": "all"})

    @model_validator(mode="after")
    def _rules(self) -> ClosedFormConfig:
        if self.evaluation.every is not None:
            raise ValueError("evaluation.every: the closed-form model has no training to evaluate along; remove it")
        if self.originals == "evaluated" and self.data.family not in DRAWN_FAMILIES:
            raise ValueError(f"originals: evaluated draws i.i.d. originals (families {', '.join(DRAWN_FAMILIES)}); "
                             f"data.family {self.data.family} splits a finite set of images: use originals: all")
        return self

    def originals_drawn(self, N: int) -> int:
        """How many original images a simulation with N originals draws (a partner's typical distance needs all)."""
        subset = self.evaluation.eval_original
        if self.originals == "all" or self.reproducibility or subset is None:
            return N
        return min(subset, N)


# A cell's sections in column order.
CELLS = image_cells.FlatCells({"grid": CellGrid, "data": ImageData, "sampling": ClosedFormSampling,
                               "evaluation": ImageEvaluation})


class CellParams(image_cells.ImageCellParams):
    """Everything one simulation reads, laid out as the config: errors name the config path (grid.n)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    flat_cells: ClassVar[image_cells.FlatCells] = CELLS
    grid: CellGrid
    data: ImageData = ImageData()
    sampling: ClosedFormSampling = ClosedFormSampling()
    evaluation: ImageEvaluation = ImageEvaluation()

    @model_validator(mode="after")
    def _rules_across_fields(self) -> CellParams:
        if self.sampling.sampler in ODE_SAMPLERS and self.sampling.sample_steps is not None:
            raise ValueError(f"sampling.sample_steps: the {self.sampling.sampler} sampler takes its steps from "
                             f"grid.steps (the reference's S); remove sample_steps")
        if why := self.shared_problem():
            raise ValueError(why)
        return self


def config_cells(config: ClosedFormConfig) -> list[dict]:
    """The flat cell of every grid point, in sweep order (n fastest, then smoothing)."""
    g = config.grid
    shared = config.model_dump(include=set(CELLS.sections) - {"grid"})
    return [CELLS.flat({"grid": {"n": n, "side": side, "N": N, "steps": steps, "smoothing": float(smoothing)},
                        **shared})
            for side, N, steps, smoothing, n in itertools.product(g.side, g.N, g.steps, g.smoothing, g.n)]

