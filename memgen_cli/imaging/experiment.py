"""The image experiment both image models derive from: cells checked, columns laid out, image paths resolved and
each cell's first simulation drawn as a grid, once. What differs between the U-Net and the closed-form model, how
samples are made, is all a model writes (``run_columns``, ``params_class``, ``run_task``, and its own checks).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from memgen_cli.errors import MemgenError
from memgen_cli.experiment import Experiment
from memgen_cli.imaging.evaluation import BINARY_METRICS, EVALUATION_COLUMNS, MEAN_METRICS
from memgen_cli.imaging.grids import check_image_dir, resolve_image_dir, write_cell_grid
from memgen_cli.imaging.pairs import PAIR_COLUMNS, PAIR_MEANS, pair_problem
from memgen_cli.imaging.references import REFERENCE_BINARY, REFERENCE_COLUMNS, REFERENCE_MEAN, held_out_problem


class ImageExperiment(Experiment):
    """Simulations of a generative model on images: n training images, M generated ones, every image metric and
    the references (imaging.evaluation, imaging.references), optionally a reproducibility partner."""

    params_class: ClassVar[type]  # a cell's typed parameters: from_cell(cell, source), grid, data, evaluation...
    run_columns: ClassVar[tuple[str, ...]] = ()  # what the model's own run reports, after the evaluation's columns
    run_means: ClassVar[tuple[str, ...]] = ()  # those of them summarised as means
    binary_metrics = BINARY_METRICS + REFERENCE_BINARY
    added_columns = REFERENCE_COLUMNS  # the references (issue 22): parts stored before them lack them

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # PAIR_MEANS are summarised where the trials have them (reproducibility: true)
        cls.mean_metrics = MEAN_METRICS + cls.run_means + REFERENCE_MEAN + PAIR_MEANS

    def extra_columns(self, config) -> tuple[str, ...]:
        """Columns a config adds after the references (the U-Net's ``trained_together``); by default none."""
        return ()

    def columns(self, config) -> tuple[str, ...]:
        references = REFERENCE_COLUMNS if config.evaluation.references else ()
        pairs = PAIR_COLUMNS if config.reproducibility else ()
        return EVALUATION_COLUMNS + self.run_columns + references + self.extra_columns(config) + pairs

    def check_cell(self, config, index: int, params) -> None:  # noqa: B027 (a hook whose default is nothing)
        """The model's own rules for one cell, after the shared ones (a MemgenError naming the cell)."""

    def check(self, config) -> None:
        """Every cell's parameters before any work; errors name the cell and the config path."""
        for index, cell in enumerate(self.cells(config)):
            params = self.params_class.from_cell(cell, source=f"cell {index}")
            if why := held_out_problem(params.data, config.evaluation, params.original_count,
                                       params.sampling.generated):
                raise MemgenError(f"cell {index} (n = {params.grid.n}): {why}")
            self.check_cell(config, index, params)
            if config.reproducibility and (why := pair_problem(params.data, params.grid.n, params.original_count,
                                                               params.evaluation)):
                raise MemgenError(f"cell {index}: {why}")
        check_image_dir(config.output)  # a relative one: when the sweep knows --out (task_config)

    def task_config(self, config: dict, out: Path | None) -> dict:
        """What tasks see: a relative output.image_dir resolved inside the results folder, and checked."""
        return resolve_image_dir(config, out)

    def store_images(self, config, cell: dict, trial: int, generated, train) -> None:
        """The first simulation of a cell drawn as a grid (and saved as arrays with output.samples)."""
        if config.output.image_dir and trial == 0:
            write_cell_grid(config.output, self.model, cell, generated, train)
