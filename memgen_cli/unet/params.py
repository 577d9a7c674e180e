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
from typing import Annotated, Any, ClassVar, Literal, Optional

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_serializer,
                      model_validator)

from memgen_cli.config import IntGrid, Integer, Real, each_value_once, expand_grid_values, validate_config
from memgen_cli.imaging.data import (DIGITS_SIDE, DIGITS_SIDES, ImageData, digits_available, gmm_components,
                                     image_channels)
from memgen_cli.imaging.evaluation import ImageEvaluation
from memgen_cli.imaging.image_files import image_count

from .models import PRESETS, side_error

SCHEDULES = ("logsnr_linear", "cosine", "published")  # their betas: diffusion.SCHEDULE_OPTIONS
SAMPLERS = ("ddpm", "ddim")
DEVICES = ("auto", "cpu", "cuda")
THREADS = 1  # torch/BLAS threads of a simulation: one, so workers x threads <= cores at any --workers
MAX_TOGETHER = 32  # simulations trained at once: a GPU's memory holds 32 paper-preset models and their Adam state

PresetName = Literal[tuple(PRESETS)]  # type: ignore[valid-type]
Schedule = Literal[SCHEDULES]  # type: ignore[valid-type]
Sampler = Literal[SAMPLERS]  # type: ignore[valid-type]
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


class UnetSampling(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sampler: Sampler = "ddpm"
    sample_steps: Integer | None = Field(default=None, ge=1, description="sampler steps (default: all steps)")
    generated: Integer = Field(default=10, ge=1, description="images generated per simulation (paper 10)")


class UnetCompute(BaseModel):
    """How simulations run on their device: the numbers depend on these, the cells do not (not in cell ids)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto", description="training arithmetic: auto is bf16 autocast on CUDA and float32 on CPU; "
                                    "on CUDA float32 products use TF32")
    compile: bool = Field(default=False, description="torch.compile the forward pass of one-simulation training "
                                                     "on CUDA; ignored on CPU")
    together: Integer | None = Field(default=None, ge=1, le=MAX_TOGETHER,
                                     description="simulations of a cell trained at once, one vmapped step for all "
                                                 f"(default: all of a cell's, up to {MAX_TOGETHER}, with device "
                                                 "cuda; 1 otherwise, where it is no faster)")


class UnetOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_dir: str | None = Field(default=None, description="folder for one PNG grid per cell (generated "
                                                               "images over their nearest training images); "
                                                               "a relative path lies inside the results folder")


class UnetConfig(BaseModel):
    """A U-Net DDPM sweep. Defaults: the paper's data and optimiser, a tiny CPU-sized network."""

    model_config = ConfigDict(extra="forbid")
    repeats_field: ClassVar[str] = "simulations"  # what the size limits count (config.check_sweep_size)
    model: Literal["unet"] = "unet"
    seed: Integer = Field(default=0, ge=0)
    simulations: Integer = Field(default=10, ge=1, description="independent repeats per cell, each its own seed")
    device: Device = "auto"
    threads: Integer = Field(default=THREADS, ge=1, description="torch and BLAS threads of each simulation, whatever "
                                                             "the executor or --workers: the numbers depend on it")
    grid: UnetGrid = UnetGrid()
    data: ImageData = ImageData()
    training: UnetTraining = UnetTraining()
    sampling: UnetSampling = UnetSampling()
    evaluation: ImageEvaluation = ImageEvaluation()
    output: UnetOutput = UnetOutput()
    compute: UnetCompute = UnetCompute()

    def simulations_together(self) -> int:
        """Simulations per task, trained at once: compute.together, else all of a cell's (up to MAX_TOGETHER)
        on device cuda and 1 elsewhere (on CPU a group measured no faster: docs/benchmarks.md)."""
        if self.compute.together is not None:
            return min(self.compute.together, self.simulations)
        return min(self.simulations, MAX_TOGETHER) if self.device == "cuda" else 1

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_in_data(cls, values: Any) -> Any:
        # The data section (imaging/data.py) holds numbers and a family name only: true is not 1.
        data = values.get("data") if isinstance(values, dict) else None
        for name, value in (data.items() if isinstance(data, dict) else ()):
            if any(isinstance(v, bool) for v in (value if isinstance(value, (list, tuple)) else [value])):
                raise ValueError(f"data.{name}: must be a number, not a boolean (got {value!r})")
        return values

    @model_validator(mode="after")
    def _data_fields_its_family_reads(self) -> UnetConfig:
        # A value the family never reads would be silently ignored. Compared with the default, not with
        # the fields given: the resolved config (config.yaml) holds every field and must validate again.
        family = self.data.family
        for name, field in ImageData.model_fields.items():
            if name != "family" and name not in FAMILY_FIELDS[family] and getattr(self.data, name) != field.default:
                reads = ", ".join(f"data.{f}" for f in FAMILY_FIELDS[family]) or "none of the data fields"
                raise ValueError(f"data.{name}: family {family!r} does not use it (it reads {reads}); remove it")
        if family == "gmm" and self.data.gmm_sigmas is not None and self.data.sigma != ImageData().sigma:
            raise ValueError("data.sigma: not used when data.gmm_sigmas gives each component's; remove one of them")
        return self

    @model_serializer(mode="wrap")
    def _threads_when_set(self, handler):
        # The default stays out of config.yaml, so results folders written before the field existed resume.
        data = handler(self)
        if isinstance(data, dict) and data.get("threads") == THREADS:
            data.pop("threads")
        if isinstance(data, dict) and data.get("compute") == UnetCompute().model_dump():
            data.pop("compute")  # likewise: folders from before compute existed resume
        return data


class SimulationParams(BaseModel):
    """Everything one simulation reads, laid out as the config: errors name the config path (grid.side)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    grid: CellGrid
    data: ImageData = ImageData()
    training: UnetTraining = UnetTraining()
    sampling: UnetSampling = UnetSampling()
    evaluation: ImageEvaluation = ImageEvaluation()

    @property
    def original_count(self) -> int:
        """Size of the original set: N, or for digits every digit not used for training."""
        return digits_available() - self.grid.n if self.data.family == "digits" else self.grid.N

    @property
    def channels(self) -> int:
        return image_channels(self.data)

    @property
    def train_step_count(self) -> int:
        """Optimizer steps of the budget: train_steps, or the paper's epochs (diffusion.steps_for_epochs)."""
        g = self.grid
        if g.train_steps is not None:
            return g.train_steps
        return math.ceil(g.epochs * g.n / min(self.training.batch_size, g.n))

    @model_validator(mode="after")
    def _rules_across_fields(self) -> SimulationParams:
        g, data, sample_steps = self.grid, self.data, self.sampling.sample_steps
        if (g.epochs is None) == (g.train_steps is None):
            raise ValueError("grid.epochs: give exactly one training budget, grid.epochs or grid.train_steps")
        why = side_error(g.preset, g.side)
        if why:
            raise ValueError(f"grid.side: {why}")
        if sample_steps is not None and sample_steps > g.steps:
            raise ValueError(f"sampling.sample_steps: must be between 1 and steps = {g.steps} (got {sample_steps})")
        if data.family == "images":
            if not data.path:
                raise ValueError("data.path: family 'images' needs a .npz/.npy file or a folder of PNG/JPEG files")
            available = image_count(data.path)
            if g.n + g.N > available:
                raise ValueError(f"data.path: {data.path} holds {available} images, fewer than n + N = "
                                 f"{g.n} + {g.N} (training and original sets do not overlap)")
        if data.family == "digits":
            if g.side not in DIGITS_SIDES:
                raise ValueError(f"grid.side: the digits are {DIGITS_SIDE}x{DIGITS_SIDE}, so side must be "
                                 f"{DIGITS_SIDE} (or 16, upsampled) (got {g.side})")
            if g.n >= digits_available():
                raise ValueError(f"grid.n: only {digits_available()} digits are available and some must stay in "
                                 f"the original set (got n = {g.n})")
        if data.family == "gmm":
            means, sigmas, weights = gmm_components(data)
            for name, values in (("gmm_sigmas", sigmas), ("gmm_weights", weights)):
                if len(values) != len(means):
                    raise ValueError(f"data.{name}: give one per component of data.gmm_means ({len(means)}) "
                                     f"(got {len(values)})")
            if sum(weights) <= 0:
                raise ValueError("data.gmm_weights: at least one weight must be > 0")
        eval_train, eval_original = self.evaluation.eval_train, self.evaluation.eval_original
        if eval_train is not None and eval_train > g.n:
            raise ValueError(f"evaluation.eval_train: evaluation subset of {eval_train} is larger than the "
                             f"training set (n = {g.n})")
        if eval_original is not None and eval_original > self.original_count:
            raise ValueError(f"evaluation.eval_original: evaluation subset of {eval_original} is larger than the "
                             f"original set ({self.original_count} images)")
        return self

    @classmethod
    def from_cell(cls, cell: dict, source: str = "cell") -> SimulationParams:
        """A flat cell -> its parameters; a bad one is a MemgenError ``<source>: <config path>: <problem>``."""
        return validate_config(cls, nest_cell(cell), source)

    def to_cell(self) -> dict:
        return flat_cell(self.model_dump())


# A cell's sections in column order, and which data fields each family reads (the others stay out of its cell,
# so that a setting a family ignores does not change its cell id).
CELL_SECTIONS = {"grid": CellGrid, "data": ImageData, "training": UnetTraining, "sampling": UnetSampling,
                 "evaluation": ImageEvaluation}
FAMILY_FIELDS = {"gaussian": ("mu", "sigma"), "gmm": ("sigma", "gmm_means", "gmm_sigmas", "gmm_weights"),
                 "digits": (), "images": ("path", "channels")}
# How often to evaluate along training, and whether to measure the references: what a cell computes, not what it is.
NOT_IN_CELL = {("evaluation", "every"), ("evaluation", "references")}


def _column(section: str, field: str) -> str:
    """A field's column in a flat cell: its name, except data.family, whose column is ``data``."""
    return section if field == "family" else field


_SECTION_FIELD = {_column(s, f): (s, f) for s, model in CELL_SECTIONS.items() for f in model.model_fields}


def _cell_value(value):
    return ",".join(repr(float(v)) for v in value) if isinstance(value, (list, tuple)) else value


def flat_cell(sections: dict) -> dict:
    """Nested sections (as ``SimulationParams.model_dump()``) -> the flat cell of trials.csv."""
    family = sections["data"]["family"]
    return {_column(section, field): _cell_value(value)
            for section in CELL_SECTIONS for field, value in sections[section].items()
            if (section != "data" or field == "family" or field in FAMILY_FIELDS[family])
            and (section, field) not in NOT_IN_CELL}


def nest_cell(cell: dict) -> dict:
    """A flat cell -> nested sections; a column of no section stays on top, where validation refuses it."""
    nested: dict = {section: {} for section in CELL_SECTIONS}
    for column, value in cell.items():
        if column in _SECTION_FIELD:
            section, field = _SECTION_FIELD[column]
            nested[section][field] = value
        else:
            nested[column] = value
    return nested


def config_cells(config: UnetConfig) -> list[dict]:
    """The flat cell of every grid point, in sweep order (n fastest). Both or no budgets give cells that
    ``SimulationParams`` refuses, so the one-budget rule is checked in one place."""
    g = config.grid
    shared = config.model_dump(include=set(CELL_SECTIONS) - {"grid"})
    budgets = list(itertools.product([None] if g.epochs is None else g.epochs,
                                     [None] if g.train_steps is None else g.train_steps))
    return [flat_cell({"grid": {"n": n, "side": side, "N": N, "preset": preset, "steps": steps, "epochs": epochs,
                                "train_steps": train_steps}, **shared})
            for side, N, preset, steps, (epochs, train_steps), n in itertools.product(g.side, g.N, g.preset,
                                                                                      g.steps, budgets, g.n)]
