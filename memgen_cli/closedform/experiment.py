"""The closed-form sweep: its cells and the work of one task (one simulation), for ``memgen_cli.runner.sweep``."""

from __future__ import annotations

import itertools

from memgen_cli.experiment import Footprint
from memgen_cli.imaging.experiment import ImageExperiment

from .params import CellParams, ClosedFormConfig, config_cells
from . import simulation
from .simulation import RUN_COLUMNS, TIMINGS


class ClosedFormExperiment(ImageExperiment):
    model = "closedform"
    title = "Closed-form model"
    config_class = ClosedFormConfig
    params_class = CellParams
    trials_per_task = 1  # one simulation per task: a second or less, and a killed sweep loses no more
    run_columns = RUN_COLUMNS
    run_means = ("nn_ratio_mean", "nn_ratio_max") + TIMINGS

    def cells(self, config: ClosedFormConfig) -> list[dict]:
        return config_cells(config)

    def footprint(self, config: ClosedFormConfig) -> list[Footprint]:
        """Per simulation: the original and training sets (the denoiser keeps one float64 copy of the training
        set); work: at each sampling step, every generated image (times its perturbation draws) against every
        training image, and the original set's draw (the evaluated subset's alone under originals: evaluated)."""
        g, s = config.grid, config.sampling
        channels = config.data.channels if config.data.family == "images" else 1
        found, work = [], {"grid.n": 0.0, "grid.N": 0.0}
        for n, side, N, steps in itertools.product(g.n, g.side, g.N, g.steps):
            pixels = side * side * channels
            held = {"grid.N": 8.0 * pixels * N, "grid.n": 16.0 * pixels * n, "grid.side": 8.0 * pixels * s.generated,
                    "grid.steps": 64.0 * steps}  # the schedule's arrays
            largest = "grid.side" if side > 256 else max(held, key=held.get)  # every set grows with the pixels
            found.append(Footprint(largest, sum(held.values()), 0.0))
            per_cell = config.simulations * len(g.smoothing) * (2 if config.reproducibility else 1)  # a partner
            work["grid.n"] += per_cell * 2.0 * steps * s.generated * s.draws * n * pixels
            work["grid.N"] += per_cell * 2.0 * config.originals_drawn(N) * pixels
        found.append(Footprint(max(work, key=work.get), 0.0, sum(work.values())))
        return found

    def run_task(self, config: ClosedFormConfig, cell: dict, trials: list[tuple[int, int]]) -> list[dict]:
        params = CellParams.from_cell(cell)
        rows = []
        for trial, seed in trials:
            drawn = None if config.originals == "all" else config.originals_drawn(params.grid.N)
            result = simulation.simulate(params, seed, threads=config.threads, references=config.evaluation.references,
                                         reproducibility=config.reproducibility, originals=drawn)
            self.store_images(config, cell, trial, result.generated, result.train)
            rows.append(result.row)
        return rows
