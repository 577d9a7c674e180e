"""The closed-form sweep: its cells and the work of one task (one simulation), for ``memgen_cli.runner.sweep``."""

from __future__ import annotations

from pathlib import Path

from memgen_cli.errors import MemgenError
from memgen_cli.experiment import Experiment
from memgen_cli.imaging.evaluation import BINARY_METRICS, EVALUATION_COLUMNS, MEAN_METRICS
from memgen_cli.imaging.grids import check_image_dir, resolve_image_dir, write_cell_grid
from memgen_cli.imaging.pairs import PAIR_COLUMNS, PAIR_MEANS, pair_problem

from . import DESCRIPTION, OVERRIDE_EXAMPLES
from .params import CellParams, ClosedFormConfig, config_cells
from . import simulation
from .simulation import RUN_COLUMNS, TIMINGS


class ClosedFormExperiment(Experiment):
    model = "closedform"
    title = "Closed-form model"
    config_class = ClosedFormConfig
    description = DESCRIPTION
    override_examples = OVERRIDE_EXAMPLES
    trials_per_task = 1  # one simulation per task: a second or less, and a killed sweep loses no more
    binary_metrics = BINARY_METRICS
    # PAIR_MEANS are summarised where the trials have them (reproducibility: true)
    mean_metrics = MEAN_METRICS + ("nn_ratio_mean", "nn_ratio_max") + TIMINGS + PAIR_MEANS

    def cells(self, config: ClosedFormConfig) -> list[dict]:
        return config_cells(config)

    def columns(self, config: ClosedFormConfig) -> tuple[str, ...]:
        return EVALUATION_COLUMNS + RUN_COLUMNS + (PAIR_COLUMNS if config.reproducibility else ())

    def check(self, config: ClosedFormConfig) -> None:
        """Every cell's parameters before any work; errors name the cell and the config path."""
        for index, cell in enumerate(self.cells(config)):
            params = CellParams.from_cell(cell, source=f"cell {index}")
            if config.reproducibility and (why := pair_problem(params.data, params.grid.n, params.original_count,
                                                               params.evaluation)):
                raise MemgenError(f"cell {index}: {why}")
        check_image_dir(config.output)

    def task_config(self, config: dict, out: Path | None) -> dict:
        """What tasks see: a relative output.image_dir resolved inside the results folder, and checked."""
        return resolve_image_dir(config, out)

    def run_task(self, config: ClosedFormConfig, cell: dict, trials: list[tuple[int, int]]) -> list[dict]:
        params = CellParams.from_cell(cell)
        rows = []
        for trial, seed in trials:
            result = simulation.simulate(params, seed, threads=config.threads, reproducibility=config.reproducibility)
            if config.output.image_dir and trial == 0:
                write_cell_grid(config.output.image_dir, self.model, cell, result.generated, result.train)
            rows.append(result.row)
        return rows
