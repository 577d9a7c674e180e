"""The closed-form sweep: its cells and the work of one task (one simulation), for ``memgen_cli.runner.sweep``."""

from __future__ import annotations

import itertools
from pathlib import Path

from memgen_cli.errors import MemgenError
from memgen_cli.experiment import Experiment, Footprint
from memgen_cli.imaging.evaluation import BINARY_METRICS, EVALUATION_COLUMNS, MEAN_METRICS
from memgen_cli.imaging.grids import check_image_dir, resolve_image_dir, write_cell_grid
from memgen_cli.imaging.pairs import PAIR_COLUMNS, PAIR_MEANS, pair_problem
from memgen_cli.imaging.references import REFERENCE_BINARY, REFERENCE_COLUMNS, REFERENCE_MEAN, held_out_problem

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
    binary_metrics = BINARY_METRICS + REFERENCE_BINARY
    # PAIR_MEANS are summarised where the trials have them (reproducibility: true)
    mean_metrics = MEAN_METRICS + ("nn_ratio_mean", "nn_ratio_max") + TIMINGS + REFERENCE_MEAN + PAIR_MEANS
    added_columns = REFERENCE_COLUMNS  # the references (issue 22): parts stored before them lack them

    def cells(self, config: ClosedFormConfig) -> list[dict]:
        return config_cells(config)

    def columns(self, config: ClosedFormConfig) -> tuple[str, ...]:
        references = REFERENCE_COLUMNS if config.evaluation.references else ()
        return EVALUATION_COLUMNS + RUN_COLUMNS + references + (PAIR_COLUMNS if config.reproducibility else ())

    def footprint(self, config: ClosedFormConfig) -> list[Footprint]:
        """Per simulation: the original and training sets (the denoiser keeps one float64 copy of the training
        set); work: at each sampling step, every generated image (times its perturbation draws) against every
        training image, and the original set's draw."""
        g, s = config.grid, config.sampling
        channels = config.data.channels if config.data.family == "images" else 1
        found, work = [], {"grid.n": 0.0, "grid.N": 0.0}
        for n, side, N, steps in itertools.product(g.n, g.side, g.N, g.steps):
            pixels = side * side * channels
            held = {"grid.N": 8.0 * pixels * N, "grid.n": 16.0 * pixels * n, "grid.side": 8.0 * pixels * s.generated}
            largest = "grid.side" if side > 256 else max(held, key=held.get)  # every set grows with the pixels
            found.append(Footprint(largest, sum(held.values()), 0.0))
            per_cell = config.simulations * len(g.smoothing) * (2 if config.reproducibility else 1)  # a partner
            work["grid.n"] += per_cell * 2.0 * steps * s.generated * s.draws * n * pixels
            work["grid.N"] += per_cell * 2.0 * N * pixels
        found.append(Footprint(max(work, key=work.get), 0.0, sum(work.values())))
        return found

    def check(self, config: ClosedFormConfig) -> None:
        """Every cell's parameters before any work; errors name the cell and the config path."""
        for index, cell in enumerate(self.cells(config)):
            params = CellParams.from_cell(cell, source=f"cell {index}")
            if why := held_out_problem(params.data, config.evaluation, params.original_count,
                                       params.sampling.generated):
                raise MemgenError(f"cell {index} (n = {params.grid.n}): {why}")
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
            result = simulation.simulate(params, seed, threads=config.threads, references=config.evaluation.references,
                                         reproducibility=config.reproducibility)
            if config.output.image_dir and trial == 0:
                write_cell_grid(config.output, self.model, cell, result.generated, result.train)
            rows.append(result.row)
        return rows
