"""The U-Net sweep: its cells and the work of one task (one simulation), for ``memgen_cli.runner.sweep``.

Its config and the parameters of a cell live in ``params`` (no torch); torch is imported when a task runs or
the config's device is resolved.
"""

from __future__ import annotations

import itertools

from memgen_cli.errors import MemgenError
from memgen_cli.experiment import CHECKPOINTS, Footprint
from memgen_cli.imaging.data import ImageData
from memgen_cli.imaging.experiment import ImageExperiment

from .params import SimulationParams, UnetConfig, config_cells


# After the evaluation's columns, what training and sampling report (simulation._finish).
RUN_COLUMNS = ("final_loss", "train_steps_done", "device", "train_seconds", "sample_seconds", "eval_seconds")


class UnetExperiment(ImageExperiment):
    model = "unet"
    title = "U-Net"
    config_class = UnetConfig
    params_class = SimulationParams
    trials_per_task = 1  # one simulation per task (task_size: more when trained together on a GPU): a killed
    # sweep never retrains a finished simulation
    run_columns = RUN_COLUMNS
    run_means = ("final_loss", "train_seconds", "sample_seconds", "eval_seconds")

    def cells(self, config: UnetConfig) -> list[dict]:
        return config_cells(config)

    not_inputs = ("output",)  # where image grids go

    def growth_problem(self, old: UnetConfig, new: UnetConfig) -> str | None:
        if old.simulations_together() != new.simulations_together():
            return (f"simulations: {old.simulations} -> {new.simulations} changes how many train together "
                    f"({old.simulations_together()} -> {new.simulations_together()}), so stored tasks would not be "
                    f"this run's; set compute.together: {old.simulations_together()} to grow")
        return None

    def footprint(self, config: UnetConfig) -> list[Footprint]:
        """Per simulation: the original and training sets, the schedule's arrays (steps), the network with its
        Adam state, and the activations of a training batch and of the sampled batch (about 200 floats per pixel
        and network channel width, an order of magnitude); work: about 6 x parameters x pixels / 64 per image and
        step of training, a third of that per image and step of sampling."""
        from .models import PRESETS

        g, s, t = config.grid, config.sampling, config.training
        found = []
        budgets = [("grid.train_steps", v) for v in (g.train_steps or [])] + \
                  [("grid.epochs", v) for v in (g.epochs or [])]
        for n, side, N, preset, steps, (budget, amount) in itertools.product(g.n, g.side, g.N, g.preset, g.steps,
                                                                           budgets):
            pixels = side * side * (config.data.channels if config.data.family == "images" else 1)
            width = max(PRESETS[preset].block_out_channels)
            params = 4e6 * (width / 128) ** 2
            train_steps = amount if budget == "grid.train_steps" else amount * n / min(t.batch_size, n)
            per_image = 6.0 * params * pixels / 64
            held = {"grid.N": 8.0 * pixels * N, "grid.n": 8.0 * pixels * n, "grid.steps": 64.0 * steps,
                    "sampling.generated": 800.0 * pixels * width * s.generated / 64,
                    "training.batch_size": 800.0 * pixels * width * t.batch_size / 64, "grid.preset": 16.0 * params}
            largest = max(held, key=held.get)
            if largest in ("sampling.generated", "training.batch_size") and side > 64:
                largest = "grid.side"  # activations grow with the pixels: the side is what is out of scale
            found.append(Footprint(largest, sum(held.values()), 0.0))
            work = {budget: per_image * t.batch_size * train_steps, "grid.steps": per_image * s.generated * steps / 3}
            trainings = 2 if config.reproducibility else 1  # a partner is a second training
            found.append(Footprint(max(work, key=work.get), 0.0, sum(work.values()) * config.simulations * trainings))
        return found

    def extra_columns(self, config: UnetConfig) -> tuple[str, ...]:
        return ("trained_together",) if self.task_size(config) > 1 else ()

    def task_resources(self, config: UnetConfig) -> dict[str, float] | None:
        """device: cuda asks a Dask scheduler for a worker started with ``--resources GPU=1`` (one task per GPU
        at a time); auto and cpu ask for nothing, as the driver cannot know what the workers have."""
        return {"GPU": 1} if config.device == "cuda" else None

    def read_stored_config(self, stored: dict) -> tuple[dict, str]:
        """A config.yaml written before data.path and data.channels existed: the run used their defaults (no
        image files, one channel), so they are filled in and the folder resumes."""
        data = stored.get("data")
        if not isinstance(data, dict):
            return stored, ""
        missing = {name: field.default for name, field in ImageData.model_fields.items()
                   if name in ("path", "channels") and name not in data}
        return ({**stored, "data": {**data, **missing}} if missing else stored), ""

    def check_cell(self, config: UnetConfig, index: int, params: SimulationParams) -> None:
        every = config.evaluation.every
        if every is not None and every > params.train_step_count:
            raise MemgenError(f"cell {index}: evaluation.every: {every} is more than the {params.train_step_count} "
                              "optimizer steps of the training budget: no checkpoint before the end")

    def check(self, config: UnetConfig) -> None:
        """Every cell's parameters (ImageExperiment.check) and the device, before any training. Only device cuda
        needs torch here (is CUDA there?): a bad config is refused without loading it."""
        super().check(config)
        if config.device == "cuda":
            try:
                from .diffusion import resolve_device
            except ImportError as exc:
                raise MemgenError(f"device: cuda needs torch ({exc}); install the extra: "
                                  "pip install 'memgen[unet]'") from None
            resolve_device(config.device)

    def has_curves(self, config: UnetConfig) -> bool:
        """With evaluation.every, each simulation also has a curve along training (curves.csv)."""
        return config.evaluation.every is not None

    def task_size(self, config: UnetConfig) -> int:
        """Simulations per task: those trained at once (compute.together), stored as one part when they finish."""
        return config.simulations_together()

    def run_task(self, config: UnetConfig, cell: dict, trials: list[tuple[int, int]]) -> list[dict]:
        from .simulation import simulate_group

        params = SimulationParams.from_cell(cell)
        results = simulate_group(params, [seed for _, seed in trials], device=config.device, threads=config.threads,
                                 every=config.evaluation.every, compute=config.compute,
                                 references=config.evaluation.references,
                                 reproducibility=config.reproducibility)
        together = {"trained_together": len(trials)} if self.task_size(config) > 1 else {}
        rows = []
        for (trial, _), result in zip(trials, results):
            self.store_images(config, cell, trial, result.generated, result.train)
            row = {**result.row, **together}
            rows.append(row if result.curve is None else {**row, CHECKPOINTS: result.curve})
        return rows
