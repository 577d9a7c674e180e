"""The config of `memgen evaluate` (``model: evaluate``): the researcher's sets and how they are scored.

pydantic only. A cell is one (samples, training set) pair, named in results by what a sweep would call it: its
training-set size ``n``, optionally a training ``step`` and a ``series`` (which model); the file paths and their
sha256 are columns of the cell's row, not parameters, so `memgen analyze` groups the cells by series and step and
finds n_mem along n exactly as it does for memgen's own models.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from memgen_cli.config import Integer, SweepConfig

DISTANCE_HELP = "l2 (Euclidean) or cosine (1 - cos; features only)"


class EvaluatePair(BaseModel):
    """One cell: a model's samples and the training set it was trained on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    samples: str = Field(description="the model's samples: .npy/.npz array or folder of PNG/JPEG files")
    train: str = Field(description="its training set, in the same format")
    n: Integer | None = Field(default=None, ge=2, description="training-set size (default: the training set's count)")
    step: Integer | None = Field(default=None, ge=0, description="training step of the checkpoint sampled")
    series: str | None = Field(default=None, min_length=1, max_length=64,
                               description="which model (cells of one series form one curve along n)")
    samples_b: str | None = Field(default=None, description="a second model's samples from the same seeds, paired "
                                                            "by index (reproducibility)")


class EvaluateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    bootstrap: Integer = Field(default=1000, ge=10, le=100_000, description="resamples of the samples for every "
                                                                            "interval and P(Delta > 0)")
    neighbours: Integer = Field(default=5, ge=2, le=100, description="nearest training images listed per sample")
    calibration_neighbours: Integer = Field(default=50, ge=2, le=1000,
                                            description="nearest images averaged in the calibrated distance")
    drop_duplicates: bool = Field(default=True, description="drop near-duplicates inside the training set (the "
                                                            "later of a pair under the 1/3 rule) before scoring")
    references: bool = Field(default=True, description="score an ideal generalizer (held-out images) and an ideal "
                                                       "memorizer (training images) by the same code")
    kde_max_points: Integer = Field(default=2000, ge=2, le=100_000,
                                    description="cap on each set in the KDE distances (a seeded subsample)")
    memory_mb: Integer = Field(default=512, ge=16, le=1_000_000,
                               description="memory for one block of the neighbour search (MB): sets its chunk size")
    gallery: Integer = Field(default=12, ge=1, le=200, description="samples shown in the gallery, by ratio")


class EvaluateOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dir: str | None = Field(default=None, description="set by the runner: where per-cell tables and figures go")


class EvaluateConfig(SweepConfig):
    """Samples a researcher brings, scored against their training sets with calibrated references."""

    model_config = ConfigDict(extra="forbid")
    repeats_field: ClassVar[str | None] = None  # one scoring per cell: nothing is repeated
    model: Literal["evaluate"] = "evaluate"
    seed: Integer = Field(default=0, ge=0, description="seeds the bootstrap and the references' subsamples")
    features: bool = Field(default=False, description="the sets are embeddings (count x D), not pixels")
    distance: Literal["l2", "cosine"] = Field(default="l2", description=DISTANCE_HELP)
    heldout: str | None = Field(default=None, description="held-out images of the data distribution: the ideal "
                                                          "generalizer and the original set of Delta")
    pairs: list[EvaluatePair] = Field(min_length=1, max_length=10_000)
    evaluation: EvaluateSettings = EvaluateSettings()
    output: EvaluateOutput = EvaluateOutput()

    @model_validator(mode="after")
    def _rules(self) -> EvaluateConfig:
        if self.distance == "cosine" and not self.features:
            raise ValueError("distance: cosine is for features (features: true); pixels use l2")
        for name in ("step", "series"):
            given = [getattr(p, name) is not None for p in self.pairs]
            if any(given) and not all(given):
                first = given.index(not given[0])
                raise ValueError(f"pairs[{first}].{name}: give every pair a {name} or none")
        return self


def pair_key(pair: EvaluatePair, n: int) -> dict:
    """The cell of a pair: n, then step and series where given."""
    cell: dict = {"n": int(n)}
    if pair.step is not None:
        cell["step"] = int(pair.step)
    if pair.series is not None:
        cell["series"] = pair.series
    return cell
