"""What the image experiments' configs share beyond their sections: the rules that cross the data, grid and
evaluation fields, and the flat cells of trials.csv (pydantic and numpy only; no torch).

A cell is one value of each grid axis plus the other sections; in results it is flat (``FlatCells``): one
scalar per parameter, because cells become CSV columns and are hashed into cell ids and seeds. Data fields a
family does not read stay out of its cell, so that a setting it ignores does not change its cell id.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, model_validator

from memgen_cli.config import SweepConfig, validate_config
from memgen_cli.imaging.data import DIGITS_SIDE, DIGITS_SIDES, ImageData, digits_available, gmm_components
from memgen_cli.imaging.evaluation import ImageEvaluation
from memgen_cli.imaging.image_files import constant_problem, image_count, pixel_problem
from memgen_cli.imaging.schedules import sample_steps_problem

# Which data fields each family reads.
FAMILY_FIELDS = {"gaussian": ("mu", "sigma"), "gmm": ("sigma", "gmm_means", "gmm_sigmas", "gmm_weights"),
                 "digits": (), "images": ("path", "channels")}
# How often to evaluate along training, and whether to measure the references: what a cell computes, not what it is.
NOT_IN_CELL = {("evaluation", "every"), ("evaluation", "references")}


def no_booleans_in_data(values: Any) -> Any:
    """For a config's ``model_validator(mode="before")``: the data section holds numbers and a family name
    only, so YAML's true is not 1."""
    data = values.get("data") if isinstance(values, dict) else None
    for name, value in (data.items() if isinstance(data, dict) else ()):
        if any(isinstance(v, bool) for v in (value if isinstance(value, (list, tuple)) else [value])):
            raise ValueError(f"data.{name}: must be a number, not a boolean (got {value!r})")
    return values


def unused_data_problem(data: ImageData) -> str | None:
    """A data field set that the family never reads (it would be silently ignored). Compared with the default,
    not with the fields given: the resolved config (config.yaml) holds every field and must validate again."""
    family = data.family
    for name, field in ImageData.model_fields.items():
        if name != "family" and name not in FAMILY_FIELDS[family] and getattr(data, name) != field.default:
            reads = ", ".join(f"data.{f}" for f in FAMILY_FIELDS[family]) or "none of the data fields"
            return f"data.{name}: family {family!r} does not use it (it reads {reads}); remove it"
    if family == "gmm" and data.gmm_sigmas is not None and data.sigma != ImageData().sigma:
        return "data.sigma: not used when data.gmm_sigmas gives each component's; remove one of them"
    return None


def original_count(data: ImageData, n: int, N: int) -> int:
    """Size of the original set: N, or for digits every digit not used for training."""
    return digits_available() - n if data.family == "digits" else N


def split_problem(data: ImageData, n: int, N: int, side: int) -> str | None:
    """Why n training and N original images of this family and side cannot be drawn (None: they can)."""
    if data.family == "images":
        if not data.path:
            return "data.path: family 'images' needs a .npz/.npy file or a folder of PNG/JPEG files"
        available = image_count(data.path)
        if why := pixel_problem(data.path):
            return why
        if n + N > available:
            return (f"data.path: {data.path} holds {available} images, fewer than n + N = {n} + {N} (training "
                    "and original sets do not overlap)")
        if why := constant_problem(data.path):
            return why
    if data.family == "digits":
        if side not in DIGITS_SIDES:
            return (f"grid.side: the digits are {DIGITS_SIDE}x{DIGITS_SIDE}, so side must be {DIGITS_SIDE} (or 16, "
                    f"upsampled) (got {side})")
        if n >= digits_available():
            return (f"grid.n: only {digits_available()} digits are available and some must stay in the original "
                    f"set (got n = {n})")
    if data.family == "gmm":
        means, sigmas, weights = gmm_components(data)
        for name, values in (("gmm_sigmas", sigmas), ("gmm_weights", weights)):
            if len(values) != len(means):
                return f"data.{name}: give one per component of data.gmm_means ({len(means)}) (got {len(values)})"
        if sum(weights) <= 0:
            return "data.gmm_weights: at least one weight must be > 0"
    return None


def subset_problem(evaluation: ImageEvaluation, n: int, originals: int) -> str | None:
    """An evaluation subset larger than the set it is drawn from (None: both fit)."""
    if evaluation.eval_train is not None and evaluation.eval_train > n:
        return (f"evaluation.eval_train: evaluation subset of {evaluation.eval_train} is larger than the training "
                f"set (n = {n})")
    if evaluation.eval_original is not None and evaluation.eval_original > originals:
        return (f"evaluation.eval_original: evaluation subset of {evaluation.eval_original} is larger than the "
                f"original set ({originals} images)")
    return None


def _column(section: str, field: str) -> str:
    """A field's column in a flat cell: its name, except data.family, whose column is ``data``."""
    return section if field == "family" else field


def _cell_value(value):
    return ",".join(repr(float(v)) for v in value) if isinstance(value, (list, tuple)) else value


class FlatCells:
    """An experiment's cell sections (name -> model, in column order) and the flat cells made of them."""

    def __init__(self, sections: dict[str, type[BaseModel]]):
        self.sections = sections
        self._section_field = {_column(s, f): (s, f) for s, model in sections.items() for f in model.model_fields}
        if len(self._section_field) != sum(len(model.model_fields) for model in sections.values()):
            raise ValueError("FlatCells: two sections have a field of the same name (one column each)")

    def flat(self, nested: dict) -> dict:
        """Nested sections (as a model_dump of the cell's sections) -> the flat cell of trials.csv."""
        family = nested["data"]["family"]
        return {_column(section, field): _cell_value(value)
                for section in self.sections for field, value in nested[section].items()
                if (section != "data" or field == "family" or field in FAMILY_FIELDS[family])
                and (section, field) not in NOT_IN_CELL}

    def nest(self, cell: dict) -> dict:
        """A flat cell -> nested sections; a column of no section stays on top, where validation refuses it."""
        nested: dict = {section: {} for section in self.sections}
        for column, value in cell.items():
            if column in self._section_field:
                section, field = self._section_field[column]
                nested[section][field] = value
            else:
                nested[column] = value
        return nested


class ImageCellParams(BaseModel):
    """What every image model's cell parameters share (each model's class adds its sections and rules): the size of
    the original set, the rules across the grid, data, sampling and evaluation fields, and the flat cell of
    results. A subclass sets ``flat_cells`` and has grid, data, sampling and evaluation sections."""

    flat_cells: ClassVar[FlatCells]

    @property
    def original_count(self) -> int:
        """Size of the original set: N, or for digits every digit not used for training."""
        return original_count(self.data, self.grid.n, self.grid.N)

    def shared_problem(self) -> str | None:
        """Why the sampler's steps, the split or the evaluation subsets do not fit this cell (None: they do)."""
        g = self.grid
        if why := sample_steps_problem(g.steps, self.sampling.sample_steps):
            return f"sampling.sample_steps: {why}"
        return split_problem(self.data, g.n, g.N, g.side) or subset_problem(self.evaluation, g.n, self.original_count)

    @classmethod
    def from_cell(cls, cell: dict, source: str = "cell"):
        """A flat cell -> its parameters; a bad one is a MemgenError ``<source>: <config path>: <problem>``."""
        return validate_config(cls, cls.flat_cells.nest(cell), source)

    def to_cell(self) -> dict:
        return self.flat_cells.flat(self.model_dump())


class ImageConfig(SweepConfig):
    """What every image model's sweep config declares: simulations as its repeats, and the data section's rules
    (numbers, not booleans; no field its family does not read). Fields stay in each model's class, in the order
    its config.yaml has always had."""

    repeats_field: ClassVar[str] = "simulations"  # what the size limits count (config.check_sweep_size)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_in_data(cls, values: Any) -> Any:
        return no_booleans_in_data(values)

    @model_validator(mode="after")
    def _data_fields_its_family_reads(self):
        if why := unused_data_problem(self.data):
            raise ValueError(why)
        return self
