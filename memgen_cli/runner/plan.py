"""Planning: which experiment a model name means, and a config's cells cut into seeded tasks.

Experiments (linear, unet) plug in through a small interface (see ``LinearExperiment``): a pydantic
``config_class``, ``cells(config)``, ``trial_count(config)``, ``check(config)``, ``run_task(config, cell,
trials)`` returning one metric dict per trial, ``trials_per_task`` and the metric names to summarise.
They are found by name in ``EXPERIMENTS`` and imported lazily, so the linear path never imports torch.
A task's seeds depend only on (root seed, cell, trial index), never on the order work runs in.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from memgen_cli.errors import MemgenError
from memgen_cli.results_format import IDENTIFIERS, STEP_COLUMN, TRIAL_COLUMNS
from memgen_cli.seeding import cell_id, trial_seed

# model -> (its experiment class, the optional libraries it needs: imported first, so a missing extra is one line)
EXPERIMENTS = {
    "linear": ("memgen_cli.linear.experiment:LinearExperiment", ()),
    "unet": ("memgen_cli.unet.experiment:UnetExperiment", ("torch", "diffusers")),
}


def get_experiment(model: str):
    if model not in EXPERIMENTS:
        raise MemgenError(f"model: unknown model {model!r} (choose from {', '.join(EXPERIMENTS)})")
    target, libraries = EXPERIMENTS[model]
    module_name, class_name = target.split(":")
    try:
        for library in libraries:
            importlib.import_module(library)
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MemgenError(f"model {model}: cannot import its code or the libraries it needs ({exc}); "
                          f"install the extra: pip install 'memgen[{model}]'") from None
    return getattr(module, class_name)()


@dataclass
class Task:
    """A chunk of trials of one cell: the unit of work, of storage and of resumption."""

    cell_index: int
    cell: dict
    cell_id: str
    trials: list[tuple[int, int]]  # (trial index, seed)

    @property
    def key(self) -> str:
        return f"{self.cell_id}-{self.trials[0][0]:06d}-{self.trials[-1][0]:06d}"

    def describe(self) -> str:
        params = " ".join(f"{k}={v}" for k, v in self.cell.items())
        return f"cell {self.cell_index} ({params}) trials {self.trials[0][0]}-{self.trials[-1][0]}"


def task_size(experiment, config) -> int:
    """Trials per task: the experiment's ``task_size(config)`` where the config decides it (U-Net simulations
    trained together), else its ``trials_per_task``."""
    return experiment.task_size(config) if hasattr(experiment, "task_size") else experiment.trials_per_task


def plan_tasks(experiment, config) -> list[Task]:
    """Every task of the sweep, in a fixed order; seeds depend only on (root seed, cell, trial).

    An experiment may cut a cell's trials into blocks that no task straddles, each with a locality key
    (what expensive input its trials share, which one): ``trial_blocks(config, cell)``. Tasks then run
    grouped by that input, so a worker builds each one once; the order of work never changes a number.
    """
    count = experiment.trial_count(config)
    blocks_of = getattr(experiment, "trial_blocks", lambda config, cell: [(0, count, ())])
    size = task_size(experiment, config)
    tasks, localities = [], []
    for index, cell in enumerate(experiment.cells(config)):
        cid = cell_id(experiment.model, cell)
        seeds = [(t, trial_seed(config.seed, experiment.model, cell, t)) for t in range(count)]
        for first, end, locality in blocks_of(config, cell):
            for start in range(first, end, size):
                tasks.append(Task(index, cell, cid, seeds[start:min(start + size, end)]))
                localities.append(locality)
    return _grouped_by_locality(tasks, localities)


def _grouped_by_locality(tasks: list[Task], localities: list[tuple]) -> list[Task]:
    """Stable order: by the first appearance of a locality's input, then by its index, then as planned."""
    if all(not loc for loc in localities):
        return tasks
    rank: dict = {}
    for loc in localities:
        rank.setdefault(loc[0], len(rank))
    order = sorted(range(len(tasks)), key=lambda i: (rank[localities[i][0]], localities[i][1:], i))
    return [tasks[i] for i in order]


_worker_configs: dict[str, Any] = {}

# A cell key that only tells apart repeated batches of trials at one point (``memgen locate``): it enters the
# cell id, the seeds and the rows, never the experiment's parameters.
BATCH_KEY = "batch"


# A trial's metric dict may carry, under this key, its metrics at training checkpoints: a list of dicts, each
# with the checkpoint's ``step`` (U-Net, evaluation.every). They become the task's curve rows (curves.csv).
CHECKPOINTS = "checkpoints"


class TaskRows(list):
    """A task's trials.csv rows, and in ``curves`` its curves.csv rows (None: the experiment has none)."""

    curves: list[dict] | None = None


def execute_task(payload: tuple[str, dict, Task]) -> list[dict]:
    """Run one task (in a worker process): the trials.csv rows of its trials (and their curve rows)."""
    model, config_dict, task = payload
    experiment = get_experiment(model)
    key = repr(config_dict)
    if key not in _worker_configs:  # validate once per worker, not once per task
        _worker_configs.clear()
        _worker_configs[key] = experiment.config_class.model_validate(config_dict)
    cell = {k: v for k, v in task.cell.items() if k != BATCH_KEY}
    metrics = experiment.run_task(_worker_configs[key], cell, task.trials)
    model_col, cell_col, id_col = IDENTIFIERS
    trial_col, seed_col = TRIAL_COLUMNS
    rows, curves = TaskRows(), []
    for (trial, seed), row in zip(task.trials, metrics, strict=True):
        lead = {model_col: model, cell_col: task.cell_index, id_col: task.cell_id, **task.cell, trial_col: trial,
                seed_col: seed}
        checkpoints = row.get(CHECKPOINTS)
        rows.append({**lead, **{k: v for k, v in row.items() if k != CHECKPOINTS}})
        if checkpoints is not None:
            curves += [{**lead, STEP_COLUMN: point[STEP_COLUMN], **point} for point in checkpoints]
    if any(CHECKPOINTS in row for row in metrics):
        rows.curves = curves
    return rows
